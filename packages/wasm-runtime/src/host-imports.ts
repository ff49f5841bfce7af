import './webassembly.js';
import { createPublicKey, randomFillSync, verify } from 'node:crypto';
import type { WasmLimits } from './limits.js';
import { MAX_SCAN_ENTRIES, encodeEntries, inScanRange, overlayPage, type ScanEntry, type ScanRequest } from './scan.js';

/** Host functions this node implements (module `env`). */
const SUPPORTED = [
  'panic',
  'panic_utf8',
  'register_len',
  'read_register',
  'context_id',
  'account_id',
  'device_id',
  'executor_id',
  'xcall_origin',
  'input',
  'value_return',
  'emit_migration_witness',
  'log_utf8',
  'js_std_d_print',
  'emit',
  'emit_with_handler',
  'commit',
  'storage_read',
  'storage_write',
  'storage_remove',
  'storage_index_set',
  'storage_index_remove',
  'storage_index_remove_prefix',
  'storage_index_scan',
  'storage_index_last',
  'storage_index_meta_set',
  'storage_index_meta_get',
  'storage_index_meta_clear',
  'private_storage_read',
  'private_storage_write',
  'private_storage_remove',
  'fetch',
  'random_bytes',
  'time_now',
  'ed25519_verify',
  // This node's extension (see scan.ts): an ordered read of the replicated state.
  'cnode_storage_scan',
] as const;

/** Host functions of the Calimero ABI a module may import but whose call traps here (not yet wired). */
const UNSUPPORTED = [
  'xcall',
  'persist_root_state',
  'read_root_state',
  'apply_storage_delta',
  'flush_delta',
  'register_js_sdk_root_merge',
  'blob_create',
  'blob_write',
  'blob_close',
  'blob_open',
  'blob_read',
  'blob_announce_to_context',
] as const;

/** Every name a module may import from `env`: linking never fails on them. */
export const HOST_IMPORTS: ReadonlySet<string> = new Set<string>([...SUPPORTED, ...UNSUPPORTED]);

/** Why a host function stopped the call (the guest cannot catch it). */
export class HostTrap extends Error {
  constructor(
    readonly kind: 'host' | 'panic',
    message: string,
  ) {
    super(message);
    this.name = 'HostTrap';
  }
}

const hostError = (message: string): HostTrap => new HostTrap('host', message);

/** Committed state as the worker sees it: synchronous reads (the worker blocks while the parent answers). */
export interface HostStorage {
  read(key: Uint8Array): Uint8Array | undefined;
  readPrivate(key: Uint8Array): Uint8Array | undefined;
  scan(request: ScanRequest): ScanEntry[];
}

export interface HostCallInfo {
  input: Uint8Array;
  contextId: Uint8Array;
  /** The executing member's public key (device and account: the port has no separate accounts). */
  executorId: Uint8Array;
  /** A view call: writes are silenced (return 0) and nothing is recorded. */
  readOnly: boolean;
}

/** A key's last operation in the call: a value, or null for a removal. */
export interface StorageOp {
  key: Uint8Array;
  value: Uint8Array | null;
}

export interface EmittedEvent {
  kind: string;
  data: Uint8Array;
  handler?: string;
}

/** What a call did, collected by the host functions. */
export interface CallRecord {
  returned?: { ok: boolean; value: Uint8Array };
  logs: string[];
  events: EmittedEvent[];
  /** Last operation per touched key, in the order keys were first touched. */
  writes: Map<string, StorageOp>;
  privateWrites: Map<string, StorageOp>;
  committed: boolean;
}

const U64_MAX = 2n ** 64n - 1n;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * The `env` imports of one call, over its record. Every i64 argument arrives as a signed BigInt and
 * is read as u64; every guest buffer is bounds-checked; each limit traps the call as upstream does.
 * `attach` gives the functions the instance's memory once it exists.
 */
export class Host {
  readonly record: CallRecord = { logs: [], events: [], writes: new Map(), privateWrites: new Map(), committed: false };
  private memory: WebAssembly.Memory | undefined;
  private readonly registers = new Map<bigint, Uint8Array>();
  private registersBytes = 0;
  private writeCount = 0;
  private writeBytes = 0;

  constructor(
    private readonly call: HostCallInfo,
    private readonly storage: HostStorage,
    private readonly limits: WasmLimits,
  ) {}

  attach(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  /** The linear memory's size now, pages. */
  get memoryPages(): number {
    return this.memory ? this.memory.buffer.byteLength / 65_536 : 0;
  }

  private view(): DataView {
    if (!this.memory) throw hostError('memory is not attached');
    return new DataView(this.memory.buffer);
  }

  private bytesAt(ptr: number, len: number): Uint8Array {
    const buffer = this.view().buffer;
    if (ptr + len > buffer.byteLength) throw hostError(`InvalidMemoryAccess: ${len} bytes at ${ptr}`);
    return new Uint8Array(buffer, ptr, len);
  }

  private num(value: bigint, what: string): number {
    const u = BigInt.asUintN(64, value);
    if (u > BigInt(Number.MAX_SAFE_INTEGER)) throw hostError(`InvalidMemoryAccess: ${what} ${u} is out of range`);
    return Number(u);
  }

  /** A `Buffer{ptr u64, len u64}` descriptor at `ptr`: the bytes it names (a view into memory). */
  private buffer(descriptor: bigint, what = 'buffer'): Uint8Array {
    const at = this.num(descriptor, what);
    const view = this.view();
    if (at + 16 > view.byteLength) throw hostError(`InvalidMemoryAccess: ${what} descriptor at ${at}`);
    const ptr = this.num(view.getBigUint64(at, true), what);
    const len = this.num(view.getBigUint64(at + 8, true), what);
    return this.bytesAt(ptr, len);
  }

  private copy(descriptor: bigint, what?: string): Uint8Array {
    return Uint8Array.from(this.buffer(descriptor, what));
  }

  private text(bytes: Uint8Array, what: string): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw hostError(`BadUTF8: ${what} is not UTF-8`);
    }
  }

  private setRegister(id: bigint, data: Uint8Array): void {
    const key = BigInt.asUintN(64, id);
    if (data.length > this.limits.maxRegisterBytes) throw hostError('InvalidMemoryAccess: register too large');
    const old = this.registers.get(key);
    if (!old && this.registers.size >= this.limits.maxRegisters)
      throw hostError('InvalidMemoryAccess: too many registers');
    const total = this.registersBytes - (old?.length ?? 0) + data.length;
    if (total > this.limits.maxRegistersTotalBytes)
      throw hostError('InvalidMemoryAccess: registers too large in total');
    this.registers.set(key, data);
    this.registersBytes = total;
  }

  private storageKey(descriptor: bigint): Uint8Array {
    const key = this.copy(descriptor, 'key');
    if (key.length === 0 || key.length > this.limits.maxStorageKeyBytes) {
      throw hostError(`KeyLengthOverflow: keys are 1..${this.limits.maxStorageKeyBytes} bytes, got ${key.length}`);
    }
    return key;
  }

  private countWrite(bytes: number): void {
    this.writeCount++;
    this.writeBytes += bytes;
    if (this.writeCount > this.limits.maxStorageWrites || this.writeBytes > this.limits.maxStorageWriteBytes) {
      throw hostError('StorageWriteBytesExceeded: the call wrote too much');
    }
  }

  /** The current value of `key`: this call's last operation on it, else committed state. */
  private current(ops: Map<string, StorageOp>, key: Uint8Array, read: (k: Uint8Array) => Uint8Array | undefined) {
    const op = ops.get(hex(key));
    if (op) return op.value ?? undefined;
    return read(key);
  }

  /** Records a key's operation; a key keeps the place of its first touch. */
  private put(ops: Map<string, StorageOp>, key: Uint8Array, value: Uint8Array | null): void {
    const op = ops.get(hex(key));
    if (op) op.value = value;
    else ops.set(hex(key), { key, value });
  }

  /** The import object for `WebAssembly.Instance`. */
  imports(): WebAssembly.Imports {
    const env: Record<string, (...args: bigint[]) => unknown> = {};
    for (const name of UNSUPPORTED) {
      env[name] = () => {
        throw hostError(`not supported by this node: ${name}`);
      };
    }
    const storage = this.storage;
    const limits = this.limits;
    const record = this.record;
    Object.assign(env, {
      panic: (loc: bigint) => {
        throw new HostTrap('panic', `guest panicked: explicit panic${this.location(loc)}`);
      },
      panic_utf8: (msg: bigint, loc: bigint) => {
        throw new HostTrap(
          'panic',
          `guest panicked: ${this.text(this.buffer(msg), 'panic message')}${this.location(loc)}`,
        );
      },
      register_len: (reg: bigint) => {
        const data = this.registers.get(BigInt.asUintN(64, reg));
        return data ? BigInt(data.length) : U64_MAX;
      },
      read_register: (reg: bigint, dest: bigint) => {
        const data = this.registers.get(BigInt.asUintN(64, reg));
        if (!data) throw hostError(`InvalidRegisterId: ${BigInt.asUintN(64, reg)}`);
        const target = this.buffer(dest, 'register destination');
        if (target.length !== data.length) return 0;
        target.set(data);
        return 1;
      },
      context_id: (reg: bigint) => this.setRegister(reg, Uint8Array.from(this.call.contextId)),
      account_id: (reg: bigint) => this.setRegister(reg, Uint8Array.from(this.call.executorId)),
      device_id: (reg: bigint) => this.setRegister(reg, Uint8Array.from(this.call.executorId)),
      executor_id: (reg: bigint) => this.setRegister(reg, Uint8Array.from(this.call.executorId)),
      xcall_origin: () => 0,
      input: (reg: bigint) => this.setRegister(reg, Uint8Array.from(this.call.input)),
      value_return: (ptr: bigint) => {
        const at = this.num(ptr, 'value_return');
        const view = this.view();
        if (at + 24 > view.byteLength) throw hostError('InvalidMemoryAccess: value_return descriptor');
        const tag = view.getBigUint64(at, true);
        if (tag > 1n) throw hostError('DeserializationError: value_return tag is neither Ok nor Err');
        const value = this.copy(BigInt(at + 8), 'return value');
        if (value.length > limits.maxReturnBytes) throw hostError('ReturnValueSizeOverflow');
        record.returned = { ok: tag === 0n, value };
      },
      emit_migration_witness: (buf: bigint) => {
        if (this.buffer(buf).length > limits.maxStorageValueBytes) throw hostError('migration witness too large');
      },
      log_utf8: (buf: bigint) => this.log(this.text(this.buffer(buf), 'log line')),
      js_std_d_print: (_ctx: bigint, msg: bigint, len: bigint) => {
        this.log(this.text(this.bytesAt(this.num(msg, 'print'), this.num(len, 'print')), 'print'));
        return 0;
      },
      emit: (event: bigint) => this.emit(event, undefined),
      emit_with_handler: (event: bigint, handler: bigint) => this.emit(event, handler),
      commit: (root: bigint, artifact: bigint) => {
        if (record.committed) throw hostError('InvalidMemoryAccess: commit called twice');
        if (this.buffer(root, 'root hash').length !== 32)
          throw hostError('InvalidMemoryAccess: root hash must be 32 bytes');
        if (this.buffer(artifact, 'artifact').length > limits.maxArtifactBytes) throw hostError('artifact too large');
        record.committed = true;
      },
      storage_read: (key: bigint, reg: bigint) => {
        const value = this.current(record.writes, this.storageKey(key), (k) => storage.read(k));
        if (value === undefined) return 0;
        this.setRegister(reg, value);
        return 1;
      },
      storage_write: (key: bigint, value: bigint, reg: bigint) => {
        const k = this.storageKey(key);
        const v = this.copy(value, 'value');
        if (v.length > limits.maxStorageValueBytes) {
          throw hostError(`ValueLengthOverflow: values are at most ${limits.maxStorageValueBytes} bytes`);
        }
        if (this.call.readOnly) return 0;
        this.countWrite(k.length + v.length);
        const old = this.current(record.writes, k, (x) => storage.read(x));
        this.put(record.writes, k, v);
        if (old === undefined) return 0;
        this.setRegister(reg, old);
        return 1;
      },
      storage_remove: (key: bigint, reg: bigint) => {
        const k = this.storageKey(key);
        if (this.call.readOnly) return 0;
        const old = this.current(record.writes, k, (x) => storage.read(x));
        if (old === undefined) return 0;
        this.put(record.writes, k, null);
        this.setRegister(reg, old);
        return 1;
      },
      cnode_storage_scan: (prefix: bigint, after: bigint, limit: bigint, reg: bigint) => {
        const request: ScanRequest = {
          prefix: this.copy(prefix, 'prefix'),
          after: BigInt.asUintN(64, after) === 0n ? undefined : this.copy(after, 'after'),
          limit: this.num(limit, 'limit'),
        };
        if (request.after?.length === 0) request.after = undefined;
        if (request.limit < 1 || request.limit > MAX_SCAN_ENTRIES) {
          throw hostError(`cnode_storage_scan: limit must be 1..${MAX_SCAN_ENTRIES}`);
        }
        // This call's own writes in range are seen as they are now.
        const own = [...record.writes.values()].filter((op) => inScanRange(op.key, request));
        const removals = own.filter((op) => op.value === null).length;
        const base = storage.scan({ ...request, limit: request.limit + removals });
        const page = overlayPage(base, base.length === request.limit + removals, own, request.limit);
        this.setRegister(reg, encodeEntries(page, limits.maxRegisterBytes));
        return 1;
      },
      // The node-local ordered index is inert here, as on upstream's non-index backends.
      storage_index_set: () => 0,
      storage_index_remove: () => 0,
      storage_index_remove_prefix: () => 0,
      storage_index_scan: (_lo: bigint, _hi: bigint, _offset: bigint, _limit: bigint, reg: bigint) => {
        this.setRegister(reg, new Uint8Array(4));
        return 1;
      },
      storage_index_last: (_lo: bigint, _hi: bigint, reg: bigint) => {
        this.setRegister(reg, new Uint8Array(4));
        return 1;
      },
      storage_index_meta_set: () => 0,
      storage_index_meta_get: () => 0,
      storage_index_meta_clear: () => 0,
      private_storage_read: (key: bigint, reg: bigint) => {
        const value = this.current(record.privateWrites, this.storageKey(key), (k) => storage.readPrivate(k));
        if (value === undefined) return 0;
        this.setRegister(reg, value);
        return 1;
      },
      private_storage_write: (key: bigint, value: bigint) => {
        const k = this.storageKey(key);
        const v = this.copy(value, 'value');
        if (v.length > limits.maxStorageValueBytes) throw hostError('ValueLengthOverflow');
        if (this.call.readOnly) return 0;
        this.countWrite(k.length + v.length);
        this.put(record.privateWrites, k, v);
        return 1;
      },
      private_storage_remove: (key: bigint, reg: bigint) => {
        const k = this.storageKey(key);
        if (this.call.readOnly) return 0;
        const old = this.current(record.privateWrites, k, (x) => storage.readPrivate(x));
        if (old === undefined) return 0;
        this.put(record.privateWrites, k, null);
        this.setRegister(reg, old);
        return 1;
      },
      fetch: (_url: bigint, _method: bigint, _headers: bigint, _body: bigint, reg: bigint) => {
        this.setRegister(reg, new TextEncoder().encode("Host function 'fetch' is temporarily disabled."));
        return 1;
      },
      random_bytes: (buf: bigint) => {
        randomFillSync(this.buffer(buf, 'random bytes'));
      },
      time_now: (buf: bigint) => {
        const target = this.buffer(buf, 'time');
        if (target.length !== 8) throw hostError('InvalidMemoryAccess: time_now needs an 8-byte buffer');
        new DataView(target.buffer, target.byteOffset, 8).setBigUint64(0, BigInt(Date.now()) * 1_000_000n, true);
      },
      ed25519_verify: (sig: bigint, pk: bigint, msg: bigint) => {
        const signature = this.copy(sig, 'signature');
        const publicKey = this.copy(pk, 'public key');
        if (signature.length !== 64 || publicKey.length !== 32) {
          throw hostError('InvalidMemoryAccess: ed25519_verify needs a 64-byte signature and a 32-byte key');
        }
        let key;
        try {
          key = createPublicKey({
            key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
            format: 'jwk',
          });
        } catch {
          throw hostError('Ed25519IncorrectPublicKey');
        }
        try {
          return verify(null, this.copy(msg, 'message'), key, signature) ? 1 : 0;
        } catch {
          return 0;
        }
      },
    });
    return { env };
  }

  private log(line: string): void {
    if (this.record.logs.length >= this.limits.maxLogs) throw hostError('LogsOverflow');
    if (Buffer.byteLength(line) > this.limits.maxLogBytes) throw hostError('LogLengthOverflow');
    this.record.logs.push(line);
  }

  private emit(event: bigint, handler: bigint | undefined): void {
    const at = this.num(event, 'event');
    const kind = this.text(this.copy(BigInt(at), 'event kind'), 'event kind');
    const data = this.copy(BigInt(at + 16), 'event data');
    if (Buffer.byteLength(kind) > this.limits.maxEventKindBytes) throw hostError('EventKindSizeOverflow');
    if (data.length > this.limits.maxEventDataBytes) throw hostError('EventDataSizeOverflow');
    if (this.record.events.length >= this.limits.maxEvents) throw hostError('EventsOverflow');
    let name: string | undefined;
    if (handler !== undefined && BigInt.asUintN(64, handler) !== 0n) {
      name = this.text(this.buffer(handler, 'handler'), 'handler name');
      if (Buffer.byteLength(name) > this.limits.maxHandlerNameBytes) throw hostError('EventHandlerSizeOverflow');
    }
    this.record.events.push(name === undefined ? { kind, data } : { kind, data, handler: name });
  }

  private location(loc: bigint): string {
    if (BigInt.asUintN(64, loc) === 0n) return '';
    try {
      const at = this.num(loc, 'location');
      const file = this.text(this.buffer(BigInt(at), 'file'), 'file');
      const view = this.view();
      return ` at ${file}:${view.getUint32(at + 16, true)}:${view.getUint32(at + 20, true)}`;
    } catch {
      return '';
    }
  }
}
