import type { NatsConnection } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';
import { NetworkCommand, type Catalog } from './catalog.js';
import { request, type Codec } from './request.js';

/**
 * Upstream's NetworkClient: typed calls to the network service of one node over NATS request/reply.
 * Failures raise BusError: BUS_COMMAND_UNAVAILABLE when no network service answers in time,
 * BUS_COMMAND_FAILED (with the service's error code in `meta.code`) when it refuses.
 */
export class NetworkClient {
  constructor(private readonly deps: { nc: () => NatsConnection; catalog: Catalog; timeoutMs: number }) {}

  private call<Req, Res>(
    command: NetworkCommand,
    req: Req,
    codecs: [Codec<Req>, Codec<Res>],
    timeoutMs = this.deps.timeoutMs,
  ): Promise<Res> {
    return request(
      this.deps.nc(),
      this.deps.catalog.subjects.netCommand(command),
      codecs[0],
      codecs[1],
      req,
      timeoutMs,
    );
  }

  info(): Promise<bus.NetworkInfoResponse> {
    return this.call(NetworkCommand.Info, {}, [bus.NetworkInfoRequest, bus.NetworkInfoResponse]);
  }

  /** Idempotent; the subscription survives a restart of the network service. */
  subscribe(topic: string): Promise<bus.SubscribeResponse> {
    return this.call(NetworkCommand.Subscribe, { topic }, [bus.SubscribeRequest, bus.SubscribeResponse]);
  }

  unsubscribe(topic: string): Promise<bus.UnsubscribeResponse> {
    return this.call(NetworkCommand.Unsubscribe, { topic }, [bus.UnsubscribeRequest, bus.UnsubscribeResponse]);
  }

  /** Resolves with `noPeers: true` when nobody subscribes to the topic: not a failure. */
  publish(topic: string, data: Uint8Array): Promise<bus.PublishResponse> {
    return this.call(NetworkCommand.Publish, { topic, data: Buffer.from(data) }, [
      bus.PublishRequest,
      bus.PublishResponse,
    ]);
  }

  /** Opens a libp2p stream; prefer `RelayedStream.open`, which also attaches to its relay. */
  openStream(streamId: string, peer: string, protocol: string): Promise<bus.OpenStreamResponse> {
    return this.call(NetworkCommand.OpenStream, { streamId, peer, protocol }, [
      bus.OpenStreamRequest,
      bus.OpenStreamResponse,
    ]);
  }

  dial(target: string): Promise<bus.DialResponse> {
    return this.call(NetworkCommand.Dial, { target }, [bus.DialRequest, bus.DialResponse]);
  }

  listPeers(): Promise<bus.ListPeersResponse> {
    return this.call(NetworkCommand.ListPeers, {}, [bus.ListPeersRequest, bus.ListPeersResponse]);
  }

  /** Strikes against a peer whose gossip a service refused (see ReportPeerRequest). */
  reportPeer(peer: string, reason: string, count: number): Promise<bus.ReportPeerResponse> {
    return this.call(NetworkCommand.ReportPeer, { peer, reason, count }, [
      bus.ReportPeerRequest,
      bus.ReportPeerResponse,
    ]);
  }

  /** Test-only: replaces the faults the network service imposes (see InjectFaultsRequest). */
  injectFaults(faults: bus.InjectFaultsRequest): Promise<bus.InjectFaultsResponse> {
    return this.call(NetworkCommand.InjectFaults, faults, [bus.InjectFaultsRequest, bus.InjectFaultsResponse]);
  }

  /** Mesh peers and known subscribers of a topic (upstream's `get_peers_count`). */
  topicPeers(topic: string): Promise<bus.TopicPeersResponse> {
    return this.call(NetworkCommand.TopicPeers, { topic }, [bus.TopicPeersRequest, bus.TopicPeersResponse]);
  }

  dhtProvide(key: Uint8Array, timeoutMs?: number): Promise<bus.DhtProvideResponse> {
    return this.call(
      NetworkCommand.DhtProvide,
      { key: Buffer.from(key) },
      [bus.DhtProvideRequest, bus.DhtProvideResponse],
      timeoutMs,
    );
  }

  dhtFindProviders(key: Uint8Array, limit: number, timeoutMs?: number): Promise<bus.DhtFindProvidersResponse> {
    return this.call(
      NetworkCommand.DhtFindProviders,
      { key: Buffer.from(key), limit },
      [bus.DhtFindProvidersRequest, bus.DhtFindProvidersResponse],
      timeoutMs,
    );
  }

  dhtPutRecord(key: Uint8Array, value: Uint8Array, timeoutMs?: number): Promise<bus.DhtPutRecordResponse> {
    return this.call(
      NetworkCommand.DhtPutRecord,
      { key: Buffer.from(key), value: Buffer.from(value) },
      [bus.DhtPutRecordRequest, bus.DhtPutRecordResponse],
      timeoutMs,
    );
  }

  dhtGetRecord(key: Uint8Array, timeoutMs?: number): Promise<bus.DhtGetRecordResponse> {
    return this.call(
      NetworkCommand.DhtGetRecord,
      { key: Buffer.from(key) },
      [bus.DhtGetRecordRequest, bus.DhtGetRecordResponse],
      timeoutMs,
    );
  }
}
