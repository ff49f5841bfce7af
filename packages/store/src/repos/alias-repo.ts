import { CodedError } from '@cnode/runtime';
import type { Sql } from '../postgres.js';

/** What an alias names: contexts and applications globally, identities within one context. */
export type AliasKind = 'context' | 'application' | 'identity';

/** Alias names: 1–50 of letters, digits, `.`, `_`, `-`. */
export const ALIAS_PATTERN = /^[A-Za-z0-9._-]{1,50}$/;
const NO_SCOPE = Buffer.alloc(0);

export enum AliasErrorCode {
  Invalid = 'STORE_ALIAS_INVALID',
  Exists = 'STORE_ALIAS_EXISTS',
  ScopeRequired = 'STORE_ALIAS_SCOPE_REQUIRED',
  ScopeNotAllowed = 'STORE_ALIAS_SCOPE_NOT_ALLOWED',
}

export interface AliasEntry {
  name: string;
  target: Buffer;
}

/** Node-local names for contexts, applications and (per context) identities; never gossiped. */
export class AliasRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Creates an alias. A taken name throws STORE_ALIAS_EXISTS (the insert is the check, so two
   * concurrent creates cannot both win); a malformed one STORE_ALIAS_INVALID.
   */
  async create(kind: AliasKind, name: string, target: Buffer, scope: Buffer = NO_SCOPE): Promise<void> {
    checkName(name);
    checkScope(kind, scope);
    const rows = await this.sql`
      insert into aliases (kind, scope, name, target) values (${kind}, ${scope}, ${name}, ${target})
      on conflict do nothing returning 1`;
    if (rows.length === 0) throw new CodedError(AliasErrorCode.Exists, `alias "${name}" already exists`);
  }

  /** The exact alias, or undefined. */
  async lookup(kind: AliasKind, name: string, scope: Buffer = NO_SCOPE): Promise<Buffer | undefined> {
    checkScope(kind, scope);
    if (!ALIAS_PATTERN.test(name)) return undefined;
    const [r] = await this.sql<{ target: Buffer }[]>`
      select target from aliases where kind = ${kind} and scope = ${scope} and name = ${name}`;
    return r?.target;
  }

  /** The names that point at a target (reverse lookup, for listings). */
  async namesOf(kind: AliasKind, target: Buffer, scope: Buffer = NO_SCOPE): Promise<string[]> {
    const rows = await this.sql<{ name: string }[]>`
      select name from aliases where kind = ${kind} and scope = ${scope} and target = ${target} order by name`;
    return rows.map((r) => r.name);
  }

  async list(kind: AliasKind, scope: Buffer = NO_SCOPE): Promise<AliasEntry[]> {
    checkScope(kind, scope);
    return this.sql<AliasEntry[]>`
      select name, target from aliases where kind = ${kind} and scope = ${scope} order by name`;
  }

  async delete(kind: AliasKind, name: string, scope: Buffer = NO_SCOPE): Promise<boolean> {
    checkScope(kind, scope);
    return (
      (await this.sql`delete from aliases where kind = ${kind} and scope = ${scope} and name = ${name} returning 1`)
        .length > 0
    );
  }

  /** Drops every alias scoped to a context (its identities), e.g. when the context is left. */
  async deleteScope(scope: Buffer): Promise<number> {
    return (await this.sql`delete from aliases where scope = ${scope} returning 1`).length;
  }
}

function checkName(name: string): void {
  if (!ALIAS_PATTERN.test(name))
    throw new CodedError(AliasErrorCode.Invalid, `invalid alias "${name}": 1–50 characters of A–Z a–z 0–9 . _ -`);
}

function checkScope(kind: AliasKind, scope: Buffer): void {
  if (kind === 'identity' && scope.length === 0)
    throw new CodedError(AliasErrorCode.ScopeRequired, 'an identity alias is scoped by a context');
  if (kind !== 'identity' && scope.length > 0)
    throw new CodedError(AliasErrorCode.ScopeNotAllowed, `a ${kind} alias has no scope`);
}
