/**
 * Blobs, applications and aliases through the admin API of real nodes (every service a process):
 * streaming blob add/get, the blob cache, bundle installs from a path, a loopback URL (on a node
 * that explicitly allows loopback) and a blob, every bundle refusal with its own code, the SSRF
 * guard (direct and via redirect), and aliases wherever an id is taken.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { buildBundle, packArchive, type BundleManifest } from '@cnode/app-bundle';
import { generateIdentity, sha256 } from '@cnode/primitives';
import { admin } from '@cnode/proto';
import { ProcessNode, builtEntry, refusal, spawnNode, testModule } from '@cnode/testing';

let strict: ProcessNode;
let loopback: ProcessNode;
let server: Server;
let baseUrl: string;
let dir: string;
const files = new Map<string, Buffer>();
const signer = generateIdentity();
const wasm = { path: 'app.wasm', data: testModule('a module of the test application') };

beforeAll(async () => {
  [strict, loopback] = await Promise.all([
    ProcessNode.start({ prefix: 'ba' }),
    ProcessNode.start({ prefix: 'bl', env: { APP_INSTALL_URL_ALLOW_LOOPBACK: 'true' } }),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'cnode-apps-'));
  server = createServer((req, res) => {
    if (req.url === '/to-metadata.mpk') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/app.mpk' }).end();
      return;
    }
    const body = files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  baseUrl = `http://127.0.0.1:${port}`;
}, 120_000);

afterAll(async () => {
  server?.close();
  await Promise.all([strict, loopback].filter(Boolean).map((n) => n.stop()));
}, 60_000);

/** The call's gRPC status and the node's message (which starts with the error code). */
async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

const signedBundle = (appVersion = '1.0.0') =>
  buildBundle({ package: 'com.example.notes', appVersion, wasm, signingKey: signer.privateKey });

async function rawBundle(manifest: BundleManifest, entries = [wasm]): Promise<Buffer> {
  return packArchive([{ path: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }, ...entries]);
}

async function bundleFile(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('blobs', () => {
  it('streams a blob in and out, deduplicates, checks expectations, and serves whole bytes through the cache', async () => {
    const data = Buffer.alloc(5 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    const added = await strict.api.addBlob(pieces(data, 300_000), { expectedHash: sha256(data).toString('hex') });
    expect(added.created).toBe(true);
    expect(added.blob).toMatchObject({
      size: BigInt(data.length),
      chunkCount: 6,
      contentHash: sha256(data).toString('hex'),
    });
    const blobId = added.blob!.blobId;
    expect((await strict.api.addBlob(pieces(data, 1 << 20))).created).toBe(false);

    const parts: Uint8Array[] = [];
    let info: admin.BlobInfo | undefined;
    for await (const part of strict.api.getBlob(blobId)) {
      if ('info' in part) info = part.info;
      else parts.push(part.data);
    }
    expect(info?.blobId).toBe(blobId);
    expect(Buffer.concat(parts).equals(data)).toBe(true);

    const first = await strict.api.getBlobBytes(blobId);
    const second = await strict.api.getBlobBytes(blobId);
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(Buffer.from(second.data).equals(data)).toBe(true);
    expect(await strict.metric('node-manager', 'blob_cache_requests_total', { outcome: 'hit' })).toBe(1);

    const wrongSize = await refusal(strict.api.addBlob(pieces(data, 1 << 20), { expectedSize: 10n }));
    expect(wrongSize.code).toBe(status.INVALID_ARGUMENT);
    expect(wrongSize.details).toContain('STORE_BLOB_SIZE_MISMATCH');
    const wrongHash = await refusal(strict.api.addBlob(pieces(Buffer.from('x'), 1), { expectedHash: '00'.repeat(32) }));
    expect(wrongHash.details).toContain('STORE_BLOB_HASH_MISMATCH');

    expect((await strict.api.listBlobs()).map((b) => b.blobId)).toContain(blobId);
    expect(await strict.api.deleteBlob(blobId)).toBe(true);
    expect((await refusal(strict.api.getBlobInfo(blobId))).code).toBe(status.NOT_FOUND);
  }, 60_000);
});

describe('applications', () => {
  it('a signed bundle installs from a path, and again (a new version of the same application) from a blob', async () => {
    const { bundle, manifest } = await signedBundle('1.0.0');
    const app = await strict.api.installFromPath(await bundleFile('notes-1.0.0.mpk', bundle));
    expect(app).toMatchObject({
      kind: 'bundle',
      package: 'com.example.notes',
      version: '1.0.0',
      signer: manifest.signerId,
    });
    expect(app.source).toMatch(/^file:\/\/.*notes-1\.0\.0\.mpk$/);
    expect(app.artifacts.map((a) => a.path)).toEqual(['app.wasm']);

    const next = (await signedBundle('1.1.0')).bundle;
    const blob = await strict.api.addBlob(pieces(next, 1 << 20));
    const fromBlob = await strict.api.installFromBlob(blob.blob!.blobId);
    expect(fromBlob.applicationId).toBe(app.applicationId);
    expect(fromBlob.version).toBe('1.1.0');
    expect(await strict.api.listPackages()).toEqual([
      { package: 'com.example.notes', versions: ['1.1.0'], latest: '1.1.0' },
    ]);

    // The installed bundle's blob is protected; the artifact blob too.
    const inUse = await refusal(strict.api.deleteBlob(blob.blob!.blobId));
    expect(inUse.code).toBe(status.FAILED_PRECONDITION);
    const artifact = await strict.api.getBlobBytes(fromBlob.artifacts[0]!.blobId);
    expect(Buffer.from(artifact.data).equals(wasm.data)).toBe(true);
  }, 60_000);

  it('refuses a tampered, an unsigned (strict), a traversing and a bombing bundle, each with its own code', async () => {
    const { manifest } = await signedBundle('2.0.0');
    const tamperedArtifact = await rawBundle(manifest, [{ path: 'app.wasm', data: Buffer.from('\0asm evil') }]);
    const tamperedManifest = await rawBundle({ ...manifest, appVersion: '6.6.6' });
    const unsigned = (await buildBundle({ package: 'dev.notes', appVersion: '0.1.0', wasm })).bundle;
    const traversing = await rawBundle(manifest, [wasm, { path: '../../outside.txt', data: Buffer.from('x') }]);
    const bomb = await gzipBomb(manifest);
    const expectations: [string, Buffer, string][] = [
      ['tampered-artifact.mpk', tamperedArtifact, 'APP_BUNDLE_HASH_MISMATCH'],
      ['tampered-manifest.mpk', tamperedManifest, 'APP_BUNDLE_BAD_SIGNATURE'],
      ['unsigned.mpk', unsigned, 'APP_BUNDLE_UNSIGNED'],
      ['traversing.mpk', traversing, 'APP_BUNDLE_UNSAFE_PATH'],
      ['bomb.mpk', bomb, 'APP_BUNDLE_TOO_LARGE'],
    ];
    for (const [name, bytes, code] of expectations) {
      const refused = await refusal(strict.api.installFromPath(await bundleFile(name, bytes)));
      expect([name, refused.code, refused.details.split(':')[0]]).toEqual([name, status.INVALID_ARGUMENT, code]);
    }
    // Refused bytes are not left behind as blobs.
    expect((await strict.api.listBlobs()).some((b) => b.contentHash === sha256(bomb).toString('hex'))).toBe(false);
    // The dev flag admits the unsigned bundle (and only it changes the outcome).
    const dev = await strict.api.installFromPath(await bundleFile('unsigned.mpk', unsigned), { allowUnsigned: true });
    expect(dev).toMatchObject({ package: 'dev.notes', signer: '' });
    expect(
      await strict.metric('node-manager', 'app_installs_total', { kind: 'bundle', outcome: 'APP_BUNDLE_TOO_LARGE' }),
    ).toBe(1);
  }, 120_000);

  it('installs from a loopback URL only where loopback is explicitly allowed, and never via a redirect to a private target', async () => {
    const { bundle } = await signedBundle('3.0.0');
    files.set('/notes.mpk', bundle);
    const app = await loopback.api.installFromUrl(`${baseUrl}/notes.mpk`, {
      expectedHash: sha256(bundle).toString('hex'),
    });
    expect(app).toMatchObject({ version: '3.0.0', source: `${baseUrl}/notes.mpk` });
    const redirected = await refusal(loopback.api.installFromUrl(`${baseUrl}/to-metadata.mpk`));
    expect(redirected.details).toContain('APP_URL_FORBIDDEN');

    const port = new URL(baseUrl).port;
    for (const url of [
      `${baseUrl}/notes.mpk`,
      `http://localhost:${port}/notes.mpk`,
      `http://[::1]:${port}/notes.mpk`,
      'http://10.1.2.3/notes.mpk',
      'http://169.254.169.254/latest',
      'http://100.64.0.1/x',
      'ftp://example.com/notes.mpk',
    ]) {
      const refused = await refusal(strict.api.installFromUrl(url));
      expect([url, refused.details.split(':')[0]]).toEqual([url, 'APP_URL_FORBIDDEN']);
    }
  }, 60_000);
});

describe('aliases', () => {
  it('names contexts, applications and (per context) identities, usable wherever an id is', async () => {
    const { contextId, member } = await strict.api.createContext({ application: 'kv' });
    await strict.api.createAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, 'notes', contextId);
    expect((await strict.api.getContext('notes')).contextId).toBe(contextId);
    const taken = await refusal(strict.api.createAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, 'notes', contextId));
    expect(taken.code).toBe(status.ALREADY_EXISTS);
    const invalid = await refusal(strict.api.createAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, 'no spaces', contextId));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);

    await strict.api.createAlias(admin.AliasKind.ALIAS_KIND_IDENTITY, 'me', member, 'notes');
    expect(await strict.api.lookupAlias(admin.AliasKind.ALIAS_KIND_IDENTITY, 'me', contextId)).toBe(member);
    const unscoped = await refusal(strict.api.createAlias(admin.AliasKind.ALIAS_KIND_IDENTITY, 'me', member));
    expect(unscoped.code).toBe(status.INVALID_ARGUMENT);
    await strict.api.execute('notes', 'set', { key: 'k', value: 'v' }, 'me');
    expect((await strict.api.execute('notes', 'get', { key: 'k' })).output).toBe('v');

    const [app] = await strict.api.listApplications();
    await strict.api.createAlias(admin.AliasKind.ALIAS_KIND_APPLICATION, 'notes-app', app!.applicationId);
    expect((await strict.api.getApplication('notes-app')).aliases).toEqual(['notes-app']);
    const runsApp = await strict.api.createContext({ application: 'notes-app' });
    // The installed module runs (by alias too); it has no method of that name.
    const notRunnable = await refusal(strict.api.execute(runsApp.contextId, 'get', { key: 'k' }));
    expect(notRunnable.code).toBe(status.NOT_FOUND);
    expect(notRunnable.details).toMatch(/^WASM_METHOD_NOT_FOUND: method not found: get/);

    expect(await strict.api.resolveAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, 'notes')).toEqual({
      value: contextId,
      fromAlias: true,
    });
    expect(await strict.api.resolveAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, contextId)).toEqual({
      value: contextId,
      fromAlias: false,
    });
    expect((await strict.api.listAliases(admin.AliasKind.ALIAS_KIND_IDENTITY, 'notes')).map((a) => a.name)).toEqual([
      'me',
    ]);
    expect(await strict.api.deleteAlias(admin.AliasKind.ALIAS_KIND_CONTEXT, 'notes')).toBe(true);
    expect((await refusal(strict.api.getContext('notes'))).code).toBe(status.INVALID_ARGUMENT);
  }, 60_000);
});

describe('cnode blob, app and alias commands', () => {
  const cli = async (...args: string[]): Promise<{ code: number | string; out: string }> => {
    const run = spawnNode(
      builtEntry('packages/cli/bin/cnode.js'),
      [...args, '--home', strict.env.NODE_HOME!, '--token', strict.env.ADMIN_TOKEN!, '--timeout', '30000'],
      strict.env,
    );
    const code = await run.exited;
    return { code, out: run.lines.join('\n') };
  };

  it('builds and signs a bundle, installs it, names it, and moves blobs in and out', async () => {
    const wasmFile = await bundleFile('cli-app.wasm', testModule('the CLI test application'));
    const keyFile = join(dir, 'signing-key.json');
    const keygen = await cli('app', 'keygen', keyFile);
    expect(keygen.code).toBe(0);
    const signer = /signer +(did:key:z\w+)/.exec(keygen.out)![1]!;
    const signed = join(dir, 'cli-signed.mpk');
    const built = await cli(
      'app',
      'bundle',
      '--package',
      'com.example.cli',
      '--app-version',
      '1.2.0',
      '--wasm',
      wasmFile,
      '--key',
      keyFile,
      '--out',
      signed,
    );
    expect(built.code).toBe(0);
    expect(built.out).toContain(`signer    ${signer}`);
    const install = await cli('app', 'install', signed);
    expect(install.code).toBe(0);
    expect(install.out).toContain(`signer    ${signer}`);
    const appId = /^app +(\w+)/m.exec(install.out)![1]!;

    // Unsigned: refused in strict mode with its own code, installed with --dev.
    const unsigned = join(dir, 'cli-unsigned.mpk');
    expect(
      (
        await cli(
          'app',
          'bundle',
          '--package',
          'com.example.cli',
          '--app-version',
          '1.3.0',
          '--wasm',
          wasmFile,
          '--out',
          unsigned,
        )
      ).code,
    ).toBe(0);
    const strictInstall = await cli('app', 'install', unsigned);
    expect(strictInstall.code).toBe(1);
    expect(strictInstall.out).toMatch(/INVALID_ARGUMENT: APP_BUNDLE_UNSIGNED/);
    expect((await cli('app', 'install', unsigned, '--dev')).code).toBe(0);
    expect((await cli('app', 'packages')).out).toMatch(/com\.example\.cli +1\.3\.0 1\.2\.0 +\(latest 1\.3\.0\)/);

    // An alias stands for the id wherever the CLI takes one.
    expect((await cli('alias', 'create', 'application', 'cli-app', appId)).code).toBe(0);
    expect((await cli('app', 'get', 'cli-app')).out).toContain(`app       ${appId}  (cli-app)`);
    expect((await cli('alias', 'create', 'application', 'cli-app', appId)).out).toMatch(/ALREADY_EXISTS/);
    expect((await cli('alias', 'resolve', 'application', 'cli-app')).out).toContain(`${appId}  (alias)`);
    expect((await cli('alias', 'delete', 'application', 'cli-app')).code).toBe(0);
    expect((await cli('alias', 'lookup', 'application', 'cli-app')).code).toBe(1);

    // Blobs stream from a file and back to one, byte for byte.
    const content = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    const file = await bundleFile('cli-blob.bin', content);
    const added = await cli('blob', 'add', file);
    expect(added.code).toBe(0);
    const blobId = /^blob +(\w+)/m.exec(added.out)![1]!;
    expect(added.out).toContain(`sha256    ${sha256(content).toString('hex')}`);
    const copy = join(dir, 'cli-blob.copy');
    expect((await cli('blob', 'get', blobId, '--out', copy)).code).toBe(0);
    expect((await readFile(copy)).equals(content)).toBe(true);
    expect((await cli('blob', 'list')).out).toContain(blobId);
    expect((await cli('blob', 'delete', blobId)).code).toBe(0);
    expect((await cli('blob', 'info', blobId)).out).toMatch(/NOT_FOUND/);
  }, 120_000);
});

/** A valid signed manifest and 520 MiB of zeros (over the 512 MiB limit), compressed fast (level 1) to spare the CPU. */
async function gzipBomb(manifest: BundleManifest): Promise<Buffer> {
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const done = pipeline(pack, createGzip({ level: 1 }), async (source: AsyncIterable<Buffer>) => {
    for await (const p of source) parts.push(p);
  });
  pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
  pack.entry({ name: 'app.wasm' }, wasm.data);
  const size = 520 * 1024 * 1024;
  const zeros = pack.entry({ name: 'zeros.bin', size });
  const block = Buffer.alloc(1024 * 1024);
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < size / block.length; i++) yield block;
      })(),
    ),
    zeros,
  );
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}
