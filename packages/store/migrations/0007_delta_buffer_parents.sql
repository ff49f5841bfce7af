-- The parents of a buffered delta, so the replay after a snapshot can tell which buffered deltas the
-- snapshot already covers (a boundary head and its buffered ancestors) without decoding them.
alter table delta_buffers add column parent_ids bytea[] not null default '{}';
