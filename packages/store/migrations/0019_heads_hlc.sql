-- The newest HLC among a context's DAG heads: node-manager reads it before a local write stamps its
-- actions. Written as a join of deltas on `delta_id = any (c.dag_heads)`, the prepared plan that a
-- connection made while the table was young (no fresh statistics: autovacuum off, or not run yet)
-- read the context's whole history: 15–220 ms per read once a context held 80 000 deltas, on
-- every Execute. One primary-key probe per head instead, whatever the statistics say.
create function context_heads_hlc(ctx bytea)
returns bytea
language sql stable
set enable_seqscan = off
as $$
  -- A scalar subquery per head: its lookup can only be by the whole primary key (a join lets the
  -- planner read the context's whole history once instead, which young statistics make look cheap).
  select (select d.hlc from deltas d where d.context_id = ctx and d.delta_id = h.id) as hlc
  from contexts c
  cross join lateral unnest(c.dag_heads) h(id)
  where c.id = ctx
  order by 1 desc nulls last
  limit 1
$$;
