-- 0001_init: identity, targets, grants, sessions, recordings and audit.
-- Forward only: never edit a migration that has shipped; add 0002_... instead.
-- Names are checked by the application (policy/names.hpp); the CHECKs here are a second fence that
-- keeps a hand-written INSERT from storing what the bastion would never accept.

CREATE TABLE schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND name <> 'root'),
  is_admin    boolean NOT NULL DEFAULT false,
  disabled_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_keys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_type    text NOT NULL,
  public_key  text NOT NULL,                    -- base64 blob, as in authorized_keys
  fingerprint text NOT NULL UNIQUE,             -- 'SHA256:...' as ssh-keygen -lf prints it
  bits        integer NOT NULL,
  comment     text NOT NULL DEFAULT '' CHECK (octet_length(comment) <= 1024),
  options     text NOT NULL DEFAULT '' CHECK (octet_length(options) <= 8192),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_keys_user_id ON user_keys (user_id);

CREATE TABLE targets (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$'),
  host       text NOT NULL CHECK (host ~ '^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$'),
  port       integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX targets_host_port ON targets (host, port);

CREATE TABLE target_host_keys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target_id   bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  key_type    text NOT NULL,
  public_key  text NOT NULL,
  fingerprint text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (target_id, fingerprint)
);

CREATE TABLE grants (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  login      text NOT NULL CHECK (login ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
  kinds      text[] NOT NULL CHECK (cardinality(kinds) > 0 AND kinds <@ ARRAY['shell', 'exec', 'sftp',
               'forward', 'remote-forward', 'agent', 'x11']),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, target_id, login)
);
CREATE INDEX grants_target_id ON grants (target_id);

-- Sessions keep names as they were at the time, so history survives a user or target removal.
CREATE TABLE sessions (
  id             uuid PRIMARY KEY,
  node           text NOT NULL,
  user_id        bigint REFERENCES users (id) ON DELETE SET NULL,
  user_name      text NOT NULL,
  target_id      bigint REFERENCES targets (id) ON DELETE SET NULL,
  target_name    text NOT NULL,
  login          text NOT NULL,
  source_addr    text NOT NULL,
  client_version text NOT NULL DEFAULT '',
  access_form    text NOT NULL CHECK (access_form IN ('jump', 'username')),
  started_at     timestamptz NOT NULL,
  ended_at       timestamptz,
  ended_reason   text
);
CREATE INDEX sessions_started_at ON sessions (started_at DESC);
CREATE INDEX sessions_live ON sessions (node) WHERE ended_at IS NULL;
CREATE INDEX sessions_user ON sessions (user_name, started_at DESC);
CREATE INDEX sessions_target ON sessions (target_name, started_at DESC);

CREATE TABLE channels (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  channel_no  integer NOT NULL,
  kind        text NOT NULL,
  detail      jsonb NOT NULL DEFAULT '{}',      -- pty size and term, command, subsystem, forward address
  opened_at   timestamptz NOT NULL,
  closed_at   timestamptz,
  exit_status integer,
  exit_signal text,
  bytes_in    bigint NOT NULL DEFAULT 0,
  bytes_out   bigint NOT NULL DEFAULT 0,
  UNIQUE (session_id, channel_no)
);

CREATE TABLE recordings (
  session_id     uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  path           text NOT NULL,                 -- relative to recording.dir, built from the session id
  format_version integer NOT NULL,
  bytes_raw      bigint NOT NULL DEFAULT 0,
  bytes_stored   bigint NOT NULL DEFAULT 0,
  chunk_count    integer NOT NULL DEFAULT 0,
  head_hash      text,                          -- hex SHA-256 of the last chunk, set when finalised
  lost_bytes     bigint NOT NULL DEFAULT 0,
  finalised_at   timestamptz
);

CREATE TABLE audit_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  node        text NOT NULL,
  kind        text NOT NULL,                   -- 'auth', 'session.start', 'admin.user_add', ...
  result      text NOT NULL,                   -- 'ok', 'denied', 'error'
  actor       text NOT NULL DEFAULT '',        -- bastion user, or the OS user running bastionctl
  source_addr text NOT NULL DEFAULT '',
  target_name text NOT NULL DEFAULT '',
  session_id  uuid,
  detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at DESC);
