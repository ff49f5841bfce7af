import { CodedError } from '@cnode/runtime';

/** Why a module was refused or a call failed: stable codes for API errors, logs and metric labels. */
export enum WasmErrorCode {
  /** The module is over the size cap. */
  ModuleTooLarge = 'WASM_MODULE_TOO_LARGE',
  /** The module breaks the contract: no `memory` export, imported memory, `_start`, unknown imports, bad bytes. */
  ModuleInvalid = 'WASM_MODULE_INVALID',
  /** The method name is malformed or no such function (of type `() -> ()`) is exported. */
  MethodNotFound = 'WASM_METHOD_NOT_FOUND',
  /** The call ran past its wall-clock deadline (`WASM_MAX_EXEC_MS`); its worker was replaced. */
  Timeout = 'WASM_TIMEOUT',
  /** The call needed more memory than the cap (linear memory at its maximum, or the worker's heap). */
  MemoryExceeded = 'WASM_MEMORY_EXCEEDED',
  /** The guest trapped (unreachable, out-of-bounds access, stack overflow, …). */
  Trap = 'WASM_TRAP',
  /** The guest panicked (`panic`, `panic_utf8`). */
  Panic = 'WASM_PANIC',
  /** A host function refused what the guest asked (a limit, a bad buffer, an unsupported import). */
  HostError = 'WASM_HOST_ERROR',
  /** The method returned `Err`: `data` is the application's error value. */
  ExecutionError = 'EXECUTION_ERROR',
  /** Every worker is busy and the queue is full. */
  Busy = 'WASM_BUSY',
  /** The runtime is stopping or stopped. */
  Stopped = 'WASM_STOPPED',
}

/** A refused module or a failed call. `data` carries an `EXECUTION_ERROR`'s application value. */
export class WasmError extends CodedError<WasmErrorCode> {
  constructor(
    code: WasmErrorCode,
    message: string,
    readonly data?: Uint8Array,
  ) {
    super(code, message);
    this.name = 'WasmError';
  }
}
