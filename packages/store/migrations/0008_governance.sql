-- Governance: membership at a cut, per-signer nonces, and the governance-pending buffer.

-- What the projection folds, kept beside each op so a cut's membership is one query over the cut's
-- ancestry instead of a decode of every op:
--   generation: causal depth, 1 + the deepest parent (the genesis is 1); with op_id it orders
--               concurrent writes of one slot (last writer wins), the same on every node.
--   slot:       what the op writes: 'm' ‖ member (add, remove, set role), 'p' ‖ member
--               (capabilities), 'c' ‖ context id (register, unregister), 'k' (the current key).
--   kind:       the GroupOp case number (1 add member … 7 rotate key).
--   subject:    the member, context or key id the op is about.
--   role:       the role an add or set-role op gives.
--   nonce:      the signer's nonce (u64 as numeric): one op per (group, signer, nonce).
-- Rows written before this migration are filled in by the store at start (it decodes them).
alter table group_ops
  add column generation integer,
  add column slot bytea,
  add column kind smallint,
  add column subject bytea,
  add column role smallint,
  add column nonce numeric(20, 0);

create unique index group_ops_signer_nonce on group_ops (group_id, signer, nonce) where nonce is not null;
create index group_ops_by_slot on group_ops (group_id, slot) where applied;

-- Deltas whose cited governance cut this node does not know yet (some cited op is not applied
-- here). They are drained on every delta receipt, after every applied governance op and before every
-- interval sync: applied once the cut is known and names the author a member, dropped when it names
-- it a non-member or after too many undecided attempts. At most 256 per context (oldest evicted).
create table governance_pending (
  context_id bytea not null references contexts (id) on delete cascade,
  delta_id bytea not null,
  seq bigserial not null,
  source_peer text,
  -- The encoded wire StateDelta, re-run through the pipeline when drained.
  delta bytea not null,
  attempts smallint not null default 0,
  parked_at timestamptz not null default now(),
  primary key (context_id, delta_id)
);
create index governance_pending_by_seq on governance_pending (context_id, seq);
