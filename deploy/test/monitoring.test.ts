/**
 * The monitoring assets against what they claim: the alert rules load in Prometheus's own checker
 * (`promtool check rules`, Debian's `prometheus` package — required, not skipped), the generated
 * dashboard and PrometheusRule are what `deploy/monitoring/generate.mjs` writes from their sources,
 * the dashboard is a sound Grafana JSON model, and the k8s monitoring kustomization scrapes the
 * Services that serve metrics. That every metric they name exists is checked against live services
 * in test/e2e/metrics-exposition.test.ts.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any --
   Dashboards and manifests are untyped JSON/YAML. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { overlayDir, render } from './kustomize.js';

const root = new URL('../../', import.meta.url);
const path = (p: string): string => fileURLToPath(new URL(p, root));
const read = (p: string): string => readFileSync(path(p), 'utf8');

describe('deploy/monitoring', () => {
  it('the alert rules pass promtool check rules', () => {
    let out: string;
    try {
      out = execFileSync('promtool', ['check', 'rules', path('deploy/monitoring/alerts.yml')], { encoding: 'utf8' });
    } catch (err) {
      const e = err as { code?: string; stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install prometheus');
      throw new Error(`promtool check rules failed: ${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('the committed dashboard and PrometheusRule are what generate.mjs writes', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'cnode-monitoring-'));
    try {
      execFileSync(process.execPath, [path('deploy/monitoring/generate.mjs'), scratch]);
      for (const file of ['monitoring/grafana/cnode.json', 'k8s/monitoring/prometheus-rule.yaml']) {
        expect([file, readFileSync(join(scratch, file), 'utf8')]).toEqual([file, read(`deploy/${file}`)]);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('the dashboard is a Grafana JSON model: schema 39, unique ids, laid out on the grid, every panel queries', () => {
    const dashboard = JSON.parse(read('deploy/monitoring/grafana/cnode.json'));
    expect(dashboard).toMatchObject({ uid: 'cnode', schemaVersion: 39 });
    const ids = dashboard.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const rows = dashboard.panels.filter((p: any) => p.type === 'row').map((p: any) => p.title);
    expect(rows).toEqual(['Replication', 'Service health', 'network', 'node-manager', 'state-delta', 'sync', 'gc']);
    for (const p of dashboard.panels.filter((x: any) => x.type !== 'row')) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr).toMatch(/\S/);
    }
  });

  it('the k8s monitoring kustomization scrapes the Services that serve metrics, with the same rules', () => {
    const objects = render(path('deploy/k8s/monitoring'));
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor')!;
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.spec.groups).toEqual(parse(read('deploy/monitoring/alerts.yml')).groups);
    const services = render(overlayDir(root, 'dev')).filter((o) => o.kind === 'Service');
    const scraped = services.filter(
      (s) =>
        Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v) &&
        s.spec.ports.some((p: any) => p.name === monitor.spec.endpoints[0].port),
    );
    expect(scraped.map((s) => s.metadata.name).sort()).toEqual(
      ['cnode-gc', 'cnode-network', 'cnode-node-manager', 'cnode-state-delta', 'cnode-sync'].sort(),
    );
  });
});
