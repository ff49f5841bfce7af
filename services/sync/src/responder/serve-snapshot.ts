import { SyncRefusal, entryToWire, syncError } from '@cnode/context-core';
import { wire } from '@cnode/proto';
import { isCodedError } from '@cnode/runtime';
import { PRUNED_IDS_REMEMBERED, StateSyncErrorCode, type SyncEntry } from '@cnode/store';
import {
  SNAPSHOT_PAGE_BYTES_DEFAULT,
  SNAPSHOT_PAGE_BYTES_MAX,
  SNAPSHOT_PAGE_BYTES_MIN,
  SNAPSHOT_READ_BATCH,
} from '../constants.js';
import { deflate } from '../compression.js';
import type { AnswerWriter, ResponderDeps } from './deps.js';

/**
 * Answers a SnapshotRequest: a SnapshotBoundary (root, heads, entry count), then deflate-compressed
 * pages of entries (tombstones included) in key order, then pages of the ids of the deltas the
 * state covers (at most PRUNED_IDS_REMEMBERED, newest first), the last page marked `last`, all read
 * from one point in time. A resume names the boundary root and the last key received; if our state moved
 * past that root the answer is `boundary_moved` and the requester starts over.
 */
export async function serveSnapshot(
  deps: ResponderDeps,
  contextId: Buffer,
  req: wire.SnapshotRequest,
  write: AnswerWriter,
): Promise<string> {
  const pageBytes = Math.min(
    SNAPSHOT_PAGE_BYTES_MAX,
    Math.max(SNAPSHOT_PAGE_BYTES_MIN, req.pageBytes || SNAPSHOT_PAGE_BYTES_DEFAULT),
  );
  let page: wire.StateEntry[] = [];
  let covered: Buffer[] = [];
  let pageSize = 0;
  const flush = async (last: boolean): Promise<void> => {
    const body = Buffer.from(wire.SnapshotEntries.encode({ entries: page, covered }).finish());
    const payload = deflate(body);
    deps.metrics.bytes.inc({ protocol: 'snapshot', direction: 'sent' }, payload.length);
    deps.metrics.entitiesServed.inc({ protocol: 'snapshot' }, page.length);
    await write({
      payload: {
        $case: 'snapshotPage',
        snapshotPage: { payload, uncompressedLen: body.length, entryCount: page.length, last },
      },
    });
    page = [];
    covered = [];
    pageSize = 0;
  };
  try {
    await deps.stateSync.readSnapshot(
      contextId,
      {
        after: req.resumeAfter.length ? Buffer.from(req.resumeAfter) : undefined,
        expectRoot: req.boundaryRoot.length ? Buffer.from(req.boundaryRoot) : undefined,
        pageEntries: SNAPSHOT_READ_BATCH,
        maxCovered: PRUNED_IDS_REMEMBERED,
      },
      (boundary) =>
        write({
          payload: {
            $case: 'snapshotBoundary',
            snapshotBoundary: {
              rootHash: boundary.rootHash,
              heads: boundary.heads,
              totalEntries: BigInt(boundary.totalEntries),
            },
          },
        }),
      async (entries: SyncEntry[]) => {
        for (const e of entries) {
          const w = entryToWire(e);
          page.push(w);
          pageSize += w.key.length + w.value.length + w.hlc.length + w.author.length + 8;
          if (pageSize >= pageBytes) await flush(false);
        }
      },
      async (ids: Buffer[]) => {
        for (const id of ids) {
          covered.push(id);
          pageSize += id.length + 2;
          if (pageSize >= pageBytes) await flush(false);
        }
      },
    );
  } catch (err) {
    if (isCodedError(err) && (err.code as StateSyncErrorCode) === StateSyncErrorCode.BoundaryMoved) {
      await write(syncError(SyncRefusal.BoundaryMoved, err.message));
      return SyncRefusal.BoundaryMoved;
    }
    if (isCodedError(err) && (err.code as StateSyncErrorCode) === StateSyncErrorCode.NotInitialized) {
      await write(syncError(SyncRefusal.NotMaterialized, err.message));
      return SyncRefusal.NotMaterialized;
    }
    throw err;
  }
  await flush(true);
  return 'served';
}
