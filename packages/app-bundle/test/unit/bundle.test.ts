import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import { generateIdentity, sha256 } from '@cnode/primitives';
import {
  BundleErrorCode,
  buildBundle,
  compareVersions,
  extractManifestAllowUnsigned,
  packArchive,
  signManifest,
  signerIdOf,
  sortVersionsDescending,
  verifyAndExtractManifest,
  verifyBundle,
  type ArtifactSink,
  type BundleManifest,
} from '../../src/index.js';

const signer = generateIdentity();
const wasm = { path: 'app.wasm', data: Buffer.from('\0asm fake module') };
const source = (bytes: Buffer) => () => Readable.from([bytes]);

async function signedBundle(extra: Partial<Parameters<typeof buildBundle>[0]> = {}) {
  return buildBundle({ package: 'com.example.kv', appVersion: '1.2.0', wasm, signingKey: signer.privateKey, ...extra });
}

/** A bundle whose manifest is given as is, followed by the files. */
function rawBundle(manifest: BundleManifest | string, files: { path: string; data: Buffer }[] = [wasm]) {
  const text = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return packArchive([{ path: 'manifest.json', data: Buffer.from(text) }, ...files]);
}

const artifactOf = (data: Buffer, path = 'app.wasm') => ({
  path,
  hash: sha256(data).toString('hex'),
  size: data.length,
});

describe('bundles: build, sign and verify', () => {
  it('a signed bundle verifies strictly and names its signer and artifacts', async () => {
    const { bundle, manifest } = await signedBundle({
      services: [{ name: 'extra', wasm: { path: 'svc/extra.wasm', data: Buffer.from('svc') } }],
    });
    const verified = await verifyAndExtractManifest(source(bundle));
    expect(verified.signerId).toBe(signerIdOf(signer.publicKey));
    expect(verified.signerId).toMatch(/^did:key:z6Mk/);
    expect(verified.manifest).toEqual(manifest);
    expect(verified.artifacts.map((a) => [a.name, a.artifact.path])).toEqual([
      ['', 'app.wasm'],
      ['extra', 'svc/extra.wasm'],
    ]);
  });

  it('hands each artifact to its sink, finishing it only after its hash matched', async () => {
    const { bundle } = await signedBundle();
    const received: Buffer[] = [];
    let finished = 0;
    const sink = (): ArtifactSink<string> => ({
      write: async (piece) => void received.push(piece),
      finish: async () => {
        finished += 1;
        return 'stored';
      },
      abort: () => undefined,
    });
    const verified = await verifyBundle(source(bundle), { allowUnsigned: false, sink });
    expect(Buffer.concat(received).equals(wasm.data)).toBe(true);
    expect(finished).toBe(1);
    expect(verified.artifacts[0]!.stored).toBe('stored');
  });

  it('a tampered artifact is a hash mismatch, and its sink is aborted, never finished', async () => {
    const { manifest } = await signedBundle();
    const bundle = await rawBundle(manifest, [{ path: 'app.wasm', data: Buffer.from('\0asm evil module') }]);
    let aborted = 0;
    let finished = 0;
    const sink = (): ArtifactSink<void> => ({
      write: async () => undefined,
      finish: async () => void (finished += 1),
      abort: () => void (aborted += 1),
    });
    await expect(verifyBundle(source(bundle), { allowUnsigned: false, sink })).rejects.toMatchObject({
      code: BundleErrorCode.HashMismatch,
    });
    expect([aborted, finished]).toEqual([1, 0]);
  });

  it('a manifest changed after signing, a wrong signerId or algorithm is a bad signature', async () => {
    const { manifest } = await signedBundle();
    for (const forged of [
      { ...manifest, appVersion: '9.9.9' },
      { ...manifest, signerId: signerIdOf(generateIdentity().publicKey) },
      { ...manifest, signature: { ...manifest.signature!, algorithm: 'Ed25519' } },
    ]) {
      await expect(verifyAndExtractManifest(source(await rawBundle(forged)))).rejects.toMatchObject({
        code: BundleErrorCode.BadSignature,
      });
    }
    // `_`-prefixed top-level keys are not signed over: adding one keeps the signature valid.
    await expect(verifyAndExtractManifest(source(await rawBundle({ ...manifest, _note: 'x' })))).resolves.toBeDefined();
  });

  it('an unsigned bundle is refused strictly and accepted only by the dev path; a present bad signature is refused by both', async () => {
    const { bundle } = await buildBundle({ package: 'dev.app', appVersion: '0.0.1', wasm });
    await expect(verifyAndExtractManifest(source(bundle))).rejects.toMatchObject({ code: BundleErrorCode.Unsigned });
    const dev = await extractManifestAllowUnsigned(source(bundle));
    expect(dev.signerId).toBeNull();
    const { manifest } = await signedBundle();
    await expect(
      extractManifestAllowUnsigned(source(await rawBundle({ ...manifest, appVersion: '2.0.0' }))),
    ).rejects.toMatchObject({ code: BundleErrorCode.BadSignature });
  });

  it('refuses unsafe paths in the manifest and in the archive, and links', async () => {
    const data = Buffer.from('x');
    const inManifest = signManifest(
      { package: 'p', appVersion: '1.0.0', wasm: artifactOf(data, '../x.wasm') },
      signer.privateKey,
    );
    await expect(verifyAndExtractManifest(source(await rawBundle(inManifest)))).rejects.toMatchObject({
      code: BundleErrorCode.UnsafePath,
    });
    const manifest = signManifest(
      { package: 'p', appVersion: '1.0.0', wasm: artifactOf(wasm.data) },
      signer.privateKey,
    );
    for (const path of ['../../etc/passwd', '/abs.wasm', 'a\\b.wasm', 'a/../../b']) {
      await expect(
        verifyAndExtractManifest(source(await rawBundle(manifest, [wasm, { path, data }]))),
      ).rejects.toMatchObject({
        code: BundleErrorCode.UnsafePath,
      });
    }
    const pack = tar.pack();
    pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
    pack.entry({ name: 'app.wasm', type: 'symlink', linkname: '/etc/passwd' });
    pack.finalize();
    const parts: Buffer[] = [];
    await pipeline(pack, createGzip(), async (s: AsyncIterable<Buffer>) => {
      for await (const p of s) parts.push(p);
    });
    await expect(verifyAndExtractManifest(source(Buffer.concat(parts)))).rejects.toMatchObject({
      code: BundleErrorCode.UnsafePath,
    });
  });

  it('a decompression bomb stops at the limit', async () => {
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    const { manifest } = await signedBundle();
    const bomb = await rawBundle(manifest, [wasm, { path: 'zeros.bin', data: zeros }]);
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(verifyAndExtractManifest(source(bomb), { maxDecompressedBytes: 1024 * 1024 })).rejects.toMatchObject({
      code: BundleErrorCode.TooLarge,
    });
  });

  it('refuses what is not a bundle: not gzip, no manifest, two manifests, missing artifact, bad fields, a newer runtime', async () => {
    const { manifest } = await signedBundle();
    const cases: [Buffer, BundleErrorCode][] = [
      [Buffer.from('plain bytes, not gzip'), BundleErrorCode.Malformed],
      [await packArchive([wasm]), BundleErrorCode.Malformed],
      [
        await packArchive([
          { path: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) },
          wasm,
          { path: './manifest.json', data: Buffer.from(JSON.stringify(manifest)) },
        ]),
        BundleErrorCode.Malformed,
      ],
      [await rawBundle(manifest, []), BundleErrorCode.HashMismatch],
      [await rawBundle('{"package": "p"'), BundleErrorCode.Malformed],
      [await rawBundle({ package: 'a/b', appVersion: '1' }), BundleErrorCode.Malformed],
      [
        await rawBundle(
          signManifest({ package: 'p', appVersion: '1.0.0', minRuntimeVersion: '99.0.0' }, signer.privateKey),
        ),
        BundleErrorCode.RuntimeTooOld,
      ],
    ];
    for (const [bundle, code] of cases) {
      await expect(verifyAndExtractManifest(source(bundle))).rejects.toMatchObject({ code });
    }
  });
});

describe('versions', () => {
  it('orders semver by precedence, semver above non-semver, the rest lexically', () => {
    expect(sortVersionsDescending(['1.0.0', '1.10.0', '1.2.0', '1.10.0-rc.1', 'nightly', '0.9.9', 'alpha'])).toEqual([
      '1.10.0',
      '1.10.0-rc.1',
      '1.2.0',
      '1.0.0',
      '0.9.9',
      'nightly',
      'alpha',
    ]);
    expect(compareVersions('1.0.0-alpha.2', '1.0.0-alpha.10')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
  });
});
