-- Sync: the DAG heads a snapshot brought in. A snapshot carries state, not history: the deltas at
-- its boundary are known to be applied (their effects are in the state) although this node never
-- stored them, so deltas built on them apply directly instead of waiting for parents.
create table dag_checkpoints (
  context_id bytea not null references contexts (id) on delete cascade,
  delta_id bytea not null check (length(delta_id) = 32),
  created_at timestamptz not null default now(),
  primary key (context_id, delta_id)
);
