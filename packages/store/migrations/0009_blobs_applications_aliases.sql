-- Blobs, applications and aliases.

-- Chunks are stored once, by their SHA-256, and shared by every blob that contains them:
--   refs:       how many blob links point at the chunk (a blob holding one chunk twice counts twice).
--   touched_at: last time a writer stored or a blob released the chunk. A chunk with refs = 0 is
--               either part of an upload still running or an orphan; the sweep deletes those untouched
--               for longer than its grace, so a running upload never loses a chunk it already wrote.
create table blob_chunk_data (
  hash bytea primary key check (length(hash) = 32),
  data bytea not null,
  refs integer not null default 0 check (refs >= 0),
  touched_at timestamptz not null default now()
);
create index blob_chunk_data_orphans on blob_chunk_data (touched_at) where refs = 0;

create table blob_links (
  blob_id bytea not null references blobs (id) on delete cascade,
  index integer not null check (index >= 0),
  chunk_hash bytea not null references blob_chunk_data (hash),
  primary key (blob_id, index)
);
create index blob_links_chunk on blob_links (chunk_hash);

-- content_hash: SHA-256 of the whole content (what `sha256sum` prints), checked against an
-- uploader's expected hash. The blob id stays SHA-256 over the chunk hashes.
alter table blobs add column content_hash bytea;

insert into blob_chunk_data (hash, data, refs)
select hash, (array_agg(data))[1], count(*) from blob_chunks group by hash;
insert into blob_links (blob_id, index, chunk_hash) select blob_id, index, hash from blob_chunks;
update blobs b set content_hash = sha256(coalesce(
  (select string_agg(c.data, ''::bytea order by c.index) from blob_chunks c where c.blob_id = b.id), ''::bytea));
alter table blobs alter column content_hash set not null;
drop table blob_chunks;

-- Applications: what the install path was and the artifacts of a bundle, each stored as a blob.
--   kind:     'bundle' (a signed .mpk; id = SHA-256 over package and signer, stable across versions)
--             or 'wasm' (raw bytes; id = SHA-256 over blob id, size, source and metadata).
--   metadata: caller-supplied bytes kept with the install.
--   artifacts: [{name, path, blobId (hex), hash, size}] of a bundle's services.
alter table applications
  add column kind text not null default 'wasm' check (kind in ('bundle', 'wasm')),
  add column metadata bytea not null default ''::bytea,
  add column artifacts jsonb not null default '[]';
update applications set bundle_blob_id = ''::bytea where bundle_blob_id is null;
alter table applications rename column bundle_blob_id to blob_id;
alter table applications alter column blob_id set not null;
create index applications_package on applications (package, version);
create index applications_blob on applications (blob_id);

-- Alias names: 1–50 of [A-Za-z0-9._-].
alter table aliases drop constraint aliases_name_check;
alter table aliases add constraint aliases_name_check check (name ~ '^[A-Za-z0-9._-]{1,50}$');
create index aliases_target on aliases (kind, scope, target);
