import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError } from '@cnode/runtime';
import { loadNodeConfig } from '@cnode/config';
import { DEFAULT_HTTP_PORT_BASE, SERVICE_NAMES, localNode, type LocalNode } from './node-env.js';
import { SupervisedProcess } from './supervisor.js';
import { resetNode } from './reset.js';

/** How long `npm start` waits for every service to report ready before saying which did not. */
const READY_TIMEOUT_MS = 60_000;
/** How long Ctrl-C waits for the services to exit before killing them. */
const STOP_TIMEOUT_MS = 10_000;

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const write = (line: string): void => void process.stdout.write(`${line}\n`);

function parse(): { nodes: number; httpPortBase: number; reset: string | undefined; yes: boolean } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      nodes: { type: 'string' },
      devnet: { type: 'boolean', default: false },
      'http-port-base': { type: 'string', default: String(DEFAULT_HTTP_PORT_BASE) },
      reset: { type: 'string' },
      yes: { type: 'boolean', default: false },
    },
  });
  const nodes = Number(values.nodes ?? (values.devnet ? '3' : '1'));
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) {
    process.stderr.write('cnode launcher: --nodes must be an integer from 1 to 16\n');
    process.exit(2);
  }
  const httpPortBase = Number(values['http-port-base']);
  if (!Number.isInteger(httpPortBase) || httpPortBase < 1024 || httpPortBase > 65000) {
    process.stderr.write('cnode launcher: --http-port-base must be an integer from 1024 to 65000\n');
    process.exit(2);
  }
  return { nodes, httpPortBase, reset: values.reset, yes: values.yes };
}

/**
 * The loopback libp2p address node 1's network service announced in its `network.json` during this
 * run (the file outlives runs; the peer id does too, the port may not).
 */
async function networkAddress(node: LocalNode, since: number): Promise<string> {
  const file = join(node.home, 'network.json');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const endpoint = JSON.parse(readFileSync(file, 'utf8')) as { addrs?: string[]; startedAt?: number };
      const addr = endpoint.addrs?.find((a) => a.startsWith('/ip4/127.'));
      if (addr && (endpoint.startedAt ?? 0) >= since) return addr;
    } catch {
      // Not written yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${node.name}'s network service did not write ${file} in time`);
}

/**
 * The address node-manager actually bound for a listener (the configured port may be 0), from the
 * file it writes into the node home (`admin.json`, `app-api.json`), else the configured one.
 */
function boundAddress(node: LocalNode, file: string, configured: string): string {
  try {
    const endpoint = JSON.parse(readFileSync(join(node.home, file), 'utf8')) as { address?: string };
    return endpoint.address ?? configured;
  } catch {
    return configured;
  }
}

/** Fails fast, before any process starts, listing every bad key of every node. */
function validate(nodes: LocalNode[]): void {
  const problems: string[] = [];
  for (const node of nodes) {
    for (const service of SERVICE_NAMES) {
      try {
        loadNodeConfig(service, node.envFor(service));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(`${node.name}: ${err.message}`);
        break; // every service reads the same keys: one report per node
      }
    }
  }
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exit(1);
  }
}

async function isReady(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function waitReady(nodes: LocalNode[], startedAt: number): Promise<void> {
  const pending = new Set(nodes.flatMap((n) => SERVICE_NAMES.map((s) => `${n.name}/${s}`)));
  while (pending.size > 0 && Date.now() - startedAt < READY_TIMEOUT_MS) {
    for (const node of nodes) {
      for (const service of SERVICE_NAMES) {
        const key = `${node.name}/${service}`;
        if (pending.has(key) && (await isReady(node.httpPort(service)))) pending.delete(key);
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
  if (pending.size > 0) {
    write(`cnode: not ready after ${READY_TIMEOUT_MS / 1000}s: ${[...pending].join(', ')} (still trying)`);
    return;
  }
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  write(`cnode: ${nodes.length} node(s), ${nodes.length * SERVICE_NAMES.length} processes ready in ${seconds}s`);
  for (const node of nodes) {
    write(
      `cnode:   ${node.name}  admin gRPC ${boundAddress(node, 'admin.json', node.adminAddress)}  token in ${node.home}/admin.token  app API http://${boundAddress(node, 'app-api.json', node.appApiAddress)}`,
    );
  }
  write(`cnode: try 'npx cnode info${nodes.length > 1 ? ' --node node2' : ''}'; Ctrl-C stops everything`);
}

async function main(): Promise<void> {
  const { nodes: count, httpPortBase, reset, yes } = parse();
  const homeRoot = '.cnode';
  if (reset !== undefined) {
    const match = /^node(\d+)$/.exec(reset);
    const index = match ? Number(match[1]) : 1;
    // A devnet node (nodeN) gets its devnet environment; any other name is the single node.
    const node =
      match && index > 1
        ? localNode(index, Math.max(index, 2), process.env, homeRoot, httpPortBase)
        : localNode(1, 1, { ...process.env, NODE_NAME: reset }, homeRoot, httpPortBase);
    process.exit(await resetNode(node, { yes, write }));
  }
  const nodes = Array.from({ length: count }, (_, i) => localNode(i + 1, count, process.env, homeRoot, httpPortBase));
  validate(nodes);

  const labelWidth = Math.max(...nodes.flatMap((n) => SERVICE_NAMES.map((s) => `${n.name}/${s}`.length)));
  const processes: SupervisedProcess[] = [];
  const startNode = (node: LocalNode): void => {
    for (const service of SERVICE_NAMES) {
      const supervised = new SupervisedProcess(
        {
          label: `${node.name}/${service}`.padEnd(labelWidth),
          script: `services/${service}/dist/main.js`,
          env: node.envFor(service),
          cwd: repoRoot,
        },
        write,
        (label) => {
          write(`cnode: ${label} could not start; stopping every service (its log above says why)`);
          stopAll(1);
        },
      );
      processes.push(supervised);
      supervised.start();
    }
  };
  let stopping = false;
  /** Stops every service (SIGTERM, then SIGKILL after STOP_TIMEOUT_MS) and exits with `code`. */
  const stopAll = (code = 0): void => {
    if (stopping) {
      write('cnode: second signal, killing services');
      for (const p of processes) p.kill();
      process.exit(1);
    }
    stopping = true;
    write('cnode: stopping services…');
    const killTimer = setTimeout(() => {
      write(`cnode: services still running after ${STOP_TIMEOUT_MS / 1000}s, killing them`);
      for (const p of processes) p.kill();
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    void Promise.all(processes.map((p) => p.stop())).then(() => {
      clearTimeout(killTimer);
      write('cnode: stopped');
      process.exit(code);
    });
  };
  process.on('SIGINT', () => stopAll());
  process.on('SIGTERM', () => stopAll());

  const startedAt = Date.now();
  const [first, ...rest] = nodes as [LocalNode, ...LocalNode[]];
  try {
    startNode(first);
    if (rest.length > 0) {
      // Every other node bootstraps from node 1, so the devnet is one connected network.
      const bootstrap = await networkAddress(first, startedAt);
      write(`cnode: ${rest.map((n) => n.name).join(', ')} bootstrap from ${first.name} at ${bootstrap}`);
      for (const node of rest) {
        node.bootstrapFrom([bootstrap]);
        startNode(node);
      }
    }
    await waitReady(nodes, startedAt);
  } catch (err) {
    // Whatever went wrong, no service is left running behind us.
    write(`cnode: ${err instanceof Error ? err.message : String(err)}`);
    stopAll(1);
  }
}

await main();
