-- Tasks, their images and the images' outputs, plus the event log that feeds live progress.

CREATE TABLE tasks (
    id              uuid PRIMARY KEY,
    owner           text        NOT NULL,
    status          text        NOT NULL DEFAULT 'queued',
    params          jsonb       NOT NULL,
    callback_url    text,
    ref             text,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CONSTRAINT tasks_status CHECK (status IN ('queued', 'processing', 'done', 'partial', 'failed', 'cancelled'))
);
-- A retried submission (same owner and Idempotency-Key, or same ref) finds its task.
CREATE UNIQUE INDEX tasks_owner_idempotency_key ON tasks (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX tasks_owner_ref ON tasks (owner, ref) WHERE ref IS NOT NULL;
CREATE INDEX tasks_owner_created ON tasks (owner, created_at DESC, id DESC);

CREATE TABLE images (
    id               uuid PRIMARY KEY,
    task_id          uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position         integer     NOT NULL,
    name             text,
    source_kind      text        NOT NULL,
    source_ref       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'queued',
    attempts         integer     NOT NULL DEFAULT 0,
    -- The outbox mark: set once the job record is in Kafka; the reconciler republishes rows
    -- where it is still NULL.
    enqueued_at      timestamptz,
    next_attempt_at  timestamptz,
    lease_owner      text,
    lease_expires_at timestamptz,
    error_code       text,
    error_message    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (task_id, position),
    CONSTRAINT images_source_kind CHECK (source_kind IN ('s3', 'url')),
    CONSTRAINT images_status CHECK (status IN ('queued', 'processing', 'retrying', 'done', 'failed', 'cancelled'))
);
CREATE INDEX images_task ON images (task_id, position);
CREATE INDEX images_unpublished ON images (created_at) WHERE enqueued_at IS NULL;
CREATE INDEX images_due ON images (next_attempt_at) WHERE status = 'retrying';
CREATE INDEX images_leased ON images (lease_expires_at) WHERE status = 'processing';

CREATE TABLE outputs (
    image_id uuid    NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    variant  text    NOT NULL,
    format   text    NOT NULL,
    width    integer NOT NULL,
    height   integer NOT NULL,
    bytes    bigint  NOT NULL,
    s3_key   text    NOT NULL,
    PRIMARY KEY (image_id, variant)
);

-- One row per image state change, written by a trigger so that no writer can forget it.
-- The id is the Server-Sent Events id that Last-Event-ID resumes from.
CREATE TABLE image_events (
    id          bigserial PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    image_id    uuid        NOT NULL,
    status      text        NOT NULL,
    attempts    integer     NOT NULL,
    error_code  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX image_events_task ON image_events (task_id, id);

CREATE FUNCTION record_image_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO image_events (task_id, image_id, status, attempts, error_code)
        VALUES (NEW.task_id, NEW.id, NEW.status, NEW.attempts, NEW.error_code);
        PERFORM pg_notify('pixelmill_image_events', NEW.task_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER images_record_event
    AFTER INSERT OR UPDATE OF status ON images
    FOR EACH ROW EXECUTE FUNCTION record_image_event();
