// A key-value application built with the SDK: the methods of the built-in kv (set, get, remove),
// as an installed WebAssembly application. Arguments and results are JSON.
import { arg, args, emit, jsonString, returnJson, storage } from '../../../packages/app-sdk/assembly/index';

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
