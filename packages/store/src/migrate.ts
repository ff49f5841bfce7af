import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CodedError, type Logger } from '@cnode/runtime';
import type { Sql } from './postgres.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations shipped with this package: `migrations/NNNN_name.sql`, in version order. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file name must look like 0001_name.sql: ${file}`);
    const version = Number(match[1]);
    if (version !== migrations.length + 1) throw new Error(`migration ${file} breaks the sequence`);
    migrations.push({ version, name: match[2] as string, sql: await readFile(`${dir}/${file}`, 'utf8') });
  }
  return migrations;
}

/**
 * Brings the node's schema up to date. Forward-only: each migration runs once, in its own
 * transaction, in version order. A session advisory lock makes replicas that start together take
 * turns; the later ones find nothing left to do.
 */
export async function runMigrations(
  sql: Sql,
  opts: { schema: string; logger: Logger; migrations?: Migration[] },
): Promise<number[]> {
  const migrations = opts.migrations ?? (await loadMigrations());
  const lockName = `cnode.migrate.${opts.schema}`;
  const conn = await sql.reserve();
  const applied: number[] = [];
  try {
    await conn`select pg_advisory_lock(hashtext(${lockName}))`;
    try {
      await conn`create schema if not exists ${conn(opts.schema)}`;
      await conn`
        create table if not exists ${conn(opts.schema)}.schema_migrations (
          version integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        )`;
      const rows = await conn<{ version: number }[]>`
        select version from ${conn(opts.schema)}.schema_migrations order by version`;
      const done = new Set(rows.map((r) => r.version));
      const newest = rows.at(-1)?.version ?? 0;
      if (newest > migrations.length) {
        throw new CodedError(
          'STORE_SCHEMA_TOO_NEW',
          `schema ${opts.schema} is at version ${newest}, newer than this build knows (${migrations.length})`,
        );
      }
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await conn.unsafe('begin');
        try {
          await conn.unsafe(`set local search_path to "${opts.schema}"`);
          await conn.unsafe(migration.sql);
          await conn`insert into ${conn(opts.schema)}.schema_migrations (version, name)
                     values (${migration.version}, ${migration.name})`;
          await conn.unsafe('commit');
        } catch (err) {
          await conn.unsafe('rollback');
          throw err;
        }
        applied.push(migration.version);
        opts.logger.info(
          { migration: migration.version, name: migration.name, schema: opts.schema },
          'Applied migration',
        );
      }
    } finally {
      await conn`select pg_advisory_unlock(hashtext(${lockName}))`;
    }
  } finally {
    conn.release();
  }
  return applied;
}
