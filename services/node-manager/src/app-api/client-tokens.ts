import { hkdfSync, randomBytes } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { fromBase58, toBase58 } from '@cnode/primitives';
import type { ClientGrant, ClientGrantRepo } from '@cnode/store';

/** The two kinds of client token (the `token_type` claim). */
export enum ClientTokenType {
  /** Sent with every app API request. */
  Access = 'access',
  /** Traded for a fresh pair at /admin-api/refresh-jwt-token. */
  Refresh = 'refresh',
}

/** Why a token was refused; each is its own HTTP answer (see `app-api/http-answers.ts`). */
export enum TokenRefusal {
  Missing = 'missing',
  Invalid = 'invalid',
  Expired = 'expired',
  Revoked = 'revoked',
  /** A refresh token where an access token belongs, or the reverse. */
  WrongType = 'wrong_type',
  /** A valid token used for another context or identity. */
  OutOfScope = 'out_of_scope',
}

export class TokenError extends Error {
  constructor(
    readonly refusal: TokenRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** What a verified token allows. */
export interface ClientTokenClaims {
  grantId: Buffer;
  contextId: Buffer;
  identity: Buffer;
  readOnly: boolean;
  type: ClientTokenType;
  /** Expiry, ms since the epoch. */
  expiresAtMs: number;
}

const ISSUER = 'cnode';
const AUDIENCE = 'cnode-app-api';
const ALGORITHM = 'HS256';
/** A grant's row is read again after this long, so a revocation holds everywhere within it. */
export const GRANT_CACHE_MS = 1_000;
const GRANT_CACHE_MAX = 10_000;

/** The HMAC key of client tokens, derived from the node's master key (no other secret to keep). */
export function clientTokenSecret(masterKey: Buffer): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', masterKey, 'cnode', 'app-api client tokens v1', 32));
}

/**
 * Issues and checks client tokens: HS256 JWTs signed with a key derived from NODE_MASTER_KEY
 * (so every replica of node-manager agrees, and rotating the master key ends every token), with the
 * claims upstream's clients read (`context_id`, `executor_public_key`, `token_type`, `exp`) plus
 * `read_only` and the grant id as `jti`. A token holds only while its grant row exists, is not
 * revoked and has not expired; rows are cached for GRANT_CACHE_MS.
 */
export class ClientTokens {
  private readonly cache = new Map<string, { grant: ClientGrant | undefined; at: number }>();

  constructor(
    private readonly opts: {
      secret: Uint8Array;
      /** Lifetime of an access token (never past its grant's end). */
      accessTtlMs: number;
      grants: () => ClientGrantRepo;
    },
  ) {}

  /** A new grant and its first pair of tokens. */
  async grant(opts: {
    contextId: Buffer;
    identity: Buffer;
    readOnly: boolean;
    ttlMs: number;
  }): Promise<{ grant: ClientGrant; accessToken: string; refreshToken: string }> {
    const grant = await this.opts.grants().create({
      id: randomBytes(32),
      contextId: opts.contextId,
      identity: opts.identity,
      readOnly: opts.readOnly,
      expiresAt: new Date(Date.now() + opts.ttlMs),
    });
    return { grant, ...(await this.pair(grant)) };
  }

  /** Checks a refresh token and answers with a fresh pair for its grant. */
  async refresh(refreshToken: string): Promise<{ accessToken: string; refreshToken: string }> {
    // A refresh reads the grant's row afresh (not the cached one): a revocation stops it at once.
    const { grant } = await this.verified(refreshToken, ClientTokenType.Refresh, { fresh: true });
    return this.pair(grant);
  }

  /** Ends a grant; false when it was unknown or revoked already. */
  async revoke(grantId: Buffer): Promise<boolean> {
    const revoked = await this.opts.grants().revoke(grantId);
    this.cache.delete(grantId.toString('hex'));
    return revoked;
  }

  /** The claims of a token of the given type whose grant still holds, else a TokenError. */
  async verify(token: string | undefined, type: ClientTokenType): Promise<ClientTokenClaims> {
    return (await this.verified(token, type)).claims;
  }

  private async verified(
    token: string | undefined,
    type: ClientTokenType,
    opts: { fresh?: boolean } = {},
  ): Promise<{ claims: ClientTokenClaims; grant: ClientGrant }> {
    if (!token) throw new TokenError(TokenRefusal.Missing, 'Failed to extract authentication headers.');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.opts.secret, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError(TokenRefusal.Expired, 'Token expired.');
      throw new TokenError(TokenRefusal.Invalid, 'Token not valid.');
    }
    const claims = parseClaims(payload);
    if (claims.type !== type) {
      throw new TokenError(TokenRefusal.WrongType, `Token not valid: expected an ${type} token.`);
    }
    return { claims, grant: await this.currentGrant(claims.grantId, opts) };
  }

  /** Whether the grant still holds (a connection opened with one of its tokens checks this now and then). */
  async grantHolds(grantId: Buffer): Promise<boolean> {
    try {
      await this.currentGrant(grantId);
      return true;
    } catch (err) {
      if (err instanceof TokenError) return false;
      throw err;
    }
  }

  /** The grant if it still holds, else a TokenError (revoked, or gone/expired: expired). */
  private async currentGrant(grantId: Buffer, opts: { fresh?: boolean } = {}): Promise<ClientGrant> {
    const key = grantId.toString('hex');
    const now = Date.now();
    let cached = this.cache.get(key);
    if (!cached || opts.fresh || now - cached.at > GRANT_CACHE_MS) {
      cached = { grant: await this.opts.grants().get(grantId), at: now };
      this.cache.delete(key);
      if (this.cache.size >= GRANT_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, cached);
    }
    const grant = cached.grant;
    if (grant?.revokedAt) throw new TokenError(TokenRefusal.Revoked, 'Token revoked.');
    if (!grant || grant.expiresAt.getTime() <= now) throw new TokenError(TokenRefusal.Expired, 'Token expired.');
    return grant;
  }

  private async pair(grant: ClientGrant): Promise<{ accessToken: string; refreshToken: string }> {
    const end = grant.expiresAt.getTime();
    return {
      accessToken: await this.sign(grant, ClientTokenType.Access, Math.min(end, Date.now() + this.opts.accessTtlMs)),
      refreshToken: await this.sign(grant, ClientTokenType.Refresh, end),
    };
  }

  private sign(grant: ClientGrant, type: ClientTokenType, expiresAtMs: number): Promise<string> {
    return new SignJWT({
      context_id: toBase58(grant.contextId),
      executor_public_key: toBase58(grant.identity),
      token_type: type,
      read_only: grant.readOnly,
    })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setJti(toBase58(grant.id))
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAtMs / 1000))
      .sign(this.opts.secret);
  }
}

function parseClaims(payload: Record<string, unknown>): ClientTokenClaims {
  const bytes32 = (value: unknown): Buffer => {
    if (typeof value !== 'string') throw new TokenError(TokenRefusal.Invalid, 'Token not valid.');
    try {
      const decoded = Buffer.from(fromBase58(value));
      if (decoded.length === 32) return decoded;
    } catch {
      // falls through to the refusal
    }
    throw new TokenError(TokenRefusal.Invalid, 'Token not valid.');
  };
  const type = payload.token_type;
  if (type !== ClientTokenType.Access && type !== ClientTokenType.Refresh) {
    throw new TokenError(TokenRefusal.Invalid, 'Token not valid.');
  }
  let grantId: Buffer;
  try {
    grantId = Buffer.from(fromBase58(String(payload.jti)));
  } catch {
    throw new TokenError(TokenRefusal.Invalid, 'Token not valid.');
  }
  return {
    grantId,
    contextId: bytes32(payload.context_id),
    identity: bytes32(payload.executor_public_key),
    readOnly: payload.read_only === true,
    type,
    expiresAtMs: Number(payload.exp) * 1000,
  };
}
