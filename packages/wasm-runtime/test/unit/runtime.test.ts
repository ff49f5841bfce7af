import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { metricValue, testLogger } from '@cnode/testing';
import {
  DEFAULT_WASM_LIMITS,
  WasmErrorCode,
  WasmRuntime,
  inScanRange,
  prepareModule,
  type PreparedModule,
  type WasmLimits,
} from '../../src/index.js';
import { appWat, compileWat, withCustomSection } from '../fixtures/wat.js';

const limits: WasmLimits = { ...DEFAULT_WASM_LIMITS, maxMemoryPages: 16, maxExecMs: 1_000, maxReturnBytes: 1024 };
const text = (b?: Uint8Array) => (b ? Buffer.from(b).toString('utf8') : undefined);
const bytes = (s: string) => new TextEncoder().encode(s);

/** Committed state the guests read: key (hex) → value, per context. */
const committed = new Map<string, Uint8Array>();
let reads = 0;
let registry: Registry;
let runtime: WasmRuntime;
let app: PreparedModule;
let viewApp: PreparedModule;
const contextId = randomBytes(32);
const executorId = randomBytes(32);

beforeAll(async () => {
  registry = new Registry();
  runtime = new WasmRuntime({
    workers: 2,
    queueMax: 4,
    limits,
    registry,
    logger: testLogger(),
    storage: {
      read: (ctx, key) => {
        reads++;
        return Promise.resolve(
          committed.get(`${Buffer.from(ctx).toString('hex')}:${Buffer.from(key).toString('hex')}`),
        );
      },
      readPrivate: () => Promise.resolve(undefined),
      scan: (ctx, request) => {
        const prefix = `${Buffer.from(ctx).toString('hex')}:`;
        const entries = [...committed]
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, value]) => ({ key: Buffer.from(k.slice(prefix.length), 'hex'), value }))
          .filter((e) => inScanRange(e.key, request))
          .sort((x, y) => Buffer.compare(x.key, y.key));
        return Promise.resolve(entries.slice(0, request.limit));
      },
    },
  });
  await runtime.start();
  const wasm = await compileWat(appWat());
  app = prepareModule(wasm, limits);
  const abi = { methods: [{ name: 'set', intent: 'read_only' }] };
  viewApp = prepareModule(withCustomSection(wasm, 'calimero_abi_v1', bytes(JSON.stringify(abi))), limits);
});

afterAll(async () => {
  await runtime.stop();
});

const call = (method: string, input = '', prepared = app) =>
  runtime.run({ prepared, method, input: bytes(input), contextId, executorId });

const failure = async (method: string, input = '') => {
  try {
    await call(method, input);
  } catch (err) {
    const { code, message, data } = err as { code: string; message: string; data?: Uint8Array };
    return { code, message, data };
  }
  throw new Error(`${method} did not fail`);
};

describe('WasmRuntime (worker threads, real modules)', () => {
  it('returns what the method returned, and its logs and events', async () => {
    expect(text((await call('echo', '{"a":1}')).output)).toBe('{"a":1}');
    const out = await call('log_and_emit');
    expect(out.logs).toEqual(['hello from the guest']);
    expect(out.events.map((e) => [e.kind, text(e.data), e.handler])).toEqual([
      ['ping', '{"n":1}', undefined],
      ['ping', '{"n":1}', 'on_ping'],
    ]);
  });

  it('records writes without storing them, and reads committed state through the bridge', async () => {
    const out = await call('set', '"v1"');
    expect(out.writes.map((w) => [text(w.key), text(w.value ?? undefined)])).toEqual([['k', '"v1"']]);
    expect(committed.size).toBe(0);
    expect(text((await call('get')).output)).toBe('null');
    committed.set(`${contextId.toString('hex')}:${Buffer.from('k').toString('hex')}`, bytes('"stored"'));
    const before = reads;
    expect(text((await call('get')).output)).toBe('"stored"');
    expect(reads).toBe(before + 1);
    // A read after a write in the same call sees the write, not the committed value.
    expect(text((await call('set_and_get', '"mine"')).output)).toBe('"mine"');
    expect((await call('remove')).writes.map((w) => [text(w.key), w.value])).toEqual([['k', null]]);
  });

  it('lists live entries in key order, page by page, through cnode_storage_scan (the AssemblyScript kv app)', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cnode-kv-')), 'kv.wasm');
    execFileSync(process.execPath, ['scripts/build-app.mjs', 'apps/kv', out]);
    const kv = prepareModule(readFileSync(out), limits);
    const otherContext = randomBytes(32);
    const put = (ctx: Buffer, key: string, value: string) =>
      committed.set(`${ctx.toString('hex')}:${Buffer.from(key).toString('hex')}`, bytes(value));
    for (const k of ['b/2', 'a/1', 'b/1', 'b/3', 'c']) put(contextId, k, `v:${k}`);
    put(otherContext, 'b/0', 'elsewhere');
    const entries = async (args: object) =>
      JSON.parse(text((await call('entries', JSON.stringify(args), kv)).output) ?? 'null') as {
        entries: { key: string }[];
      };
    expect(await entries({ prefix: 'b/', limit: 2 })).toEqual({
      entries: [
        { key: 'b/1', value: 'v:b/1' },
        { key: 'b/2', value: 'v:b/2' },
      ],
      next: 'b/2',
    });
    expect(await entries({ prefix: 'b/', after: 'b/2', limit: 2 })).toEqual({
      entries: [{ key: 'b/3', value: 'v:b/3' }],
      next: null,
    });
    expect((await entries({})).entries.map((e: { key: string }) => e.key)).toEqual([
      'a/1',
      'b/1',
      'b/2',
      'b/3',
      'c',
      'k',
    ]);
    await expect(call('entries', '{"limit":0}', kv)).rejects.toMatchObject({ code: WasmErrorCode.Panic });
  });

  it('silences writes of a method the ABI declares read-only', async () => {
    const out = await call('set', '"ignored"', viewApp);
    expect(out.readOnly).toBe(true);
    expect(out.writes).toEqual([]);
  });

  it('turns an Err return, a panic, a trap and a stack overflow into typed errors with no writes', async () => {
    const err = await failure('set_then_fail', '"x"');
    expect(err.code).toBe(WasmErrorCode.ExecutionError);
    expect(text(err.data)).toBe('{"error":"nope"}');
    expect(await failure('panic')).toMatchObject({
      code: WasmErrorCode.Panic,
      message: 'guest panicked: boom at app.wat:12:3',
    });
    expect(await failure('trap')).toMatchObject({
      code: WasmErrorCode.Trap,
      message: expect.stringMatching(/unreachable/),
    });
    expect(await failure('recurse')).toMatchObject({ code: WasmErrorCode.Trap, message: 'stack overflow' });
    expect(await failure('cross_call')).toMatchObject({
      code: WasmErrorCode.HostError,
      message: 'not supported by this node: xcall',
    });
    expect(await failure('nope')).toMatchObject({ code: WasmErrorCode.MethodNotFound });
    expect(await failure('with_params')).toMatchObject({ code: WasmErrorCode.MethodNotFound });
    expect(await failure('bad-name!')).toMatchObject({ code: WasmErrorCode.MethodNotFound });
  });

  it('fails a call whose return value is over the cap', async () => {
    expect(await failure('huge_output')).toMatchObject({
      code: WasmErrorCode.HostError,
      message: expect.stringMatching(/ReturnValueSizeOverflow/),
    });
  });

  it('fails a runaway allocation at the memory cap', async () => {
    expect(await failure('bomb')).toMatchObject({
      code: WasmErrorCode.MemoryExceeded,
      message: expect.stringMatching(/cap of 16 pages/),
    });
  });

  it('stops an endless call at its deadline, replaces the worker, and the next call works', async () => {
    const started = performance.now();
    expect(await failure('spin')).toMatchObject({ code: WasmErrorCode.Timeout });
    expect(performance.now() - started).toBeLessThan(limits.maxExecMs + 1_000);
    expect(text((await call('echo', '"alive"')).output)).toBe('"alive"');
    expect(await metricValue(registry, 'wasm_worker_restarts_total', { reason: 'timeout' })).toBe(1);
    expect(await metricValue(registry, 'wasm_calls_total', { outcome: WasmErrorCode.Timeout })).toBe(1);
    await runtime.ready();
  });

  it('queues calls beyond the workers, refuses them beyond the queue, and a fast call waits only its turn', async () => {
    // Two workers busy spinning, four calls queued: the next one is refused at once.
    const spinning = [call('spin'), call('spin')].map((p) => p.catch((e: unknown) => e));
    const queued = [1, 2, 3, 4].map((i) => call('echo', `${i}`));
    await expect(call('echo', '5')).rejects.toMatchObject({ code: WasmErrorCode.Busy });
    const started = performance.now();
    expect((await Promise.all(queued)).map((o) => text(o.output))).toEqual(['1', '2', '3', '4']);
    // Queued behind two deadlines at most.
    expect(performance.now() - started).toBeLessThan(limits.maxExecMs + 1_000);
    expect(await Promise.all(spinning)).toEqual([
      expect.objectContaining({ code: WasmErrorCode.Timeout }),
      expect.objectContaining({ code: WasmErrorCode.Timeout }),
    ]);
    await runtime.ready();
  });

  it('runs a view call on the next free worker, ahead of the mutating calls queued before it', async () => {
    const finished: string[] = [];
    // Two slow calls run, two more wait; the view asked after them goes first once a worker frees.
    const slow = [1, 2, 3, 4].map((i) => call('slow').then(() => finished.push(`slow ${i}`)));
    await new Promise((r) => setTimeout(r, 50));
    const view = runtime
      .run({
        prepared: app,
        method: 'echo',
        input: bytes('"view"'),
        contextId: randomBytes(32),
        executorId,
        readOnly: true,
      })
      .then((o) => finished.push(`view ${text(o.output)}`));
    await Promise.all([...slow, view]);
    // Done with the first two slow calls (or between them: they end together), before the queued ones.
    expect(finished.indexOf('view "view"')).toBeGreaterThanOrEqual(1);
    expect(
      finished
        .slice(0, 3)
        .filter((f) => f.startsWith('slow'))
        .sort(),
    ).toEqual(['slow 1', 'slow 2']);
    expect(finished.slice(3).sort()).toEqual(['slow 3', 'slow 4']);
  });
});
