-- Completion webhooks: the delivery schedule lives on the task, every attempt is recorded.

ALTER TABLE tasks
    ADD COLUMN webhook_due_at       timestamptz,
    ADD COLUMN webhook_attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN webhook_delivered_at timestamptz;

CREATE INDEX tasks_webhook_due ON tasks (webhook_due_at)
    WHERE webhook_due_at IS NOT NULL AND webhook_delivered_at IS NULL;

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    task_id      uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    delivery_id  uuid        NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer     NOT NULL
);
CREATE INDEX webhook_attempts_task ON webhook_attempts (task_id, id);
