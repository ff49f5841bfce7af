/**
 * What one call may use. Defaults follow the Calimero runtime's (VMLimits::default) where they
 * apply to this host; the storage key and value caps are ours (keys are application keys here, not
 * the 32-byte keys of a guest-side storage engine).
 */
export interface WasmLimits {
  /** Largest module accepted, bytes. */
  maxModuleBytes: number;
  /** Linear memory cap, 64 KiB pages (the module's declared maximum is lowered to it). */
  maxMemoryPages: number;
  /** Wall-clock deadline of one call, ms: past it the worker is terminated and replaced. */
  maxExecMs: number;
  /** JS heap of a worker, MiB (host-side buffers, registers). */
  workerHeapMb: number;
  /** Stack of a worker, MiB (deep guest recursion traps as a stack overflow). */
  workerStackMb: number;
  maxRegisters: number;
  maxRegisterBytes: number;
  maxRegistersTotalBytes: number;
  maxLogs: number;
  maxLogBytes: number;
  maxEvents: number;
  maxEventKindBytes: number;
  maxEventDataBytes: number;
  maxHandlerNameBytes: number;
  maxStorageKeyBytes: number;
  maxStorageValueBytes: number;
  maxStorageWrites: number;
  maxStorageWriteBytes: number;
  maxReturnBytes: number;
  maxMethodNameBytes: number;
  maxArtifactBytes: number;
}

export const DEFAULT_WASM_LIMITS: WasmLimits = {
  maxModuleBytes: 20 * 1024 * 1024,
  maxMemoryPages: 1024,
  maxExecMs: 10_000,
  workerHeapMb: 256,
  workerStackMb: 4,
  maxRegisters: 100,
  maxRegisterBytes: 100 * 1024 * 1024,
  maxRegistersTotalBytes: 1024 * 1024 * 1024,
  maxLogs: 1024,
  maxLogBytes: 16 * 1024,
  maxEvents: 100,
  maxEventKindBytes: 100,
  maxEventDataBytes: 16 * 1024,
  maxHandlerNameBytes: 256,
  maxStorageKeyBytes: 4096,
  maxStorageValueBytes: 1024 * 1024,
  maxStorageWrites: 100_000,
  maxStorageWriteBytes: 128 * 1024 * 1024,
  maxReturnBytes: 16 * 1024 * 1024,
  maxMethodNameBytes: 256,
  maxArtifactBytes: 16 * 1024 * 1024,
};
