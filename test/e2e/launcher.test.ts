/**
 * The launcher (`npm start`) leaves nothing behind: not on Ctrl-C/SIGTERM, not when a service cannot
 * start (here: the network service, whose stored identity does not open with the master key given),
 * not when the launcher itself is killed with SIGKILL. Every child pid is gone and every health port
 * free afterwards. `--reset NODE --yes` wipes the node, and it starts afresh with a new identity.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import postgres from 'postgres';
import { createCatalog } from '@cnode/bus';
import {
  NODE_SERVICES,
  TEST_INFRA,
  builtEntry,
  cleanupNode,
  spawnNode,
  uniqueNodeName,
  waitFor,
  type SpawnedProcess,
} from '@cnode/testing';

const name = uniqueNodeName('l');
const home = mkdtempSync(join(tmpdir(), 'cnode-launcher-'));
const keyA = randomBytes(32).toString('hex');
const keyB = randomBytes(32).toString('hex');
let portBase = 0;

/** A base for the five health ports (base+1 … base+5) that are all free now. */
async function freePortBase(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all([1, 2, 3, 4, 5].map((i) => portIsFree(base + i)));
    if (free.every(Boolean)) return base;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function launch(masterKey: string, args: string[] = []): SpawnedProcess {
  return spawnNode(builtEntry('packages/launcher/dist/main.js'), ['--http-port-base', String(portBase), ...args], {
    ...process.env,
    NODE_NAME: name,
    NODE_HOME: home,
    NODE_MASTER_KEY: masterKey,
    NATS_URL: TEST_INFRA.natsUrl,
    DATABASE_URL: TEST_INFRA.databaseUrl,
    REDIS_URL: TEST_INFRA.redisUrl,
    ADMIN_GRPC_LISTEN: '127.0.0.1:0',
    APP_API_LISTEN: '127.0.0.1:0',
    NETWORK_LISTEN: '/ip4/127.0.0.1/tcp/0',
    LOG_LEVEL: 'info',
  });
}

const childPids = (launcher: SpawnedProcess): number[] =>
  launcher.lines.flatMap((l) => {
    const m = /started \(pid (\d+)\)/.exec(l);
    return m ? [Number(m[1])] : [];
  });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function expectNothingLeft(launcher: SpawnedProcess): Promise<void> {
  const pids = childPids(launcher);
  expect(pids.length).toBeGreaterThanOrEqual(NODE_SERVICES.length);
  await waitFor(() => pids.every((pid) => !alive(pid)), {
    timeoutMs: 20_000,
    message: 'every service process to exit',
  });
  const free = await Promise.all([1, 2, 3, 4, 5].map((i) => portIsFree(portBase + i)));
  expect(free).toEqual([true, true, true, true, true]);
}

afterAll(async () => {
  await cleanupNode(name);
});

describe('the launcher', () => {
  it('starts a node and stops every process on SIGTERM', async () => {
    portBase = await freePortBase();
    const launcher = launch(keyA);
    await launcher.waitForLine(/processes ready in/, 90_000);
    launcher.child.kill('SIGTERM');
    expect(await launcher.exited).toBe(0);
    await expectNothingLeft(launcher);
  }, 120_000);

  it('stops everything, and says how to recover, when a service cannot start', async () => {
    const launcher = launch(keyB);
    expect(await launcher.exited).toBe(1);
    const output = launcher.lines.join('\n');
    expect(output).toMatch(/sealed with another NODE_MASTER_KEY/);
    expect(output).toMatch(/npm start -- --reset/);
    expect(output).toMatch(/network\s*could not start; stopping every service/);
    await expectNothingLeft(launcher);
  }, 120_000);

  it('leaves no service behind when the launcher itself is killed (SIGKILL)', async () => {
    const launcher = launch(keyA);
    await launcher.waitForLine(/processes ready in/, 90_000);
    launcher.child.kill('SIGKILL');
    await launcher.exited;
    await expectNothingLeft(launcher);
  }, 120_000);

  it('--reset NODE --yes wipes the node, which then starts afresh under the same name', async () => {
    const reset = launch(keyB, ['--reset', name, '--yes']);
    expect(await reset.exited).toBe(0);
    expect(existsSync(home)).toBe(false);
    const sql = postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined });
    try {
      const schema = createCatalog(name).postgres.schema;
      expect(await sql`select 1 from information_schema.schemata where schema_name = ${schema}`).toHaveLength(0);
    } finally {
      await sql.end();
    }
    // The key that could not open the old identity now creates a new node.
    const launcher = launch(keyB);
    await launcher.waitForLine(/processes ready in/, 90_000);
    launcher.child.kill('SIGTERM');
    expect(await launcher.exited).toBe(0);
    await expectNothingLeft(launcher);
  }, 150_000);
});
