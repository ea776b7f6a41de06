-- Session limits that a grant sets beside the node's limits.max_session_duration and
-- limits.idle_timeout (the tighter of the two holds for the sessions it lets in), in whole seconds
-- from one to 366 days; and what its port forwards may do: record their bytes (by default only
-- their destination, byte counts and duration are), and carry an SSH connection inside (by default
-- a forward whose first bytes are an SSH identification line is refused, as a tunnel around the
-- recording); and how the bastion authenticates to the target: with its own upstream key
-- (bastion-key), or with the user's forwarded agent (agent), so that no key of the user is stored
-- on the bastion.
ALTER TABLE grants
  ADD COLUMN max_session_seconds bigint CHECK (max_session_seconds BETWEEN 1 AND 31622400),
  ADD COLUMN idle_timeout_seconds bigint CHECK (idle_timeout_seconds BETWEEN 1 AND 31622400),
  ADD COLUMN record_forward_data boolean NOT NULL DEFAULT false,
  ADD COLUMN forward_ssh_inside boolean NOT NULL DEFAULT false,
  ADD COLUMN upstream_auth text NOT NULL DEFAULT 'bastion-key'
    CHECK (upstream_auth IN ('bastion-key', 'agent'));
