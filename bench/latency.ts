/**
 * Where the propagation time of one delta goes at a low rate, two nodes, every service a process:
 * A writes one delta every `--interval` ms; taps on NATS see it published to B's STATE_DELTA (by
 * B's network service, after the gossip hop) and B's mutation event published to NODE_EVENTS (by
 * B's outbox, after state-delta applied it); B's SubscribeEvents stream delivers it. Reports the
 * p50/p90 of each leg next to the raw gossipsub hop of the same run. Prints numbers; asserts nothing.
 *
 *   npm run bench -- latency [--writes N] [--interval MS] [--json]
 */
import '@cnode/runtime/polyfills';
import { flag, numberOption } from './lib/args.js';
import { connect } from '@nats-io/transport-node';
import { createCatalog } from '@cnode/bus';
import { toBase58 } from '@cnode/primitives';
import { admin, bus } from '@cnode/proto';
import { ProcessNode, TEST_INFRA } from '@cnode/testing';
import { percentile, rawGossipLatency } from './lib/raw-gossip.js';

const writes = numberOption('--writes', 300);
const intervalMs = numberOption('--interval', 20);
const json = flag('--json');
/** The first writes warm connections and the JIT; they are left out. */
const WARM_UP = 50;

const now = (): number => performance.now();
const raw = (await rawGossipLatency(300, 300)).sort((x, y) => x - y);
const [a, b] = await Promise.all([ProcessNode.start({ prefix: 'la' }), ProcessNode.start({ prefix: 'lb' })]);
const returned = new Map<string, number>();
const forwarded = new Map<string, number>();
const applied = new Map<string, number>();
const delivered = new Map<string, number>();
const callMs: number[] = [];
try {
  const { contextId } = await a.api.createContext();
  const { publicKey } = await b.api.createIdentity();
  await b.api.joinContext((await a.api.inviteMember(contextId, publicKey)).invitationText);
  await Promise.all([a.waitForPeers(contextId, 1), b.waitForPeers(contextId, 1)]);
  await b.waitForState(contextId, 120_000);

  // Core subscriptions see what is published on the stream subjects, as it is published.
  const nc = await connect({ servers: TEST_INFRA.natsUrl });
  const catalog = createCatalog(b.name);
  nc.subscribe(catalog.subjects.stateDeltaFor(contextId), {
    callback: (_err, m) => {
      const received = bus.StateDeltaReceived.decode(m.data);
      for (const delta of received.delta ? [received.delta] : received.batch)
        forwarded.set(toBase58(delta.deltaId), now());
    },
  });
  nc.subscribe(catalog.subjects.nodeEventFor(contextId), {
    callback: (_err, m) => {
      const event = admin.NodeEvent.decode(m.data).event;
      if (event?.$case === 'stateMutation') applied.set(event.stateMutation.deltaId, now());
    },
  });
  const events = b.api.subscribeEvents(contextId);
  events.on('data', (e: admin.SubscribeEventsResponse) => {
    if (e.event?.event?.$case === 'stateMutation') delivered.set(e.event.event.stateMutation.deltaId, now());
  });
  events.on('error', () => undefined);
  await nc.flush();

  for (let i = 0; i < writes; i++) {
    const started = now();
    const res = await a.api.execute(contextId, 'set', { key: `k${i}`, value: `v${i}` });
    returned.set(res.deltaId, now());
    if (i >= WARM_UP) callMs.push(now() - started);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await new Promise((r) => setTimeout(r, 2_000));
  events.cancel();
  await nc.close();
} finally {
  await Promise.all([a.stop(), b.stop()]);
}

const ids = [...returned.keys()]
  .slice(WARM_UP)
  .filter((id) => forwarded.has(id) && applied.has(id) && delivered.has(id));
const leg = (from: Map<string, number>, to: Map<string, number>) => {
  const xs = ids.map((id) => Math.max(0, to.get(id)! - from.get(id)!)).sort((x, y) => x - y);
  return { p50Ms: Number(percentile(xs, 0.5).toFixed(2)), p90Ms: Number(percentile(xs, 0.9).toFixed(2)) };
};
const rawHopP50Ms = Number(percentile(raw, 0.5).toFixed(3));
const legs = {
  executeCall: (() => {
    const xs = [...callMs].sort((x, y) => x - y);
    return { p50Ms: Number(percentile(xs, 0.5).toFixed(2)), p90Ms: Number(percentile(xs, 0.9).toFixed(2)) };
  })(),
  gossipToMailbox: leg(returned, forwarded),
  mailboxToEvent: leg(forwarded, applied),
  eventToClient: leg(applied, delivered),
  total: leg(returned, delivered),
};
console.log(
  `\none delta every ${intervalMs} ms, A → B (${ids.length} deltas measured); raw gossipsub hop p50 ${rawHopP50Ms} ms\n`,
);
const rows: [string, { p50Ms: number; p90Ms: number }][] = [
  ['Execute call on A (not in the total)', legs.executeCall],
  ["A returned → on B's STATE_DELTA (gossip + network)", legs.gossipToMailbox],
  ['STATE_DELTA → event on NODE_EVENTS (state-delta + outbox)', legs.mailboxToEvent],
  ['NODE_EVENTS → SubscribeEvents client', legs.eventToClient],
  ['total: A returned → event at the client', legs.total],
];
for (const [label, l] of rows)
  console.log(`${label.padEnd(58)} p50 ${l.p50Ms.toFixed(2).padStart(7)} ms  p90 ${l.p90Ms.toFixed(2).padStart(7)} ms`);
if (json) console.log(JSON.stringify({ benchmark: 'latency', intervalMs, measured: ids.length, rawHopP50Ms, legs }));
