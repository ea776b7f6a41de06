-- The policy version: one counter that every change to users, keys, targets, host keys or grants
-- advances, in the same transaction. A node loads it with its snapshot, so operators (and tests)
-- can tell whether a node has seen a given change. The same triggers send the NOTIFY that makes
-- every node reload, so a change made by hand in SQL reaches the nodes too.

CREATE TABLE policy_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version   bigint NOT NULL
);
INSERT INTO policy_version (version) VALUES (0);

CREATE FUNCTION bump_policy_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE policy_version SET version = version + 1;
  PERFORM pg_notify('bastion_policy', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER users_policy_version AFTER INSERT OR UPDATE OR DELETE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER user_keys_policy_version AFTER INSERT OR UPDATE OR DELETE ON user_keys
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER targets_policy_version AFTER INSERT OR UPDATE OR DELETE ON targets
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER target_host_keys_policy_version AFTER INSERT OR UPDATE OR DELETE ON target_host_keys
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
CREATE TRIGGER grants_policy_version AFTER INSERT OR UPDATE OR DELETE ON grants
  FOR EACH STATEMENT EXECUTE FUNCTION bump_policy_version();
