/**
 * What gossipsub's message signatures cost: two plain js-libp2p nodes on loopback publish `count`
 * messages of `bytes` (about a delta's size) as fast as the receiver takes them, once with
 * StrictSign (every message signed by its origin peer and verified by every receiver) and once with
 * StrictNoSign, in the same run. Reports messages/s and CPU per message (both nodes share this
 * process, so CPU is publish + relay + receive). Prints numbers; asserts nothing.
 *
 *   npm run bench -- network/gossip-sign [--count N] [--bytes B] [--json]
 */
import '@cnode/runtime/polyfills';
import { flag, numberOption } from '../lib/args.js';
import { randomBytes } from 'node:crypto';
import { plainLibp2pNode, waitFor } from '@cnode/testing';

const count = numberOption('--count', 5000);
const bytes = numberOption('--bytes', 600);
const json = flag('--json');
const TOPIC = 'bench-sign-topic';
/** Publishes in flight at once: enough to keep the pipe full without flooding gossipsub's queues. */
const WINDOW = 64;

interface Row {
  policy: 'StrictSign' | 'StrictNoSign';
  messagesPerSec: number;
  cpuUsPerMessage: number;
}

async function run(policy: Row['policy']): Promise<Row> {
  const [a, b] = [
    await plainLibp2pNode({ globalSignaturePolicy: policy }),
    await plainLibp2pNode({ globalSignaturePolicy: policy }),
  ];
  try {
    for (const n of [a, b]) n.services.pubsub.subscribe(TOPIC);
    await a.dial(b.getMultiaddrs()[0]!);
    await waitFor(() => a.services.pubsub.getSubscribers(TOPIC).length > 0);
    let received = 0;
    b.services.pubsub.addEventListener('message', () => void received++);
    const payloads = Array.from({ length: count }, () => randomBytes(bytes));
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      // Hold at most WINDOW messages between publish and delivery.
      while (i - received >= WINDOW) await new Promise((r) => setImmediate(r));
      await a.services.pubsub.publish(TOPIC, payloads[i]);
    }
    await waitFor(() => received >= count, { timeoutMs: 120_000, intervalMs: 5, message: `${policy}: all delivered` });
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return {
      policy,
      messagesPerSec: count / (ms / 1000),
      cpuUsPerMessage: (used.user + used.system) / count,
    };
  } finally {
    await a.stop();
    await b.stop();
  }
}

// Warm up the JIT once, then measure both policies back to back.
await run('StrictNoSign');
const rows = [await run('StrictSign'), await run('StrictNoSign')];
const [signed, unsigned] = rows as [Row, Row];
console.log(`\ngossipsub signature policy: ${count} messages of ${bytes} B, two plain nodes on loopback\n`);
console.log(`${'policy'.padEnd(14)} ${'msg/s'.padStart(9)} ${'CPU µs/msg'.padStart(11)}`);
for (const r of rows) {
  console.log(
    `${r.policy.padEnd(14)} ${r.messagesPerSec.toFixed(0).padStart(9)} ${r.cpuUsPerMessage.toFixed(0).padStart(11)}`,
  );
}
console.log(
  `\nsigning costs ${(signed.cpuUsPerMessage - unsigned.cpuUsPerMessage).toFixed(0)} µs of CPU per message (${(signed.cpuUsPerMessage / unsigned.cpuUsPerMessage).toFixed(2)}×)`,
);
if (json) {
  const round = (n: number) => Number(n.toFixed(1));
  console.log(
    JSON.stringify({
      count,
      bytes,
      rows: rows.map((r) => ({
        ...r,
        messagesPerSec: round(r.messagesPerSec),
        cpuUsPerMessage: round(r.cpuUsPerMessage),
      })),
      signingCpuUsPerMessage: round(signed.cpuUsPerMessage - unsigned.cpuUsPerMessage),
    }),
  );
}
