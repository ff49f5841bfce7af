-- The node's libp2p identity. One row: the same peer id across restarts.
-- The private key is sealed (AES-256-GCM) with the node's master key; it never leaves this table in clear.
create table node_identity (
  id smallint primary key default 1 check (id = 1),
  peer_id text not null,
  key_type text not null,
  sealed_private_key bytea not null,
  created_at timestamptz not null default now()
);
