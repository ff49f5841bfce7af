import type { GossipBridge } from '../gossip/gossip-bridge.js';
import type { FaultInjector } from '../faults/fault-injector.js';
import type { GossipGuard } from '../gossip/gossip-guard.js';
import type { Libp2pHost } from '../host/libp2p-host.js';
import type { StreamRelays } from '../streams/stream-relays.js';

/** What command handlers reach: the host and the bridges built on it. */
export interface CommandContext {
  host: Libp2pHost;
  gossip: GossipBridge;
  guard: GossipGuard;
  streams: StreamRelays;
  /** Test-only faults; undefined unless NETWORK_FAULT_INJECTION is on. */
  faults?: FaultInjector;
  /** Deadline for work a command starts on the network (DHT queries, dials). */
  workTimeoutMs: number;
}
