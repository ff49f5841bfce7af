-- Hot state: every process of a node keeps rarely changing rows in memory (group keys, governance
-- heads and roles, our identities per context, context settings, aliases, whether a context has
-- governance-pending deltas). Each change to them notifies the node's channel "<schema>.hot" when
-- its transaction commits, naming the scope that changed; every process (every replica of every
-- service) listening there drops what it holds of that scope. The hot tables (deltas, entries, tree)
-- have no such trigger, and the contexts row notifies only when a cached column changes.

create function hot_state_notify_group() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '.hot', 'group:' || encode(coalesce(new.group_id, old.group_id), 'hex'));
  return null;
end $$;

create function hot_state_notify_context() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '.hot', 'context:' || encode(coalesce(new.context_id, old.context_id), 'hex'));
  return null;
end $$;

create function hot_state_notify_context_row() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '.hot', 'context:' || encode(coalesce(new.id, old.id), 'hex'));
  return null;
end $$;

create function hot_state_notify_aliases() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '.hot', 'aliases:');
  return null;
end $$;

create trigger group_ops_hot after insert or update or delete on group_ops
  for each row execute function hot_state_notify_group();
create trigger group_members_hot after insert or update or delete on group_members
  for each row execute function hot_state_notify_group();
create trigger group_keys_hot after insert or update or delete on group_keys
  for each row execute function hot_state_notify_group();

create trigger context_identities_hot after insert or update or delete on context_identities
  for each row execute function hot_state_notify_context();
-- Only parking needs telling: a cached "nothing pending" is what becomes wrong.
create trigger governance_pending_hot after insert on governance_pending
  for each row execute function hot_state_notify_context();

create trigger contexts_settings_hot after update on contexts
  for each row
  when (old.initialized is distinct from new.initialized
        or old.group_id is distinct from new.group_id
        or old.application_id is distinct from new.application_id)
  execute function hot_state_notify_context_row();
create trigger contexts_gone_hot after delete on contexts
  for each row execute function hot_state_notify_context_row();

create trigger aliases_hot after insert or update or delete on aliases
  for each statement execute function hot_state_notify_aliases();
