import * as env from './env';

const MESSAGE = memory.data(16);

/** Stops the call with a message the caller sees (`guest panicked: …`); nothing it wrote is kept. */
export function panic(message: string): void {
  const data = Uint8Array.wrap(String.UTF8.encode(message));
  store<u64>(MESSAGE, <u64>data.dataStart);
  store<u64>(MESSAGE, <u64>data.length, 8);
  env.panic_utf8(<u64>MESSAGE, 0);
  unreachable();
}
