-- The unfinished tasks of one owner, for the per-owner backlog limit checked at creation.
CREATE INDEX tasks_owner_unfinished ON tasks (owner) WHERE finished_at IS NULL;
