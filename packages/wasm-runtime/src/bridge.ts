/**
 * The synchronous storage bridge between a worker running a guest and the process that holds the
 * database: one SharedArrayBuffer per worker. The worker writes a request, posts a message and
 * blocks (`Atomics.wait`); the parent answers asynchronously, writes the reply and wakes it
 * (`Atomics.notify`). Host functions are synchronous, so this is how a guest reads committed state.
 *
 * Layout: Int32 header [state, op or status, length, 0], then the data area (key or value bytes).
 */
export enum BridgeState {
  Idle = 0,
  Request = 1,
  Reply = 2,
}

export enum BridgeOp {
  Read = 1,
  ReadPrivate = 2,
  /** An ordered read (`scan.ts`): the request and the reply are encoded. */
  Scan = 3,
}

export enum BridgeStatus {
  Missing = 0,
  Found = 1,
  Failed = 2,
}

const HEADER_BYTES = 16;

/** Room for the largest value, or the largest scan request, or a scan page of one largest entry. */
export function newBridgeBuffer(maxValueBytes: number, maxKeyBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + bridgeDataBytes(maxValueBytes, maxKeyBytes));
}

export function bridgeDataBytes(maxValueBytes: number, maxKeyBytes: number): number {
  return maxValueBytes + 2 * maxKeyBytes + 64;
}

/** The worker side: a blocking read. `post` tells the parent a request waits. */
export function bridgeRead(
  sab: SharedArrayBuffer,
  op: BridgeOp,
  key: Uint8Array,
  post: () => void,
): { status: BridgeStatus; value?: Uint8Array } {
  const header = new Int32Array(sab, 0, 4);
  const data = new Uint8Array(sab, HEADER_BYTES);
  data.set(key);
  Atomics.store(header, 1, op);
  Atomics.store(header, 2, key.length);
  Atomics.store(header, 0, BridgeState.Request);
  post();
  while (Atomics.load(header, 0) === Number(BridgeState.Request)) Atomics.wait(header, 0, BridgeState.Request);
  const status = Atomics.load(header, 1) as BridgeStatus;
  const length = Atomics.load(header, 2);
  const value = status === BridgeStatus.Found ? Uint8Array.from(data.subarray(0, length)) : undefined;
  Atomics.store(header, 0, BridgeState.Idle);
  return { status, value };
}

/** The parent side: the pending request, if any. */
export function bridgeRequest(sab: SharedArrayBuffer): { op: BridgeOp; key: Uint8Array } | undefined {
  const header = new Int32Array(sab, 0, 4);
  if (Atomics.load(header, 0) !== Number(BridgeState.Request)) return undefined;
  const length = Atomics.load(header, 2);
  return { op: Atomics.load(header, 1) as BridgeOp, key: Uint8Array.from(new Uint8Array(sab, HEADER_BYTES, length)) };
}

/** The parent side: answers the pending request and wakes the worker. */
export function bridgeReply(sab: SharedArrayBuffer, status: BridgeStatus, value?: Uint8Array): void {
  const header = new Int32Array(sab, 0, 4);
  const data = new Uint8Array(sab, HEADER_BYTES);
  let answer = status;
  if (value && value.length > data.length) answer = BridgeStatus.Failed;
  else if (value) data.set(value);
  Atomics.store(header, 1, answer);
  Atomics.store(header, 2, answer === BridgeStatus.Found && value ? value.length : 0);
  Atomics.store(header, 0, BridgeState.Reply);
  Atomics.notify(header, 0);
}
