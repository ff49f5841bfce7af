import { describe, expect, it } from '@jest/globals';
import { DEFAULT_WASM_LIMITS, WasmErrorCode, prepareModule } from '../../src/index.js';
import { appWat, compileWat, withCustomSection } from '../fixtures/wat.js';

const limits = { maxModuleBytes: DEFAULT_WASM_LIMITS.maxModuleBytes, maxMemoryPages: 16 };

const refused = async (wat: string, pattern: RegExp, features?: Record<string, boolean>) => {
  const bytes = await compileWat(wat, features);
  expect(() => prepareModule(bytes, limits)).toThrow(pattern);
  try {
    prepareModule(bytes, limits);
  } catch (err) {
    expect((err as { code: string }).code).toBe(WasmErrorCode.ModuleInvalid);
  }
};

describe('prepareModule', () => {
  it('accepts the test application: its methods, no ABI, memory capped', async () => {
    const prepared = prepareModule(await compileWat(appWat()), limits);
    expect(prepared.methods.has('echo')).toBe(true);
    expect(prepared.readOnly.size).toBe(0);
    expect(prepared.stateEngine).toBe('host');
    expect(prepared.memoryPages).toBe(16);
  });

  it('lowers a declared maximum above the cap, keeps one below it, and refuses a minimum above it', async () => {
    const mem = (decl: string) => compileWat(`(module (memory (export "memory") ${decl}))`);
    expect(prepareModule(await mem('1 5000'), limits).memoryPages).toBe(16);
    expect(prepareModule(await mem('1 4'), limits).memoryPages).toBe(4);
    expect(() => prepareModule(Uint8Array.from([0, 1, 2]), limits)).toThrow(/not a WebAssembly binary/);
    await refused('(module (memory (export "memory") 17))', /at least 17 pages is over the cap of 16/);
    await refused('(module (memory (export "memory") 1 2 shared))', /shared memory/, { threads: true });
  });

  it('refuses a module over the size cap', async () => {
    const bytes = await compileWat(appWat());
    expect(() => prepareModule(bytes, { ...limits, maxModuleBytes: bytes.length - 1 })).toThrow(
      expect.objectContaining({ code: WasmErrorCode.ModuleTooLarge }),
    );
  });

  it('refuses modules that break the contract, saying why', async () => {
    await refused('(module (func (export "f")))', /exports no memory named "memory"/);
    await refused('(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)))', /imports its memory/);
    await refused('(module (memory (export "memory") 1) (func (export "_start")))', /exports _start/);
    await refused(
      '(module (import "env" "launch_missiles" (func)) (memory (export "memory") 1))',
      /imports env.launch_missiles, which this node does not provide/,
    );
    await refused('(module (import "wasi" "fd_write" (func)) (memory (export "memory") 1))', /only module "env"/);
  });

  it('reads read-only methods from the embedded ABI, and flags a guest with its own storage engine', async () => {
    const abi = { schema_version: 'wasm-abi/1', methods: [{ name: 'get', intent: 'read_only' }, { name: 'set' }] };
    const base = await compileWat(
      '(module (memory (export "memory") 1) (func (export "get")) (func (export "__calimero_sync_next")))',
    );
    const bytes = withCustomSection(base, 'calimero_abi_v1', new TextEncoder().encode(JSON.stringify(abi)));
    const prepared = prepareModule(bytes, limits);
    expect([...prepared.readOnly]).toEqual(['get']);
    expect(prepared.abi).toEqual(abi);
    expect(prepared.stateEngine).toBe('calimero-storage');
    const broken = withCustomSection(base, 'calimero_abi_v1', new TextEncoder().encode('{'));
    expect(() => prepareModule(broken, limits)).toThrow(/not a JSON manifest/);
  });
});
