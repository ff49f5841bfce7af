/**
 * The services as the operator runs them: built entry points in their own processes.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createCatalog } from '@cnode/bus';
import {
  TEST_INFRA,
  builtEntry,
  cleanupNode,
  isAlive,
  spawnNode,
  testEnv,
  uniqueNodeName,
  waitFor,
  type SpawnedProcess,
} from '@cnode/testing';

const SERVICES = ['network', 'node-manager', 'sync', 'state-delta', 'gc'] as const;
const nodes: string[] = [];

afterAll(async () => {
  for (const node of nodes) await cleanupNode(node);
});

function newNode(): string {
  const node = uniqueNodeName('p');
  nodes.push(node);
  return node;
}

describe('configuration errors', () => {
  for (const service of SERVICES) {
    it(`${service} exits 1 naming every bad key`, async () => {
      const proc = spawnNode(builtEntry(`services/${service}/dist/main.js`), [], {
        ...testEnv(newNode()),
        SYNC_INTERVAL: 'abc',
        STATE_DELTA_QUEUE_MAX: '-1',
      });
      expect(await proc.exited).toBe(1);
      const output = proc.lines.join('\n');
      expect(output).toMatch(/SYNC_INTERVAL: expected a duration/);
      expect(output).toMatch(/STATE_DELTA_QUEUE_MAX: must be >= 1/);
    });
  }

  it('the launcher refuses to start any process with a bad key', async () => {
    const proc = spawnNode(builtEntry('packages/launcher/dist/main.js'), [], {
      ...testEnv(newNode()),
      SYNC_INTERVAL: 'abc',
    });
    expect(await proc.exited).toBe(1);
    expect(proc.lines.join('\n')).toMatch(/SYNC_INTERVAL/);
    expect(proc.lines.join('\n')).not.toMatch(/started \(pid/);
  });
});

describe('graceful shutdown', () => {
  it('every service stops on SIGTERM: stops intake, clears its status, exits 0', async () => {
    const node = newNode();
    const env = { ...testEnv(node), LOG_LEVEL: 'info' };
    const procs: [string, SpawnedProcess][] = SERVICES.map((s) => [
      s,
      spawnNode(builtEntry(`services/${s}/dist/main.js`), [], env),
    ]);
    for (const [, proc] of procs) await proc.waitForLine(/"msg":"Service started"/);

    const redis = new Redis(TEST_INFRA.redisUrl);
    const statusKeys = async (): Promise<string[]> => redis.keys(`${createCatalog(node).redis.prefix}svc:*`);
    try {
      await waitFor(async () => (await statusKeys()).length === SERVICES.length, { message: 'five status keys' });
      for (const [service, proc] of procs) {
        proc.child.kill('SIGTERM');
        expect([service, await proc.exited]).toEqual([service, 0]);
        expect(proc.lines.some((l) => l.includes('"msg":"Stopped"'))).toBe(true);
      }
      expect(await statusKeys()).toEqual([]);
    } finally {
      redis.disconnect();
      for (const [, proc] of procs) proc.child.kill('SIGKILL');
    }
  });
});

describe('npm start (the launcher)', () => {
  it('starts five ready processes, serves cnode info, and leaves nothing behind on Ctrl-C', async () => {
    const node = newNode();
    const env = testEnv(node, { LOG_LEVEL: 'info' });
    const httpBase = 20_000 + Math.floor(Math.random() * 20_000);
    const launcher = spawnNode(
      builtEntry('packages/launcher/dist/main.js'),
      ['--http-port-base', String(httpBase)],
      env,
      {
        detached: true,
      },
    );
    try {
      await launcher.waitForLine(/processes ready in/, 60_000);
      const pids = launcher.lines
        .map((l) => /started \(pid (\d+)\)/.exec(l)?.[1])
        .filter((p): p is string => p !== undefined)
        .map(Number);
      expect(pids).toHaveLength(5);

      const info = spawnNode(builtEntry('packages/cli/bin/cnode.js'), ['info', '--home', env.NODE_HOME!], env);
      expect(await info.exited).toBe(0);
      const printed = info.lines.join('\n');
      expect(printed).toContain(`node      ${node}`);
      expect(printed).toMatch(/peer id {3}12D3Koo/);
      for (const service of SERVICES) expect(printed).toMatch(new RegExp(`${service} +ready`));

      const refused = spawnNode(
        builtEntry('packages/cli/bin/cnode.js'),
        ['info', '--home', env.NODE_HOME!, '--token', 'nope'],
        env,
      );
      expect(await refused.exited).toBe(1);
      expect(refused.lines.join('\n')).toMatch(/refused the admin token/);

      // Ctrl-C in a terminal signals the whole foreground process group.
      process.kill(-launcher.child.pid!, 'SIGINT');
      expect(await launcher.exited).toBe(0);
      await waitFor(() => pids.every((pid) => !isAlive(pid)), {
        timeoutMs: 10_000,
        message: 'no service left running',
      });
    } finally {
      launcher.child.kill('SIGKILL');
    }
  });
});
