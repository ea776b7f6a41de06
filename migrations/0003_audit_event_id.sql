-- Audit rows written by bastiond carry an id of their own, chosen when the event happens, so that
-- writing one twice (a replay of the journal spool that a crash cut short starts over) adds it
-- once. Rows written by bastionctl have none (NULL: never in conflict).
ALTER TABLE audit_events ADD COLUMN event_id uuid;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_event_id UNIQUE (event_id);
