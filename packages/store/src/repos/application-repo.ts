import type { Sql } from '../postgres.js';

export interface ApplicationRecord {
  id: Buffer;
  package: string;
  version: string;
  signer: string | null;
  bundleBlobId: Buffer | null;
  size: number;
  source: string;
  manifest: Record<string, unknown>;
}

/** Installed applications. */
export class ApplicationRepo {
  constructor(private readonly sql: Sql) {}

  async upsert(app: ApplicationRecord): Promise<void> {
    await this.sql`
      insert into applications (id, package, version, signer, bundle_blob_id, size, source, manifest)
      values (${app.id}, ${app.package}, ${app.version}, ${app.signer}, ${app.bundleBlobId}, ${app.size}, ${app.source},
              ${this.sql.json(app.manifest as postgresJson)})
      on conflict (id) do update set package = excluded.package, version = excluded.version, signer = excluded.signer,
        bundle_blob_id = excluded.bundle_blob_id, size = excluded.size, source = excluded.source,
        manifest = excluded.manifest, installed_at = now()`;
  }

  async get(id: Buffer): Promise<ApplicationRecord | undefined> {
    const [r] = await this.sql<Row[]>`select * from applications where id = ${id}`;
    return r && toRecord(r);
  }

  async list(): Promise<ApplicationRecord[]> {
    return (await this.sql<Row[]>`select * from applications order by package, version`).map(toRecord);
  }

  async delete(id: Buffer): Promise<boolean> {
    return (await this.sql`delete from applications where id = ${id} returning 1`).length > 0;
  }
}

type postgresJson = Parameters<Sql['json']>[0];

interface Row {
  id: Buffer;
  package: string;
  version: string;
  signer: string | null;
  bundle_blob_id: Buffer | null;
  size: string;
  source: string;
  manifest: Record<string, unknown>;
}

function toRecord(r: Row): ApplicationRecord {
  return {
    id: r.id,
    package: r.package,
    version: r.version,
    signer: r.signer,
    bundleBlobId: r.bundle_blob_id,
    size: Number(r.size),
    source: r.source,
    manifest: r.manifest,
  };
}
