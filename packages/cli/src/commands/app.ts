import { createReadStream } from 'node:fs';
import { Progress } from '../progress.js';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { buildBundle, newSigningKeyFile, parseManifest, parseSigningKeyFile } from '@cnode/app-bundle';
import { type admin } from '@cnode/proto';
import { buildApp } from '../app-build.js';
import { withAdminApi } from '../client.js';
import { CliError, UsageError, type Endpoint } from '../endpoint.js';
import { need, printer } from './common.js';

export const APP_USAGE = `  app install FILE [--dev]           upload a bundle (or raw wasm) from this machine and install it
  app install-path PATH [--dev]      install a bundle the node reads from its own filesystem
  app install-url URL [--hash H] [--dev]
                                     the node downloads and installs (http/https; private and
                                     loopback targets refused); --hash: expected hex SHA-256
  app install-blob BLOB [--context CTX] [--peer PEER]... [--dev]
                                     install a stored bundle blob (fetched from CTX's providers if missing)
  app uninstall APP                  uninstall (APP: id or alias)
  app get APP                        one application: package, version, signer, artifacts
  app list                           installed applications
  app packages                       packages and their installed versions, newest first
  app keygen KEYFILE                 write a new bundle signing key (Ed25519) to KEYFILE
  app bundle --package P --app-version V --wasm FILE [--key KEYFILE] --out FILE
                                     build a bundle; signed with --key (unsigned bundles install only with --dev)
  app build DIR [--key KEYFILE] [--out FILE]
                                     compile an AssemblyScript app (DIR/assembly/index.ts, DIR/app.json)
                                     to DIR/build/app.wasm and a bundle (DIR/build/<package>-<version>.bundle)
  --dev: accept an unsigned bundle (a signature that is present is still verified)
`;

export interface AppCommandOptions {
  dev: boolean;
  hash: string;
  context: string;
  peers: string[];
  package?: string;
  appVersion?: string;
  wasm?: string;
  key?: string;
  out?: string;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
}

function formatApp(a: admin.Application): string {
  return [
    `app       ${a.applicationId}${a.aliases.length ? `  (${a.aliases.join(', ')})` : ''}`,
    `kind      ${a.kind}`,
    `package   ${a.package} ${a.version}`,
    `signer    ${a.signer || '(unsigned)'}`,
    `blob      ${a.blobId} (${a.size} bytes)`,
    `source    ${a.source}`,
    ...a.artifacts.map((x) => `artifact  ${x.name || '(top level)'} ${x.path} ${x.blobId} sha256=${x.hash}`),
    '',
  ].join('\n');
}

/** `cnode app …`: the ApplicationService, plus building and signing bundles locally. */
export async function runAppCommand(
  endpoint: () => Endpoint,
  args: string[],
  opts: AppCommandOptions,
): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub, ...rest] = args;
  // Local commands: no node needed.
  if (sub === 'keygen') {
    const [file] = need(rest, 1, 'app keygen KEYFILE');
    const key = newSigningKeyFile();
    await writeFile(file!, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch((err: unknown) => {
      throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
    });
    out({ signer: key.signer }, `signer    ${key.signer}\nkey file  ${file} (keep it private)\n`);
    return 0;
  }
  if (sub === 'bundle') return bundle(opts, out);
  if (sub === 'build') {
    const [dir] = need(rest, 1, 'app build DIR [--key KEYFILE] [--out FILE]');
    const signingKey = opts.key ? parseSigningKeyFile((await readOrFail(opts.key)).toString('utf8')) : undefined;
    const built = await buildApp(dir!, {
      ...(signingKey ? { signingKey } : {}),
      ...(opts.out ? { out: opts.out } : {}),
    });
    out(
      built,
      [
        `module    ${built.wasmPath}`,
        `bundle    ${built.bundlePath} (${built.bytes} bytes)`,
        `package   ${built.manifest.package} ${built.manifest.appVersion}`,
        `signer    ${built.manifest.signerId ?? '(unsigned: installs only with --dev)'}`,
        '',
      ].join('\n'),
    );
    return 0;
  }
  return withAdminApi(endpoint(), opts.timeoutMs, async (api) => {
    const installed = (app: admin.Application): number => {
      out(app, formatApp(app));
      return 0;
    };
    switch (sub) {
      case 'install': {
        const [file] = need(rest, 1, 'app install FILE [--dev]');
        const source = createReadStream(file!) as AsyncIterable<Buffer>;
        const progress = new Progress('installing', Progress.fileSize(file!));
        return installed(
          await api.installApplication(progress.track(source), {
            allowUnsigned: opts.dev,
            source: `upload:${basename(file!)}`,
          }),
        );
      }
      case 'install-path': {
        const [path] = need(rest, 1, 'app install-path PATH [--dev]');
        return installed(await api.installFromPath(path!, { allowUnsigned: opts.dev }));
      }
      case 'install-url': {
        const [url] = need(rest, 1, 'app install-url URL [--hash H] [--dev]');
        return installed(await api.installFromUrl(url!, { allowUnsigned: opts.dev, expectedHash: opts.hash }));
      }
      case 'install-blob': {
        const [blobId] = need(rest, 1, 'app install-blob BLOB [--context CTX] [--dev]');
        return installed(
          await api.installFromBlob(blobId!, { contextId: opts.context, peers: opts.peers, allowUnsigned: opts.dev }),
        );
      }
      case 'uninstall': {
        const [id] = need(rest, 1, 'app uninstall APP');
        const uninstalled = await api.uninstallApplication(id!);
        out({ uninstalled }, uninstalled ? 'uninstalled\n' : 'not installed\n');
        return uninstalled ? 0 : 1;
      }
      case 'get': {
        const [id] = need(rest, 1, 'app get APP');
        return installed(await api.getApplication(id!));
      }
      case 'list': {
        const applications = await api.listApplications();
        out(
          { applications },
          applications.length === 0
            ? 'no applications\n'
            : applications.map((a) => `${a.applicationId}  ${a.package} ${a.version}  ${a.kind}\n`).join(''),
        );
        return 0;
      }
      case 'packages': {
        const packages = await api.listPackages();
        out(
          { packages },
          packages.length === 0
            ? 'no packages\n'
            : packages.map((p) => `${p.package}  ${p.versions.join(' ')}  (latest ${p.latest})\n`).join(''),
        );
        return 0;
      }
      default:
        throw new UsageError(`usage:\n${APP_USAGE}`);
    }
  });
}

function readOrFail(file: string): Promise<Buffer> {
  return readFile(file).catch((err: unknown) => {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  });
}

async function bundle(opts: AppCommandOptions, out: ReturnType<typeof printer>): Promise<number> {
  if (!opts.package || !opts.appVersion || !opts.wasm || !opts.out) {
    throw new UsageError('usage: cnode app bundle --package P --app-version V --wasm FILE [--key KEYFILE] --out FILE');
  }
  const read = readOrFail;
  const signingKey = opts.key ? parseSigningKeyFile((await read(opts.key)).toString('utf8')) : undefined;
  const built = await buildBundle({
    package: opts.package,
    appVersion: opts.appVersion,
    wasm: { path: basename(opts.wasm), data: await read(opts.wasm) },
    signingKey,
  });
  // What a node would refuse (a bad package name or version) is refused here, before anything is written.
  parseManifest(Buffer.from(JSON.stringify(built.manifest)));
  await writeFile(opts.out, built.bundle);
  out(
    { manifest: built.manifest, bytes: built.bundle.length },
    `bundle    ${opts.out} (${built.bundle.length} bytes)\npackage   ${opts.package} ${opts.appVersion}\nsigner    ${built.manifest.signerId ?? '(unsigned: installs only with --dev)'}\n`,
  );
  return 0;
}
