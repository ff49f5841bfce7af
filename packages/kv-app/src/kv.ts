import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Action, type Hlc } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';

/**
 * The built-in `kv` application: the methods a context runs until the WASM runtime lands. A
 * mutating call turns into state actions (which become one delta); a read answers from the state.
 * Keys and values are UTF-8 strings on the API and bytes in the state.
 */
export enum KvMethod {
  Set = 'set',
  Remove = 'remove',
  Get = 'get',
  Entries = 'entries',
  SetMany = 'set_many',
}

/** The methods that only read (a read-only caller may call these alone). */
export const KV_VIEW_METHODS: ReadonlySet<string> = new Set([KvMethod.Get, KvMethod.Entries]);

export enum KvErrorCode {
  UnknownMethod = 'KV_UNKNOWN_METHOD',
  BadArguments = 'KV_BAD_ARGUMENTS',
}

/** Most entries one `set_many` call writes (one delta; its plaintext stays under 1 MiB anyway). */
export const KV_MAX_BATCH = 1000;

/** Largest page `entries` returns. */
export const KV_MAX_PAGE = 1000;
export const KV_DEFAULT_PAGE = 100;

export class KvError extends CodedError<KvErrorCode> {}

/** What the application reads: one entry, and live entries in key order after a cursor. */
export interface KvState {
  get(key: Buffer): Promise<Buffer | undefined>;
  /** Live entries whose key starts with `prefix`, in key order, strictly after `after`, at most `limit`. */
  scan(prefix: Buffer, after: Buffer | undefined, limit: number): Promise<{ key: Buffer; value: Buffer }[]>;
}

export type KvResult = { kind: 'mutation'; actions: Action[]; output: unknown } | { kind: 'read'; output: unknown };

function bad(message: string): never {
  throw new KvError(KvErrorCode.BadArguments, message);
}

function parseArgs(raw: Uint8Array): Record<string, unknown> {
  if (raw.length === 0) return {};
  let args: unknown;
  try {
    args = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    bad('arguments are not JSON');
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) bad('arguments must be a JSON object');
  return args as Record<string, unknown>;
}

function keyArg(args: Record<string, unknown>, name: string, optional = false): Buffer | undefined {
  const value = args[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string') bad(`"${name}" must be a string`);
  const bytes = Buffer.from(value, 'utf8');
  if (!optional && bytes.length === 0) bad(`"${name}" must not be empty`);
  if (bytes.length > MAX_KEY_BYTES) bad(`"${name}" is longer than ${MAX_KEY_BYTES} bytes`);
  return bytes;
}

/**
 * Runs one `kv` method. `now` stamps mutations (one HLC reading per action). Arguments are a JSON
 * object: `set {key, value}`, `set_many {entries: [{key, value}…]}`, `remove {key}`, `get {key}`,
 * `entries {prefix?, after?, limit?}`.
 */
export async function executeKv(
  method: string,
  rawArgs: Uint8Array,
  state: KvState,
  now: () => Hlc,
): Promise<KvResult> {
  if (!(Object.values(KvMethod) as string[]).includes(method)) {
    throw new KvError(KvErrorCode.UnknownMethod, `the kv application has no method "${method}"`);
  }
  const args = parseArgs(rawArgs);
  switch (method as KvMethod) {
    case KvMethod.Set: {
      const key = keyArg(args, 'key')!;
      if (typeof args.value !== 'string') bad('"value" must be a string');
      const value = Buffer.from(args.value, 'utf8');
      if (value.length > MAX_VALUE_BYTES) bad(`"value" is longer than ${MAX_VALUE_BYTES} bytes`);
      return { kind: 'mutation', actions: [{ kind: 'set', key, value, at: now() }], output: null };
    }
    case KvMethod.SetMany: {
      const list = args.entries;
      if (!Array.isArray(list) || list.length === 0 || list.length > KV_MAX_BATCH) {
        bad(`"entries" must be an array of 1 to ${KV_MAX_BATCH} {key, value} objects`);
      }
      const actions: Action[] = list.map((item: unknown, i) => {
        if (typeof item !== 'object' || item === null) bad(`entries[${i}] must be an object`);
        const entry = item as Record<string, unknown>;
        const key = keyArg(entry, 'key')!;
        if (typeof entry.value !== 'string') bad(`entries[${i}].value must be a string`);
        const value = Buffer.from(entry.value, 'utf8');
        if (value.length > MAX_VALUE_BYTES) bad(`entries[${i}].value is longer than ${MAX_VALUE_BYTES} bytes`);
        return { kind: 'set', key, value, at: now() };
      });
      return { kind: 'mutation', actions, output: actions.length };
    }
    case KvMethod.Remove: {
      const key = keyArg(args, 'key')!;
      // Removing what is not there changes nothing: no action, no delta.
      const existed = (await state.get(key)) !== undefined;
      return { kind: 'mutation', actions: existed ? [{ kind: 'remove', key, at: now() }] : [], output: existed };
    }
    case KvMethod.Get: {
      const value = await state.get(keyArg(args, 'key')!);
      return { kind: 'read', output: value === undefined ? null : value.toString('utf8') };
    }
    case KvMethod.Entries: {
      const prefix = keyArg(args, 'prefix', true) ?? Buffer.alloc(0);
      const after = keyArg(args, 'after', true);
      const limit = args.limit === undefined ? KV_DEFAULT_PAGE : args.limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > KV_MAX_PAGE) {
        bad(`"limit" must be an integer from 1 to ${KV_MAX_PAGE}`);
      }
      const page = await state.scan(prefix, after, limit + 1);
      const entries = page
        .slice(0, limit)
        .map((e) => ({ key: e.key.toString('utf8'), value: e.value.toString('utf8') }));
      return { kind: 'read', output: { entries, next: page.length > limit ? entries.at(-1)!.key : null } };
    }
  }
}
