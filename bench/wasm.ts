/**
 * The WASM runtime's cost next to the built-in kv application, in one run on one node (every
 * service a process): the AssemblyScript key-value example (apps/kv) and the built-in kv answer the
 * same Execute(set) and Execute(get) calls. Cold: the first call after install (the module was
 * compiled at install; the first call warms a worker). Warm: sequential calls (p50, calls/s) and a closed loop of concurrent
 * writers on one context (calls/s). Also the cost of the fresh instance every call gets, measured in
 * this process. Prints numbers and ratios; asserts nothing.
 *
 *   npm run bench -- wasm [--calls N] [--writers W] [--json]
 */
import '@cnode/runtime/polyfills';
import { flag, numberOption } from './lib/args.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessNode } from '@cnode/testing';
import { DEFAULT_WASM_LIMITS, HOST_IMPORTS, prepareModule } from '@cnode/wasm-runtime';
import { percentile } from './lib/raw-gossip.js';

const calls = numberOption('--calls', 300);
const writers = numberOption('--writers', 16);
const json = flag('--json');
const WARM_UP = 30;
const now = (): number => performance.now();

interface Row {
  app: string;
  method: string;
  coldMs?: number;
  p50Ms: number;
  p90Ms: number;
  perSec: number;
  closedLoopPerSec?: number;
}

const out = join(mkdtempSync(join(tmpdir(), 'cnode-bench-wasm-')), 'kv.wasm');
execFileSync(process.execPath, ['scripts/build-app.mjs', 'apps/kv', out]);
const wasm = readFileSync(out);

// A fresh instance per call, measured here (the runtime's workers do the same).
const prepared = prepareModule(wasm, DEFAULT_WASM_LIMITS);
const imports = { env: Object.fromEntries([...HOST_IMPORTS].map((name) => [name, () => 0])) };
const instanceUs: number[] = [];
for (let i = 0; i < 2000; i++) {
  const started = now();
  new WebAssembly.Instance(prepared.module, imports);
  instanceUs.push((now() - started) * 1000);
}
instanceUs.sort((x, y) => x - y);

const node = await ProcessNode.start({ prefix: 'wb' });
const rows: Row[] = [];
try {
  const kvContext = (await node.api.createContext()).contextId;
  const app = (
    await node.api.installApplication(
      (async function* () {
        yield wasm;
      })(),
    )
  ).applicationId;
  const wasmContext = (await node.api.createContext({ application: app })).contextId;

  const measure = async (label: string, contextId: string, cold: boolean) => {
    for (const method of ['set', 'get'] as const) {
      const args = (i: number) => (method === 'set' ? { key: `k${i % 50}`, value: `v${i}` } : { key: `k${i % 50}` });
      let coldMs: number | undefined;
      if (cold && method === 'set') {
        const started = now();
        await node.api.execute(contextId, method, args(0));
        coldMs = now() - started;
      }
      const times: number[] = [];
      const started = now();
      for (let i = 0; i < calls + WARM_UP; i++) {
        const t = now();
        await node.api.execute(contextId, method, args(i));
        if (i >= WARM_UP) times.push(now() - t);
      }
      const elapsed = (now() - started) / 1000;
      times.sort((x, y) => x - y);
      let closedLoopPerSec: number | undefined;
      if (method === 'set') {
        let next = 0;
        const loopStarted = now();
        await Promise.all(
          Array.from({ length: writers }, async () => {
            while (next < calls) await node.api.execute(contextId, method, args(next++));
          }),
        );
        closedLoopPerSec = calls / ((now() - loopStarted) / 1000);
      }
      rows.push({
        app: label,
        method,
        coldMs,
        p50Ms: percentile(times, 0.5),
        p90Ms: percentile(times, 0.9),
        perSec: (calls + WARM_UP) / elapsed,
        closedLoopPerSec,
      });
    }
  };
  await measure('built-in kv', kvContext, false);
  await measure('wasm kv (AssemblyScript)', wasmContext, true);
} finally {
  await node.stop();
}

const round = (x: number | undefined, d = 2) => (x === undefined ? undefined : Number(x.toFixed(d)));
const of = (app: string, method: string) => rows.find((r) => r.app === app && r.method === method)!;
const ratio = (method: string) => round(of('wasm kv (AssemblyScript)', method).p50Ms / of('built-in kv', method).p50Ms);
console.log(
  `\none node, ${calls} sequential calls per row (after ${WARM_UP} warm-up), closed loop of ${writers} writers\n`,
);
console.log('app                        method   cold ms   p50 ms   p90 ms   calls/s   closed loop/s');
for (const r of rows) {
  console.log(
    `${r.app.padEnd(27)}${r.method.padEnd(7)}${(r.coldMs?.toFixed(1) ?? '').padStart(9)}${r.p50Ms.toFixed(2).padStart(9)}${r.p90Ms
      .toFixed(2)
      .padStart(9)}${r.perSec.toFixed(0).padStart(10)}${(r.closedLoopPerSec?.toFixed(0) ?? '').padStart(16)}`,
  );
}
const instanceP50Us = round(percentile(instanceUs, 0.5), 1)!;
console.log(
  `\nwarm p50, wasm ÷ built-in: set ${ratio('set')}×, get ${ratio('get')}×; a fresh instance of the module: p50 ${instanceP50Us} µs (${wasm.length} bytes)`,
);
if (json) {
  console.log(
    JSON.stringify({
      benchmark: 'wasm',
      calls,
      writers,
      moduleBytes: wasm.length,
      instanceP50Us,
      setP50Ratio: ratio('set'),
      getP50Ratio: ratio('get'),
      rows: rows.map((r) => ({
        ...r,
        coldMs: round(r.coldMs),
        p50Ms: round(r.p50Ms),
        p90Ms: round(r.p90Ms),
        perSec: round(r.perSec, 0),
        closedLoopPerSec: round(r.closedLoopPerSec, 0),
      })),
    }),
  );
}
