import type { ServiceContext, ServiceHandle } from '@cnode/runtime';
import { ServiceBuilder } from '@cnode/service-kit';
import type { StateDeltaConfig } from './config.js';
import { SERVICE_NAME } from './constants.js';

/**
 * Composition root of state-delta. The process owns the bounded STATE_DELTA mailbox (declared with
 * the topology). It deliberately does not pull from it yet: acking deltas before the StateDelta
 * pipeline exists would lose them. The pipeline's consumer is added here by the contexts issue.
 */
export function createStateDeltaService(config: StateDeltaConfig, ctx: ServiceContext): ServiceHandle {
  return new ServiceBuilder(SERVICE_NAME, config, ctx).build();
}
