import { afterEach, describe, expect, it } from '@jest/globals';
import postgres from 'postgres';
import { TEST_INFRA, testLogger, uniqueNodeName } from '@cnode/testing';
import { loadMigrations, runMigrations, type Migration } from '../../src/index.js';

const schemas: string[] = [];
const pools: postgres.Sql[] = [];

function pool(schema: string): postgres.Sql {
  const sql = postgres(TEST_INFRA.databaseUrl, {
    max: 2,
    onnotice: () => undefined,
    connection: { search_path: `"${schema}",public` },
  });
  pools.push(sql);
  return sql;
}

afterEach(async () => {
  const admin = postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined });
  for (const schema of schemas.splice(0)) await admin`drop schema if exists ${admin(schema)} cascade`;
  await admin.end();
  for (const sql of pools.splice(0)) await sql.end();
});

const extra: Migration[] = [
  { version: 1, name: 'one', sql: 'create table counter (n integer not null); insert into counter values (0);' },
  // Not idempotent on purpose: running it twice would double the count.
  { version: 2, name: 'two', sql: 'update counter set n = n + 1;' },
];

describe('runMigrations', () => {
  it('applies the shipped migrations into the node schema', async () => {
    const schema = `cnode_${uniqueNodeName()}`;
    schemas.push(schema);
    const sql = pool(schema);
    const applied = await runMigrations(sql, { schema, logger: testLogger() });
    expect(applied).toEqual((await loadMigrations()).map((m) => m.version));
    const tables = await sql`select table_name from information_schema.tables where table_schema = ${schema}`;
    expect(tables.map((t) => t.table_name as string).sort()).toContain('node_identity');
  });

  it('runs each migration exactly once when replicas start together', async () => {
    const schema = `cnode_${uniqueNodeName()}`;
    schemas.push(schema);
    const replicas = [pool(schema), pool(schema), pool(schema), pool(schema)];
    const results = await Promise.all(
      replicas.map((sql) => runMigrations(sql, { schema, logger: testLogger(), migrations: extra })),
    );
    expect(results.flat().sort()).toEqual([1, 2]);
    const [row] = await replicas[0]!`select n from counter`;
    expect(row?.n).toBe(1);
    expect(await runMigrations(replicas[0]!, { schema, logger: testLogger(), migrations: extra })).toEqual([]);
  });

  it('rolls back a failing migration and keeps the earlier ones', async () => {
    const schema = `cnode_${uniqueNodeName()}`;
    schemas.push(schema);
    const sql = pool(schema);
    const broken: Migration[] = [
      extra[0]!,
      { version: 2, name: 'broken', sql: 'update counter set n = 1; select * from nope;' },
    ];
    await expect(runMigrations(sql, { schema, logger: testLogger(), migrations: broken })).rejects.toThrow(/nope/);
    const versions = await sql`select version from ${sql(schema)}.schema_migrations`;
    expect(versions.map((v) => v.version as number)).toEqual([1]);
    const [row] = await sql`select n from counter`;
    expect(row?.n).toBe(0);
  });

  it('refuses a schema newer than the build', async () => {
    const schema = `cnode_${uniqueNodeName()}`;
    schemas.push(schema);
    const sql = pool(schema);
    await runMigrations(sql, { schema, logger: testLogger(), migrations: extra });
    await expect(
      runMigrations(sql, { schema, logger: testLogger(), migrations: extra.slice(0, 1) }),
    ).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' });
  });
});
