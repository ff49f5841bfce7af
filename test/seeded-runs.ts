/**
 * What the two seeded suites (test/simulation, test/chaos) share: which seeds a run takes from its
 * environment (`<PREFIX>_HISTORIES`, `_SEED`, `_REPLAY`, `_KEEP_GOING`, set by
 * scripts/seeded-suite.mjs) and running them with every failure reported with its replay command.
 */
export interface SeededRun {
  seeds: string[];
  /** What the test's title says it runs. */
  label: string;
  /** One seed replayed alone (the suites' "did it do enough" expectations do not apply). */
  replay: boolean;
  keepGoing: boolean;
  histories: number;
}

export function seededRun(
  prefix: 'SIM' | 'CHAOS',
  defaults: { histories: number; seed: string; regressionSeeds?: readonly string[] },
): SeededRun {
  const env = (key: string) => process.env[`${prefix}_${key}`];
  const histories = Number(env('HISTORIES') ?? defaults.histories);
  const base = env('SEED') ?? defaults.seed;
  const replay = env('REPLAY');
  const drawn = Array.from({ length: histories }, (_, k) => `${base}-${k}`);
  return {
    // A seed's ids are its own: run twice on the same nodes, its context would exist already.
    seeds: replay ? [replay] : [...new Set([...(defaults.regressionSeeds ?? []), ...drawn])],
    label: replay ?? `${histories} from seed ${base}`,
    replay: replay !== undefined,
    keepGoing: env('KEEP_GOING') === '1',
    histories,
  };
}

/** A history's failure: its message, and the report of what it did up to then. */
export interface HistoryError extends Error {
  report: unknown;
}

/**
 * Runs each seed's history in turn. A failure is printed with the command that replays it and
 * collected; the run stops at the first one unless it keeps going. Other errors are thrown.
 */
export async function runSeeds<R>(
  run: SeededRun,
  history: (seed: string) => Promise<R>,
  opts: { isFailure: (err: unknown) => err is HistoryError; replayCommand: string },
): Promise<{ reports: R[]; failures: string[]; elapsedMs: number }> {
  const reports: R[] = [];
  const failures: string[] = [];
  const started = Date.now();
  for (const seed of run.seeds) {
    try {
      reports.push(await history(seed));
    } catch (err) {
      if (!opts.isFailure(err)) throw err;
      process.stderr.write(
        `${err.message}\nreplay: ${opts.replayCommand} --replay ${seed}\n${JSON.stringify(err.report)}\n`,
      );
      failures.push(err.message);
      if (!run.keepGoing) break;
    }
  }
  return { reports, failures, elapsedMs: Date.now() - started };
}
