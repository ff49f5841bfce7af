-- Peers the node has been connected to, with the addresses they listen on. After a restart the
-- network service dials the most recently seen ones again: bootstrap peers alone may be gone, and
-- peers that dialed us cannot know the new port we listen on.
create table network_peers (
  peer_id text primary key,
  addrs text[] not null,
  last_seen_at timestamptz not null default now()
);
create index network_peers_last_seen on network_peers (last_seen_at desc);
