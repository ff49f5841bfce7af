/**
 * The app API under hostile and careless clients, against running services: CORS, the per-token
 * rate limit, the connection bound, and a seeded fuzz of random and truncated JSON, huge bodies,
 * junk WebSocket frames and floods. The node must answer every request with a counted, documented
 * refusal, keep its memory bounded and go on serving.
 *
 * `strict` has tight limits (CORS for one origin, 5 requests/s, 3 connections, 64 KiB bodies);
 * `open` has the defaults, so the fuzz reaches the parser instead of the rate limit.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { ProcessNode, waitFor } from '@cnode/testing';

const ORIGIN = 'http://app.example';
let strict: ProcessNode;
let open: ProcessNode;
let strictContext: string;
let openContext: string;
let strictToken: string;
let openToken: string;

/** A small seeded generator (mulberry32), so a failing fuzz run can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.FUZZ_SEED ?? 20261207);

const request = (contextId: string, method = 'get', argsJson: unknown = { key: 'k' }) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute', params: { contextId, method, argsJson } });

async function post(
  node: ProcessNode,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${node.appApiUrl}/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

const requestsCounted = async (node: ProcessNode): Promise<number> =>
  node.metric('node-manager', 'app_api_requests_total');

beforeAll(async () => {
  [strict, open] = await Promise.all([
    ProcessNode.start({
      env: {
        APP_API_CORS_ORIGINS: ORIGIN,
        APP_API_RATE_LIMIT: '5',
        APP_API_RATE_BURST: '5',
        APP_API_MAX_CONNECTIONS: '3',
        APP_API_MAX_BODY: '64KiB',
      },
    }),
    ProcessNode.start({ env: { APP_API_MAX_BODY: '64KiB' } }),
  ]);
  strictContext = (await strict.api.createContext()).contextId;
  openContext = (await open.api.createContext()).contextId;
  strictToken = (await strict.api.createClientToken({ contextId: strictContext })).accessToken;
  openToken = (await open.api.createClientToken({ contextId: openContext })).accessToken;
}, 120_000);

afterAll(async () => {
  await Promise.all([strict, open].map((n) => n?.stop()));
});

describe('browser access', () => {
  it('answers CORS preflights for allowed origins only, and counts the others', async () => {
    const preflight = (origin: string) =>
      fetch(`${strict.appApiUrl}/jsonrpc`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight(ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await preflight('http://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(
      await strict.metric('node-manager', 'app_api_requests_total', {
        route: 'jsonrpc',
        outcome: 'origin_not_allowed',
      }),
    ).toBe(1);

    const call = await post(strict, request(strictContext), { origin: ORIGIN, authorization: `Bearer ${strictToken}` });
    expect(call.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('rate-limits each token with a clear 429 and Retry-After', async () => {
    await new Promise((r) => setTimeout(r, 1_500)); // the bucket refills after the test above
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () =>
        post(strict, request(strictContext), { authorization: `Bearer ${strictToken}` }),
      ),
    );
    const codes = statuses.map((r) => r.status);
    expect(codes.filter((c) => c === 200).length).toBeLessThanOrEqual(6);
    const limited = statuses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(6);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited[0]!.text()).toMatch(/too many requests/i);
    expect(
      await strict.metric('node-manager', 'app_api_requests_total', { route: 'jsonrpc', outcome: 'rate_limited' }),
    ).toBe(limited.length);
  });

  it('refuses connections past APP_API_MAX_CONNECTIONS', async () => {
    await new Promise((r) => setTimeout(r, 1_500));
    const url = `${strict.appApiUrl.replace('http', 'ws')}/ws?token=${strictToken}`;
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const ws = new WebSocket(url);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        sockets.push(ws);
      }
      const refused = new WebSocket(url);
      const status = await new Promise<number>((resolve) =>
        refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
      );
      expect(status).toBe(503);
      expect(
        await strict.metric('node-manager', 'app_api_requests_total', { route: 'ws', outcome: 'too_many_connections' }),
      ).toBe(1);
    } finally {
      for (const ws of sockets) ws.close();
    }
    await waitFor(async () => (await strict.metric('node-manager', 'app_api_connections', { kind: 'ws' })) === 0, {
      message: 'the connections to close',
    });
  });
});

describe(`fuzz (seed ${SEED})`, () => {
  it('random, truncated and huge JSON-RPC bodies: every one answered and counted, none a 500', async () => {
    const random = seeded(SEED);
    const valid = request(openContext, 'set', { key: 'fuzz', value: 'v' });
    const bodies: (string | Uint8Array)[] = [];
    for (let i = 0; i < 300; i++) {
      const kind = Math.floor(random() * 6);
      if (kind === 0) bodies.push(valid.slice(0, Math.floor(random() * valid.length)));
      else if (kind === 1) bodies.push(randomBytes(Math.floor(random() * 2048)));
      else if (kind === 2) bodies.push('['.repeat(1 + Math.floor(random() * 50_000)));
      else if (kind === 3) {
        // A valid request with one character replaced.
        const at = Math.floor(random() * valid.length);
        bodies.push(valid.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + valid.slice(at + 1));
      } else if (kind === 4)
        bodies.push(
          JSON.stringify({
            jsonrpc: '2.0',
            id: random(),
            method: 'execute',
            params: random() < 0.5 ? [] : { contextId: 1 },
          }),
        );
      else bodies.push('x'.repeat(64 * 1024 + 1 + Math.floor(random() * 100_000)));
    }
    const before = await requestsCounted(open);
    const memoryBefore = await open.metric('node-manager', 'process_resident_memory_bytes');
    const statuses: number[] = [];
    for (let i = 0; i < bodies.length; i += 20) {
      const batch = await Promise.all(
        bodies.slice(i, i + 20).map(async (b) => {
          const res = await post(open, b, { authorization: `Bearer ${openToken}` }).catch(() => undefined);
          await res?.arrayBuffer().catch(() => undefined);
          return res?.status ?? 0;
        }),
      );
      statuses.push(...batch);
    }
    // 200 carries the JSON-RPC error; 403 is a mangled id that names another context; 413 a huge body.
    expect(statuses.filter((s) => ![0, 200, 403, 413, 429].includes(s))).toEqual([]);
    expect(statuses.filter((s) => s === 413).length).toBeGreaterThan(0);
    // A 413 may reset the connection before the client reads it (status 0); the node counted it all the same.
    expect((await requestsCounted(open)) - before).toBe(bodies.length);
    const memoryAfter = await open.metric('node-manager', 'process_resident_memory_bytes');
    expect(memoryAfter - memoryBefore).toBeLessThan(150 * 1024 * 1024);
    // Still serving.
    const ok = await post(open, request(openContext, 'get', { key: 'fuzz' }), { authorization: `Bearer ${openToken}` });
    expect(ok.status).toBe(200);
  }, 120_000);

  it('a flood without or with bad tokens, and junk WebSocket frames: refused, counted, node unharmed', async () => {
    const random = seeded(SEED + 1);
    const before = await requestsCounted(open);
    const flood = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        post(
          open,
          request(openContext),
          i % 2 ? { authorization: `Bearer ${randomBytes(24).toString('base64url')}` } : {},
        )
          .then((r) => r.status)
          .catch(() => 0),
      ),
    );
    expect(flood.every((s) => s === 401 || s === 503)).toBe(true);
    expect((await requestsCounted(open)) - before).toBe(400);

    const ws = new WebSocket(`${open.appApiUrl.replace('http', 'ws')}/ws?token=${openToken}`);
    const replies: unknown[] = [];
    ws.on('message', (d) => replies.push(d));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const badFrames = () =>
      open.metric('node-manager', 'app_api_requests_total', { route: 'ws', outcome: 'bad_frame' });
    const badBefore = await badFrames();
    for (let i = 0; i < 100; i++) {
      if (random() < 0.5) ws.send(randomBytes(Math.floor(random() * 512)).toString('latin1'));
      else ws.send(JSON.stringify({ id: -Math.floor(random() * 10), method: 7 }));
    }
    await waitFor(async () => (await badFrames()) - badBefore === 100, { message: '100 junk frames counted' });
    expect(replies).toEqual([]);
    // A frame over the 64 KiB frame limit closes the connection (1009), nothing else.
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(70 * 1024));
    expect(await closed).toBe(1009);
    const health = await fetch(`${open.appApiUrl}/admin-api/health`);
    expect(health.status).toBe(200);
  }, 120_000);
});
