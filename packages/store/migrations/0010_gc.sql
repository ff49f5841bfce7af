-- Periodic maintenance: the reports of GC runs, newest kept, older ones trimmed by
-- the writer so the table stays bounded.
create table gc_runs (
  id bigserial primary key,
  -- tombstones, pending, compaction
  task text not null,
  -- startup, interval, admin
  trigger text not null,
  replica text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- running, ok, partial (some items failed; retried next run), failed
  outcome text not null default 'running',
  contexts integer not null default 0,
  scanned bigint not null default 0,
  deleted bigint not null default 0,
  failed bigint not null default 0,
  error text
);
create index gc_runs_by_task on gc_runs (task, id desc);

-- Compaction prunes old applied deltas; their ids stay known through dag_checkpoints (so children
-- apply without waiting for them). pruned marks the ones compaction added, so it can bound them.
alter table dag_checkpoints add column pruned boolean not null default false;
create index dag_checkpoints_pruned on dag_checkpoints (context_id, created_at) where pruned;

-- The GC statements run as functions so each batch is one transaction whose plan does not depend
-- on table statistics (young or bulk-loaded tables claim a handful of rows, and a planner that
-- believes it joins the batch against every tombstone of the context: quadratic). Rows are locked
-- as they are picked (`for update skip locked`: rows a writer holds wait for the next batch) and
-- deleted by primary key; the `+ 0` keeps the re-check off the tombstone index.
create function gc_delete_tombstones(ctx bytea, cutoff bigint, lim integer)
returns table (scanned integer, deleted integer)
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  picked bytea[];
begin
  select array_agg(c.key) into picked from (
    select e.key from state_entries e
    where e.context_id = ctx and e.op_rank = 1 and e.deleted_at_ms < cutoff
    order by e.deleted_at_ms limit lim
    for update skip locked) c;
  delete from state_entries e
  where e.context_id = ctx and e.key = any (picked) and e.op_rank + 0 = 1 and e.deleted_at_ms + 0 < cutoff;
  get diagnostics deleted = row_count;
  scanned := coalesce(array_length(picked, 1), 0);
  return next;
end
$$;

-- Pending deltas received before `cutoff`, oldest first, at most `lim`; their waits cascade.
create function gc_expire_pending(cutoff timestamptz, lim integer)
returns table (context_id bytea, expired integer)
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  ctx bytea;
  ids bytea[];
  n integer;
begin
  for ctx, ids in
    select v.context_id, array_agg(v.delta_id) from (
      select d.context_id, d.delta_id from deltas d
      where not d.applied and d.received_at < cutoff
      order by d.received_at limit lim
      for update skip locked) v
    group by v.context_id
  loop
    delete from deltas d where d.context_id = ctx and d.delta_id = any (ids);
    get diagnostics n = row_count;
    context_id := ctx;
    expired := n;
    return next;
  end loop;
end
$$;

-- Up to `lim` applied deltas of the context older than its newest `retain` (and not a head) become
-- pruned checkpoints, in one transaction; returns how many were pruned.
create function gc_prune_deltas(ctx bytea, retain integer, lim integer)
returns integer
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
  heads bytea[];
  oldest_kept_hlc bytea;
  oldest_kept_id bytea;
  ids bytea[];
  n integer;
begin
  select c.dag_heads into heads from contexts c where c.id = ctx;
  if retain > 0 then
    select d.hlc, d.delta_id into oldest_kept_hlc, oldest_kept_id from deltas d
    where d.context_id = ctx and d.applied
    order by d.hlc desc, d.delta_id desc offset retain - 1 limit 1;
    if oldest_kept_id is null then
      return 0;
    end if;
  end if;
  select array_agg(v.delta_id) into ids from (
    select d.delta_id from deltas d
    where d.context_id = ctx and d.applied and not (d.delta_id = any (coalesce(heads, '{}')))
      and (oldest_kept_id is null or (d.hlc, d.delta_id) < (oldest_kept_hlc, oldest_kept_id))
    order by d.hlc, d.delta_id limit lim
    for update skip locked) v;
  if ids is null then
    return 0;
  end if;
  insert into dag_checkpoints (context_id, delta_id, pruned)
    select ctx, i, true from unnest(ids) i
    on conflict do nothing;
  delete from deltas d where d.context_id = ctx and d.delta_id = any (ids) and d.applied;
  get diagnostics n = row_count;
  return n;
end
$$;
