/** Fresh node schemas and a delta author, for tests that work on the datastore directly. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { HlcClock, ZERO_ID, computeDeltaId, generateIdentity, type Action, type Identity } from '@cnode/primitives';
import { runMigrations, type DagDelta } from '@cnode/store';
import { TEST_INFRA, uniqueNodeName } from './infra.js';
import { testLogger } from './service-harness.js';

/** A fresh node schema with every migration applied, and a pool on it. */
export async function freshSchema(opts: { applicationName?: string; max?: number } = {}) {
  const schema = `cnode_${uniqueNodeName('s')}`;
  const sql = postgres(TEST_INFRA.databaseUrl, {
    max: opts.max ?? 4,
    onnotice: () => undefined,
    connection: { search_path: `"${schema}",public`, application_name: opts.applicationName ?? 'cnode-test' },
  });
  await runMigrations(sql, { schema, logger: testLogger() });
  return {
    schema,
    sql,
    async drop(): Promise<void> {
      // A pool that lost a backend (the crash test kills one) may never finish ending: bound it.
      await sql.end({ timeout: 2 });
      const admin = postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined });
      await admin`drop schema if exists ${admin(schema)} cascade`;
      await admin.end();
    },
  };
}

/** An author that produces deltas the way a node does: parents are its current heads. */
export class Author {
  readonly identity: Identity = generateIdentity();
  readonly clock: HlcClock;
  heads: Buffer[] = [ZERO_ID];
  private readonly known = new Set<string>();

  constructor(wallClock: () => number = Date.now) {
    this.clock = new HlcClock(randomBytes(16), wallClock);
  }

  /** Merges what another author produced into our view (we have received those deltas). */
  learn(deltas: readonly DagDelta[]): void {
    for (const d of deltas) {
      const id = d.deltaId.toString('hex');
      if (this.known.has(id)) continue;
      this.known.add(id);
      this.heads = this.heads.filter((h) => !d.parents.some((p) => p.equals(h)));
      this.heads.push(d.deltaId);
      this.clock.update(d.hlc);
    }
  }

  write(contextId: Buffer, ops: { key: string; value?: string }[]): DagDelta {
    const actions: Action[] = ops.map((op) =>
      op.value === undefined
        ? { kind: 'remove', key: Buffer.from(op.key), at: this.clock.now() }
        : { kind: 'set', key: Buffer.from(op.key), value: Buffer.from(op.value), at: this.clock.now() },
    );
    const parents = [...this.heads];
    const delta: DagDelta = {
      contextId,
      deltaId: computeDeltaId(parents, actions),
      parents,
      hlc: this.clock.now(),
      author: this.identity.publicKey,
      governanceHeads: [],
      keyId: randomBytes(32),
      nonce: randomBytes(12),
      ciphertext: randomBytes(16),
      signature: randomBytes(64),
      actions,
    };
    this.learn([delta]);
    return delta;
  }
}

/**
 * A seal for `commitLocal`/`commitLocalBatch` in store tests: the draft's ids and the author, with
 * stand-in key id, nonce and signature (the store never checks them) and the draft's root as the
 * ciphertext (so a test can read back which root a delta was sealed with).
 */
export function standInSeal(contextId: Buffer, author: Buffer, clock: HlcClock) {
  return (draft: { deltaId: Buffer; parents: Buffer[]; rootHash: Buffer }) => ({
    contextId,
    deltaId: draft.deltaId,
    parents: draft.parents,
    hlc: clock.now(),
    author,
    governanceHeads: [],
    keyId: randomBytes(32),
    nonce: randomBytes(12),
    ciphertext: draft.rootHash,
    signature: randomBytes(64),
  });
}
