/**
 * Upgrading a context's application on three nodes (every service a process): version 1 of the
 * key-value example runs; version 2 installed everywhere changes nothing until the admin moves the
 * context (UpdateContextApplication); then every node runs version 2's new method, and the migration
 * that ran once on the admin's node rewrote a key everywhere.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { generateIdentity } from '@cnode/primitives';
import { ProcessNode, onePiece, refusal, waitFor } from '@cnode/testing';
import { buildApp } from '../../packages/cli/src/app-build.js';

let nodes: ProcessNode[];
let contextId: string;
let v1: Buffer;
let v2: Buffer;

beforeAll(async () => {
  // Both versions signed by one key: one application (package and signer), two versions.
  const signingKey = generateIdentity().privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'cnode-upgrade-'));
  v1 = readFileSync((await buildApp('apps/kv', { signingKey, out: join(dir, 'v1.bundle') })).bundlePath);
  v2 = readFileSync(
    (await buildApp('test/e2e/fixtures/kv-v2', { signingKey, out: join(dir, 'v2.bundle') })).bundlePath,
  );
  nodes = await Promise.all([ProcessNode.start(), ProcessNode.start(), ProcessNode.start()]);
  const apps = await Promise.all(nodes.map((n) => n.api.installApplication(onePiece(v1))));
  expect(apps.map((x) => x.version)).toEqual(['1.0.0', '1.0.0', '1.0.0']);
  contextId = (await ProcessNode.sharedContext(nodes, apps[0]!.applicationId)).contextId;
}, 240_000);

afterAll(async () => {
  await Promise.all((nodes ?? []).filter(Boolean).map((n) => n.stop()));
}, 60_000);

describe('upgrading a context application', () => {
  it('moves every member from version 1 to version 2 at the op, with a migration that ran once', async () => {
    const [a, b] = nodes as [ProcessNode, ProcessNode, ProcessNode];
    const app = (await a.api.listApplications())[0]!.applicationId;
    const set = await a.api.execute(contextId, 'set', { key: 'greeting', value: 'hello' });
    await waitFor(
      async () =>
        (await Promise.all(nodes.map((n) => n.api.getContext(contextId)))).every((c) => c.rootHash === set.rootHash),
      { timeoutMs: 60_000, message: 'the greeting on every node' },
    );

    // The same version again is no upgrade; a member that is not an admin may not move the context.
    const same = await refusal(a.api.updateContextApplication(contextId, app));
    expect(same.code).toBe(status.FAILED_PRECONDITION);
    expect(same.details).toMatch(/version 1\.0\.0 is not newer than the context's 1\.0\.0/);

    // Version 2 installed everywhere: the context still runs version 1.
    for (const n of nodes) expect((await n.api.installApplication(onePiece(v2))).version).toBe('2.0.0');
    for (const n of nodes) expect((await refusal(n.api.execute(contextId, 'version'))).code).toBe(status.NOT_FOUND);
    expect((await refusal(b.api.updateContextApplication(contextId, app))).code).toBe(status.PERMISSION_DENIED);

    const moved = await a.api.updateContextApplication(contextId, app, { migrateMethod: 'migrate' });
    expect(moved).toMatchObject({ applicationId: app, version: '2.0.0' });
    expect(moved.opId).not.toBe('');
    expect(moved.migration?.deltaId).not.toBe('');

    // Every node applies the op, runs version 2, and holds the migrated value.
    for (const n of nodes) {
      await waitFor(
        async () => {
          const version = await n.api.execute(contextId, 'version').catch(() => undefined);
          const greeting = await n.api.execute(contextId, 'get', { key: 'greeting' });
          return version?.output === '2' && greeting.output === 'hello (migrated to v2)';
        },
        { timeoutMs: 60_000, message: 'version 2 and the migrated greeting on every node' },
      );
    }
    // The migration ran once: one delta, by the admin, on top of the set (and nothing else wrote).
    const infos = await Promise.all(nodes.map((n) => n.api.getContext(contextId)));
    expect(new Set(infos.map((c) => c.rootHash)).size).toBe(1);
    expect(infos[0]!.heads).toEqual([moved.migration!.deltaId]);
  }, 180_000);
});
