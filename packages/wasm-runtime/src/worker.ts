import './webassembly.js';
/**
 * A runtime worker: runs one call at a time on a fresh instance of a prepared module, with the
 * host functions of `host-imports.ts` and committed state read through the storage bridge.
 */
import { parentPort } from 'node:worker_threads';
import { BridgeOp, BridgeStatus, bridgeRead } from './bridge.js';
import { Host, HostTrap, type StorageOp } from './host-imports.js';
import { WasmErrorCode } from './errors.js';
import { decodeEntries, encodeScanRequest } from './scan.js';
import type { WorkerCall, WorkerReply } from './protocol.js';

/** Method names as the Calimero runtime accepts them. */
const METHOD_NAME = /^[A-Za-z0-9_]+$/;
const REGISTER_MERGE = '__calimero_register_merge';

function run(call: WorkerCall): WorkerReply {
  const { limits } = call;
  const read = (op: BridgeOp) => (key: Uint8Array) => {
    const answer = bridgeRead(call.bridge, op, key, () => parentPort!.postMessage({ type: 'read', id: call.id }));
    if (answer.status === BridgeStatus.Failed) throw new HostTrap('host', 'storage read failed on the node');
    return answer.value;
  };
  const host = new Host(
    { input: call.input, contextId: call.contextId, executorId: call.executorId, readOnly: call.readOnly },
    {
      read: read(BridgeOp.Read),
      readPrivate: read(BridgeOp.ReadPrivate),
      scan: (request) => decodeEntries(read(BridgeOp.Scan)(encodeScanRequest(request)) ?? new Uint8Array(4)),
    },
    limits,
  );
  const failed = (code: WasmErrorCode, message: string, data?: Uint8Array): WorkerReply => ({
    type: 'done',
    id: call.id,
    error: { code, message, data },
    logs: host.record.logs,
  });

  const name = Buffer.byteLength(call.method);
  if (name === 0 || name > limits.maxMethodNameBytes || !METHOD_NAME.test(call.method)) {
    return failed(WasmErrorCode.MethodNotFound, `invalid method name: ${JSON.stringify(call.method)}`);
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(call.module, host.imports());
  } catch (err) {
    return failed(WasmErrorCode.ModuleInvalid, `instantiation failed: ${(err as Error).message}`);
  }
  const memory = instance.exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) return failed(WasmErrorCode.ModuleInvalid, 'no memory export');
  host.attach(memory);
  const merge = instance.exports[REGISTER_MERGE];
  if (typeof merge === 'function') {
    try {
      (merge as () => void)();
    } catch {
      // Upstream ignores a failing merge registration too.
    }
  }
  const method = instance.exports[call.method];
  if (typeof method !== 'function') return failed(WasmErrorCode.MethodNotFound, `method not found: ${call.method}`);
  if ((method as (...a: unknown[]) => unknown).length !== 0) {
    return failed(WasmErrorCode.MethodNotFound, `${call.method} takes parameters: methods are () -> ()`);
  }
  try {
    (method as () => void)();
  } catch (err) {
    return failed(...classify(err, host.memoryPages, call.memoryCap));
  }
  const returned = host.record.returned;
  if (returned && !returned.ok) {
    return failed(WasmErrorCode.ExecutionError, 'the method returned an error', returned.value);
  }
  const ops = (m: Map<string, StorageOp>) => (call.readOnly ? [] : [...m.values()]);
  return {
    type: 'done',
    id: call.id,
    output: returned?.value,
    logs: host.record.logs,
    events: host.record.events,
    writes: ops(host.record.writes),
    privateWrites: ops(host.record.privateWrites),
    committed: host.record.committed,
  };
}

/** A thrown value from inside a call, as a code and message. */
function classify(err: unknown, pages: number, memoryCap: number): [WasmErrorCode, string] {
  if (err instanceof HostTrap) {
    return [err.kind === 'panic' ? WasmErrorCode.Panic : WasmErrorCode.HostError, err.message];
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof RangeError && /call stack/i.test(message)) return [WasmErrorCode.Trap, 'stack overflow'];
  // A failed memory.grow is no trap of its own; a guest that then traps at its cap ran out of memory.
  if (pages >= memoryCap) {
    return [WasmErrorCode.MemoryExceeded, `${message} (linear memory at its cap of ${memoryCap} pages)`];
  }
  if (err instanceof WebAssembly.RuntimeError) return [WasmErrorCode.Trap, message];
  return [WasmErrorCode.HostError, message];
}

parentPort?.on('message', (call: WorkerCall) => {
  parentPort!.postMessage(run(call));
});
parentPort?.postMessage({ type: 'ready' });
