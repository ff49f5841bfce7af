-- An application's private storage (private_storage_read/write/remove): node-local values of a
-- context, never in a delta and never replicated. A call's private writes commit with its delta (in
-- its transaction), or alone when the call made no delta.
create table private_entries (
  context_id bytea not null references contexts (id) on delete cascade,
  key bytea not null,
  value bytea not null,
  updated_at timestamptz not null default now(),
  primary key (context_id, key)
);
