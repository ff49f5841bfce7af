-- The core datastore: contexts and their identities, the replicated state with its Merkle tree, the
-- delta DAG, sync buffers, group governance ops, applications, blobs and aliases.

-- A context hosted by this node. root_hash and dag_heads change only together with the applied
-- delta that changes them, in one transaction; the row is also the per-context write lock.
create table contexts (
  id bytea primary key check (length(id) = 32),
  application_id bytea check (application_id is null or length(application_id) = 32),
  group_id bytea check (group_id is null or length(group_id) = 32),
  root_hash bytea not null default decode(repeat('00', 32), 'hex'),
  -- The DAG frontier; a new context's only head is the zero id (the genesis parent).
  dag_heads bytea[] not null default array[decode(repeat('00', 32), 'hex')],
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Identities in a context: ours carry the private key sealed with the node master key.
create table context_identities (
  context_id bytea not null references contexts (id) on delete cascade,
  public_key bytea not null check (length(public_key) = 32),
  sealed_private_key bytea,
  created_at timestamptz not null default now(),
  primary key (context_id, public_key)
);

-- One row per key ever written: the greatest operation seen (write or tombstone).
create table state_entries (
  context_id bytea not null references contexts (id) on delete cascade,
  key bytea not null,
  key_hash bytea not null,
  bucket text not null,
  value bytea,
  value_hash bytea not null,
  op_hlc bytea not null,
  op_rank smallint not null check (op_rank in (0, 1)),
  author bytea,
  deleted_at_ms bigint,
  primary key (context_id, key)
);
create index state_entries_by_bucket on state_entries (context_id, bucket);
create index state_entries_tombstones on state_entries (context_id, deleted_at_ms) where op_rank = 1;

-- The Merkle tree over live entries: 16-ary over sha256(key), paths of hex nibbles, '' the root.
create table state_tree_nodes (
  context_id bytea not null references contexts (id) on delete cascade,
  path text not null,
  level smallint not null,
  parent text,
  nibble smallint not null,
  hash bytea not null,
  primary key (context_id, path)
);
create index state_tree_nodes_by_parent on state_tree_nodes (context_id, level, parent);

-- Recomputes the tree above the given leaf buckets, bottom up, and returns the root hash.
-- Hashes match packages/primitives/src/merkle.ts exactly. Each dirty path costs one equality lookup
-- on an index (a correlated subquery per path, no grouping the planner could turn into a scan of a
-- whole level), so the cost grows with the number of dirty paths, not with the size of the tree.
-- Scans are disabled for the same reason: young tables have statistics that claim a handful of rows.
create function refresh_state_tree(ctx bytea, dirty text[]) returns bytea
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  paths text[] := array(select distinct p from unnest(dirty) p);
  root bytea;
begin
  delete from state_tree_nodes n where n.context_id = ctx and n.path = any (paths);
  insert into state_tree_nodes (context_id, path, level, parent, nibble, hash)
    select ctx, x.p, 4, left(x.p, 3), ('x' || lpad(right(x.p, 1), 8, '0'))::bit(32)::int, x.h
    from (
      select p, (
        select sha256(string_agg(e.key_hash || e.value_hash || e.op_hlc, ''::bytea order by e.key_hash))
        from state_entries e
        where e.context_id = ctx and e.bucket = p and e.op_rank = 0
      ) as h
      from unnest(paths) p
    ) x
    where x.h is not null;
  for d in reverse 3..0 loop
    paths := array(select distinct left(p, d) from unnest(paths) p);
    delete from state_tree_nodes n where n.context_id = ctx and n.path = any (paths);
    insert into state_tree_nodes (context_id, path, level, parent, nibble, hash)
      select ctx, x.p, d,
             case when d = 0 then null else left(x.p, d - 1) end,
             case when d = 0 then 0 else ('x' || lpad(right(x.p, 1), 8, '0'))::bit(32)::int end,
             x.h
      from (
        select p, (
          select sha256(string_agg(set_byte('\x00'::bytea, 0, c.nibble) || c.hash, ''::bytea order by c.nibble))
          from state_tree_nodes c
          where c.context_id = ctx and c.level = d + 1 and c.parent = p
        ) as h
        from unnest(paths) p
      ) x
      where x.h is not null;
  end loop;
  select n.hash into root from state_tree_nodes n where n.context_id = ctx and n.path = '';
  return coalesce(root, decode(repeat('00', 32), 'hex'));
end
$$;

-- Every delta this node holds: applied, or pending until its parents arrive.
create table deltas (
  context_id bytea not null references contexts (id) on delete cascade,
  delta_id bytea not null,
  parents bytea[] not null,
  hlc bytea not null,
  author bytea not null,
  governance_heads bytea[] not null default '{}',
  key_id bytea not null,
  nonce bytea not null,
  ciphertext bytea not null,
  signature bytea not null,
  -- The decrypted actions (protobuf Action list), so a pending delta applies without its key.
  actions bytea not null,
  applied boolean not null,
  received_at timestamptz not null default now(),
  applied_at timestamptz,
  primary key (context_id, delta_id)
);
create index deltas_pending_by_age on deltas (context_id, received_at) where not applied;

-- A pending delta waits on each parent not applied yet; the cascade walks this backwards.
create table delta_waits (
  context_id bytea not null,
  parent_id bytea not null,
  delta_id bytea not null,
  primary key (context_id, parent_id, delta_id),
  foreign key (context_id, delta_id) references deltas (context_id, delta_id) on delete cascade
);
create index delta_waits_by_delta on delta_waits (context_id, delta_id);

-- Deltas held while a snapshot sync runs; replayed in (hlc, id) order afterwards.
create table delta_buffers (
  context_id bytea not null references contexts (id) on delete cascade,
  delta_id bytea not null,
  hlc bytea not null,
  source_peer text,
  delta bytea not null,
  buffered_at timestamptz not null default now(),
  primary key (context_id, delta_id)
);

-- Signed governance ops, a DAG per group.
create table group_ops (
  group_id bytea not null check (length(group_id) = 32),
  op_id bytea not null check (length(op_id) = 32),
  parents bytea[] not null,
  signer bytea not null,
  op bytea not null,
  applied boolean not null default false,
  received_at timestamptz not null default now(),
  primary key (group_id, op_id)
);

create table applications (
  id bytea primary key check (length(id) = 32),
  package text not null,
  version text not null,
  signer text,
  bundle_blob_id bytea,
  size bigint not null,
  source text not null,
  manifest jsonb not null default '{}',
  installed_at timestamptz not null default now()
);

-- Content-addressed blobs, stored as 1 MiB chunks.
create table blobs (
  id bytea primary key check (length(id) = 32),
  size bigint not null,
  chunk_count integer not null,
  created_at timestamptz not null default now()
);
create table blob_chunks (
  blob_id bytea not null references blobs (id) on delete cascade,
  index integer not null,
  hash bytea not null,
  data bytea not null,
  primary key (blob_id, index)
);

-- Node-local names: of contexts and applications (scope empty), of identities (scope = context id).
create table aliases (
  kind text not null check (kind in ('context', 'application', 'identity')),
  scope bytea not null default ''::bytea,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  target bytea not null,
  created_at timestamptz not null default now(),
  primary key (kind, scope, name)
);
