/**
 * Renders a kustomization the way `kubectl apply -k` does, for the subset of kustomize the cnode
 * overlays use, so tests can check what a cluster would receive without kubectl or a cluster:
 * `resources` (files and kustomization directories, recursively), `patches` (strategic merge
 * patches by `path`, matched by kind and name), `configMapGenerator` / `secretGenerator` (`literals`,
 * `envs`, `files`), `images` and `generatorOptions.disableNameSuffixHash` (required: generated
 * names are used as written). Anything else in a kustomization is refused, so an overlay cannot
 * silently use a feature this renderer would get wrong.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any --
   Manifests are untyped YAML documents. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, any>;

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'resources',
  'patches',
  'configMapGenerator',
  'secretGenerator',
  'images',
  'generatorOptions',
]);
/** Lists merged by this key in strategic merge patches (the Kubernetes patchMergeKey of each field). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  ports: 'containerPort',
  volumes: 'name',
  volumeMounts: 'mountPath',
};

export interface RenderOptions {
  /** Files that may be missing (kept out of version control): read `<file>` from here instead. */
  substitute?: Record<string, string>;
}

export function render(dir: string, opts: RenderOptions = {}): K8sObject[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as K8sObject;
  const unknown = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unknown.length > 0) throw new Error(`${file}: unsupported kustomize fields ${unknown.join(', ')}`);
  const generators = [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])];
  if (generators.length > 0 && k.generatorOptions?.disableNameSuffixHash !== true) {
    throw new Error(`${file}: generators need generatorOptions.disableNameSuffixHash: true`);
  }

  const objects: K8sObject[] = [];
  for (const entry of (k.resources ?? []) as string[]) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) objects.push(...render(path, opts));
    else objects.push(...readDocuments(path));
  }
  for (const g of (k.configMapGenerator ?? []) as K8sObject[]) objects.push(generated('ConfigMap', g, dir, opts));
  for (const g of (k.secretGenerator ?? []) as K8sObject[]) objects.push(generated('Secret', g, dir, opts));

  for (const patch of (k.patches ?? []) as K8sObject[]) {
    if (!patch.path || patch.target || patch.patch) throw new Error(`${file}: only patches with a path are supported`);
    for (const p of readDocuments(resolve(dir, patch.path))) {
      const target = objects.find((o) => o.kind === p.kind && o.metadata?.name === p.metadata?.name);
      if (!target)
        throw new Error(`${file}: patch ${patch.path} targets ${p.kind}/${p.metadata?.name}, which is not there`);
      Object.assign(target, mergePatch(target, p));
    }
  }
  for (const image of (k.images ?? []) as K8sObject[]) {
    for (const container of objects.flatMap(containersOf)) {
      if (container.image !== image.name && !String(container.image).startsWith(`${image.name}:`)) continue;
      container.image = `${image.newName ?? image.name}${image.newTag ? `:${image.newTag}` : ''}`;
    }
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (seen.has(id)) throw new Error(`${file}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

function readDocuments(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

function generated(kind: 'ConfigMap' | 'Secret', g: K8sObject, dir: string, opts: RenderOptions): K8sObject {
  const data: Record<string, string> = {};
  const read = (name: string): string => {
    const path = resolve(dir, name);
    if (existsSync(path)) return readFileSync(path, 'utf8');
    const stand = opts.substitute?.[basename(path)];
    if (stand === undefined) throw new Error(`${path} is missing`);
    return readFileSync(stand, 'utf8');
  };
  for (const literal of (g.literals ?? []) as string[]) {
    const at = literal.indexOf('=');
    data[literal.slice(0, at)] = literal.slice(at + 1);
  }
  for (const env of (g.envs ?? []) as string[]) {
    for (const line of read(env).split('\n')) {
      const text = line.trim();
      if (!text || text.startsWith('#')) continue;
      const at = text.indexOf('=');
      data[text.slice(0, at)] = text.slice(at + 1);
    }
  }
  for (const f of (g.files ?? []) as string[]) data[basename(f)] = read(f);
  const encoded =
    kind === 'Secret'
      ? Object.fromEntries(Object.entries(data).map(([key, v]) => [key, Buffer.from(v).toString('base64')]))
      : data;
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name: g.name },
    ...(kind === 'Secret' ? { type: 'Opaque' } : {}),
    data: encoded,
  };
}

/** A strategic merge patch: maps merge deeply, known lists merge by their key, other lists replace. */
function mergePatch(base: any, patch: any, field = ''): any {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field];
    if (!key || !Array.isArray(base)) return patch;
    const out = [...base];
    for (const item of patch) {
      const at = out.findIndex((b) => b?.[key] === item?.[key]);
      if (at >= 0) out[at] = mergePatch(out[at], item);
      else out.push(item);
    }
    return out;
  }
  if (patch && typeof patch === 'object') {
    const out: Record<string, any> = { ...(base && typeof base === 'object' ? base : {}) };
    for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : mergePatch(out[k], v, k);
    return out;
  }
  return patch;
}

/** The containers of a workload's pod template (none for other kinds). */
export function containersOf(o: K8sObject): K8sObject[] {
  const pod = o.spec?.template?.spec;
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
}

export const overlayDir = (root: URL, name: string): string =>
  dirname(new URL(`deploy/k8s/overlays/${name}/kustomization.yaml`, root).pathname);
