import type { admin } from '@cnode/proto';
import { withAdminApi } from '../client.js';
import { UsageError, type Endpoint } from '../endpoint.js';
import { printer } from './common.js';

export const GC_USAGE = `  gc run [--task T]...               run GC now on the leading gc replica and print the reports
                                     (T: tombstones, pending, compaction; all by default)
  gc status [--limit N]              the newest GC run reports and the replica holding the gc lease
`;

export interface GcCommandOptions {
  tasks: string[];
  limit: string;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
}

function formatReport(r: admin.GcReport): string {
  const started = new Date(Number(r.startedAtMs)).toISOString();
  const took = r.finishedAtMs > 0n ? `${Number(r.finishedAtMs - r.startedAtMs)} ms` : 'not finished';
  return (
    `${r.task.padEnd(11)} ${r.outcome.padEnd(8)} ${r.trigger.padEnd(9)} ${started} ${took}  ` +
    `contexts=${r.contexts} scanned=${r.scanned} deleted=${r.deleted} failed=${r.failed}` +
    `${r.error ? `  error: ${r.error}` : ''}  (${r.replica})\n`
  );
}

/** `cnode gc …`: the GcService from the command line. */
export async function runGcCommand(endpoint: Endpoint, args: string[], opts: GcCommandOptions): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub] = args;
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'run': {
        const reports = await api.runGc(opts.tasks);
        out({ reports }, reports.map(formatReport).join(''));
        return reports.some((r) => r.outcome === 'failed') ? 1 : 0;
      }
      case 'status': {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 0) throw new UsageError('--limit must be a non-negative integer');
        const res = await api.getGcStatus(limit);
        out(
          res,
          `leader    ${res.leader || '(none: is the gc service running?)'}\n` +
            (res.reports.length === 0 ? 'no runs yet\n' : res.reports.map(formatReport).join('')),
        );
        return 0;
      }
      default:
        throw new UsageError(`usage:\n${GC_USAGE}`);
    }
  });
}
