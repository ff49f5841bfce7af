-- Many deltas of a context looked up by id (a received batch, its parents, a cascade, a catch-up
-- answer). Written as `delta_id = any (ids)`, the planner of a table without fresh statistics
-- (autovacuum off, or not run yet) takes the context's whole history by its first key column and
-- filters it: O(history) per batch. These functions probe the primary key once per id instead,
-- whatever the statistics say. Duplicate ids yield duplicate rows; callers pass unique ones.

create function deltas_known(ctx bytea, ids bytea[])
returns table (delta_id bytea, applied boolean)
language sql stable
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
  select d.delta_id, d.applied from unnest(ids) w(id) join deltas d on d.context_id = ctx and d.delta_id = w.id
  union all
  select c.delta_id, true from unnest(ids) w(id) join dag_checkpoints c on c.context_id = ctx and c.delta_id = w.id
$$;

create function deltas_by_id(ctx bytea, ids bytea[])
returns setof deltas
language sql stable
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
  select d.* from unnest(ids) w(id) join deltas d on d.context_id = ctx and d.delta_id = w.id
$$;

create function deltas_mark_applied(ctx bytea, ids bytea[])
returns void
language sql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
  update deltas d set applied = true, applied_at = now()
  from unnest(ids) w(id)
  where d.context_id = ctx and d.delta_id = w.id
$$;
