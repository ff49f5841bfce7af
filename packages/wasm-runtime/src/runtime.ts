import './webassembly.js';
import { Worker } from 'node:worker_threads';
import { Counter, Gauge, Histogram, errorMessage, type Logger, type Registry, type Startable } from '@cnode/runtime';
import { BridgeOp, BridgeStatus, bridgeDataBytes, bridgeReply, bridgeRequest, newBridgeBuffer } from './bridge.js';
import { decodeScanRequest, encodeEntries, type ScanEntry, type ScanRequest } from './scan.js';
import { WasmError, WasmErrorCode } from './errors.js';
import type { EmittedEvent, StorageOp } from './host-imports.js';
import type { WasmLimits } from './limits.js';
import type { PreparedModule } from './prepare.js';
import type { WorkerCall, WorkerMessage, WorkerReply } from './protocol.js';

/** Committed state of the contexts the guests run in (the node's store). */
export interface WasmStorage {
  read(contextId: Uint8Array, key: Uint8Array): Promise<Uint8Array | undefined>;
  readPrivate(contextId: Uint8Array, key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Live entries in key order (`cnode_storage_scan`). */
  scan(contextId: Uint8Array, request: ScanRequest): Promise<ScanEntry[]>;
}

export interface WasmCall {
  prepared: PreparedModule;
  method: string;
  input: Uint8Array;
  contextId: Uint8Array;
  executorId: Uint8Array;
  /** Force a view call (writes silenced) even when the ABI does not declare the method `read_only`. */
  readOnly?: boolean;
}

/** What a successful call did. Nothing of it is stored yet: the caller commits it (or not). */
export interface WasmOutcome {
  /** The `value_return` Ok bytes (the application's JSON), if any. */
  output?: Uint8Array;
  logs: string[];
  events: EmittedEvent[];
  /** The last operation per touched key, in first-touch order (empty for a view call). */
  writes: StorageOp[];
  privateWrites: StorageOp[];
  /** Whether the guest called `commit`. */
  committed: boolean;
  /** Whether it ran as a view call. */
  readOnly: boolean;
}

export interface WasmRuntimeOptions {
  /** Worker threads, each running one call at a time. */
  workers: number;
  /** Calls waiting for a worker, at most; beyond it a call is refused with WASM_BUSY. */
  queueMax: number;
  limits: WasmLimits;
  storage: WasmStorage;
  registry: Registry;
  logger: Logger;
  /** The worker script; by default the built `worker.js` beside this module. */
  workerEntry?: URL;
}

interface Pending {
  call: WasmCall;
  resolve: (outcome: WasmOutcome) => void;
  reject: (err: WasmError) => void;
  queuedAt: number;
}

interface Slot {
  worker: Worker;
  bridge: SharedArrayBuffer;
  /** The worker has started and listens (a call's deadline covers its run, not a worker's start). */
  ready: boolean;
  started: Promise<void>;
  markStarted: () => void;
  running?: { id: number; pending: Pending; timer: NodeJS.Timeout };
}

/** A view call: asked as one, or a method the ABI declares `read_only`. Its writes are silenced. */
function isView(call: WasmCall): boolean {
  return call.readOnly === true || call.prepared.readOnly.has(call.method);
}

/** The worker script: beside this module once built; from the build when this runs as TypeScript (tests). */
function defaultWorkerEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('../dist/worker.js', here) : new URL('./worker.js', here);
}

/**
 * Runs application methods in a bounded pool of worker threads, each call on a fresh instance.
 * A call past its deadline (`maxExecMs`) terminates its worker, which is replaced; so does a worker
 * that dies (out of heap). Calls wait in a bounded queue for a free worker. Every outcome is
 * counted (`wasm_calls_total{outcome}`) and timed; worker replacements are counted by reason.
 */
export class WasmRuntime implements Startable {
  readonly name = 'wasm-runtime';
  private readonly slots: Slot[] = [];
  /** Calls waiting for a worker: views and mutating calls apart, views first (see `next`). */
  private readonly queue = new CallQueue();
  private nextId = 1;
  private stopped = false;
  private readonly calls: Counter<'outcome'>;
  private readonly seconds: Histogram<'outcome'>;
  private readonly busy: Gauge;
  private readonly queued: Gauge;
  private readonly restarts: Counter<'reason'>;

  constructor(private readonly opts: WasmRuntimeOptions) {
    this.calls = new Counter({
      name: 'wasm_calls_total',
      help: 'Application calls run by the WASM runtime, by outcome (ok, or the error code)',
      labelNames: ['outcome'],
      registers: [opts.registry],
    });
    this.seconds = new Histogram({
      name: 'wasm_call_seconds',
      help: 'Time of an application call from its request to its outcome (queue included), by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [opts.registry],
    });
    this.busy = new Gauge({ name: 'wasm_workers_busy', help: 'Workers running a call', registers: [opts.registry] });
    this.queued = new Gauge({
      name: 'wasm_calls_queued',
      help: 'Calls waiting for a free worker',
      registers: [opts.registry],
    });
    this.restarts = new Counter({
      name: 'wasm_worker_restarts_total',
      help: 'Workers replaced, by reason (timeout, crashed)',
      labelNames: ['reason'],
      registers: [opts.registry],
    });
  }

  /** Starts the workers and waits until each listens. */
  async start(): Promise<void> {
    for (let i = 0; i < this.opts.workers; i++) this.slots.push(this.spawn());
    await this.ready();
  }

  /** Resolves once every worker (a replaced one included) has started. */
  async ready(): Promise<void> {
    while (!this.stopped && this.slots.some((s) => !s.ready)) await Promise.all(this.slots.map((s) => s.started));
  }

  /** Runs a method. Resolves with what it did, or rejects with a WasmError (nothing of it is kept). */
  run(call: WasmCall): Promise<WasmOutcome> {
    if (this.stopped) return Promise.reject(new WasmError(WasmErrorCode.Stopped, 'the WASM runtime is stopped'));
    return new Promise<WasmOutcome>((resolve, reject) => {
      const pending: Pending = { call, resolve, reject, queuedAt: performance.now() };
      const free = this.slots.find((s) => s.ready && !s.running);
      if (free) return this.dispatch(free, pending);
      if (this.queue.size >= this.opts.queueMax) {
        this.settle(
          pending,
          new WasmError(WasmErrorCode.Busy, `every WASM worker is busy and ${this.queue.size} calls wait`),
        );
        return;
      }
      this.queue.push(pending, isView(call));
      this.queued.set(this.queue.size);
    });
  }

  private spawn(): Slot {
    const { limits } = this.opts;
    const worker = new Worker(this.opts.workerEntry ?? defaultWorkerEntry(), {
      resourceLimits: { maxOldGenerationSizeMb: limits.workerHeapMb, stackSizeMb: limits.workerStackMb },
    });
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const slot: Slot = {
      worker,
      bridge: newBridgeBuffer(limits.maxStorageValueBytes, limits.maxStorageKeyBytes),
      ready: false,
      started,
      markStarted,
    };
    worker.on('message', (message: WorkerMessage) => this.onMessage(slot, message));
    worker.on('error', (err: Error & { code?: string }) => {
      const memory = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.replace(
        slot,
        'crashed',
        new WasmError(
          memory ? WasmErrorCode.MemoryExceeded : WasmErrorCode.Trap,
          memory ? 'the call ran out of worker heap' : `the worker failed: ${err.message}`,
        ),
      );
    });
    worker.unref();
    return slot;
  }

  private dispatch(slot: Slot, pending: Pending): void {
    const id = this.nextId++;
    const { call } = pending;
    const timer = setTimeout(() => {
      this.replace(
        slot,
        'timeout',
        new WasmError(
          WasmErrorCode.Timeout,
          `${call.method} ran past its deadline of ${this.opts.limits.maxExecMs} ms`,
        ),
      );
    }, this.opts.limits.maxExecMs);
    slot.running = { id, pending, timer };
    this.countBusy();
    const message: WorkerCall = {
      id,
      module: call.prepared.module,
      memoryCap: call.prepared.memoryPages,
      method: call.method,
      input: call.input,
      contextId: call.contextId,
      executorId: call.executorId,
      readOnly: isView(call),
      limits: this.opts.limits,
      bridge: slot.bridge,
    };
    slot.worker.postMessage(message);
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    if (message.type === 'ready') {
      slot.ready = true;
      slot.markStarted();
      if (!slot.running && !this.stopped) this.next(slot);
      return;
    }
    const running = slot.running;
    if (!running || message.id !== running.id) return;
    if (message.type === 'read') {
      void this.answerRead(slot, running.pending.call.contextId);
      return;
    }
    clearTimeout(running.timer);
    slot.running = undefined;
    this.finish(running.pending, message);
    this.next(slot);
  }

  private async answerRead(slot: Slot, contextId: Uint8Array): Promise<void> {
    const request = bridgeRequest(slot.bridge);
    if (!request) return;
    try {
      const value =
        request.op === BridgeOp.Scan
          ? encodeEntries(
              await this.opts.storage.scan(contextId, decodeScanRequest(request.key)),
              bridgeDataBytes(this.opts.limits.maxStorageValueBytes, this.opts.limits.maxStorageKeyBytes),
            )
          : request.op === BridgeOp.ReadPrivate
            ? await this.opts.storage.readPrivate(contextId, request.key)
            : await this.opts.storage.read(contextId, request.key);
      bridgeReply(slot.bridge, value === undefined ? BridgeStatus.Missing : BridgeStatus.Found, value);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'A guest storage read failed');
      bridgeReply(slot.bridge, BridgeStatus.Failed);
    }
  }

  private finish(pending: Pending, reply: WorkerReply): void {
    if (reply.error) {
      this.settle(pending, new WasmError(reply.error.code, reply.error.message, reply.error.data));
      return;
    }
    this.settle(pending, {
      output: reply.output,
      logs: reply.logs,
      events: reply.events ?? [],
      writes: reply.writes ?? [],
      privateWrites: reply.privateWrites ?? [],
      committed: reply.committed ?? false,
      readOnly: isView(pending.call),
    });
  }

  private settle(pending: Pending, result: WasmOutcome | WasmError): void {
    const outcome = result instanceof WasmError ? result.code : 'ok';
    this.calls.inc({ outcome });
    this.seconds.observe({ outcome }, (performance.now() - pending.queuedAt) / 1000);
    if (result instanceof WasmError) pending.reject(result);
    else pending.resolve(result);
  }

  /** Ends the slot's call with `error`, terminates its worker and puts a fresh one in its place. */
  private replace(slot: Slot, reason: 'timeout' | 'crashed', error: WasmError): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const running = slot.running;
    slot.running = undefined;
    if (running) {
      clearTimeout(running.timer);
      this.settle(running.pending, error);
    }
    void slot.worker.terminate();
    // Whoever waits for this worker to start waits for its replacement instead.
    slot.markStarted();
    this.restarts.inc({ reason });
    this.opts.logger.warn({ reason, err: error.message }, 'Replaced a WASM worker');
    if (this.stopped) {
      this.slots.splice(index, 1);
      return;
    }
    // The fresh worker takes the next queued call once it is ready.
    this.slots[index] = this.spawn();
    this.countBusy();
  }

  private countBusy(): void {
    this.busy.set(this.slots.filter((s) => s.running).length);
  }

  private next(slot: Slot): void {
    const pending = this.queue.shift();
    this.queued.set(this.queue.size);
    if (pending) this.dispatch(slot, pending);
    else this.countBusy();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const pending of this.queue.drain()) {
      this.settle(pending, new WasmError(WasmErrorCode.Stopped, 'the WASM runtime stopped'));
    }
    this.queued.set(0);
    await Promise.all(
      this.slots.splice(0).map(async (slot) => {
        slot.markStarted();
        if (slot.running) {
          clearTimeout(slot.running.timer);
          this.settle(slot.running.pending, new WasmError(WasmErrorCode.Stopped, 'the WASM runtime stopped'));
        }
        await slot.worker.terminate();
      }),
    );
  }
}

/**
 * The calls waiting for a worker, in two FIFO lanes: a view call (a read, short as a rule) takes the
 * next free worker ahead of queued mutating calls, so slow writes on other contexts hold a view back
 * by at most one call's run — but after `VIEW_STREAK` views in a row a waiting mutating call goes,
 * so a flood of views cannot starve writes.
 */
class CallQueue {
  static readonly VIEW_STREAK = 8;
  private readonly views: Pending[] = [];
  private readonly mutations: Pending[] = [];
  private streak = 0;

  get size(): number {
    return this.views.length + this.mutations.length;
  }

  push(pending: Pending, view: boolean): void {
    (view ? this.views : this.mutations).push(pending);
  }

  shift(): Pending | undefined {
    if (this.views.length > 0 && (this.mutations.length === 0 || this.streak < CallQueue.VIEW_STREAK)) {
      this.streak++;
      return this.views.shift();
    }
    this.streak = 0;
    return this.mutations.shift();
  }

  drain(): Pending[] {
    return [...this.views.splice(0), ...this.mutations.splice(0)];
  }
}
