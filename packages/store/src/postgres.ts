import postgres from 'postgres';
import type { Logger, Startable } from '@cnode/runtime';

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

/**
 * The process's Postgres pool as a lifecycle component. Start checks connectivity; stop lets running
 * queries finish (bounded) before closing.
 */
export class PostgresComponent implements Startable {
  readonly name = 'postgres';
  private client: Sql | undefined;

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
  }

  async stop(): Promise<void> {
    const sql = this.client;
    this.client = undefined;
    await sql?.end({ timeout: 5 });
  }
}
