import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ABI_SECTION_NAME,
  abiManifest,
  buildBundle,
  parseManifest,
  withCustomSection,
  type BundleManifest,
} from '@cnode/app-bundle';
import { CliError } from './endpoint.js';

/** The part of the AssemblyScript compiler's API used here. */
interface AscModule {
  main(
    argv: string[],
    options: { writeFile: (name: string, contents: Uint8Array | string) => void },
  ): Promise<{ error: Error | null; stderr: { toString(): string } }>;
}

/** `app.json` of an application directory: what the bundle is, and which methods only read. */
export interface AppSpec {
  package: string;
  version: string;
  /** Methods that never write: they run as views (no lock, writes silenced), declared in the module's ABI. */
  views: string[];
}

/** The file in an application directory that describes it. */
export const APP_SPEC_FILE = 'app.json';

/** Reads and checks `<dir>/app.json`. */
export async function readAppSpec(dir: string): Promise<AppSpec> {
  const file = join(dir, APP_SPEC_FILE);
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  });
  let spec: Partial<AppSpec>;
  try {
    spec = JSON.parse(text) as Partial<AppSpec>;
  } catch {
    throw new CliError(`${file} is not JSON`);
  }
  if (typeof spec.package !== 'string' || typeof spec.version !== 'string') {
    throw new CliError(`${file} needs "package" and "version" strings`);
  }
  const views = spec.views ?? [];
  if (!Array.isArray(views) || !views.every((v) => typeof v === 'string' && /^[A-Za-z0-9_]{1,256}$/.test(v))) {
    throw new CliError(`${file}: "views" must be a list of method names`);
  }
  return { package: spec.package, version: spec.version, views };
}

/**
 * Compiles `<dir>/assembly/index.ts` with AssemblyScript into a module the node accepts: the stub
 * runtime (each call runs on a fresh instance, so nothing needs collecting), no `abort` import (an
 * abort traps), optimized; then embeds the ABI naming the spec's views. Needs the `assemblyscript`
 * package (a dev dependency of this repository).
 */
export async function compileApp(dir: string, spec: AppSpec): Promise<Buffer> {
  // Loaded by name at run time: the compiler's own type declarations would redefine global types here.
  const compilerModule: string = 'assemblyscript/asc';
  const asc = (await import(compilerModule).catch(() => {
    throw new CliError('building an application needs the assemblyscript package (npm install assemblyscript)');
  })) as AscModule;
  const entry = join(resolve(dir), 'assembly', 'index.ts');
  const outputs = new Map<string, Uint8Array>();
  const { error, stderr } = await asc.main(
    [entry, '--outFile', 'app.wasm', '--runtime', 'stub', '--use', 'abort=', '-O3'],
    { writeFile: (name: string, contents: Uint8Array | string) => void outputs.set(name, Buffer.from(contents)) },
  );
  const wasm = outputs.get('app.wasm');
  if (error || !wasm) throw new CliError(`${String(stderr)}\n${error?.message ?? 'the compiler wrote no module'}`);
  return withCustomSection(wasm, ABI_SECTION_NAME, Buffer.from(JSON.stringify(abiManifest(spec.views))));
}

export interface BuiltApp {
  wasmPath: string;
  bundlePath: string;
  manifest: BundleManifest;
  bytes: number;
}

/**
 * `cnode app build DIR`: compiles the application, writes the module to `<dir>/build/app.wasm` and a
 * bundle of it (`<dir>/build/<package>-<version>.bundle`, or `out`) — signed when a key is given;
 * unsigned bundles install only on a node in dev mode.
 */
export async function buildApp(dir: string, opts: { signingKey?: Buffer; out?: string } = {}): Promise<BuiltApp> {
  const spec = await readAppSpec(dir);
  const wasm = await compileApp(dir, spec);
  const built = await buildBundle({
    package: spec.package,
    appVersion: spec.version,
    wasm: { path: 'app.wasm', data: wasm },
    signingKey: opts.signingKey,
  });
  // What a node would refuse (a bad package name or version) is refused here, before anything is written.
  parseManifest(Buffer.from(JSON.stringify(built.manifest)));
  const buildDir = join(dir, 'build');
  await mkdir(buildDir, { recursive: true });
  const wasmPath = join(buildDir, 'app.wasm');
  const bundlePath = opts.out ?? join(buildDir, `${spec.package}-${spec.version}.bundle`);
  await writeFile(wasmPath, wasm);
  await writeFile(bundlePath, built.bundle);
  return { wasmPath, bundlePath, manifest: built.manifest, bytes: built.bundle.length };
}
