import { randomBytes } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Connection, Stream } from '@libp2p/interface';
import { NetEventKind, RelayResetReason, STREAM_ID_PATTERN, type Catalog, type NatsComponent } from '@cnode/bus';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import { BLOB_PROTOCOL } from '@cnode/bus';
import { RELAYED_PROTOCOLS } from '../constants.js';
import { NetworkError, NetworkErrorCode } from '../errors.js';
import type { NetEventPublisher } from '../events/net-event-publisher.js';
import type { Host } from '../host/libp2p-host.js';
import { StreamRefusalReason, type NetworkMetrics } from '../metrics.js';
import { StreamBridge } from './stream-bridge.js';

export interface StreamRelayOptions {
  maxStreams: number;
  windowBytes: number;
  idleTimeoutMs: number;
  attachTimeoutMs: number;
  openTimeoutMs: number;
}

const protocolKind = (protocol: string): string => (protocol === BLOB_PROTOCOL ? 'blob' : 'sync');

/**
 * Every relayed libp2p stream of this node, bounded by `maxStreams`. Inbound streams on the relayed
 * protocols are announced on NET_EVENTS for an owner to attach; outbound ones are opened for an owner
 * by the open-stream command.
 */
export class StreamRelays implements Startable {
  readonly name = 'stream-relays';
  private readonly bridges = new Map<string, StreamBridge>();
  private highWater = 0;
  private host: Host | undefined;

  constructor(
    private readonly opts: StreamRelayOptions,
    private readonly deps: {
      catalog: Catalog;
      nats: NatsComponent;
      events: NetEventPublisher;
      metrics: NetworkMetrics;
      logger: Logger;
    },
  ) {
    deps.metrics.hooks.relay = () => this.collect();
  }

  attach(host: Host): void {
    this.host = host;
  }

  async start(): Promise<void> {}

  /** libp2p handler of the relayed protocols. */
  readonly onInbound = (stream: Stream, connection: Connection): void => {
    if (this.bridges.size >= this.opts.maxStreams) {
      this.deps.metrics.streamsRefused.inc({ reason: StreamRefusalReason.TooManyStreams });
      stream.abort(new Error('too many relayed streams'));
      return;
    }
    const id = randomBytes(12).toString('base64url');
    const peer = connection.remotePeer.toString();
    this.track(id, stream, peer, false);
    this.deps.metrics.streamsOpened.inc({ direction: 'inbound', protocol_kind: protocolKind(stream.protocol) });
    this.deps.events.emit(
      NetEventKind.StreamOpened,
      {
        event: {
          $case: 'streamOpened',
          streamOpened: {
            streamId: id,
            protocol: stream.protocol,
            peer,
            initialCredit: this.opts.windowBytes,
            attachTimeoutMs: this.opts.attachTimeoutMs,
          },
        },
      },
      `stream:${id}`,
    );
  };

  /** Opens a stream for an owner that already listens on the stream's relay subject. */
  async open(streamId: string, peer: string, protocol: string): Promise<{ initialCredit: number }> {
    const refuse = (reason: StreamRefusalReason, code: NetworkErrorCode, message: string): never => {
      this.deps.metrics.streamsRefused.inc({ reason });
      throw new NetworkError(code, message);
    };
    if (!STREAM_ID_PATTERN.test(streamId)) {
      refuse(StreamRefusalReason.BadStreamId, NetworkErrorCode.BadArgument, 'stream id must be 8-64 of [A-Za-z0-9_-]');
    }
    if (!RELAYED_PROTOCOLS.includes(protocol)) {
      refuse(
        StreamRefusalReason.ProtocolNotAllowed,
        NetworkErrorCode.ProtocolNotAllowed,
        `streams can only be opened on ${RELAYED_PROTOCOLS.join(', ')}`,
      );
    }
    if (this.bridges.has(streamId)) {
      refuse(StreamRefusalReason.BadStreamId, NetworkErrorCode.StreamIdInUse, 'stream id already in use');
    }
    if (this.bridges.size >= this.opts.maxStreams) {
      refuse(StreamRefusalReason.TooManyStreams, NetworkErrorCode.TooManyStreams, 'too many relayed streams');
    }
    let peerId;
    try {
      peerId = peerIdFromString(peer);
    } catch {
      throw new NetworkError(NetworkErrorCode.BadArgument, `not a peer id: ${peer}`);
    }
    if (!this.host) throw new NetworkError(NetworkErrorCode.NotRunning, 'libp2p is not running');
    let stream: Stream;
    try {
      stream = await this.host.dialProtocol(peerId, protocol, { signal: AbortSignal.timeout(this.opts.openTimeoutMs) });
    } catch (err) {
      this.deps.metrics.streamsRefused.inc({ reason: StreamRefusalReason.DialFailed });
      throw new NetworkError(NetworkErrorCode.DialFailed, `cannot open ${protocol} to ${peer}: ${errorMessage(err)}`);
    }
    this.track(streamId, stream, peer, true);
    this.deps.metrics.streamsOpened.inc({ direction: 'outbound', protocol_kind: protocolKind(protocol) });
    return { initialCredit: this.opts.windowBytes };
  }

  private track(id: string, stream: Stream, peer: string, attached: boolean): void {
    const bridge = new StreamBridge({
      id,
      stream,
      peer,
      nc: this.deps.nats.nc,
      catalog: this.deps.catalog,
      windowBytes: this.opts.windowBytes,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      attached,
      attachTimeoutMs: this.opts.attachTimeoutMs,
      metrics: this.deps.metrics,
      logger: this.deps.logger,
      onEnd: (endedId) => {
        const ended = this.bridges.get(endedId);
        if (ended) this.highWater = Math.max(this.highWater, ended.maxBufferedBytes);
        this.bridges.delete(endedId);
        this.deps.metrics.streamsActive.set(this.bridges.size);
      },
    });
    this.bridges.set(id, bridge);
    this.deps.metrics.streamsActive.set(this.bridges.size);
  }

  private collect(): void {
    let buffered = 0;
    for (const bridge of this.bridges.values()) {
      buffered += bridge.bufferedBytes;
      this.highWater = Math.max(this.highWater, bridge.maxBufferedBytes);
    }
    this.deps.metrics.relayBuffered.set(buffered);
    this.deps.metrics.relayBufferedMax.set(this.highWater);
  }

  /** Resets every relayed stream: owners learn the network service went away. */
  async stop(): Promise<void> {
    for (const bridge of [...this.bridges.values()]) bridge.end(RelayResetReason.NetworkGone, true);
    this.host = undefined;
  }
}
