import { ContextError, ContextErrorCode, entryFromWire, type SyncSession } from '@cnode/context-core';
import { ID_BYTES, toBase58 } from '@cnode/primitives';
import { wire } from '@cnode/proto';
import { isCodedError } from '@cnode/runtime';
import { PRUNED_IDS_REMEMBERED, type SyncEntry } from '@cnode/store';
import { SNAPSHOT_MAX_RESUMES, SNAPSHOT_PAGE_BYTES_MAX } from '../constants.js';
import { inflateDeclared } from '../compression.js';
import type { InitiatorDeps, SessionContext } from './deps.js';

export interface SnapshotResult {
  entries: number;
  /** Ids of deltas the state covers, known as applied from now on. */
  covered: number;
  pages: number;
  resumes: number;
}

/**
 * Snapshot sync for a context without state: the peer sends
 * its boundary (root, heads, entry count) and compressed pages from one point in time. Pages are
 * written into a transaction that nobody else sees; only when the recomputed root equals the
 * boundary root do state, root, heads (as checkpoints) and `initialized` commit together. A broken
 * transfer resumes after the last key received (on a fresh session, while the peer's state still
 * has the boundary root); any other failure rolls everything back.
 */
export async function snapshotSync(
  deps: InitiatorDeps,
  s: SessionContext,
  reopen: () => Promise<SyncSession>,
): Promise<SnapshotResult> {
  const result: SnapshotResult = { entries: 0, covered: 0, pages: 0, resumes: 0 };
  let session = s.session;
  await session.send({
    $case: 'snapshotRequest',
    snapshotRequest: {
      contextId: s.ctx.id,
      boundaryRoot: Buffer.alloc(0),
      resumeAfter: Buffer.alloc(0),
      pageBytes: deps.limits.snapshotPageBytes,
    },
  });
  const { snapshotBoundary: boundary } = await session.receive('snapshotBoundary');
  const total = Number(boundary.totalEntries);
  const context = toBase58(s.ctx.id);
  await deps.status.receivingSnapshot(s.ctx.id, 0, total);
  let lastKey: Buffer | undefined;

  await deps.stateSync.importSnapshot(
    s.ctx.id,
    { rootHash: Buffer.from(boundary.rootHash), heads: boundary.heads.map((h) => Buffer.from(h)) },
    async (write, cover) => {
      for (;;) {
        let page: wire.SnapshotPage;
        try {
          page = (await session.receive('snapshotPage')).snapshotPage;
        } catch (err) {
          // Only a broken stream resumes; a refusal or a bad page ends the attempt.
          if (!isStreamFailure(err) || result.resumes >= SNAPSHOT_MAX_RESUMES || !lastKey) throw err;
          result.resumes++;
          // A resumed transfer sends every covered id again (they are kept once).
          result.covered = 0;
          deps.logger.info({ context, after: result.entries, resumes: result.resumes }, 'Snapshot transfer resumes');
          session.abort();
          session = await reopen();
          await session.send({
            $case: 'snapshotRequest',
            snapshotRequest: {
              contextId: s.ctx.id,
              boundaryRoot: boundary.rootHash,
              resumeAfter: lastKey,
              pageBytes: deps.limits.snapshotPageBytes,
            },
          });
          const resumed = (await session.receive('snapshotBoundary')).snapshotBoundary;
          if (!Buffer.from(resumed.rootHash).equals(Buffer.from(boundary.rootHash))) {
            throw new ContextError(ContextErrorCode.BadAnswer, 'the resumed snapshot has another boundary');
          }
          continue;
        }
        const { entries, covered } = openPage(page);
        result.entries += entries.length;
        result.covered += covered.length;
        if (result.covered > PRUNED_IDS_REMEMBERED) {
          throw new ContextError(
            ContextErrorCode.BadAnswer,
            `the peer sent more than ${PRUNED_IDS_REMEMBERED} covered delta ids`,
          );
        }
        result.pages++;
        if (result.entries > total) {
          throw new ContextError(
            ContextErrorCode.BadAnswer,
            `the peer sent more than the ${total} entries it announced`,
          );
        }
        for (let i = 1; i < entries.length; i++) {
          if (Buffer.compare(entries[i - 1]!.key, entries[i]!.key) >= 0) {
            throw new ContextError(ContextErrorCode.BadAnswer, 'snapshot entries are not in key order');
          }
        }
        if (lastKey && entries[0] && Buffer.compare(lastKey, entries[0].key) >= 0) {
          throw new ContextError(ContextErrorCode.BadAnswer, 'a snapshot page repeats or goes back');
        }
        await write(entries);
        await cover(covered);
        if (entries.length > 0) lastKey = entries[entries.length - 1]!.key;
        deps.metrics.entitiesMerged.inc({ direction: 'snapshot' }, entries.length);
        await deps.status.receivingSnapshot(s.ctx.id, result.entries, total);
        if (page.last) break;
      }
    },
  );
  s.session = session;
  deps.logger.info({ context, peer: session.peer, ...result }, 'Snapshot applied');
  return result;
}

/** Decompresses and decodes one page, within the declared size: its entries and covered delta ids. */
export function openPage(page: wire.SnapshotPage): { entries: SyncEntry[]; covered: Buffer[] } {
  const body = inflateDeclared(page.payload, page.uncompressedLen, SNAPSHOT_PAGE_BYTES_MAX * 2, 'snapshot page');
  const bad = (why: string): never => {
    throw new ContextError(ContextErrorCode.BadAnswer, `snapshot page refused: ${why}`);
  };
  let decoded: wire.SnapshotEntries;
  try {
    decoded = wire.SnapshotEntries.decode(body);
  } catch {
    return bad('body does not decode');
  }
  if (decoded.entries.length !== page.entryCount) bad('entry count differs from the declared count');
  if (decoded.covered.some((id) => id.length !== ID_BYTES)) bad('a covered delta id is not 32 bytes');
  return {
    entries: decoded.entries.map((e) => entryFromWire(e)),
    covered: decoded.covered.map((id) => Buffer.from(id)),
  };
}

/** A stream that broke (reset, relay gap, peer gone): worth resuming, unlike a refusal or a deadline. */
function isStreamFailure(err: unknown): boolean {
  return isCodedError(err) && err.code.startsWith('BUS_');
}
