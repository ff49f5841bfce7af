/**
 * Readiness tells the truth: every service of a node whose NATS goes away reports not ready (HTTP
 * /readyz, and node-manager's gRPC health for every admin service), and ready again once NATS is
 * back. The node runs against a private NATS server this test starts, stops and restarts (with
 * its JetStream store), never the machine's shared one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NODE_SERVICES, ProcessNode, healthCheck, waitFor } from '@cnode/testing';
import { HEALTH_SERVICE_NAMES } from '../../services/node-manager/src/grpc/admin-server.js';

const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
let port: number;
const storeDir = mkdtempSync(join(tmpdir(), 'cnode-private-nats-'));
let nats: ChildProcess | undefined;
let node: ProcessNode;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
  });
}

async function startNats(): Promise<void> {
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  nats = child;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stderr.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Server is ready')) resolve();
    });
  });
}

async function stopNats(): Promise<void> {
  const child = nats;
  nats = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const readiness = async (): Promise<boolean[]> => Promise.all(NODE_SERVICES.map((s) => node.isReady(s)));
const grpcHealth = async (): Promise<string[]> =>
  Promise.all(HEALTH_SERVICE_NAMES.map((name) => healthCheck(node.adminAddress, name)));

beforeAll(async () => {
  port = await freePort();
  await startNats();
  node = await ProcessNode.start({ env: { NATS_URL: `nats://127.0.0.1:${port}` } });
}, 120_000);

afterAll(async () => {
  await node?.stop();
  await stopNats();
});

describe('readiness follows NATS', () => {
  it('every service is ready, goes not ready while NATS is down, and ready again when it returns', async () => {
    await waitFor(async () => (await readiness()).every(Boolean), { message: 'every service to be ready' });
    expect(new Set(await grpcHealth())).toEqual(new Set(['SERVING']));

    await stopNats();
    await waitFor(async () => (await readiness()).every((ready) => !ready), {
      timeoutMs: 30_000,
      message: 'every service to report not ready without NATS',
    });
    await waitFor(async () => (await grpcHealth()).every((s) => s === 'NOT_SERVING'), {
      timeoutMs: 10_000,
      message: 'every admin gRPC service to report NOT_SERVING',
    });
    expect(await node.metric('gc', 'cnode_ready')).toBe(0);

    await startNats();
    await waitFor(async () => (await readiness()).every(Boolean), {
      timeoutMs: 60_000,
      message: 'every service to be ready again once NATS is back',
    });
    await waitFor(async () => (await grpcHealth()).every((s) => s === 'SERVING'), {
      timeoutMs: 10_000,
      message: 'every admin gRPC service to report SERVING again',
    });
    // And the node works again end to end.
    const { contextId } = await node.api.createContext();
    await node.api.execute(contextId, 'set', { key: 'after', value: 'outage' });
    expect((await node.api.execute(contextId, 'get', { key: 'after' })).output).toBe('outage');
  }, 180_000);
});
