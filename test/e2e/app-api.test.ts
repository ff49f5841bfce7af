/**
 * The app API end to end: two nodes whose every service is a process, real libp2p on loopback,
 * JSON-RPC over real HTTP, events over a real WebSocket and SSE stream, client tokens from the
 * admin API. A's listener has a small per-connection buffer so a client that reads nothing is cut
 * off quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import WebSocket from 'ws';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApi } from '@cnode/cli';
import { generateIdentity } from '@cnode/primitives';
import { ProcessNode, onePiece, waitFor } from '@cnode/testing';
import { buildApp } from '../../packages/cli/src/app-build.js';

let a: ProcessNode;
let b: ProcessNode;
let contextId: string;
let otherContext: string;
let memberA: string;
let memberB: string;
/** Access tokens: A's member on A, B's member on B, and a read-only one on A. */
let tokenA: string;
let refreshA: string;
let tokenB: string;
let readOnlyA: string;

const rpcBody = (method: string, argsJson: unknown, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'execute',
  params: { contextId, method, argsJson, executorPublicKey: memberA, ...extra },
});

async function post(node: ProcessNode, path: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${node.appApiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function rpc(node: ProcessNode, token: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await post(node, '/jsonrpc', body, token);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const textOf = (data: WebSocket.RawData): string =>
  (Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(new Uint8Array(data))
  ).toString('utf8');

/** A WebSocket client that keeps every message it receives. */
async function openWs(
  node: ProcessNode,
  token: string,
): Promise<{ ws: WebSocket; messages: Record<string, unknown>[] }> {
  const ws = new WebSocket(`${node.appApiUrl.replace('http', 'ws')}/ws?token=${token}`);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(textOf(data)) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages };
}

const eventsOf = (messages: Record<string, unknown>[], type: string) =>
  messages.filter((m) => m.id === null && (m.result as { type?: string }).type === type);

beforeAll(async () => {
  [a, b] = await Promise.all([
    ProcessNode.start({
      env: { APP_API_CONNECTION_BUFFER: '16KiB', APP_API_RATE_LIMIT: '1000', APP_API_RATE_BURST: '2000' },
    }),
    ProcessNode.start(),
  ]);
  ({
    contextId,
    members: [memberA, memberB],
  } = (await ProcessNode.sharedContext([a, b])) as { contextId: string; members: [string, string] });
  otherContext = (await a.api.createContext()).contextId;
  const issued = await a.api.createClientToken({ contextId, identity: memberA });
  tokenA = issued.accessToken;
  refreshA = issued.refreshToken;
  tokenB = (await b.api.createClientToken({ contextId, identity: memberB })).accessToken;
  readOnlyA = (await a.api.createClientToken({ contextId, identity: memberA, readOnly: true })).accessToken;
}, 240_000);

afterAll(async () => {
  await Promise.all([a, b].map((n) => n?.stop()));
});

describe('JSON-RPC execute', () => {
  it('writes then reads, echoing the request id exactly', async () => {
    const set = await rpc(a, tokenA, { ...rpcBody('set', { key: 'k', value: 'v1' }), id: 'req-1' });
    expect(set).toEqual({ jsonrpc: '2.0', id: 'req-1', result: { output: null } });
    const get = await rpc(a, tokenA, { ...rpcBody('get', { key: 'k' }), id: 42 });
    expect(get).toEqual({ jsonrpc: '2.0', id: 42, result: { output: 'v1' } });
    // Without executorPublicKey the token's identity acts (the current upstream request shape).
    const bare = rpcBody('get', { key: 'k' });
    delete (bare.params as Record<string, unknown>).executorPublicKey;
    expect((await rpc(a, tokenA, { ...bare, id: null })).result).toEqual({ output: 'v1' });
  });

  it('answers each malformed request with its JSON-RPC error, never a 500', async () => {
    const parseError = async (body: unknown): Promise<unknown> => {
      const answer = await rpc(a, tokenA, body);
      expect((answer.error as { type: string }).type).toBe('ParseError');
      return answer.id;
    };
    expect(await parseError('{"jsonrpc": "2.0", "id": 1, "method": ')).toBeNull();
    expect(await parseError({ ...rpcBody('get', {}), jsonrpc: '1.0', id: 3 })).toBe(3);
    expect(await parseError({ ...rpcBody('get', {}), method: 'query', id: 'x' })).toBe('x');
    expect(
      await parseError({ ...rpcBody('get', {}), params: { contextId: 'nope', method: 'get', argsJson: {} } }),
    ).toBe(7);
    expect(await parseError({ ...rpcBody('get', {}), params: { contextId, argsJson: {} } })).toBe(7);
    expect(await parseError({ ...rpcBody('get', {}), id: { an: 'object' } })).toBeNull();
    expect(await parseError([rpcBody('get', {})])).toBeNull();

    const unknownMethod = await rpc(a, tokenA, rpcBody('no_such_method', {}));
    expect(unknownMethod.error).toEqual({
      type: 'FunctionCallError',
      data: 'the kv application has no method "no_such_method"',
    });

    const huge = await post(a, '/jsonrpc', rpcBody('set', { key: 'big', value: 'x'.repeat(1_100_000) }), tokenA);
    expect(huge.status).toBe(413);
    expect(await huge.text()).toMatch(/exceeds 1048576 bytes/);
    expect(await a.metric('node-manager', 'app_api_requests_total', { route: 'jsonrpc', outcome: 'too_large' })).toBe(
      1,
    );
  });
});

describe('client tokens', () => {
  it('refuses a missing token, a garbage token and the admin token with 401', async () => {
    for (const token of [undefined, 'garbage', a.env.ADMIN_TOKEN!]) {
      const res = await post(a, '/jsonrpc', rpcBody('get', { key: 'k' }), token);
      expect(res.status).toBe(401);
      expect(res.headers.get('x-auth-error')).toBe('token_invalid');
    }
  });

  it('refuses another context and another identity with 403, and a read-only token writing', async () => {
    const other = await post(a, '/jsonrpc', rpcBody('get', { key: 'k' }, { contextId: otherContext }), tokenA);
    expect(other.status).toBe(403);
    expect(other.headers.get('x-auth-error')).toBe('token_scope');
    const identity = await post(a, '/jsonrpc', rpcBody('get', { key: 'k' }, { executorPublicKey: memberB }), tokenA);
    expect(identity.status).toBe(403);

    expect((await rpc(a, readOnlyA, rpcBody('get', { key: 'k' }))).result).toEqual({ output: 'v1' });
    const write = await rpc(a, readOnlyA, rpcBody('set', { key: 'k', value: 'nope' }));
    expect(write.error).toEqual({
      type: 'CallError',
      data: { type: 'Unauthorized', data: expect.objectContaining({ context_id: contextId, public_key: memberA }) },
    });
    expect((await rpc(a, tokenA, rpcBody('get', { key: 'k' }))).result).toEqual({ output: 'v1' });
  });

  it('a token of one node means nothing on another', async () => {
    const res = await post(b, '/jsonrpc', rpcBody('get', { key: 'k' }), tokenA);
    expect(res.status).toBe(401);
  });

  it('expires, is refreshed, and is revoked (access and refresh tokens at once)', async () => {
    const short = await a.api.createClientToken({ contextId, identity: memberA, ttlSeconds: 1n });
    expect((await rpc(a, short.accessToken, rpcBody('get', { key: 'k' }))).result).toEqual({ output: 'v1' });
    await new Promise((r) => setTimeout(r, 2_100));
    const expired = await post(a, '/jsonrpc', rpcBody('get', { key: 'k' }), short.accessToken);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('x-auth-error')).toBe('token_expired');

    const refreshed = await post(a, '/admin-api/refresh-jwt-token', { refreshToken: refreshA });
    expect(refreshed.status).toBe(200);
    const pair = ((await refreshed.json()) as { data: { access_token: string; refresh_token: string } }).data;
    expect((await rpc(a, pair.access_token, rpcBody('get', { key: 'k' }))).result).toEqual({ output: 'v1' });
    // An access token is no refresh token.
    expect((await post(a, '/admin-api/refresh-jwt-token', { refreshToken: pair.access_token })).status).toBe(401);

    const [grant] = (await a.api.listClientTokens(contextId)).filter(
      (g) => !g.readOnly && g.expiresAtMs > BigInt(Date.now() + 60_000),
    );
    expect(await a.api.revokeClientToken(grant!.grantId)).toBe(true);
    expect(await a.api.revokeClientToken(grant!.grantId)).toBe(false);
    for (const token of [tokenA, pair.access_token]) {
      const revoked = await post(a, '/jsonrpc', rpcBody('get', { key: 'k' }), token);
      expect(revoked.status).toBe(403);
      expect(revoked.headers.get('x-auth-error')).toBe('token_revoked');
    }
    const refreshRevoked = await post(a, '/admin-api/refresh-jwt-token', { refreshToken: pair.refresh_token });
    expect(refreshRevoked.status).toBe(403);
    expect(await refreshRevoked.json()).toEqual({ error: { code: 403, message: 'Token revoked.' } });
    tokenA = (await a.api.createClientToken({ contextId, identity: memberA })).accessToken;
  });

  it('client tokens never work on the admin API; health needs no token', async () => {
    const misuse = new AdminApi({ address: a.adminAddress, token: tokenA });
    try {
      await expect(misuse.listContexts()).rejects.toMatchObject({
        code: status.UNAUTHENTICATED,
      });
    } finally {
      misuse.close();
    }
    const health = await fetch(`${a.appApiUrl}/admin-api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ data: { status: 'alive' } });
  });
});

describe('events', () => {
  it('WebSocket: subscribe hears writes made on the other node; unsubscribe stops them', async () => {
    const { ws, messages } = await openWs(a, tokenA);
    try {
      ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { contextIds: [otherContext] } }));
      ws.send(JSON.stringify({ id: 2, method: 'subscribe', params: { contextIds: [contextId] } }));
      ws.send('not json at all');
      ws.send(JSON.stringify({ id: 3, method: 'nope', params: {} }));
      await waitFor(() => messages.filter((m) => m.id !== null).length === 3, { message: 'three replies' });
      expect(messages.find((m) => m.id === 1)).toEqual({
        id: 1,
        error: { type: 'Unauthorized', data: expect.objectContaining({ contextIds: [otherContext] }) },
      });
      expect(messages.find((m) => m.id === 2)).toEqual({ id: 2, result: { contextIds: [contextId] } });
      expect((messages.find((m) => m.id === 3)!.error as { type: string }).type).toBe('ParseError');

      const fromB = await rpc(b, tokenB, rpcBody('set', { key: 'from-b', value: '1' }, { executorPublicKey: memberB }));
      expect(fromB.result).toEqual({ output: null });
      await waitFor(() => eventsOf(messages, 'StateMutation').length >= 1, {
        timeoutMs: 20_000,
        message: "the event of B's write",
      });
      const [event] = eventsOf(messages, 'StateMutation');
      expect(event).toEqual({
        id: null,
        result: {
          contextId,
          type: 'StateMutation',
          data: expect.objectContaining({ newRoot: expect.any(String), author: memberB, local: false }),
        },
      });
      expect(Object.keys(event!)).toEqual(['id', 'result']);

      ws.send(JSON.stringify({ id: 4, method: 'unsubscribe', params: { contextIds: [contextId] } }));
      await waitFor(() => messages.some((m) => m.id === 4), { message: 'the unsubscribe reply' });
      const before = eventsOf(messages, 'StateMutation').length;
      await a.api.execute(contextId, 'set', { key: 'after-unsubscribe', value: '1' });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(eventsOf(messages, 'StateMutation').length).toBe(before);
    } finally {
      ws.close();
    }
  });

  it('SSE: the same events, subscriptions changed by POST, resumable with Last-Event-ID', async () => {
    const controller = new AbortController();
    const res = await fetch(`${a.appApiUrl}/sse?token=${tokenA}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const frames = (): { id?: string; data: Record<string, unknown> }[] =>
      text
        .split('\n\n')
        .filter((f) => f.includes('data: '))
        .map((f) => ({
          id: /^id: (.*)$/m.exec(f)?.[1],
          data: JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as Record<string, unknown>,
        }));
    void (async () => {
      for (;;) {
        const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => undefined);
    await waitFor(() => frames().length >= 1, { message: 'the connect event' });
    const connect = frames()[0]!.data as { type: string; session_id: string };
    expect(connect.type).toBe('connect');
    const refused = await post(
      a,
      '/sse/subscription',
      { id: connect.session_id, method: 'subscribe', params: { contextIds: [otherContext] } },
      tokenA,
    );
    expect(refused.status).toBe(403);
    const subscribed = await post(
      a,
      '/sse/subscription',
      { id: connect.session_id, method: 'subscribe', params: { contextIds: [contextId] } },
      tokenA,
    );
    expect(await subscribed.json()).toEqual({ result: { status: 'subscribed', contexts: [contextId] } });

    await b.api.execute(contextId, 'set', { key: 'sse-1', value: '1' });
    await waitFor(
      () => frames().some((f) => (f.data.result as { type?: string } | undefined)?.type === 'StateMutation'),
      {
        timeoutMs: 20_000,
        message: "the SSE event of B's write",
      },
    );
    const lastId = frames().at(-1)!.id!;
    expect(lastId).toMatch(new RegExp(`^${connect.session_id}-\\d+$`));
    controller.abort();

    // Written while the client is away; the resumed stream replays it.
    await b.api.execute(contextId, 'set', { key: 'sse-2', value: '2' });
    await waitFor(async () => (await a.api.execute(contextId, 'get', { key: 'sse-2' })).output === '2', {
      message: 'A to apply sse-2',
    });
    const resumed = await fetch(`${a.appApiUrl}/sse`, {
      headers: { authorization: `Bearer ${tokenA}`, 'last-event-id': lastId },
    });
    const resumedReader = resumed.body!.getReader();
    let resumedText = '';
    await waitFor(
      async () => {
        const { value } = (await resumedReader.read()) as { value?: Uint8Array; done: boolean };
        resumedText += new TextDecoder().decode(value);
        return resumedText.includes('"StateMutation"');
      },
      { timeoutMs: 10_000, message: 'the missed event replayed' },
    );
    expect(resumedText).toContain('"reconnect":true');
    // Unsubscribed, the session hears nothing more.
    const unsubscribed = await post(
      a,
      '/sse/subscription',
      { id: connect.session_id, method: 'unsubscribe', params: { contextIds: [contextId] } },
      tokenA,
    );
    expect(await unsubscribed.json()).toEqual({ result: { status: 'unsubscribed', contexts: [contextId] } });
    const heard = resumedText.split('"StateMutation"').length;
    await b.api.execute(contextId, 'set', { key: 'sse-3', value: '3' });
    await waitFor(async () => (await a.api.execute(contextId, 'get', { key: 'sse-3' })).output === '3', {
      message: 'A to apply sse-3',
    });
    const late = await Promise.race([
      resumedReader.read().then((r) => new TextDecoder().decode((r as { value?: Uint8Array }).value)),
      new Promise<string>((r) => setTimeout(() => r(''), 1_500)),
    ]);
    expect((resumedText + late).split('"StateMutation"').length).toBe(heard);
    await resumedReader.cancel();
  });

  it('cuts off a client that reads nothing at the buffer bound, and counts it', async () => {
    const { ws } = await openWs(a, tokenA);
    ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { contextIds: [contextId] } }));
    await new Promise((r) => setTimeout(r, 300));
    const socket = (ws as unknown as { _socket: { pause(): void } })._socket;
    socket.pause();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const cut = () => a.metric('node-manager', 'app_api_disconnects_total', { kind: 'ws', reason: 'slow_consumer' });
    for (let round = 0; round < 40 && (await cut()) === 0; round++) {
      await a.api.executeBatch(
        contextId,
        Array.from({ length: 500 }, (_, i) => ({ method: 'set', args: { key: `flood/${i}`, value: `${round}` } })),
      );
    }
    expect(await cut()).toBe(1);
    (socket as unknown as { resume(): void }).resume();
    expect(await closed).not.toBe(1000);
    expect(await a.metric('node-manager', 'app_api_connections', { kind: 'ws' })).toBe(0);
  }, 180_000);
});

describe('installed applications', () => {
  it('runs a WASM application: views with a read-only token, its events reach the other node as ExecutionEvent', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cnode-app-')), 'chat.bundle');
    const bundle = readFileSync(
      (await buildApp('apps/chat', { signingKey: generateIdentity().privateKey, out })).bundlePath,
    );
    const [appA] = await Promise.all(
      [a, b].map(async (n) => (await n.api.installApplication(onePiece(bundle))).applicationId),
    );
    const chat = await ProcessNode.sharedContext([a, b], appA);
    const [chatA, chatB] = chat.members as [string, string];
    const writer = (await a.api.createClientToken({ contextId: chat.contextId, identity: chatA })).accessToken;
    const reader = (await a.api.createClientToken({ contextId: chat.contextId, identity: chatA, readOnly: true }))
      .accessToken;
    const listener = (await b.api.createClientToken({ contextId: chat.contextId, identity: chatB })).accessToken;
    const call = (method: string, argsJson: unknown, id = 1) => ({
      jsonrpc: '2.0',
      id,
      method: 'execute',
      params: { contextId: chat.contextId, method, argsJson, executorPublicKey: chatA },
    });

    const { ws, messages } = await openWs(b, listener);
    try {
      ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { contextIds: [chat.contextId] } }));
      await waitFor(() => messages.some((m) => m.id === 1), { message: 'the subscribe reply' });

      expect((await rpc(a, writer, call('post', { id: 'm1', text: 'hello' }))).result).toEqual({ output: null });
      expect((await rpc(a, reader, call('get', { id: 'm1' }))).result).toEqual({ output: 'hello' });
      const refused = await rpc(a, reader, call('post', { id: 'm2', text: 'no' }));
      expect((refused.error as { data: { type: string } }).data.type).toBe('Unauthorized');
      const failed = await rpc(a, writer, call('post', { text: 'no id' }));
      expect((failed.error as { type: string }).type).toBe('FunctionCallError');

      await waitFor(() => eventsOf(messages, 'ExecutionEvent').length >= 1, {
        timeoutMs: 20_000,
        message: 'the posted event on B',
      });
      const [execution] = eventsOf(messages, 'ExecutionEvent');
      const [posted] = (execution!.result as { data: { events: { kind: string; data: number[] }[] } }).data.events;
      expect(posted!.kind).toBe('posted');
      expect(JSON.parse(Buffer.from(posted!.data).toString('utf8'))).toMatchObject({ id: 'm1' });
      const [mutation] = eventsOf(messages, 'StateMutation');
      expect(
        (mutation!.result as { data: { events: { kind: string; handler: string | null }[] } }).data.events,
      ).toEqual([expect.objectContaining({ kind: 'posted', handler: 'deliver' })]);
    } finally {
      ws.close();
    }
  }, 120_000);
});
