-- Session limits that a grant sets beside the node's limits.max_session_duration and
-- limits.idle_timeout: the tighter of the two holds for the sessions it lets in. Whole seconds,
-- at least one, at most 366 days.
ALTER TABLE grants
  ADD COLUMN max_session_seconds bigint CHECK (max_session_seconds BETWEEN 1 AND 31622400),
  ADD COLUMN idle_timeout_seconds bigint CHECK (idle_timeout_seconds BETWEEN 1 AND 31622400);
