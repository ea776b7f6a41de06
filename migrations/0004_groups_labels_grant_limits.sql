-- Groups of users, labels on targets, and grants that name a group instead of a user, a target
-- pattern (a glob over names, or label:KEY=VALUE) instead of one target, a validity window and
-- source CIDR blocks. policy/grants.hpp decides over them; the CHECKs are the second fence.

CREATE TABLE groups (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
  group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

CREATE TABLE target_labels (
  target_id bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  key       text NOT NULL CHECK (key ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$'),
  value     text NOT NULL CHECK (value ~ '^[A-Za-z0-9._-]{0,63}$'),
  PRIMARY KEY (target_id, key)
);

-- A grant is to a user or to a group, on one target (target_id, so that removing the target
-- removes it) or on a pattern. A pattern holds a wildcard or is a label selector: a plain name
-- belongs in target_id.
ALTER TABLE grants
  ALTER COLUMN user_id DROP NOT NULL,
  ALTER COLUMN target_id DROP NOT NULL,
  ADD COLUMN group_id bigint REFERENCES groups (id) ON DELETE CASCADE,
  ADD COLUMN target_pattern text CHECK (octet_length(target_pattern) <= 253 AND (
    target_pattern ~ '^label:[A-Za-z0-9][A-Za-z0-9._/-]{0,62}=[A-Za-z0-9._-]{0,63}$' OR
    target_pattern ~ '^[A-Za-z0-9._-]*[*?][A-Za-z0-9._*?-]*$')),
  ADD COLUMN valid_from timestamptz,
  ADD COLUMN valid_until timestamptz,
  ADD COLUMN sources cidr[] NOT NULL DEFAULT '{}' CHECK (cardinality(sources) <= 64),
  ADD CONSTRAINT grants_one_subject CHECK ((user_id IS NULL) <> (group_id IS NULL)),
  ADD CONSTRAINT grants_one_target CHECK ((target_id IS NULL) <> (target_pattern IS NULL)),
  ADD CONSTRAINT grants_window CHECK (valid_from < valid_until),
  ADD CONSTRAINT grants_window_finite CHECK (isfinite(valid_from) AND isfinite(valid_until)),
  DROP CONSTRAINT grants_user_id_target_id_login_key,
  ADD CONSTRAINT grants_unique
    UNIQUE NULLS NOT DISTINCT (user_id, group_id, target_id, target_pattern, login);
CREATE INDEX grants_group_id ON grants (group_id);

CREATE TRIGGER groups_policy_version AFTER INSERT OR UPDATE OR DELETE ON groups
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER group_members_policy_version AFTER INSERT OR UPDATE OR DELETE ON group_members
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER target_labels_policy_version AFTER INSERT OR UPDATE OR DELETE ON target_labels
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
