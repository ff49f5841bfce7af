import { BusError, BusErrorCode, streamResetError, type FrameStream } from '@cnode/bus';
import type { bus, wire } from '@cnode/proto';
import { type Rng } from './rng.js';

/** How unreliable the simulated network is in one history. */
export interface NetworkFaults {
  /** Chance that one gossip copy to one node is lost. */
  loss: number;
  /** Chance that a delivered gossip copy arrives twice. */
  duplication: number;
  /** Gossip takes 1..maxDelayMs of simulated time: later messages overtake earlier ones. */
  maxDelayMs: number;
  /** Chance that one frame written on a stream resets it (a connection dying mid-session). */
  streamReset: number;
}

/** What the simulated network did, by kind: a history's fault tally. */
export type FaultTally = Record<
  'gossip_sent' | 'gossip_lost' | 'gossip_duplicated' | 'gossip_cut' | 'streams' | 'streams_reset' | 'streams_cut',
  number
>;

export function emptyTally(): FaultTally {
  return {
    gossip_sent: 0,
    gossip_lost: 0,
    gossip_duplicated: 0,
    gossip_cut: 0,
    streams: 0,
    streams_reset: 0,
    streams_cut: 0,
  };
}

/** What a simulated node offers the network: its peer id, its mailbox and its stream handler. */
export interface SimEndpoint {
  readonly peerId: string;
  /** One lane batch: every message of a context due now. `more` says whether others are on their way. */
  receive(messages: bus.StateDeltaReceived[], more: () => boolean): Promise<void>;
  /** Serves an inbound sync stream (the responder). */
  serve(stream: FrameStream): Promise<void>;
}

interface Event {
  at: number;
  seq: number;
  label: string;
  run: () => Promise<void>;
}

interface InFlight {
  deliverAt: number;
  message: bus.StateDeltaReceived;
}

/**
 * The simulated network and clock of one history. Time is virtual: events run one at a time in
 * (time, sequence) order, each to its end (and every stream session it opened), so a history is the
 * same sequence of steps for the same seed. Gossip of a context reaches each other node after a drawn
 * delay, or is lost, duplicated or cut by a partition; streams open only between nodes on the same
 * side of a partition and may reset on any frame.
 */
export class SimNetwork {
  now = 0;
  readonly tally = emptyTally();
  private seq = 0;
  private readonly queue: Event[] = [];
  private readonly endpoints = new Map<string, SimEndpoint>();
  /** node → side; nodes on different sides cannot reach each other. Empty: no partition. */
  private sides = new Map<string, number>();
  /** Per receiving node and context: the gossip on its way. */
  private readonly inflight = new Map<string, InFlight[]>();
  private readonly sessions = new Set<Promise<void>>();
  private readonly gossipRng: Rng;
  private streamCount = 0;

  constructor(
    private readonly rng: Rng,
    readonly faults: NetworkFaults,
  ) {
    this.gossipRng = rng.fork('gossip');
  }

  attach(endpoint: SimEndpoint): void {
    this.endpoints.set(endpoint.peerId, endpoint);
  }

  schedule(delayMs: number, label: string, run: () => Promise<void>): void {
    this.queue.push({ at: this.now + delayMs, seq: this.seq++, label, run });
  }

  /** Runs events in order until none is left or `until` (simulated ms) is passed. */
  async runUntil(until = Number.POSITIVE_INFINITY): Promise<void> {
    for (;;) {
      const next = this.takeNext(until);
      if (!next) return;
      this.now = Math.max(this.now, next.at);
      try {
        await next.run();
      } catch (err) {
        throw new Error(`simulated event "${next.label}" at ${next.at} ms failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      await this.quiesce();
    }
  }

  /** Waits for every stream session opened so far (responders included) to end. */
  async quiesce(): Promise<void> {
    while (this.sessions.size > 0) await Promise.allSettled([...this.sessions]);
  }

  private takeNext(until: number): Event | undefined {
    let best = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      const b = this.queue[best];
      if (!b || e.at < b.at || (e.at === b.at && e.seq < b.seq)) best = i;
    }
    if (best < 0 || this.queue[best]!.at > until) return undefined;
    return this.queue.splice(best, 1)[0];
  }

  /** Splits the nodes into sides; a node no side names is on side 0. */
  partition(sides: readonly (readonly string[])[]): void {
    this.sides = new Map(sides.flatMap((side, i) => side.map((peer) => [peer, i] as const)));
  }

  heal(): void {
    this.sides = new Map();
  }

  canReach(a: string, b: string): boolean {
    return (this.sides.get(a) ?? 0) === (this.sides.get(b) ?? 0);
  }

  /** Subscribers of a context topic that `from` can see: every other node on its side. */
  topicPeers(from: string): string[] {
    return [...this.endpoints.keys()].filter((p) => p !== from && this.canReach(from, p));
  }

  /** Gossips a committed batch of deltas (one message, like the writer's StateDeltaBatch). */
  publish(from: string, deltas: wire.StateDelta[], opts: { reliable?: boolean } = {}): void {
    const contextId = Buffer.from(deltas[0]!.contextId);
    for (const to of this.endpoints.keys()) {
      if (to === from) continue;
      this.tally.gossip_sent++;
      if (!this.canReach(from, to)) {
        this.tally.gossip_cut++;
        continue;
      }
      if (!opts.reliable && this.gossipRng.chance(this.faults.loss)) {
        this.tally.gossip_lost++;
        continue;
      }
      const copies = !opts.reliable && this.gossipRng.chance(this.faults.duplication) ? 2 : 1;
      if (copies > 1) this.tally.gossip_duplicated++;
      for (let c = 0; c < copies; c++) {
        const delay = this.gossipRng.int(1, this.faults.maxDelayMs);
        const message: bus.StateDeltaReceived = {
          sourcePeer: from,
          messageId: `${from}/${this.seq}`,
          delta: deltas.length === 1 ? deltas[0] : undefined,
          receivedAtMs: BigInt(this.now),
          batch: deltas.length === 1 ? [] : deltas,
        };
        this.deliverLater(to, contextId, message, delay);
      }
    }
  }

  private deliverLater(to: string, contextId: Buffer, message: bus.StateDeltaReceived, delay: number): void {
    const key = `${to}/${contextId.toString('hex')}`;
    const list = this.inflight.get(key) ?? [];
    list.push({ deliverAt: this.now + delay, message });
    this.inflight.set(key, list);
    this.schedule(delay, `deliver to ${to}`, async () => {
      const due = (this.inflight.get(key) ?? []).filter((f) => f.deliverAt <= this.now);
      if (due.length === 0) return;
      const rest = (this.inflight.get(key) ?? []).filter((f) => f.deliverAt > this.now);
      if (rest.length > 0) this.inflight.set(key, rest);
      else this.inflight.delete(key);
      await this.endpoints.get(to)!.receive(
        due.map((f) => f.message),
        () => this.inflight.has(key),
      );
    });
  }

  /** Opens a stream from `from` to `to`: the responder starts serving it at once. */
  openStream(from: string, to: string): FrameStream {
    this.tally.streams++;
    const target = this.endpoints.get(to);
    if (!target || !this.canReach(from, to)) {
      this.tally.streams_cut++;
      throw new BusError(BusErrorCode.CommandFailed, `no route to ${to}`);
    }
    const rng = this.rng.fork(`stream-${this.streamCount++}`);
    const [ours, theirs] = SimStream.pair(from, to, {
      fault: () => {
        if (!this.canReach(from, to)) {
          this.tally.streams_cut++;
          return 'partition';
        }
        if (rng.chance(this.faults.streamReset)) {
          this.tally.streams_reset++;
          return 'sim_fault';
        }
        return undefined;
      },
    });
    const session = target.serve(theirs).finally(() => this.sessions.delete(session));
    this.sessions.add(session);
    return ours;
  }
}

/**
 * One end of an in-process stream pair with `RelayedStream`'s rules: frames in order, undefined
 * once the remote closed and all was read, a reset fails both ends' pending and later calls.
 */
export class SimStream implements FrameStream {
  private readonly frames: Uint8Array[] = [];
  private remoteClosed = false;
  private localClosed = false;
  private failure: Error | undefined;
  private readers: (() => void)[] = [];
  private other!: SimStream;

  private constructor(
    readonly peer: string,
    private readonly hooks: { fault: () => string | undefined },
  ) {}

  /** [initiator's end (peer = to), responder's end (peer = from)]. */
  static pair(from: string, to: string, hooks: { fault: () => string | undefined }): [SimStream, SimStream] {
    const a = new SimStream(to, hooks);
    const b = new SimStream(from, hooks);
    a.other = b;
    b.other = a;
    return [a, b];
  }

  async readFrame(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      const frame = this.frames.shift();
      if (frame) return frame;
      if (this.remoteClosed) return undefined;
      await new Promise<void>((resolve) => this.readers.push(resolve));
    }
  }

  async writeFrame(frame: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.localClosed) throw new BusError(BusErrorCode.StreamClosed, 'write after close');
    const fault = this.hooks.fault();
    if (fault) {
      this.reset(fault);
      throw this.failure!;
    }
    this.other.frames.push(Uint8Array.from(frame));
    this.other.wake();
  }

  async closeWrite(): Promise<void> {
    if (this.failure || this.localClosed) return;
    this.localClosed = true;
    this.other.remoteClosed = true;
    this.other.wake();
  }

  reset(reason = 'reset'): void {
    if (this.failure) return;
    this.fail(streamResetError(reason));
    this.other.fail(streamResetError(reason));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.wake();
  }

  private wake(): void {
    const readers = this.readers;
    this.readers = [];
    for (const r of readers) r();
  }
}
