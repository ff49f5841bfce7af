import type { bus } from '@cnode/proto';
import type { FaultInjector } from '../faults/fault-injector.js';

/** `inject-faults` (test-only, NETWORK_FAULT_INJECTION): replaces the faults this node imposes. */
export async function handleInjectFaults(
  faults: FaultInjector,
  req: bus.InjectFaultsRequest,
): Promise<bus.InjectFaultsResponse> {
  return { connectionsClosed: await faults.apply(req) };
}
