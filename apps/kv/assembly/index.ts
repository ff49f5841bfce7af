// A key-value application built with the SDK: the methods of the built-in kv (set, get, remove,
// entries), as an installed WebAssembly application. Arguments and results are JSON.
import { arg, args, emit, jsonString, panic, returnJson, storage } from '../../../packages/app-sdk/assembly/index';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** {key, value} → null. Emits `set` with the key. */
export function set(): void {
  const fields = args();
  const key = arg(fields, 'key');
  storage.set(key, arg(fields, 'value'));
  emit('set', '{"key":' + jsonString(key) + '}');
  returnJson('null');
}

/** {key} → the value, or null. */
export function get(): void {
  const value = storage.get(arg(args(), 'key'));
  returnJson(value === null ? 'null' : jsonString(value));
}

/** {key} → whether it existed. */
export function remove(): void {
  returnJson(storage.remove(arg(args(), 'key')) ? 'true' : 'false');
}

/**
 * {prefix?, after?, limit?} → {entries: [{key, value}…], next}: live entries in key order, at most
 * `limit` (1..1000, default 100); `next` is the key to pass as `after` for the next page, or null.
 */
export function entries(): void {
  const fields = args();
  const prefix = fields.has('prefix') ? fields.get('prefix') : '';
  const after: string | null = fields.has('after') ? fields.get('after') : null;
  const limit = fields.has('limit') ? I32.parseInt(fields.get('limit')) : DEFAULT_PAGE;
  if (!(limit >= 1 && limit <= MAX_PAGE)) panic('"limit" must be an integer from 1 to ' + MAX_PAGE.toString());
  // One more than asked tells whether a next page exists.
  const page = storage.entries(prefix, after, limit + 1);
  const shown = page.length > limit ? limit : page.length;
  let out = '{"entries":[';
  for (let i = 0; i < shown; i++) {
    if (i > 0) out += ',';
    out += '{"key":' + jsonString(page[i].key) + ',"value":' + jsonString(page[i].value) + '}';
  }
  out += '],"next":' + (page.length > limit ? jsonString(page[shown - 1].key) : 'null') + '}';
  returnJson(out);
}
