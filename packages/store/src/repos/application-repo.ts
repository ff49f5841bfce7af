import type { Sql } from '../postgres.js';

export type ApplicationKind = 'bundle' | 'wasm';

/** One artifact of a bundle (a service's wasm), stored as its own blob. */
export interface ApplicationArtifact {
  name: string;
  path: string;
  /** Hex blob id of the artifact's bytes. */
  blobId: string;
  /** Hex SHA-256 of the artifact as the manifest lists it. */
  hash: string;
  size: number;
}

export interface ApplicationRecord {
  id: Buffer;
  kind: ApplicationKind;
  package: string;
  version: string;
  /** The bundle's signer (`did:key:…`), or null for raw wasm and unsigned dev bundles. */
  signer: string | null;
  /** The installed bytes: the bundle itself or the raw wasm. */
  blobId: Buffer;
  size: number;
  /** Where the install came from: `file://…`, `https://…`, `blob:…`, `upload`. */
  source: string;
  metadata: Buffer;
  manifest: Record<string, unknown>;
  artifacts: ApplicationArtifact[];
}

/** Installed applications. */
export class ApplicationRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Installs or replaces: a bundle of the same package and signer is one application across
   * versions; the row shows the version installed last, and every installed version is kept
   * (`version`), since contexts run the version their group names.
   */
  async upsert(app: ApplicationRecord): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
      insert into applications (id, kind, package, version, signer, blob_id, size, source, metadata, manifest, artifacts)
      values (${app.id}, ${app.kind}, ${app.package}, ${app.version}, ${app.signer}, ${app.blobId}, ${app.size},
              ${app.source}, ${app.metadata}, ${this.sql.json(app.manifest as PostgresJson)},
              ${this.sql.json(app.artifacts as unknown as PostgresJson)})
      on conflict (id) do update set kind = excluded.kind, package = excluded.package, version = excluded.version,
        signer = excluded.signer, blob_id = excluded.blob_id, size = excluded.size, source = excluded.source,
        metadata = excluded.metadata, manifest = excluded.manifest, artifacts = excluded.artifacts,
        installed_at = now()`;
      await tx`
        insert into application_versions (id, version, kind, blob_id, size, source, metadata, manifest, artifacts)
        values (${app.id}, ${app.version}, ${app.kind}, ${app.blobId}, ${app.size}, ${app.source}, ${app.metadata},
                ${tx.json(app.manifest as PostgresJson)}, ${tx.json(app.artifacts as unknown as PostgresJson)})
        on conflict (id, version) do update set kind = excluded.kind, blob_id = excluded.blob_id,
          size = excluded.size, source = excluded.source, metadata = excluded.metadata,
          manifest = excluded.manifest, artifacts = excluded.artifacts, installed_at = now()`;
    });
  }

  /**
   * One installed version of an application (its package and signer from the application), or
   * undefined when that version is not installed here. No version: the one installed last.
   */
  async version(id: Buffer, version: string | null): Promise<ApplicationRecord | undefined> {
    if (version === null) return this.get(id);
    const [r] = await this.sql<Row[]>`
      select v.id, v.kind, a.package, v.version, a.signer, v.blob_id, v.size, v.source, v.metadata, v.manifest, v.artifacts
      from application_versions v join applications a on a.id = v.id
      where v.id = ${id} and v.version = ${version}`;
    return r && toRecord(r);
  }

  async get(id: Buffer): Promise<ApplicationRecord | undefined> {
    const [r] = await this.sql<Row[]>`select * from applications where id = ${id}`;
    return r && toRecord(r);
  }

  async list(): Promise<ApplicationRecord[]> {
    return (await this.sql<Row[]>`select * from applications order by package, version, id`).map(toRecord);
  }

  /** Installed packages with their versions (each version once). */
  async packages(): Promise<{ package: string; versions: string[] }[]> {
    const rows = await this.sql<{ package: string; versions: string[] }[]>`
      select package, array_agg(distinct version) as versions from applications group by package order by package`;
    return rows.map((r) => ({ package: r.package, versions: r.versions }));
  }

  /** True when an application installs or ships the blob: such a blob is not deleted under it. */
  async usesBlob(blobId: Buffer): Promise<boolean> {
    const hex = blobId.toString('hex');
    const shipped = this.sql.json([{ blobId: hex }] as PostgresJson);
    const rows = await this.sql`
      select 1 from applications where blob_id = ${blobId} or artifacts @> ${shipped}
      union all
      select 1 from application_versions where blob_id = ${blobId} or artifacts @> ${shipped}
      limit 1`;
    return rows.length > 0;
  }

  async delete(id: Buffer): Promise<boolean> {
    return (await this.sql`delete from applications where id = ${id} returning 1`).length > 0;
  }
}

type PostgresJson = Parameters<Sql['json']>[0];

interface Row {
  id: Buffer;
  kind: ApplicationKind;
  package: string;
  version: string;
  signer: string | null;
  blob_id: Buffer;
  size: string;
  source: string;
  metadata: Buffer;
  manifest: Record<string, unknown>;
  artifacts: ApplicationArtifact[];
}

function toRecord(r: Row): ApplicationRecord {
  return {
    id: r.id,
    kind: r.kind,
    package: r.package,
    version: r.version,
    signer: r.signer,
    blobId: r.blob_id,
    size: Number(r.size),
    source: r.source,
    metadata: r.metadata,
    manifest: r.manifest,
    artifacts: r.artifacts,
  };
}
