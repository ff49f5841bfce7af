import './webassembly.js';
import type { EmittedEvent, StorageOp } from './host-imports.js';
import type { WasmErrorCode } from './errors.js';
import type { WasmLimits } from './limits.js';

/** A call as the parent posts it to a worker. */
export interface WorkerCall {
  id: number;
  module: WebAssembly.Module;
  /** The module's linear memory cap, pages (a trap at it is reported as memory exceeded). */
  memoryCap: number;
  method: string;
  input: Uint8Array;
  contextId: Uint8Array;
  executorId: Uint8Array;
  readOnly: boolean;
  limits: WasmLimits;
  bridge: SharedArrayBuffer;
}

/** A worker's messages: a storage read waiting on the bridge, or the end of a call. */
/** `ready` once the worker has loaded and listens: its first call's deadline does not pay for its start. */
export type WorkerMessage = { type: 'ready' } | { type: 'read'; id: number } | WorkerReply;

export interface WorkerReply {
  type: 'done';
  id: number;
  error?: { code: WasmErrorCode; message: string; data?: Uint8Array };
  output?: Uint8Array;
  logs: string[];
  events?: EmittedEvent[];
  writes?: StorageOp[];
  privateWrites?: StorageOp[];
  committed?: boolean;
}
