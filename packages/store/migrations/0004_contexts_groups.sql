-- Contexts end to end: member identities of this node, group membership and keys, and the outbox of
-- node events.

-- Member identities this node holds, whether or not they joined a context yet. The private key is
-- sealed with the node master key.
create table identities (
  public_key bytea primary key check (length(public_key) = 32),
  sealed_private_key bytea not null,
  created_at timestamptz not null default now()
);

-- A context that is not initialized has no state yet (it waits for a snapshot): deltas for it are
-- buffered, not applied.
alter table contexts add column initialized boolean not null default true;

-- Governance ops apply in causal order; applied_seq records that order (parents before children),
-- which is the order ops are served to peers in.
create sequence group_op_applied_seq;
alter table group_ops add column applied_seq bigint;
create index group_ops_by_applied_seq on group_ops (group_id, applied_seq) where applied;
create index group_ops_pending on group_ops (group_id) where not applied;

-- The live membership of each group: the projection of its applied ops.
create table group_members (
  group_id bytea not null check (length(group_id) = 32),
  member bytea not null check (length(member) = 32),
  -- wire GroupRole: 1 member, 2 admin, 3 read-only.
  role smallint not null,
  added_by_op bytea not null,
  primary key (group_id, member)
);

-- Group keys this node can use, sealed with the node master key; key_id = sha256(key).
create table group_keys (
  group_id bytea not null check (length(group_id) = 32),
  key_id bytea not null check (length(key_id) = 32),
  sealed_key bytea not null,
  created_at timestamptz not null default now(),
  primary key (group_id, key_id)
);

-- Node events written in the same transaction as their cause, published to NODE_EVENTS afterwards
-- (at least once; the publish id de-duplicates) and then deleted.
create table node_event_outbox (
  seq bigserial primary key,
  context_id bytea not null,
  payload bytea not null,
  created_at timestamptz not null default now()
);
