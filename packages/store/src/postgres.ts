import postgres from 'postgres';
import { withTimeout, type Logger, type Startable } from '@cnode/runtime';

export type Sql = postgres.Sql;

/** Array type oids for `sql.array(values, oid)`: postgres.js cannot infer them from Buffers and numbers. */
export const BOOL_ARRAY = 1000;
export const BYTEA_ARRAY = 1001;
export const INT2_ARRAY = 1005;
export const INT4_ARRAY = 1007;
export const TEXT_ARRAY = 1009;
export const INT8_ARRAY = 1016;

export interface PostgresOptions {
  url: string;
  /** Per-node schema; every unqualified table name resolves in it. */
  schema: string;
  poolMax: number;
  applicationName: string;
  logger: Logger;
}

/** How often readiness probes Postgres, and how long a probe may take. */
export const POSTGRES_PROBE_INTERVAL_MS = 2_000;
export const POSTGRES_PROBE_TIMEOUT_MS = 2_000;

/**
 * The process's Postgres pool as a lifecycle component. Start checks connectivity; stop lets running
 * queries finish (bounded) before closing.
 */
export class PostgresComponent implements Startable {
  readonly name = 'postgres';
  private client: Sql | undefined;
  private healthy = false;
  private probe: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PostgresOptions) {}

  get sql(): Sql {
    if (!this.client) throw new Error('Postgres is not connected');
    return this.client;
  }

  async start(): Promise<void> {
    const sql = postgres(this.opts.url, {
      max: this.opts.poolMax,
      onnotice: () => undefined,
      connection: {
        application_name: this.opts.applicationName,
        search_path: `"${this.opts.schema}",public`,
        // Our statements are short index lookups and small writes; a server with JIT on would compile
        // any plan whose estimate crosses jit_above_cost (the pinned plans of the tree functions do),
        // spending milliseconds of CPU on statements that run in microseconds.
        jit: 'off',
      },
      connect_timeout: 10,
    });
    this.client = sql;
    await sql`select 1`;
    this.healthy = true;
    this.probe = setInterval(() => void this.check(), POSTGRES_PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  /** Whether the last probe (`select 1`, every POSTGRES_PROBE_INTERVAL_MS) answered in time. */
  get isHealthy(): boolean {
    return this.healthy;
  }

  private async check(): Promise<void> {
    const sql = this.client;
    if (!sql) return;
    const healthy = await withTimeout(
      sql`select 1`.then(() => true),
      POSTGRES_PROBE_TIMEOUT_MS,
      () => new Error('probe timed out'),
    ).catch(() => false);
    if (healthy !== this.healthy) {
      if (healthy) this.opts.logger.info('Postgres reachable again');
      else this.opts.logger.warn('Postgres unreachable: the service reports not ready');
    }
    this.healthy = healthy;
  }

  async stop(): Promise<void> {
    clearInterval(this.probe);
    const sql = this.client;
    this.client = undefined;
    await sql?.end({ timeout: 5 });
  }
}
