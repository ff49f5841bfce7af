/**
 * What each running service exports, checked by Prometheus's own linter (`promtool check
 * metrics`), and every metric the alert rules and the dashboard query checked to be one of them.
 * promtool comes from Debian's `prometheus` package (`.ci/run` installs it); without it this fails.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { NODE_SERVICES, ProcessNode } from '@cnode/testing';

/**
 * prom-client's default process gauges end in `_total` (they count handles, not events); promtool
 * flags that. They are prom-client's names, kept as every Node exporter has them.
 */
const PROM_CLIENT_DEFAULT_EXCEPTIONS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
/** Series Prometheus makes itself (not exported by any service). */
const SYNTHETIC = new Set(['up']);
/** PromQL words with underscores that are not metric names. */
const PROMQL_WORDS = new Set(['histogram_quantile', 'label_values', 'group_left', 'group_right']);

let node: ProcessNode;
const expositions = new Map<string, string>();

beforeAll(async () => {
  node = await ProcessNode.start();
  // A little of everything, so labelled series exist.
  const { contextId } = await node.api.createContext();
  await node.api.execute(contextId, 'set', { key: 'k', value: 'v' });
  await node.api.execute(contextId, 'get', { key: 'k' });
  for (const service of NODE_SERVICES) expositions.set(service, await node.metricsText(service));
}, 120_000);

afterAll(async () => {
  await node?.stop();
});

/** The metric names an exposition declares (with the series suffixes of histograms and summaries). */
function exportedNames(): Set<string> {
  const names = new Set<string>();
  for (const text of expositions.values()) {
    for (const line of text.split('\n')) {
      const m = /^# TYPE (\S+) (\S+)/.exec(line);
      if (!m) continue;
      names.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(`${m[1]}${s}`);
      if (m[2] === 'summary') for (const s of ['_count', '_sum']) names.add(`${m[1]}${s}`);
    }
  }
  return names;
}

/** Metric names a PromQL expression selects: identifiers outside label matchers, groupings and strings. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b/g)]
    .map((m) => m[1]!)
    .filter((w) => w.includes('_') && !PROMQL_WORDS.has(w));
}

describe('metrics exposition', () => {
  it.each([...(['network', 'node-manager', 'state-delta', 'sync', 'gc'] as const)])(
    '%s: promtool check metrics finds nothing but prom-client’s default names',
    (service) => {
      let problems: string;
      try {
        execFileSync('promtool', ['check', 'metrics'], { input: expositions.get(service), encoding: 'utf8' });
        problems = '';
      } catch (err) {
        const e = err as { code?: string; stdout?: string; stderr?: string };
        if (e.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install prometheus');
        problems = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      }
      const remaining = problems
        .split('\n')
        .filter((l) => l.trim() && !PROM_CLIENT_DEFAULT_EXCEPTIONS.some((name) => l.startsWith(`${name} `)));
      expect(remaining).toEqual([]);
      expect(expositions.get(service)).toMatch(
        /^cnode_build_info\{version="[^"]+",commit="[^"]+",service="[^"]+",node="[^"]+"\} 1$/m,
      );
      expect(expositions.get(service)).toMatch(/^cnode_ready\{.*\} 1$/m);
    },
  );

  it('every metric the alert rules and the dashboard query is exported by a service', () => {
    const exported = exportedNames();
    const rules = parse(readFileSync('deploy/monitoring/alerts.yml', 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const dashboard = JSON.parse(readFileSync('deploy/monitoring/grafana/cnode.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const queried = [
      ...rules.groups.flatMap((g) => g.rules.map((r) => [r.alert, r.expr] as const)),
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
    ];
    expect(queried.length).toBeGreaterThan(20);
    // The extraction itself: names, not functions, labels or groupings.
    expect(metricsIn('histogram_quantile(0.9, sum by (le, node) (rate(a_b_bucket{x_y="z_w"}[5m]))) > c_d')).toEqual([
      'a_b_bucket',
      'c_d',
    ]);
    const missing = queried.flatMap(([where, expr]) =>
      metricsIn(expr)
        .filter((name) => !exported.has(name) && !SYNTHETIC.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });
});
