-- The request that created a task: its id travels in every job record to the processor's logs.
ALTER TABLE tasks ADD COLUMN request_id text;
