/**
 * The deployment artifacts (docker-compose.yml, deploy/k8s) checked against the code they deploy:
 * entry points exist, ports match the services' defaults, every environment variable is a real knob,
 * and every workload is hardened. No container engine or cluster is needed.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any --
   Manifests are untyped YAML documents; the assertions themselves check their shape. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_HTTP_PORTS, SERVICE_NAMES, knobNames } from '@cnode/config';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const exists = (path: string): boolean => existsSync(new URL(path, root));
const knobs = new Set(knobNames());
/** SHUTDOWN_DEADLINE default: the kill must come after the drain. */
const SHUTDOWN_DEADLINE_S = 10;

/** `services/x/dist/main.js` is built from `services/x/src/main.ts`. */
function entryPointExists(distPath: string): boolean {
  return exists(distPath.replace('/dist/', '/src/').replace(/\.js$/, '.ts'));
}

type Json = Record<string, any>;

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;

  for (const service of SERVICE_NAMES) {
    it(`${service}: runs its entry point, waits for healthy infrastructure, probes its own port`, () => {
      const spec = compose.services[service] as Json;
      const [entry] = spec.command as string[];
      expect(entry).toBe(`services/${service}/dist/main.js`);
      expect(entryPointExists(entry!)).toBe(true);
      for (const infra of ['nats', 'postgres', 'redis'])
        expect(spec.depends_on[infra]).toEqual({ condition: 'service_healthy' });
      expect(spec.healthcheck.test).toEqual([
        'CMD',
        'node',
        'scripts/healthcheck.mjs',
        String(DEFAULT_HTTP_PORTS[service]),
      ]);
      expect(Object.keys(spec.environment).filter((key) => !knobs.has(key))).toEqual([]);
      expect(spec.environment.NODE_MASTER_KEY).toMatch(/^\$\{NODE_MASTER_KEY:\?/);
      expect(spec.environment.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    });
  }

  it('runs NATS with JetStream and a max_payload that fits a 1 MiB gossip message', () => {
    const nats = compose.services.nats as Json;
    expect(nats.command).toEqual(['-c', '/etc/nats/nats.conf']);
    const [configFile] = (nats.volumes as string[]).filter((v) => v.endsWith(':/etc/nats/nats.conf:ro'));
    const config = read(configFile!.split(':')[0]!.replace(/^\.\//, ''));
    expect(config).toMatch(/max_payload: 8MB/);
    expect(config).toMatch(/jetstream \{/);
  });

  it('the image ships the health check script the compose file calls', () => {
    expect(exists('scripts/healthcheck.mjs')).toBe(true);
    expect(read('Dockerfile')).toContain('COPY scripts/healthcheck.mjs');
  });
});

describe('deploy/k8s', () => {
  const docsOf = (dir: string): Json[] => {
    const kustomization = parse(read(`deploy/k8s/${dir}/kustomization.yaml`)) as { resources: string[] };
    return kustomization.resources.flatMap((file) => {
      expect(exists(`deploy/k8s/${dir}/${file}`)).toBe(true);
      return parseAllDocuments(read(`deploy/k8s/${dir}/${file}`)).map((d) => d.toJSON() as Json);
    });
  };
  const base = docsOf('base');
  const infra = docsOf('infra');

  it('lists every manifest file of each folder in its kustomization', () => {
    for (const dir of ['base', 'infra']) {
      const listed = (parse(read(`deploy/k8s/${dir}/kustomization.yaml`)) as { resources: string[] }).resources;
      const files = readdirSync(new URL(`deploy/k8s/${dir}/`, root)).filter(
        (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
      );
      expect(files.sort()).toEqual([...listed].sort());
    }
  });

  for (const service of SERVICE_NAMES) {
    it(`${service}: Deployment, Service and ServiceAccount, hardened and probed`, () => {
      const name = `cnode-${service}`;
      const deployment = base.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;
      expect(deployment).toBeDefined();
      expect(base.some((d) => d.kind === 'Service' && d.metadata.name === name)).toBe(true);
      expect(base.some((d) => d.kind === 'ServiceAccount' && d.metadata.name === name)).toBe(true);

      const pod = deployment.spec.template.spec as Json;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(SHUTDOWN_DEADLINE_S);
      const [container] = pod.containers as Json[];
      expect(container!.args).toEqual([`services/${service}/dist/main.js`]);
      expect(entryPointExists(container!.args[0])).toBe(true);
      expect(container!.ports.find((p: Json) => p.name === 'http').containerPort).toBe(DEFAULT_HTTP_PORTS[service]);
      expect(container!.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(container!.resources.requests).toBeDefined();
      expect(container!.resources.limits).toBeDefined();
      expect(container!.readinessProbe).toBeDefined();
      expect(container!.livenessProbe.httpGet.path).toBe('/livez');
      expect((container!.env ?? []).map((e: Json) => e.name).filter((n: string) => !knobs.has(n))).toEqual([]);
    });
  }

  it('runs exactly one network pod per identity, never two at once', () => {
    const network = base.find((d) => d.kind === 'Deployment' && d.metadata.name === 'cnode-network')!;
    expect(network.spec.replicas).toBe(1);
    expect(network.spec.strategy.type).toBe('Recreate');
  });

  it('probes node-manager readiness through the unauthenticated gRPC health service', () => {
    const nm = base.find((d) => d.kind === 'Deployment' && d.metadata.name === 'cnode-node-manager')!;
    expect(nm.spec.template.spec.containers[0].readinessProbe.grpc).toEqual({
      port: 2528,
      service: 'cnode.admin.v1.NodeService',
    });
  });

  it('generates the NATS config map from a file next to it, with the same settings as compose', () => {
    const kustomization = parse(read('deploy/k8s/infra/kustomization.yaml')) as Json;
    expect(kustomization.configMapGenerator[0]).toEqual({ name: 'cnode-nats-config', files: ['nats.conf'] });
    expect(read('deploy/k8s/infra/nats.conf')).toMatch(/max_payload: 8MB/);
    const nats = infra.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'cnode-nats')!;
    expect(nats.spec.template.spec.volumes[0].configMap.name).toBe('cnode-nats-config');
  });

  it('configures only real knobs and points at the infra services', () => {
    const config = base.find((d) => d.kind === 'ConfigMap')!;
    expect(Object.keys(config.data).filter((k) => !knobs.has(k))).toEqual([]);
    const infraServices = infra.filter((d) => d.kind === 'Service').map((d) => d.metadata.name as string);
    expect(infraServices.sort()).toEqual(['cnode-nats', 'cnode-postgres', 'cnode-redis']);
    expect(config.data.NATS_URL).toBe('nats://cnode-nats:4222');
    expect(config.data.REDIS_URL).toBe('redis://cnode-redis:6379');
  });
});
