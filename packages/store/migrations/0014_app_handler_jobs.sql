-- Handlers that received deltas name (an application's emit_with_handler). A row is written in the
-- transaction that applies the delta here, so a handler is never lost; the node-manager claims it
-- for a lease, runs the handler, and deletes the row in the transaction that commits the handler's
-- own delta (or alone, when the handler wrote nothing), so a handler's effect lands at most once.
-- A claim counts an attempt: a handler that keeps failing (or crashing its runner) is given up on.
create table app_handler_jobs (
  seq bigserial primary key,
  context_id bytea not null references contexts (id) on delete cascade,
  delta_id bytea not null,
  event_index integer not null,
  handler text not null,
  data bytea not null,
  attempts integer not null default 0,
  claimed_until timestamptz not null default '-infinity',
  last_error text,
  created_at timestamptz not null default now(),
  unique (context_id, delta_id, event_index)
);
create index app_handler_jobs_due on app_handler_jobs (claimed_until, seq);

-- Runners listen on "<schema>.handlers" to start at once instead of at their next poll.
create function app_handler_jobs_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '.handlers', '');
  return null;
end $$;

create trigger app_handler_jobs_added after insert on app_handler_jobs
  for each statement execute function app_handler_jobs_notify();
