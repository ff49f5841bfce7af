import { CodedError } from '@cnode/runtime';
import type { Sql } from '../postgres.js';

export type AliasKind = 'context' | 'application' | 'identity';

/** Alias names: a letter or digit, then up to 63 of letters, digits, `.`, `_`, `-`. */
export const ALIAS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NO_SCOPE = Buffer.alloc(0);

/** Node-local names for contexts, applications and (per context) identities. */
export class AliasRepo {
  constructor(private readonly sql: Sql) {}

  /** Creates an alias; a taken name throws STORE_ALIAS_EXISTS, a malformed one STORE_ALIAS_INVALID. */
  async create(kind: AliasKind, name: string, target: Buffer, scope: Buffer = NO_SCOPE): Promise<void> {
    if (!ALIAS_PATTERN.test(name)) throw new CodedError('STORE_ALIAS_INVALID', `invalid alias name: ${name}`);
    const rows = await this.sql`
      insert into aliases (kind, scope, name, target) values (${kind}, ${scope}, ${name}, ${target})
      on conflict do nothing returning 1`;
    if (rows.length === 0) throw new CodedError('STORE_ALIAS_EXISTS', `alias ${name} is taken`);
  }

  async lookup(kind: AliasKind, name: string, scope: Buffer = NO_SCOPE): Promise<Buffer | undefined> {
    const [r] = await this.sql<{ target: Buffer }[]>`
      select target from aliases where kind = ${kind} and scope = ${scope} and name = ${name}`;
    return r?.target;
  }

  /** The aliases that point at a target. */
  async resolve(kind: AliasKind, target: Buffer, scope: Buffer = NO_SCOPE): Promise<string[]> {
    const rows = await this.sql<{ name: string }[]>`
      select name from aliases where kind = ${kind} and scope = ${scope} and target = ${target} order by name`;
    return rows.map((r) => r.name);
  }

  async list(kind: AliasKind, scope: Buffer = NO_SCOPE): Promise<{ name: string; target: Buffer }[]> {
    return this.sql<{ name: string; target: Buffer }[]>`
      select name, target from aliases where kind = ${kind} and scope = ${scope} order by name`;
  }

  async delete(kind: AliasKind, name: string, scope: Buffer = NO_SCOPE): Promise<boolean> {
    return (
      (await this.sql`delete from aliases where kind = ${kind} and scope = ${scope} and name = ${name} returning 1`)
        .length > 0
    );
  }
}
