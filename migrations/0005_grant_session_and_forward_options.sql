-- Session limits that a grant sets beside the node's limits.max_session_duration and
-- limits.idle_timeout (the tighter of the two holds for the sessions it lets in), in whole seconds
-- from one to 366 days; and what its port forwards may do: record their bytes (by default only
-- their destination, byte counts and duration are), and carry an SSH connection inside (by default
-- a forward whose first bytes are an SSH identification line is refused, as a tunnel around the
-- recording).
ALTER TABLE grants
  ADD COLUMN max_session_seconds bigint CHECK (max_session_seconds BETWEEN 1 AND 31622400),
  ADD COLUMN idle_timeout_seconds bigint CHECK (idle_timeout_seconds BETWEEN 1 AND 31622400),
  ADD COLUMN record_forward_data boolean NOT NULL DEFAULT false,
  ADD COLUMN forward_ssh_inside boolean NOT NULL DEFAULT false;
