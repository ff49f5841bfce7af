// The cnode application SDK for AssemblyScript: a method is an exported `function name(): void`;
// it reads its JSON arguments with `args()`, answers with `returnJson` (or `returnError`), and uses
// `storage`, `emit` and `log`. Build with `npm run app:build -- <app dir>`.
import * as env from './env';
export { parseStringObject, jsonString } from './json';
import { parseStringObject } from './json';

/** The register the SDK reads host answers through. */
const REGISTER: u64 = 0;

// Descriptors the host reads: Buffer{ptr u64, len u64} (16 bytes) and ValueReturn{tag u64, Buffer}.
const BUF_A = memory.data(16);
const BUF_B = memory.data(16);
const BUF_C = memory.data(16);
const RETURN = memory.data(24);

function describe(at: usize, data: Uint8Array): u64 {
  store<u64>(at, <u64>data.dataStart);
  store<u64>(at, <u64>data.length, 8);
  return <u64>at;
}

function bytes(text: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(text));
}

function text(data: Uint8Array): string {
  return String.UTF8.decode(data.buffer);
}

function register(): Uint8Array {
  const length = env.register_len(REGISTER);
  const out = new Uint8Array(<i32>length);
  env.read_register(REGISTER, describe(BUF_A, out));
  return out;
}

/** The call's input, as bytes. */
export function input(): Uint8Array {
  env.input(REGISTER);
  return register();
}

function hex(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    out += (b < 16 ? '0' : '') + b.toString(16);
  }
  return out;
}

/** The identity running the call (the member who called, or the node running a handler), as hex. */
export function executorId(): string {
  env.executor_id(REGISTER);
  return hex(register());
}

/** The context the call runs in, as hex. */
export function contextId(): string {
  env.context_id(REGISTER);
  return hex(register());
}

/** The call's arguments: a JSON object of strings. */
export function args(): Map<string, string> {
  return parseStringObject(text(input()));
}

/** A required string argument (panics with a clear message when it is missing). */
export function arg(fields: Map<string, string>, name: string): string {
  if (!fields.has(name)) panic('missing argument "' + name + '"');
  return fields.get(name);
}

/** Answers the call with `json` (already JSON text). */
export function returnJson(json: string): void {
  store<u64>(RETURN, 0);
  describe(RETURN + 8, bytes(json));
  env.value_return(<u64>RETURN);
}

/** Answers the call with an application error (`json` is JSON text): nothing the call wrote is kept. */
export function returnError(json: string): void {
  store<u64>(RETURN, 1);
  describe(RETURN + 8, bytes(json));
  env.value_return(<u64>RETURN);
}

export { panic } from './panic';
import { panic } from './panic';

/** A log line for the caller. */
export function log(line: string): void {
  env.log_utf8(describe(BUF_A, bytes(line)));
}

/** Emits an event (`data` is JSON text) that travels with the call's delta. */
export function emit(kind: string, data: string): void {
  const event = memory.data(32);
  describe(event, bytes(kind));
  describe(event + 16, bytes(data));
  env.emit(<u64>event);
}

/** Emits an event whose `handler` method each receiving node runs with `data`. */
export function emitWithHandler(kind: string, data: string, handler: string): void {
  const event = memory.data(32);
  describe(event, bytes(kind));
  describe(event + 16, bytes(data));
  env.emit_with_handler(<u64>event, describe(BUF_C, bytes(handler)));
}

/** A key and its value. */
export class Entry {
  constructor(
    public key: string,
    public value: string,
  ) {}
}

/** The context's replicated state, string keys and values. */
export namespace storage {
  export function get(key: string): string | null {
    if (env.storage_read(describe(BUF_A, bytes(key)), REGISTER) == 0) return null;
    return text(register());
  }

  export function set(key: string, value: string): void {
    env.storage_write(describe(BUF_A, bytes(key)), describe(BUF_B, bytes(value)), REGISTER);
  }

  /**
   * Live entries whose key starts with `prefix`, in key order, strictly after `after` (when not
   * null), at most `limit` (1..1024): every key this node holds, whichever member wrote it. A page
   * can come back shorter than `limit` only at the end, or when its entries are very large.
   */
  export function entries(prefix: string, after: string | null, limit: i32): Entry[] {
    const afterDescriptor: u64 = after === null ? 0 : describe(BUF_B, bytes(after));
    env.cnode_storage_scan(describe(BUF_A, bytes(prefix)), afterDescriptor, <u64>limit, REGISTER);
    const data = register();
    const base = data.dataStart;
    const count = load<u32>(base);
    const out = new Array<Entry>(0);
    let at: usize = 4;
    for (let i: u32 = 0; i < count; i++) {
      const keyLength = <i32>load<u32>(base + at);
      const key = String.UTF8.decodeUnsafe(base + at + 4, keyLength);
      at += 4 + keyLength;
      const valueLength = <i32>load<u32>(base + at);
      const value = String.UTF8.decodeUnsafe(base + at + 4, valueLength);
      at += 4 + valueLength;
      out.push(new Entry(key, value));
    }
    return out;
  }

  /** Removes a key; whether it existed. */
  export function remove(key: string): bool {
    return env.storage_remove(describe(BUF_A, bytes(key)), REGISTER) == 1;
  }
}
