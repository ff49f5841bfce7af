-- Every installed version of an application, not only the newest (`applications` keeps the newest,
-- as listed). A context runs the version its group's newest RegisterContext op names: installing a
-- newer version changes no context until an admin moves it there (UpdateContextApplication), and
-- every member then switches when it applies that op.
create table application_versions (
  id bytea not null references applications (id) on delete cascade,
  version text not null,
  kind text not null check (kind in ('bundle', 'wasm')),
  blob_id bytea not null,
  size bigint not null,
  source text not null,
  metadata bytea not null,
  manifest jsonb not null,
  artifacts jsonb not null,
  installed_at timestamptz not null default now(),
  primary key (id, version)
);
create index application_versions_blob on application_versions (blob_id);
insert into application_versions (id, version, kind, blob_id, size, source, metadata, manifest, artifacts)
  select id, version, kind, blob_id, size, source, metadata, manifest, artifacts from applications;

-- The version a context runs; null: the newest installed (contexts registered before versions were named).
alter table contexts add column application_version text;

drop trigger contexts_settings_hot on contexts;
create trigger contexts_settings_hot after update on contexts
  for each row
  when (old.initialized is distinct from new.initialized
        or old.group_id is distinct from new.group_id
        or old.application_id is distinct from new.application_id
        or old.application_version is distinct from new.application_version)
  execute function hot_state_notify_context_row();
