/**
 * Installed WebAssembly applications run in contexts (every service a process, libp2p on loopback):
 * a module is checked at install, its mutating calls become deltas that another member applies,
 * and an `Err`, a trap or an endless loop leaves state and heads as they were.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { admin } from '@cnode/proto';
import { status } from '@grpc/grpc-js';
import { ProcessNode, onePiece, refusal, testModule, waitFor, withCustomSection } from '@cnode/testing';
import { appWat, compileWat } from '../../packages/wasm-runtime/test/fixtures/wat.js';

let a: ProcessNode;
let b: ProcessNode;
let applicationId: string;
let contextId: string;

beforeAll(async () => {
  // A short deadline, so the endless loop below ends quickly; a small module cap to refuse one over it.
  const env = { WASM_MAX_EXEC_MS: '1s', WASM_MAX_MODULE_SIZE: '256KiB' };
  [a, b] = await Promise.all([ProcessNode.start({ env }), ProcessNode.start({ env })]);
  const wasm = await compileWat(appWat());
  applicationId = (await a.api.installApplication(onePiece(wasm))).applicationId;
  await b.api.installApplication(onePiece(wasm));
  contextId = (await a.api.createContext({ application: applicationId })).contextId;
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a.waitForPeers(contextId, 1), b.waitForPeers(contextId, 1)]);
  await b.waitForState(contextId);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
}, 60_000);

describe('WASM applications in contexts', () => {
  it('refuses at install a module over the size cap or that breaks the contract, saying why', async () => {
    const noMemory = await compileWat('(module (func (export "f")))');
    const unknownImport = await compileWat('(module (import "env" "launch" (func)) (memory (export "memory") 1))');
    const tooLarge = withCustomSection(testModule('large'), 'padding', Buffer.alloc(300 * 1024));
    for (const [bytes, reason] of [
      [tooLarge, /over the cap of 262144/],
      [noMemory, /exports no memory named "memory"/],
      [unknownImport, /imports env.launch, which this node does not provide/],
    ] as const) {
      const err = await refusal(a.api.installApplication(onePiece(bytes)));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(reason);
    }
  });

  it('runs a mutating call as a delta every member applies, and reads it back on both nodes', async () => {
    const set = await a.api.execute(contextId, 'set', { note: 'from A' });
    expect(set.deltaId).not.toBe('');
    expect((await a.api.execute(contextId, 'get')).output).toEqual({ note: 'from A' });
    await waitFor(async () => (await b.api.getContext(contextId)).rootHash === set.rootHash, {
      message: "B to apply A's delta",
    });
    expect((await b.api.execute(contextId, 'get')).output).toEqual({ note: 'from A' });
    // B writes too; A applies it.
    const fromB = await b.api.execute(contextId, 'set', { note: 'from B' });
    await waitFor(async () => (await a.api.getContext(contextId)).rootHash === fromB.rootHash, {
      message: "A to apply B's delta",
    });
    expect((await a.api.execute(contextId, 'get')).output).toEqual({ note: 'from B' });
  });

  it("runs the application's init with the creation parameters; a failing init creates nothing", async () => {
    const created = await a.api.createContext({
      application: applicationId,
      initParams: Buffer.from(JSON.stringify({ note: 'initial' })),
    });
    expect((await a.api.execute(created.contextId, 'get')).output).toEqual({ note: 'initial' });
    expect((await a.api.getContext(created.contextId)).heads).toHaveLength(1);

    const failingInit = await compileWat('(module (memory (export "memory") 1) (func (export "init") unreachable))');
    const failing = (await a.api.installApplication(onePiece(failingInit))).applicationId;
    const before = (await a.api.listContexts()).contexts.length;
    const refused = await refusal(a.api.createContext({ application: failing }));
    expect(refused.details).toMatch(/^WASM_TRAP/);
    expect((await a.api.listContexts()).contexts.length).toBe(before);
  });

  it('returns the logs of a call that writes nothing, with no delta', async () => {
    const out = await a.api.execute(contextId, 'log_and_emit');
    expect(out.logs).toEqual(['hello from the guest']);
    expect(out.deltaId).toBe('');
  });

  it('leaves state and heads as they were after an Err, a panic, a trap, memory past the cap, an output that is not JSON and an endless loop', async () => {
    const before = await a.api.getContext(contextId);
    const failed = await refusal(a.api.execute(contextId, 'set_then_fail', { note: 'never' }));
    expect(failed.code).toBe(status.ABORTED);
    expect(failed.details).toMatch(/^EXECUTION_ERROR: the method returned an error: \{"error":"nope"\}/);
    expect((await refusal(a.api.execute(contextId, 'panic'))).details).toMatch(/^WASM_PANIC: guest panicked: boom/);
    expect((await refusal(a.api.execute(contextId, 'trap'))).details).toMatch(/^WASM_TRAP/);
    const bomb = await refusal(a.api.execute(contextId, 'bomb'));
    expect(bomb.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(bomb.details).toMatch(/^WASM_MEMORY_EXCEEDED: .*cap of 1024 pages/);
    const notJson = await refusal(a.api.execute(contextId, 'bad_json'));
    expect(notJson.code).toBe(status.ABORTED);
    expect(notJson.details).toMatch(/^WASM_HOST_ERROR: the method returned a value that is not JSON/);
    const started = Date.now();
    const spun = await refusal(a.api.execute(contextId, 'spin'));
    expect(spun.code).toBe(status.DEADLINE_EXCEEDED);
    expect(spun.details).toMatch(/^WASM_TIMEOUT/);
    expect(Date.now() - started).toBeLessThan(1_000 + 1_000);
    expect(await a.api.getContext(contextId)).toMatchObject({ rootHash: before.rootHash, heads: before.heads });
    // The next call on the context works.
    expect((await a.api.execute(contextId, 'get')).output).toEqual({ note: 'from B' });
    expect((await refusal(a.api.execute(contextId, 'no_such_method'))).code).toBe(status.NOT_FOUND);
  });

  it('keeps private storage on the node that wrote it: no delta, never replicated', async () => {
    const before = await a.api.getContext(contextId);
    const written = await a.api.execute(contextId, 'private_set', { secret: 'only A' });
    expect(written.deltaId).toBe('');
    expect((await a.api.execute(contextId, 'private_get')).output).toEqual({ secret: 'only A' });
    expect((await a.api.getContext(contextId)).rootHash).toBe(before.rootHash);
    expect((await b.api.execute(contextId, 'private_get')).output).toBeNull();
    // B's own private value is B's alone.
    await b.api.execute(contextId, 'private_set', 'B');
    expect((await b.api.execute(contextId, 'private_get')).output).toBe('B');
    expect((await a.api.execute(contextId, 'private_get')).output).toEqual({ secret: 'only A' });
    // With a delta, the private write commits with it; the replicated one reaches B, the private one does not.
    const both = await a.api.execute(contextId, 'set_both', { note: 'both' });
    expect(both.deltaId).not.toBe('');
    expect((await a.api.execute(contextId, 'private_get')).output).toEqual({ note: 'both' });
    await waitFor(async () => (await b.api.getContext(contextId)).rootHash === both.rootHash, {
      message: 'B to apply the delta',
    });
    expect((await b.api.execute(contextId, 'get')).output).toEqual({ note: 'both' });
    expect((await b.api.execute(contextId, 'private_get')).output).toBe('B');
  });

  it('answers a view call on one context while 20 slow calls on others fill the worker pool', async () => {
    // The test app with `get` declared read-only; one context for the view, twenty for slow writes.
    const abi = { methods: [{ name: 'get', intent: 'read_only' }] };
    const wasm = withCustomSection(await compileWat(appWat()), 'calimero_abi_v1', Buffer.from(JSON.stringify(abi)));
    const app = (await a.api.installApplication(onePiece(wasm))).applicationId;
    const contexts: string[] = [];
    for (let i = 0; i < 21; i++) contexts.push((await a.api.createContext({ application: app })).contextId);
    const [viewContext, ...slowContexts] = contexts;
    let slowDone = 0;
    // Two workers (the default) and 300 ms per slow call: ten rounds, about 3 s in all.
    const slow = slowContexts.map((ctx) => a.api.execute(ctx, 'slow').then(() => slowDone++));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const view = await a.api.execute(viewContext!, 'get');
    const waited = Date.now() - started;
    const doneAtView = slowDone;
    // What the app's init stored at creation (its empty parameters).
    expect(view.output).toEqual({});
    expect(view.deltaId).toBe('');
    await Promise.all(slow);
    // The view took the next free worker: it waited for at most the calls running then (one slow
    // call's 300 ms, bounded by WASM_MAX_EXEC_MS), not for the sixteen or more queued before it.
    expect(doneAtView).toBeLessThan(10);
    expect(waited).toBeLessThan(1_000 + 1_000);
  }, 120_000);

  it('runs the AssemblyScript key-value example, and its events reach the other member', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cnode-kv-app-')), 'kv.wasm');
    execFileSync(process.execPath, ['scripts/build-app.mjs', 'apps/kv', out]);
    const kv = (await a.api.installApplication(onePiece(readFileSync(out)))).applicationId;
    await b.api.installApplication(onePiece(readFileSync(out)));
    const kvContext = (await a.api.createContext({ application: kv })).contextId;
    const { publicKey } = await b.api.createIdentity();
    await b.api.joinContext((await a.api.inviteMember(kvContext, publicKey)).invitationText);
    await b.waitForState(kvContext);
    const events: admin.SubscribeEventsResponse[] = [];
    const stream = b.api.subscribeEvents(kvContext);
    stream.on('data', (e: admin.SubscribeEventsResponse) => events.push(e));
    stream.on('error', () => undefined);

    const set = await a.api.execute(kvContext, 'set', { key: 'greeting', value: 'hello "world"' });
    expect(set.output).toBeNull();
    expect((await a.api.execute(kvContext, 'get', { key: 'greeting' })).output).toBe('hello "world"');
    expect((await a.api.execute(kvContext, 'get', { key: 'absent' })).output).toBeNull();
    await waitFor(async () => (await b.api.getContext(kvContext)).rootHash === set.rootHash, {
      message: 'B to apply the set',
    });
    expect((await b.api.execute(kvContext, 'get', { key: 'greeting' })).output).toBe('hello "world"');
    // The app's event travelled with the delta and reached B's event stream.
    await waitFor(
      () =>
        events.some(
          (e) =>
            e.event?.event?.$case === 'stateMutation' &&
            e.event.event.stateMutation.events.some(
              (x) => x.kind === 'set' && Buffer.from(x.data).toString() === '{"key":"greeting"}',
            ),
        ),
      { message: "the app's event on B's stream" },
    );
    expect((await a.api.execute(kvContext, 'remove', { key: 'greeting' })).output).toBe(true);
    expect((await a.api.execute(kvContext, 'get', { key: 'greeting' })).output).toBeNull();
    const missing = await refusal(a.api.execute(kvContext, 'set', { key: 'no value' }));
    expect(missing.details).toMatch(/^WASM_PANIC: guest panicked: missing argument "value"/);
    stream.cancel();
  });
});
