import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { signerIdOf, verifyBundle } from '@cnode/app-bundle';
import { generateIdentity } from '@cnode/primitives';
import { DEFAULT_WASM_LIMITS, prepareModule } from '@cnode/wasm-runtime';
import { buildApp, readAppSpec } from '../../src/app-build.js';

describe('cnode app build', () => {
  it('compiles an application, embeds its views in the ABI and writes a bundle signed with the key', async () => {
    const signer = generateIdentity();
    const out = join(mkdtempSync(join(tmpdir(), 'cnode-build-')), 'chat.bundle');
    const built = await buildApp('apps/chat', { signingKey: signer.privateKey, out });
    expect(built.bundlePath).toBe(out);
    expect(built.manifest).toMatchObject({
      package: 'network.cnode.chat',
      appVersion: '1.0.0',
      signerId: signerIdOf(signer.publicKey),
    });
    // A strict node accepts it: the signature covers the manifest, the manifest the module.
    const bundle = readFileSync(out);
    const verified = await verifyBundle(() => Readable.from([bundle]), { allowUnsigned: false });
    expect(verified.artifacts.map((a) => a.artifact.path)).toEqual(['app.wasm']);
    // The module the node runs: `get` and `receipts` are views; `post` and `deliver` mutate.
    const prepared = prepareModule(readFileSync(built.wasmPath), DEFAULT_WASM_LIMITS);
    expect([...prepared.readOnly].sort()).toEqual(['get', 'receipts']);
  }, 60_000);

  it('without a key, builds an unsigned bundle that only a dev-mode node accepts', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cnode-build-')), 'kv.bundle');
    const built = await buildApp('apps/kv', { out });
    expect(built.manifest.signerId).toBeUndefined();
    const bundle = readFileSync(out);
    await expect(verifyBundle(() => Readable.from([bundle]), { allowUnsigned: false })).rejects.toThrow(/not signed/);
  }, 60_000);

  it('refuses an app.json without a package and version, or with views that are not method names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnode-app-'));
    await expect(readAppSpec(dir)).rejects.toThrow(/cannot read .*app\.json/);
    writeFileSync(join(dir, 'app.json'), '{"package":"p"}');
    await expect(readAppSpec(dir)).rejects.toThrow(/needs "package" and "version"/);
    writeFileSync(join(dir, 'app.json'), '{"package":"p","version":"1.0.0","views":["ok","not ok"]}');
    await expect(readAppSpec(dir)).rejects.toThrow(/"views" must be a list of method names/);
    writeFileSync(join(dir, 'app.json'), '{"package":"p","version":"1.0.0"}');
    expect(await readAppSpec(dir)).toEqual({ package: 'p', version: '1.0.0', views: [] });
  });
});
