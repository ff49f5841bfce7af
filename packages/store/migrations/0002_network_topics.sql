-- Gossip topics the node subscribes to: the network service re-subscribes to all of them on start.
create table network_topics (
  topic text primary key,
  subscribed_at timestamptz not null default now()
);
