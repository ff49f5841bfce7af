import { describe, expect, it } from '@jest/globals';
import { Registry } from '@cnode/runtime';
import { toBase58 } from '@cnode/primitives';
import { metricValue, testLogger } from '@cnode/testing';
import type { ClientGrant, ClientGrantRepo } from '@cnode/store';
import {
  ClientTokenType,
  ClientTokens,
  TokenError,
  TokenRefusal,
  clientTokenSecret,
  type ClientTokenClaims,
} from '../../src/app-api/client-tokens.js';
import { EventHub, type HubEvent } from '../../src/app-api/event-hub.js';
import { MAX_METHOD_NAME, executeError, parseRequest, type ExecuteParams } from '../../src/app-api/json-rpc.js';
import { AdminCallError, AdminErrorCode } from '../../src/grpc/admin-errors.js';
import { KvError, KvErrorCode } from '@cnode/kv-app';
import { WasmError, WasmErrorCode } from '@cnode/wasm-runtime';
import { RATE_LIMITER_MAX_KEYS, RateLimiter } from '../../src/app-api/rate-limiter.js';
import { checkSubscription } from '../../src/app-api/subscriptions.js';
import { createNodeManagerMetrics } from '../../src/metrics.js';

const ctx = Buffer.alloc(32, 7);
const key = Buffer.alloc(32, 9);
const body = (over: Record<string, unknown> = {}, params: Record<string, unknown> = {}) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'execute',
    params: {
      contextId: toBase58(ctx),
      method: 'get',
      argsJson: { key: 'k' },
      executorPublicKey: toBase58(key),
      ...params,
    },
    ...over,
  });

describe('JSON-RPC request parsing', () => {
  it('accepts execute and keeps the id as it came', () => {
    for (const id of [0, 42, 'abc', null]) {
      const parsed = parseRequest(body({ id }));
      expect(parsed).toMatchObject({ ok: true, id });
    }
    const parsed = parseRequest(body({ extra: 'ignored' }));
    if (!parsed.ok) throw new Error('expected a request');
    expect(parsed.params.contextId.equals(ctx)).toBe(true);
    expect(parsed.params.args.toString()).toBe('{"key":"k"}');
    expect(parsed.params.executorPublicKey!.equals(key)).toBe(true);
  });

  it.each([
    ['not JSON', '{"jsonrpc":', null],
    ['a batch', '[]', null],
    ['a fractional id', body({ id: 1.5 }), null],
    ['a negative id', body({ id: -1 }), null],
    ['another version', body({ jsonrpc: '1.0' }), 1],
    ['another method', body({ method: 'mutate' }), 1],
    ['params missing', body({ params: undefined }), 1],
    ['a bad context id', body({}, { contextId: 'O0Il' }), 1],
    ['a short context id', body({}, { contextId: toBase58(Buffer.alloc(32)).slice(0, 10) }), 1],
    ['no method name', body({}, { method: '' }), 1],
    ['a method name too long', body({}, { method: 'm'.repeat(MAX_METHOD_NAME + 1) }), 1],
    ['argsJson missing', body({}, { argsJson: undefined }), 1],
    ['a bad executor', body({}, { executorPublicKey: 12 }), 1],
  ])('refuses %s with a ParseError', (_name, text, id) => {
    const parsed = parseRequest(text);
    expect(parsed).toMatchObject({ ok: false, id, error: { type: 'ParseError' } });
  });
});

describe('execute errors in the upstream forms', () => {
  const params: ExecuteParams = { contextId: ctx, method: 'm', args: Buffer.from('{}'), executorPublicKey: key };
  const refused = (code: AdminErrorCode) => executeError(new AdminCallError(0, code, 'why'), params, key);
  const scope = { context_id: toBase58(ctx), public_key: toBase58(key) };

  it('maps each refusal of the node to its CallError, and application failures to FunctionCallError', () => {
    expect(refused(AdminErrorCode.ContextUnknown)).toEqual({ type: 'CallError', data: { type: 'ContextNotFound' } });
    expect(refused(AdminErrorCode.ContextNotReady)).toEqual({ type: 'CallError', data: { type: 'Uninitialized' } });
    for (const code of [AdminErrorCode.IdentityUnknown, AdminErrorCode.NotMember, AdminErrorCode.NoGroupKey]) {
      expect(refused(code)).toEqual({ type: 'CallError', data: { type: 'Unauthorized', data: scope } });
    }
    expect(refused(AdminErrorCode.ViewOnly)).toEqual({
      type: 'CallError',
      data: { type: 'Unauthorized', data: { ...scope, reason: 'why' } },
    });
    expect(refused(AdminErrorCode.ApplicationUnknown)).toEqual({
      type: 'CallError',
      data: { type: 'ApplicationNotInstalled', data: { message: 'why' } },
    });
    expect(refused(AdminErrorCode.MemberReadOnly)).toEqual({
      type: 'CallError',
      data: { type: 'Unauthorized', data: { ...scope, reason: 'why' } },
    });
    expect(refused(AdminErrorCode.NodeReadOnly)).toEqual({
      type: 'CallError',
      data: { type: 'NodeReadOnly', data: { message: 'why' } },
    });
    expect(refused(AdminErrorCode.WritesBusy)).toMatchObject({ type: 'CallError', data: { type: 'InternalError' } });
    expect(refused(AdminErrorCode.BadArgument)).toEqual({ type: 'FunctionCallError', data: 'why' });
    expect(executeError(new KvError(KvErrorCode.UnknownMethod, 'no such'), params, key)).toMatchObject({
      type: 'FunctionCallError',
    });
    expect(
      executeError(new WasmError(WasmErrorCode.ExecutionError, 'failed', Buffer.from('{"code":7}')), params, key),
    ).toEqual({ type: 'FunctionCallError', data: '{"code":7}' });
    expect(executeError(new WasmError(WasmErrorCode.Trap, 'unreachable'), params, key)).toEqual({
      type: 'FunctionCallError',
      data: 'WASM_TRAP: unreachable',
    });
    expect(executeError(new WasmError(WasmErrorCode.Busy, 'busy'), params, key)).toMatchObject({
      type: 'CallError',
      data: { type: 'InternalError' },
    });
    // Anything else is left to the caller to log and answer as InternalError.
    expect(executeError(new Error('boom'), params, key)).toBeUndefined();
    expect(refused(AdminErrorCode.GroupUnknown)).toBeUndefined();
  });
});

describe('RateLimiter', () => {
  it('lets a burst through, then one request per 1/rate seconds', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(100);
    expect(limiter.take('b')).toBe(0);
    now += 100;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });

  it('keeps at most RATE_LIMITER_MAX_KEYS buckets, and counts the ones it forgets', async () => {
    const registry = new Registry();
    const limiter = new RateLimiter(1, 1, Date.now, registry);
    for (let i = 0; i < RATE_LIMITER_MAX_KEYS + 50; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBe(RATE_LIMITER_MAX_KEYS);
    const labels = { cache: 'app_api_rate_buckets', reason: 'capacity' };
    expect(await metricValue(registry, 'cache_evictions_total', labels)).toBe(50);
  });
});

describe('subscriptions', () => {
  const claims = { contextId: ctx } as ClientTokenClaims;
  it('takes the contexts the token covers, and refuses the whole request when one is not', () => {
    expect(checkSubscription({ contextIds: [toBase58(ctx)] }, claims, new Set(), 4, true)).toEqual({
      ok: true,
      contextIds: [toBase58(ctx)],
    });
    const other = toBase58(Buffer.alloc(32, 1));
    expect(checkSubscription({ contextIds: [toBase58(ctx), other] }, claims, new Set(), 4, true)).toMatchObject({
      ok: false,
      error: { type: 'Unauthorized', data: { contextIds: [other] } },
    });
    expect(checkSubscription({ contextIds: 'x' }, claims, new Set(), 4, true)).toMatchObject({
      ok: false,
      error: { type: 'ParseError' },
    });
    expect(checkSubscription({ contextIds: [toBase58(ctx)] }, claims, new Set(['a']), 1, true)).toMatchObject({
      ok: false,
      error: { type: 'TooManySubscriptions' },
    });
  });
});

describe('EventHub replay window', () => {
  const hub = new EventHub({
    js: () => {
      throw new Error('not started in this test');
    },
    catalog: {} as never,
    replayEvents: 3,
    metrics: createNodeManagerMetrics(new Registry()),
    logger: testLogger(),
  });
  const event = (seq: number, contextId = 'c'): HubEvent => ({
    seq,
    contextId,
    events: [{ contextId, type: 'StateMutation', data: {} }],
  });

  it('delivers to subscribers of the context only, and replays what it still holds', () => {
    const seen: number[] = [];
    hub.add({ contexts: new Set(['c']), push: (e) => void seen.push(e.seq) });
    hub.dispatch(event(10));
    hub.dispatch(event(11, 'other'));
    hub.dispatch(event(12));
    expect(seen).toEqual([10, 12]);
    expect(hub.since(10, new Set(['c']))?.map((e) => e.seq)).toEqual([12]);
    expect(hub.since(9, new Set(['c']))?.map((e) => e.seq)).toEqual([10, 12]);
    // Events before the first one read were never held.
    expect(hub.since(5, new Set(['c']))).toBeUndefined();
    hub.dispatch(event(13));
    hub.dispatch(event(14));
    // 10 fell out of the window of three: resuming after 9 would miss it.
    expect(hub.since(9, new Set(['c']))).toBeUndefined();
    expect(hub.since(11, new Set(['c']))?.map((e) => e.seq)).toEqual([12, 13, 14]);
    expect(hub.since(14, new Set(['c']))).toEqual([]);
  });
});

describe('ClientTokens', () => {
  const grants = new Map<string, ClientGrant>();
  const repo = {
    create: async (g: Omit<ClientGrant, 'createdAt' | 'revokedAt'>) => {
      const grant = { ...g, createdAt: new Date(), revokedAt: undefined };
      grants.set(g.id.toString('hex'), grant);
      return grant;
    },
    get: async (id: Buffer) => grants.get(id.toString('hex')),
    revoke: async (id: Buffer) => {
      const grant = grants.get(id.toString('hex'));
      if (!grant || grant.revokedAt) return false;
      grant.revokedAt = new Date();
      return true;
    },
  } as unknown as ClientGrantRepo;
  const tokens = new ClientTokens({
    secret: clientTokenSecret(Buffer.alloc(32, 1)),
    accessTtlMs: 60_000,
    grants: () => repo,
  });
  const refusal = async (promise: Promise<unknown>): Promise<TokenRefusal> => {
    try {
      await promise;
    } catch (err) {
      if (err instanceof TokenError) return err.refusal;
      throw err;
    }
    throw new Error('expected a refusal');
  };

  it('issues tokens whose claims carry the grant, and refuses the other type, tampering and another key', async () => {
    const issued = await tokens.grant({ contextId: ctx, identity: key, readOnly: true, ttlMs: 3_600_000 });
    const claims = await tokens.verify(issued.accessToken, ClientTokenType.Access);
    expect(claims).toMatchObject({ readOnly: true, type: ClientTokenType.Access });
    expect(claims.contextId.equals(ctx) && claims.identity.equals(key) && claims.grantId.equals(issued.grant.id)).toBe(
      true,
    );
    expect(claims.expiresAtMs - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await refusal(tokens.verify(issued.refreshToken, ClientTokenType.Access))).toBe(TokenRefusal.WrongType);
    expect(await refusal(tokens.verify(undefined, ClientTokenType.Access))).toBe(TokenRefusal.Missing);
    const [head, payload, signature] = issued.accessToken.split('.');
    const forged = Buffer.from(payload!, 'base64url').toString().replace('"read_only":true', '"read_only":false');
    expect(
      await refusal(
        tokens.verify(`${head}.${Buffer.from(forged).toString('base64url')}.${signature}`, ClientTokenType.Access),
      ),
    ).toBe(TokenRefusal.Invalid);
    const stranger = new ClientTokens({
      secret: clientTokenSecret(Buffer.alloc(32, 2)),
      accessTtlMs: 60_000,
      grants: () => repo,
    });
    expect(await refusal(stranger.verify(issued.accessToken, ClientTokenType.Access))).toBe(TokenRefusal.Invalid);
  });

  it('a revoked grant refuses its tokens at once on this process', async () => {
    const issued = await tokens.grant({ contextId: ctx, identity: key, readOnly: false, ttlMs: 3_600_000 });
    await tokens.verify(issued.accessToken, ClientTokenType.Access);
    expect(await tokens.revoke(issued.grant.id)).toBe(true);
    expect(await refusal(tokens.verify(issued.accessToken, ClientTokenType.Access))).toBe(TokenRefusal.Revoked);
    expect(await refusal(tokens.refresh(issued.refreshToken))).toBe(TokenRefusal.Revoked);
    expect(await tokens.grantHolds(issued.grant.id)).toBe(false);
  });
});
