import './webassembly.js';
import { HOST_IMPORTS } from './host-imports.js';
import { WasmError, WasmErrorCode } from './errors.js';
import type { WasmLimits } from './limits.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const MEMORY_SECTION = 5;
/** The custom section a Calimero application embeds its ABI manifest in. */
export const ABI_SECTION = 'calimero_abi_v1';
/** Exported by guests that carry Calimero's own storage engine (their raw rows are its tree). */
const SYNC_EXPORT = '__calimero_sync_next';

/** What the node needs to know about an application module, computed once per module. */
export interface PreparedModule {
  module: WebAssembly.Module;
  /** Exported methods (functions of no parameters and no results are checked when called). */
  methods: ReadonlySet<string>;
  /** Methods the ABI declares `read_only`: they run with writes silenced. */
  readOnly: ReadonlySet<string>;
  /** The ABI manifest, when the module embeds one that parses. */
  abi?: unknown;
  /**
   * `calimero-storage` when the guest carries Calimero's storage engine: its keys are that engine's
   * tree rows, which key-level last-writer-wins replicates correctly only with one writer at a time.
   */
  stateEngine: 'host' | 'calimero-storage';
  /** The linear memory cap the module now declares, pages. */
  memoryPages: number;
}

/** Reads an unsigned LEB128 at `offset`: the value and the offset after it. */
function readLeb(bytes: Uint8Array, offset: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (let i = offset; i < bytes.length && shift < 35; i++) {
    const byte = bytes[i]!;
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, i + 1];
    shift += 7;
  }
  throw invalid('truncated or oversized LEB128 number');
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function invalid(reason: string): WasmError {
  return new WasmError(WasmErrorCode.ModuleInvalid, `module refused: ${reason}`);
}

/**
 * Lowers the declared maximum of the module's memory to `cap` pages (adding one when absent), so a
 * guest can never grow past it: `memory.grow` beyond it fails as in any engine. Shared and 64-bit
 * memories are refused, and so is a minimum above the cap.
 */
export function capMemory(bytes: Uint8Array, cap: number): { bytes: Uint8Array; pages: number } {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) throw invalid('not a WebAssembly binary');
  const out: number[] = Array.from(bytes.subarray(0, 8));
  let pages = 0;
  let offset = 8;
  while (offset < bytes.length) {
    const id = bytes[offset]!;
    const [size, start] = readLeb(bytes, offset + 1);
    const end = start + size;
    if (end > bytes.length) throw invalid('a section runs past the end of the module');
    if (id !== MEMORY_SECTION) {
      for (let i = offset; i < end; i++) out.push(bytes[i]!);
      offset = end;
      continue;
    }
    const [count, first] = readLeb(bytes, start);
    let at = first;
    if (count > 1) throw invalid('more than one memory');
    const body: number[] = writeLeb(count);
    for (let m = 0; m < count; m++) {
      const flags = bytes[at++]!;
      if (flags & 0x02) throw invalid('shared memory is not supported');
      if (flags & 0x04) throw invalid('64-bit memory is not supported');
      let min: number;
      [min, at] = readLeb(bytes, at);
      let max = cap;
      if (flags & 0x01) [max, at] = readLeb(bytes, at);
      if (min > cap) throw invalid(`memory of at least ${min} pages is over the cap of ${cap}`);
      pages = Math.min(max, cap);
      body.push(0x01, ...writeLeb(min), ...writeLeb(pages));
    }
    if (at !== end) throw invalid('malformed memory section');
    out.push(MEMORY_SECTION, ...writeLeb(body.length), ...body);
    offset = end;
  }
  return { bytes: Uint8Array.from(out), pages };
}

/**
 * Checks an application module against the contract and compiles it: size cap; a `memory` export
 * and no imported memory; no `_start`; every import one this node provides in module `env`; linear
 * memory capped. Reads the embedded ABI (read-only methods) and whether the guest carries
 * Calimero's storage engine. Throws WasmError with the reason.
 */
export function prepareModule(
  bytes: Uint8Array,
  limits: Pick<WasmLimits, 'maxModuleBytes' | 'maxMemoryPages'>,
): PreparedModule {
  if (bytes.length > limits.maxModuleBytes) {
    throw new WasmError(
      WasmErrorCode.ModuleTooLarge,
      `module of ${bytes.length} bytes is over the cap of ${limits.maxModuleBytes}`,
    );
  }
  const capped = capMemory(bytes, limits.maxMemoryPages);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(capped.bytes);
  } catch (err) {
    throw invalid(`does not compile: ${(err as Error).message}`);
  }
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind === 'memory') throw invalid('it imports its memory (it must export one named "memory")');
    if (imp.module !== 'env') throw invalid(`it imports ${imp.module}.${imp.name}: only module "env" is provided`);
    if (imp.kind !== 'function' || !HOST_IMPORTS.has(imp.name)) {
      throw invalid(`it imports env.${imp.name}, which this node does not provide`);
    }
  }
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.kind === 'memory' && e.name === 'memory'))
    throw invalid('it exports no memory named "memory"');
  if (exports.some((e) => e.name === '_start')) throw invalid('it exports _start (a WASI command, not an application)');
  const methods = new Set(exports.filter((e) => e.kind === 'function').map((e) => e.name));

  let abi: unknown;
  const readOnly = new Set<string>();
  const [section] = WebAssembly.Module.customSections(module, ABI_SECTION);
  if (section) {
    try {
      abi = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(section));
      const declared = (abi as { methods?: { name?: unknown; intent?: unknown }[] }).methods;
      for (const m of Array.isArray(declared) ? declared : []) {
        if (typeof m?.name === 'string' && m.intent === 'read_only') readOnly.add(m.name);
      }
    } catch {
      throw invalid(`its ${ABI_SECTION} section is not a JSON manifest`);
    }
  }
  return {
    module,
    methods,
    readOnly,
    abi,
    stateEngine: methods.has(SYNC_EXPORT) ? 'calimero-storage' : 'host',
    memoryPages: capped.pages,
  };
}
