import { status } from '@grpc/grpc-js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, toBase58, type Action, type Hlc } from '@cnode/primitives';
import type { wire } from '@cnode/proto';
import type { ApplicationRecord, PrivateWrite } from '@cnode/store';
import {
  WasmError,
  WasmErrorCode,
  inScanRange,
  type PreparedModule,
  type ScanRequest,
  type WasmOutcome,
  type WasmRuntime,
} from '@cnode/wasm-runtime';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';
import type { WasmModules } from '../apps/wasm-modules.js';

/** The WASM side of Execute: the runtime, the prepared modules, and one mutating call per context at a time. */
export interface WasmCallDeps {
  runtime: WasmRuntime;
  modules: WasmModules;
  locks: ContextCallLocks;
  /** Writes of calls that ran and wait for their commit: what the next call reads. */
  queued: QueuedWrites;
  /** The same for private storage. */
  queuedPrivate: QueuedWrites;
}

/** What a WASM call did, as the call runner needs it. */
export interface WasmCallResult {
  /** JSON output (`null` when the method returned nothing). */
  output: Buffer;
  logs: string[];
  events: wire.ExecutionEvent[];
  /** The call's writes as delta actions (empty for a view call or one that wrote nothing). */
  actions: Action[];
  /** The call's writes to its private storage: node-local, never in the delta. */
  privateWrites: PrivateWrite[];
}

/** A key's new value, or null for a removal. */
export interface KeyWrite {
  key: Buffer;
  value: Buffer | null;
}

/** Delta actions as key writes. */
export function keyWritesOf(actions: readonly Action[]): KeyWrite[] {
  return actions.map((a) => ({ key: a.key, value: a.kind === 'set' ? a.value : null }));
}

interface QueuedWrite {
  value: Buffer | null;
  /** The call that wrote it: only its own release lets it go. */
  owner: object;
}

/**
 * Writes of mutating calls that have run and whose deltas wait in the group commit, per context and
 * key: the next call of the context reads them before the committed state, so it sees everything
 * the calls before it wrote while their deltas commit together. A call's writes leave when its
 * commit settles (unless a later call wrote the key again). Bounded by the calls the group commit
 * holds: a call's writes enter only once the commit queue took it.
 */
export class QueuedWrites {
  private readonly byContext = new Map<string, Map<string, QueuedWrite>>();

  /** The queued value of a key: `null` when a queued call removed it; undefined when none wrote it. */
  lookup(contextId: Uint8Array, key: Uint8Array): { value: Buffer | null } | undefined {
    return this.byContext.get(Buffer.from(contextId).toString('hex'))?.get(Buffer.from(key).toString('hex'));
  }

  /** The queued writes of a context whose keys fall in a scan's range. */
  inRange(
    contextId: Uint8Array,
    range: Pick<ScanRequest, 'prefix' | 'after'>,
  ): { key: Buffer; value: Buffer | null }[] {
    const keys = this.byContext.get(Buffer.from(contextId).toString('hex'));
    if (!keys) return [];
    const out: { key: Buffer; value: Buffer | null }[] = [];
    for (const [k, { value }] of keys) {
      const key = Buffer.from(k, 'hex');
      if (inScanRange(key, range)) out.push({ key, value });
    }
    return out;
  }

  /** Holds a call's writes until `release` (they replace earlier calls' writes of the same keys). */
  hold(contextHex: string, writes: readonly KeyWrite[], owner: object): void {
    let keys = this.byContext.get(contextHex);
    if (!keys) this.byContext.set(contextHex, (keys = new Map<string, QueuedWrite>()));
    for (const w of writes) keys.set(w.key.toString('hex'), { value: w.value, owner });
  }

  /** Lets go of a call's writes once its commit settled; later calls' writes of those keys stay. */
  release(contextHex: string, writes: readonly KeyWrite[], owner: object): void {
    const keys = this.byContext.get(contextHex);
    if (!keys) return;
    for (const w of writes) {
      const k = w.key.toString('hex');
      if (keys.get(k)?.owner === owner) keys.delete(k);
    }
    if (keys.size === 0) this.byContext.delete(contextHex);
  }
}

/**
 * Mutating calls of one context run one at a time, from the start of the call until its delta is
 * queued for commit, so each sees everything the one before it wrote (as upstream's exclusive
 * context lock does; the writes still committing are read from `QueuedWrites`); view calls do not wait. A call is refused (RESOURCE_EXHAUSTED, counted as
 * `node_manager_group_commit_rejected_total{reason="call_lock_full"}`) when too many wait for its
 * context or for all contexts: the group commit's bounds.
 */
export class ContextCallLocks {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly waiting = new Map<string, number>();
  private waitingTotal = 0;

  constructor(
    private readonly limits: { maxQueuedPerContext: number; maxQueued: number },
    private readonly rejected: { inc(labels: { reason: string }): void },
  ) {}

  async run<T>(contextHex: string, work: () => Promise<T>): Promise<T> {
    const queued = this.waiting.get(contextHex) ?? 0;
    if (queued >= this.limits.maxQueuedPerContext || this.waitingTotal >= this.limits.maxQueued) {
      this.rejected.inc({ reason: 'call_lock_full' });
      throw new AdminCallError(
        status.RESOURCE_EXHAUSTED,
        AdminErrorCode.WritesBusy,
        'too many application calls are waiting for this context; retry shortly',
      );
    }
    this.waiting.set(contextHex, queued + 1);
    this.waitingTotal++;
    const previous = this.tails.get(contextHex) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(contextHex, tail);
    try {
      await previous;
      return await work();
    } finally {
      release();
      if (this.tails.get(contextHex) === tail) this.tails.delete(contextHex);
      const left = (this.waiting.get(contextHex) ?? 1) - 1;
      if (left > 0) this.waiting.set(contextHex, left);
      else this.waiting.delete(contextHex);
      this.waitingTotal--;
    }
  }
}

/** The gRPC status of each runtime error code. */
const WASM_STATUS: Readonly<Record<WasmErrorCode, status>> = {
  [WasmErrorCode.ModuleTooLarge]: status.INVALID_ARGUMENT,
  [WasmErrorCode.ModuleInvalid]: status.INVALID_ARGUMENT,
  [WasmErrorCode.MethodNotFound]: status.NOT_FOUND,
  [WasmErrorCode.Timeout]: status.DEADLINE_EXCEEDED,
  [WasmErrorCode.MemoryExceeded]: status.RESOURCE_EXHAUSTED,
  [WasmErrorCode.Trap]: status.ABORTED,
  [WasmErrorCode.Panic]: status.ABORTED,
  [WasmErrorCode.HostError]: status.ABORTED,
  [WasmErrorCode.ExecutionError]: status.ABORTED,
  [WasmErrorCode.Busy]: status.RESOURCE_EXHAUSTED,
  [WasmErrorCode.Stopped]: status.UNAVAILABLE,
};

/** A runtime error as the caller sees it: its code and status, and an application error's JSON. */
export function wasmCallError(err: WasmError): Error {
  const detail =
    err.code === WasmErrorCode.ExecutionError && err.data ? `: ${Buffer.from(err.data).toString('utf8')}` : '';
  return Object.assign(new WasmError(err.code, `${err.message}${detail}`, err.data), {
    grpcCode: WASM_STATUS[err.code],
  });
}

/**
 * Runs one method of an installed application and turns what it did into the call's result: the
 * output must be JSON (none is `null`); each touched key's last operation becomes one action,
 * stamped in first-touch order; events keep their handler. A view call's writes were silenced by
 * the runtime. Private storage is not kept by this node yet: a call that writes it is refused.
 */
export async function runWasmCall(
  deps: WasmCallDeps,
  call: { prepared: PreparedModule; method: string; args: Uint8Array; contextId: Buffer; executor: Buffer },
  now: () => Hlc,
): Promise<WasmCallResult> {
  let outcome: WasmOutcome;
  try {
    outcome = await deps.runtime.run({
      prepared: call.prepared,
      method: call.method,
      input: call.args,
      contextId: call.contextId,
      executorId: call.executor,
    });
  } catch (err) {
    throw err instanceof WasmError ? wasmCallError(err) : err;
  }
  const output = outcome.output ? Buffer.from(outcome.output) : Buffer.from('null');
  try {
    JSON.parse(output.toString('utf8'));
  } catch {
    throw wasmCallError(new WasmError(WasmErrorCode.HostError, 'the method returned a value that is not JSON'));
  }
  const actions: Action[] = outcome.writes.map((w) => {
    if (w.key.length > MAX_KEY_BYTES || (w.value && w.value.length > MAX_VALUE_BYTES)) {
      throw wasmCallError(new WasmError(WasmErrorCode.HostError, 'a key or value is over the node limits'));
    }
    const key = Buffer.from(w.key);
    return w.value === null
      ? { kind: 'remove', key, at: now() }
      : { kind: 'set', key, value: Buffer.from(w.value), at: now() };
  });
  const privateWrites: PrivateWrite[] = outcome.privateWrites.map((w) => {
    if (w.key.length > MAX_KEY_BYTES || (w.value && w.value.length > MAX_VALUE_BYTES)) {
      throw wasmCallError(new WasmError(WasmErrorCode.HostError, 'a private key or value is over the node limits'));
    }
    return { key: Buffer.from(w.key), value: w.value === null ? null : Buffer.from(w.value) };
  });
  const events: wire.ExecutionEvent[] = outcome.events.map((e) => ({
    kind: e.kind,
    data: Buffer.from(e.data),
    ...(e.handler === undefined ? {} : { handler: e.handler }),
  }));
  return { output, logs: outcome.logs, events, actions, privateWrites };
}

/** How errors name an application a context runs: its id, and the version when one is named. */
export function applicationName(applicationId: Buffer, version: string | null): string {
  return version ? `${toBase58(applicationId)} version ${version}` : toBase58(applicationId);
}

/** The installed application a context runs, or FAILED_PRECONDITION when it is not here. */
export function requireRecord(record: ApplicationRecord | undefined, name: string): ApplicationRecord {
  if (!record) {
    throw new AdminCallError(
      status.FAILED_PRECONDITION,
      AdminErrorCode.ApplicationUnknown,
      `the context's application ${name} is not installed on this node`,
    );
  }
  return record;
}

/** The method a context's application runs once, when the context is created. */
export const INIT_METHOD = 'init';
