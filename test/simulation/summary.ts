import type { HistoryReport } from './history.js';

/** Totals over a run of histories: what was drawn, what faults struck, which protocols ran. */
export function summarize(reports: readonly HistoryReport[], elapsedMs: number) {
  const sum = (f: (r: HistoryReport) => number) => reports.reduce((t, r) => t + f(r), 0);
  const faults: Record<string, number> = {};
  const protocols: Record<string, number> = {};
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.syncs.protocols)) protocols[k] = (protocols[k] ?? 0) + v;
  }
  const json = {
    histories: reports.length,
    seconds: Math.round(elapsedMs / 100) / 10,
    nodes: sum((r) => r.nodes),
    lateJoiners: sum((r) => r.lateJoiners),
    writes: {
      calls: sum((r) => r.writes.calls),
      acked: sum((r) => r.writes.acked),
      skipped: sum((r) => r.writes.skipped),
    },
    syncs: { runs: sum((r) => r.syncs.runs), failed: sum((r) => r.syncs.failed) },
    protocols,
    faults: faults as HistoryReport['faults'],
    healRounds: { max: Math.max(0, ...reports.map((r) => r.healRounds)), total: sum((r) => r.healRounds) },
  };
  const rows: [string, string | number][] = [
    ['histories', json.histories],
    ['seconds', json.seconds],
    ['nodes (late joiners)', `${json.nodes} (${json.lateJoiners})`],
    ['write calls acked (skipped: no state yet)', `${json.writes.acked} (${json.writes.skipped})`],
    ['sync sessions (failed under faults)', `${json.syncs.runs} (${json.syncs.failed})`],
    ...Object.entries(protocols).map(([p, n]): [string, number] => [`  protocol ${p}`, n]),
    ...Object.entries(faults).map(([f, n]): [string, number] => [`  fault ${f}`, n]),
    ['heal rounds (max per history)', `${json.healRounds.total} (${json.healRounds.max})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  return { table, json };
}
