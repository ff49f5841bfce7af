-- A process may hold a context's whole state in memory (entries, tree, heads) as of one version of
-- its row, `contexts.xmin`: every writer of a context's state updates the row in the same
-- transaction. A batch applied on such a state sends this guard first, then its writes and COMMIT,
-- without waiting for an answer in between; a guard that refuses fails the transaction, so the
-- writes behind it roll back and the caller reads instead.
--   CN001: the row is not at the expected version (another writer committed since the load).
--   CN002: deltas wait for missing parents: the batch may complete them, which only the reading
--          path (the cascade) handles.
create function context_apply_guard(ctx bytea, expected text) returns void
language plpgsql
as $$
declare
  current text;
begin
  select c.xmin::text into current from contexts c where c.id = ctx for update;
  if current is distinct from expected then
    raise exception 'context % changed since its state was loaded', encode(ctx, 'hex') using errcode = 'CN001';
  end if;
  if exists (select 1 from delta_waits w where w.context_id = ctx) then
    raise exception 'deltas of context % wait for parents', encode(ctx, 'hex') using errcode = 'CN002';
  end if;
end
$$;

-- Tombstone deletion changes which operation a late, older write must beat, so it is a change of
-- the context's state like any other: it locks the context row first (the order every writer
-- locks in) and touches it when it deleted anything.
create or replace function gc_delete_tombstones(ctx bytea, cutoff bigint, lim integer)
returns table (scanned integer, deleted integer)
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  picked bytea[];
begin
  perform 1 from contexts c where c.id = ctx for update;
  select array_agg(c.key) into picked from (
    select e.key from state_entries e
    where e.context_id = ctx and e.op_rank = 1 and e.deleted_at_ms < cutoff
    order by e.deleted_at_ms limit lim
    for update skip locked) c;
  delete from state_entries e
  where e.context_id = ctx and e.key = any (picked) and e.op_rank + 0 = 1 and e.deleted_at_ms + 0 < cutoff;
  get diagnostics deleted = row_count;
  scanned := coalesce(array_length(picked, 1), 0);
  if deleted > 0 then
    update contexts set updated_at = now() where id = ctx;
  end if;
  return next;
end
$$;

-- The per-item retry of tombstone deletion, under the same rule.
create function gc_delete_tombstone(ctx bytea, k bytea, cutoff bigint) returns boolean
language plpgsql
as $$
declare
  n integer;
begin
  perform 1 from contexts c where c.id = ctx for update;
  delete from state_entries e where e.context_id = ctx and e.key = k and e.op_rank = 1 and e.deleted_at_ms < cutoff;
  get diagnostics n = row_count;
  if n > 0 then
    update contexts set updated_at = now() where id = ctx;
  end if;
  return n > 0;
end
$$;

-- Tree writes as upserts: a node whose hash changed is updated in place (the indexes hold path and
-- parent, not the hash, so the row stays where its index entries point), and only the nodes of
-- subtrees that became empty are deleted. Deleting and inserting every changed node wrote every
-- index entry again on each apply.
create or replace function state_tree_write(ctx bytea, changed text[], paths text[], hashes bytea[])
returns void
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
begin
  if cardinality(changed) > cardinality(paths) then
    delete from state_tree_nodes n where n.context_id = ctx and n.path = any (changed) and n.path <> all (paths);
  end if;
  insert into state_tree_nodes (context_id, path, level, parent, nibble, hash)
    select ctx, t.p, length(t.p),
           case when t.p = '' then null else left(t.p, length(t.p) - 1) end,
           case when t.p = '' then 0 else ('x' || lpad(right(t.p, 1), 8, '0'))::bit(32)::int end,
           t.h
    from unnest(paths, hashes) as t(p, h)
  on conflict (context_id, path) do update set hash = excluded.hash;
end
$$;

-- Whether a context's events wait in the outbox is asked by every commit that writes events: an
-- index keeps that a lookup while deleted rows wait for vacuum (a scan read every dead row).
create index node_event_outbox_by_context on node_event_outbox (context_id, seq);
