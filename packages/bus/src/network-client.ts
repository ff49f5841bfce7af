import type { NatsConnection } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';
import { NetworkCommand, type Catalog } from './catalog.js';
import { request } from './request.js';

/**
 * The seed's NetworkClient: typed calls to the network service of one node over NATS request/reply.
 * Failures raise BusError (BUS_COMMAND_UNAVAILABLE when no network service answers in time).
 */
export class NetworkClient {
  constructor(private readonly deps: { nc: () => NatsConnection; catalog: Catalog; timeoutMs: number }) {}

  info(): Promise<bus.NetworkInfoResponse> {
    return request(
      this.deps.nc(),
      this.deps.catalog.subjects.netCommand(NetworkCommand.Info),
      bus.NetworkInfoRequest,
      bus.NetworkInfoResponse,
      {},
      this.deps.timeoutMs,
    );
  }
}
