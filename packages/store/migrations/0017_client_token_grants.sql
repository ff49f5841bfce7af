-- Grants of application client tokens (the app API): each scopes its access and refresh tokens to
-- one context and one of our identities in it. Tokens are signed JWTs carrying the grant id; the row
-- is what revocation and expiry are checked against.
create table client_token_grants (
  id bytea primary key,
  context_id bytea not null references contexts (id) on delete cascade,
  identity bytea not null,
  read_only boolean not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index client_token_grants_context on client_token_grants (context_id, created_at desc);
