-- Bearer tokens for the admin HTTP API and web console. Only a token's SHA-256 (hex) is stored: the
-- token itself is shown once, by `bastionctl token create`. A token acts as its user, who must be
-- an admin and not disabled when it is used, so that taking a user's admin flag away or disabling
-- them ends their tokens too.
CREATE TABLE admin_tokens (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX admin_tokens_user_id ON admin_tokens (user_id);

-- The session listing pages by (started_at, id), newest first: keyset pagination needs the pair.
CREATE INDEX sessions_started_at_id ON sessions (started_at DESC, id DESC);
