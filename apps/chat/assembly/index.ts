// A chat with delivery receipts, built with the SDK: the example of events and handlers. `post`
// stores a message and emits `posted` naming the handler `deliver`; every other member's node runs
// `deliver` once the message arrives there, which records a receipt for that node's identity (a
// write of its own, replicated like any other) and emits `delivered`. The author's node never runs it.
import {
  arg,
  args,
  emit,
  emitWithHandler,
  executorId,
  input,
  jsonString,
  parseStringObject,
  returnJson,
  storage,
} from '../../../packages/app-sdk/assembly/index';

function messageKey(id: string): string {
  return 'msg:' + id;
}

function receiptKey(id: string, member: string): string {
  return 'delivered:' + id + ':' + member;
}

/** {id, text} → null. Emits `posted` {id, from}, handled by `deliver` on the receiving nodes. */
export function post(): void {
  const fields = args();
  const id = arg(fields, 'id');
  storage.set(messageKey(id), arg(fields, 'text'));
  emitWithHandler('posted', '{"id":' + jsonString(id) + ',"from":' + jsonString(executorId()) + '}', 'deliver');
  returnJson('null');
}

/**
 * The handler of `posted`, run by each receiving node with the event's data: counts the delivery
 * to this node's identity (a count, so a second run would show as 2) and emits `delivered`.
 */
export function deliver(): void {
  const event = parseStringObject(String.UTF8.decode(input().buffer));
  const id = arg(event, 'id');
  const me = executorId();
  const key = receiptKey(id, me);
  const before = storage.get(key);
  const count = before === null ? 1 : I32.parseInt(before) + 1;
  storage.set(key, count.toString());
  emit('delivered', '{"id":' + jsonString(id) + ',"to":' + jsonString(me) + '}');
  returnJson('null');
}

/** {id} → the message text, or null. */
export function get(): void {
  const text = storage.get(messageKey(arg(args(), 'id')));
  returnJson(text === null ? 'null' : jsonString(text));
}

/** {id, member} → how many times the message was delivered to that member's node (hex id): 0 or 1. */
export function receipts(): void {
  const fields = args();
  const count = storage.get(receiptKey(arg(fields, 'id'), arg(fields, 'member')));
  returnJson(count === null ? '0' : count);
}
