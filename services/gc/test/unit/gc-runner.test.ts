import { describe, expect, it } from '@jest/globals';
import { loadNodeConfig } from '@cnode/config';
import { Registry } from '@cnode/runtime';
import type { GcRepo } from '@cnode/store';
import { metricValue, testLogger } from '@cnode/testing';
import { createGcMetrics } from '../../src/metrics.js';
import { collectTombstones } from '../../src/tasks/collect-tombstones.js';
import { GcRunner, GcTrigger } from '../../src/gc-runner.js';
import { GcTask } from '@cnode/bus';

/** A repo whose batch statement fails, and whose single deletes fail for the keys named. */
function failingRepo(keys: string[], failing: Set<string>) {
  const deleted: string[] = [];
  const repo = {
    contextsWithTombstonesBefore: async () => [Buffer.alloc(32, 1)],
    deleteTombstoneBatch: async () => {
      throw new Error('statement timeout');
    },
    tombstoneKeys: async () => keys.filter((k) => !deleted.includes(k)).map((k) => Buffer.from(k)),
    deleteTombstone: async (_ctx: Buffer, key: Buffer) => {
      if (failing.has(key.toString())) throw new Error(`cannot delete ${key.toString()}`);
      deleted.push(key.toString());
      return true;
    },
  };
  return { repo: repo as unknown as GcRepo, deleted };
}

describe('collectTombstones when a batch fails', () => {
  it('retries key by key, counts and skips the keys that still fail, and leaves them for the next run', async () => {
    const registry = new Registry();
    const { repo, deleted } = failingRepo(['a', 'b', 'c', 'd'], new Set(['b', 'd']));
    const counts = await collectTombstones({
      gc: repo,
      config: loadNodeConfig('gc', {}).gc,
      metrics: createGcMetrics(registry),
      logger: testLogger(),
      now: () => 1_900_000_000_000,
    });
    expect(deleted).toEqual(['a', 'c']);
    expect(counts).toMatchObject({ contexts: 1, deleted: 2, failed: 2 });
    expect(await metricValue(registry, 'gc_item_failures_total', { kind: 'tombstone' })).toBe(2);
  });
});

describe('GcRunner', () => {
  it('skips a run of a task that is still running, and counts it', async () => {
    const registry = new Registry();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const repo = {
      startRun: async () => 1,
      finishRun: async () => undefined,
      contextsWithTombstonesBefore: async () => {
        await gate;
        return [];
      },
    } as unknown as GcRepo;
    const runner = new GcRunner({
      gc: repo,
      config: loadNodeConfig('gc', {}).gc,
      metrics: createGcMetrics(registry),
      logger: testLogger(),
      now: Date.now,
      replica: 'r1',
    });
    const first = runner.run(GcTask.Tombstones, GcTrigger.Interval);
    const second = await runner.run(GcTask.Tombstones, GcTrigger.Admin);
    expect(second.outcome).toBe('skipped');
    release();
    expect((await first).outcome).toBe('ok');
    expect(await metricValue(registry, 'gc_runs_skipped_total', { task: 'tombstones', reason: 'overlap' })).toBe(1);
    expect(await metricValue(registry, 'gc_runs_total', { task: 'tombstones', outcome: 'ok' })).toBe(1);
  });
});
