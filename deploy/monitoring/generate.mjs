// Writes what is generated from deploy/monitoring: grafana/cnode.json, the Grafana dashboard of
// cnode (JSON model, schemaVersion 39: the replication picture — deltas applied and refused,
// backlog, drops — on top, then one row per service), and deploy/k8s/monitoring/prometheus-rule.yaml,
// alerts.yml as a PrometheusRule. Run `node deploy/monitoring/generate.mjs` after editing either;
// the tests check that the committed files are what this writes and that every metric they query
// exists. With a directory argument, writes there instead (`<dir>/monitoring/…`, `<dir>/k8s/…`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const DS = { type: 'prometheus', uid: '${datasource}' };
let id = 0;
const panel = (title, exprs, opts = {}) => ({
  id: ++id,
  type: opts.type ?? 'timeseries',
  title,
  datasource: DS,
  gridPos: { h: 8, w: opts.w ?? 8, x: 0, y: 0 },
  fieldConfig: { defaults: { unit: opts.unit ?? 'short' }, overrides: [] },
  options: {},
  targets: exprs.map(([expr, legend], i) => ({
    refId: String.fromCharCode(65 + i),
    expr,
    legendFormat: legend,
    datasource: DS,
  })),
});
const row = (title) => ({
  id: ++id,
  type: 'row',
  title,
  collapsed: false,
  gridPos: { h: 1, w: 24, x: 0, y: 0 },
  panels: [],
});

const rows = [
  [
    row('Replication'),
    panel('Deltas applied / s', [
      ['sum by (node, via) (rate(delta_outcomes_total{node=~"$node", outcome="applied"}[1m]))', '{{node}} {{via}}'],
    ]),
    panel('Deltas refused / s', [
      [
        'sum by (node, outcome) (rate(delta_outcomes_total{node=~"$node", outcome!~"applied|duplicate|own_echo|pending|buffered|governance_pending"}[5m]))',
        '{{node}} {{outcome}}',
      ],
    ]),
    panel('Local deltas committed / s', [
      ['sum by (node) (rate(node_manager_local_deltas_total{node=~"$node"}[1m]))', '{{node}}'],
    ]),
    panel('Mailbox backlog (in flight)', [
      ['sum by (node, consumer) (bus_handler_in_flight{node=~"$node"})', '{{node}} {{consumer}}'],
    ]),
    panel('Queue lengths', [
      ['max by (node, service, queue) (queue_length{node=~"$node"})', '{{node}} {{service}} {{queue}}'],
    ]),
    panel('Drops / s', [
      ['sum by (node, queue, reason) (rate(queue_dropped_total{node=~"$node"}[5m]))', '{{node}} {{queue}} {{reason}}'],
      [
        'sum by (node, outcome) (rate(network_state_deltas_forwarded_total{node=~"$node", outcome!="published"}[5m]))',
        '{{node}} gossip {{outcome}}',
      ],
    ]),
  ],
  [
    row('Service health'),
    panel('Ready', [['cnode_ready{node=~"$node"}', '{{node}} {{service}}']], { w: 12 }),
    panel('Build', [['cnode_build_info{node=~"$node"}', '{{node}} {{service}} {{version}} {{commit}}']], {
      type: 'table',
      w: 12,
    }),
  ],
  [
    row('network'),
    panel('Connected peers', [['network_connected_peers{node=~"$node"}', '{{node}}']]),
    panel('Gossip messages / s', [
      [
        'sum by (node, direction, topic_kind) (rate(network_gossip_messages_total{node=~"$node"}[1m]))',
        '{{node}} {{direction}} {{topic_kind}}',
      ],
    ]),
    panel('Relayed streams', [['network_streams_relayed_active{node=~"$node"}', '{{node}}']]),
  ],
  [
    row('node-manager'),
    panel(
      'Admin gRPC p95 (s)',
      [
        [
          'histogram_quantile(0.95, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket{node=~"$node"}[5m])))',
          '{{grpc_method}}',
        ],
      ],
      { unit: 's' },
    ),
    panel('App API requests / s', [
      [
        'sum by (node, route, outcome) (rate(app_api_requests_total{node=~"$node"}[1m]))',
        '{{node}} {{route}} {{outcome}}',
      ],
    ]),
    panel('WASM calls / s', [
      ['sum by (node, outcome) (rate(wasm_calls_total{node=~"$node"}[1m]))', '{{node}} {{outcome}}'],
    ]),
  ],
  [
    row('state-delta'),
    panel('Lane batch size p90', [
      ['histogram_quantile(0.9, sum by (le, node) (rate(bus_lane_batch_size_bucket{node=~"$node"}[5m])))', '{{node}}'],
    ]),
    panel('Parent fetches / s', [
      ['sum by (node, outcome) (rate(state_delta_parent_fetches_total{node=~"$node"}[5m]))', '{{node}} {{outcome}}'],
    ]),
    panel('Governance drains / s', [
      ['sum by (node, outcome) (rate(governance_drain_outcome_total{node=~"$node"}[5m]))', '{{node}} {{outcome}}'],
    ]),
  ],
  [
    row('sync'),
    panel('Sessions / s', [
      [
        'sum by (node, protocol, outcome) (rate(sync_sessions_total{node=~"$node"}[5m]))',
        '{{node}} {{protocol}} {{outcome}}',
      ],
    ]),
    panel('Active sessions', [['sum by (node) (sync_sessions_active{node=~"$node"})', '{{node}}']]),
    panel('Root divergences / min', [
      ['sum by (node) (rate(sync_root_hash_divergence_detected_total{node=~"$node"}[5m])) * 60', '{{node}}'],
    ]),
    panel('Peers by verdict', [
      ['sum by (node, verdict) (sync_convergence_peers{node=~"$node"})', '{{node}} {{verdict}}'],
    ]),
    panel('Convergence lag (s)', [['max by (node) (sync_convergence_lag_seconds{node=~"$node"})', '{{node}}']], {
      unit: 's',
    }),
  ],
  [
    row('gc'),
    panel('Items deleted / s', [
      ['sum by (node, kind) (rate(gc_items_deleted_total{node=~"$node"}[5m]))', '{{node}} {{kind}}'],
    ]),
    panel(
      'Since last success (s)',
      [['time() - gc_last_success_timestamp_seconds{node=~"$node"}', '{{node}} {{task}}']],
      { unit: 's' },
    ),
    panel('Runs / h', [
      ['sum by (node, task, outcome) (increase(gc_runs_total{node=~"$node"}[1h]))', '{{node}} {{task}} {{outcome}}'],
    ]),
  ],
];

// Lay the panels out: a row header, then three panels a line (or what their widths allow).
const panels = [];
let y = 0;
for (const [header, ...items] of rows) {
  header.gridPos.y = y++;
  panels.push(header);
  let x = 0;
  for (const p of items) {
    if (x + p.gridPos.w > 24) {
      x = 0;
      y += 8;
    }
    Object.assign(p.gridPos, { x, y });
    x += p.gridPos.w;
    panels.push(p);
  }
  y += 8;
}

const dashboard = {
  uid: 'cnode',
  title: 'cnode',
  description: 'A cnode node: replication, backlog and drops on top, one row per service below.',
  schemaVersion: 39,
  version: 1,
  editable: true,
  tags: ['cnode'],
  time: { from: 'now-1h', to: 'now' },
  refresh: '30s',
  templating: {
    list: [
      { name: 'datasource', type: 'datasource', query: 'prometheus', current: {} },
      {
        name: 'node',
        type: 'query',
        datasource: DS,
        query: 'label_values(cnode_build_info, node)',
        includeAll: true,
        multi: true,
        current: { text: 'All', value: '$__all' },
      },
    ],
  },
  panels,
};

const outDir = process.argv[2]
  ? new URL(`file://${process.argv[2].replace(/\/?$/, '/')}`)
  : new URL('../', import.meta.url);
const out = (relative) => {
  const url = new URL(relative, outDir);
  mkdirSync(new URL('./', url), { recursive: true });
  return url;
};
writeFileSync(out('monitoring/grafana/cnode.json'), `${JSON.stringify(dashboard, null, 2)}\n`);

const rules = parse(readFileSync(new URL('./alerts.yml', import.meta.url), 'utf8'));
const prometheusRule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'cnode', labels: { 'app.kubernetes.io/name': 'cnode' } },
  spec: { groups: rules.groups },
};
writeFileSync(
  out('k8s/monitoring/prometheus-rule.yaml'),
  `# Generated from deploy/monitoring/alerts.yml by deploy/monitoring/generate.mjs: edit those.\n${stringify(prometheusRule)}`,
);
