/**
 * Renders a kustomization with the real `kubectl kustomize` (kustomize v5), exactly what
 * `kubectl apply -k` would send to a cluster. kubectl is required: without it the tests fail and say
 * so, they never fall back to something more lenient. Files kept out of version control (the prod
 * overlay's secrets.env) are filled in from test fixtures in a scratch copy of deploy/k8s.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any --
   Manifests are untyped YAML documents. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, any>;

export interface RenderOptions {
  /** Files that may be missing (kept out of version control): `<file name>` → the stand-in to use. */
  substitute?: Record<string, string>;
}

/** Where kubectl is; KUBECTL overrides. */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** The rendered objects of the kustomization in `dir` (an overlay under deploy/k8s). */
export function render(dir: string, opts: RenderOptions = {}): K8sObject[] {
  const k8sRoot = join(dirname(dirname(dir)));
  const scratch = mkdtempSync(join(tmpdir(), 'cnode-k8s-'));
  try {
    cpSync(k8sRoot, scratch, { recursive: true });
    const overlay = join(scratch, relative(k8sRoot, dir));
    for (const [name, standIn] of Object.entries(opts.substitute ?? {})) {
      const target = join(overlay, basename(name));
      if (!existsSync(target)) copyFileSync(standIn, target);
    }
    let out: string;
    try {
      out = execFileSync(KUBECTL, ['kustomize', overlay], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { code?: string; stderr?: string; message: string };
      if (e.code === 'ENOENT') {
        throw new Error(
          `kubectl is not installed (or not on PATH): the deploy tests render overlays with 'kubectl kustomize'`,
        );
      }
      throw new Error(`kubectl kustomize ${relative(k8sRoot, dir)} failed: ${e.stderr ?? e.message}`);
    }
    return parseAllDocuments(out)
      .map((d) => d.toJS() as K8sObject)
      .filter(Boolean)
      .map(joinFoldedBase64);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * kustomize folds long base64 Secret values over several lines; the API server's decoder skips the
 * line breaks, the schema's `byte` format does not, so they are joined here.
 */
function joinFoldedBase64(o: K8sObject): K8sObject {
  if (o.kind !== 'Secret' || !o.data) return o;
  const data = Object.fromEntries(
    Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')]),
  );
  return { ...o, data };
}

/** The containers of a workload's pod template (none for other kinds). */
export function containersOf(o: K8sObject): K8sObject[] {
  const pod = o.spec?.template?.spec;
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
}

export const overlayDir = (root: URL, name: string): string =>
  dirname(new URL(`deploy/k8s/overlays/${name}/kustomization.yaml`, root).pathname);
