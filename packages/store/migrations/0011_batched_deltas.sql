-- Batched delta writes (group commit on the writer, batched apply on the receiver): the state and
-- tree a batch touches are read once and its tree nodes written once, computed by the writer in
-- memory. Like refresh_state_tree, these pin index plans: young tables have statistics that claim
-- a handful of rows.

-- Every entry (tombstones too) of the given leaf buckets.
create function state_entries_in_buckets(ctx bytea, buckets text[])
returns table (key_hash bytea, bucket text, value_hash bytea, op_hlc bytea, op_rank smallint)
language sql stable
set enable_seqscan = off
as $$
  select e.key_hash, e.bucket, e.value_hash, e.op_hlc, e.op_rank
  from unnest(buckets) b
  join state_entries e on e.context_id = ctx and e.bucket = b
$$;

-- Every existing child of the given tree paths ('' is the root): what their hashes depend on.
create function state_tree_children(ctx bytea, parents text[])
returns table (path text, hash bytea)
language sql stable
set enable_seqscan = off
as $$
  select n.path, n.hash
  from unnest(parents) p
  join state_tree_nodes n on n.context_id = ctx and n.level = length(p) + 1 and n.parent = p
$$;

-- Replaces the nodes at `changed`: those in `paths` get the given hashes, the others are removed
-- (an empty subtree has no node).
create function state_tree_write(ctx bytea, changed text[], paths text[], hashes bytea[])
returns void
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
begin
  delete from state_tree_nodes n where n.context_id = ctx and n.path = any (changed);
  insert into state_tree_nodes (context_id, path, level, parent, nibble, hash)
    select ctx, t.p, length(t.p),
           case when t.p = '' then null else left(t.p, length(t.p) - 1) end,
           case when t.p = '' then 0 else ('x' || lpad(right(t.p, 1), 8, '0'))::bit(32)::int end,
           t.h
    from unnest(paths, hashes) as t(p, h);
end
$$;

-- A list of 32-byte ids packed into one bytea, as an array (multi-row inserts of id lists).
create function split_ids(packed bytea) returns bytea[]
language sql immutable
as $$
  select coalesce(array(
    select substring(packed from i * 32 + 1 for 32) from generate_series(0, length(packed) / 32 - 1) i
    order by i), '{}')
$$;
