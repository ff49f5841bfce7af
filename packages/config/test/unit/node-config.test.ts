import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@cnode/runtime';
import { knobNames, loadNodeConfig } from '../../src/index.js';

describe('loadNodeConfig', () => {
  it('defaults follow the upstream NodeConfig / SyncConfig / node constants', () => {
    const config = loadNodeConfig('sync', {});
    expect(config.node.name).toBe('node1');
    expect(config.sync).toMatchObject({
      timeoutMs: 30_000,
      sessionDeadlineMs: 120_000,
      intervalMs: 5_000,
      frequencyMs: 10_000,
      maxConcurrent: 30,
      snapshotChunkSize: 64 * 1024,
      deltaSyncThreshold: 128,
      peerStateProbeConcurrency: 4,
      parentPullAdditionalPeers: 1,
      parentPullBudgetMs: 5_000,
      openStreamTimeoutMs: 3_000,
      namespaceDiscoveryWaitMs: 45_000,
      heartbeatIntervalMs: 30_000,
    });
    expect(config.stateDelta).toEqual({
      queueMax: 2048,
      maxInFlight: 256,
      processingTimeoutMs: 60_000,
      batchMax: 256,
      lanes: 8,
    });
    expect(config.gc.intervalMs).toBe(12 * 3_600_000);
    expect(config.gc.tombstoneRetentionMs).toBe(86_400_000);
    expect(config.gc).toMatchObject({
      pendingDeltaMaxAgeMs: 300_000,
      pendingDeltaExpiryIntervalMs: 60_000,
      maxDeletionsPerRun: 10_000,
      batchSize: 500,
      leaderTtlMs: 15_000,
    });
    expect(config.gc.dagCompaction).toEqual({
      enabled: true,
      minDeltas: 10_000,
      retainRecent: 1000,
      checkIntervalMs: 3_600_000,
    });
    expect(config.blobs).toEqual({
      cacheMaxCount: 100,
      cacheMaxBytes: 500 * 1024 * 1024,
      cacheMaxAgeMs: 300_000,
      cacheEvictionIntervalMs: 300_000,
      cacheEntryMax: 64 * 1024 * 1024,
      maxStreamSize: 500 * 1024 * 1024,
      orphanGraceMs: 3_600_000,
      fetchDeadlineMs: 60_000,
      serveMaxConcurrent: 16,
    });
    expect(config.apps).toEqual({ urlAllowLoopback: false });
    expect(config.http.port).toBe(9104);
  });

  it('names every bad key', () => {
    let error: unknown;
    try {
      loadNodeConfig('sync', { SYNC_INTERVAL: 'abc', STATE_DELTA_QUEUE_MAX: '-1', NODE_NAME: 'Bad Name' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.key).sort()).toEqual([
      'NODE_NAME',
      'STATE_DELTA_QUEUE_MAX',
      'SYNC_INTERVAL',
    ]);
  });

  it('reads durations with units', () => {
    expect(loadNodeConfig('gc', { GC_INTERVAL: '30m' }).gc.intervalMs).toBe(1_800_000);
  });

  it('refuses a DAG compaction that would retain as many deltas as it needs to start', () => {
    expect(() =>
      loadNodeConfig('gc', { DAG_COMPACTION_MIN_DELTAS: '100', DAG_COMPACTION_RETAIN_RECENT: '100' }),
    ).toThrow(/DAG_COMPACTION_RETAIN_RECENT: must be less than DAG_COMPACTION_MIN_DELTAS \(100\), got 100/);
    expect(
      loadNodeConfig('gc', {
        DAG_COMPACTION_ENABLED: 'false',
        DAG_COMPACTION_MIN_DELTAS: '100',
        DAG_COMPACTION_RETAIN_RECENT: '100',
      }).gc.dagCompaction.enabled,
    ).toBe(false);
  });

  it('every knob is documented in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../../../docs/configuration.md', import.meta.url), 'utf8');
    const missing = knobNames().filter((name) => !doc.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
