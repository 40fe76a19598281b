-- An image reclaimed from a worker whose lease expired stays 'processing', yet it is a new
-- attempt by another worker: the event log and the live stream show it too.
CREATE OR REPLACE FUNCTION record_image_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
        OR OLD.status IS DISTINCT FROM NEW.status
        OR (NEW.status = 'processing' AND NEW.attempts > OLD.attempts) THEN
        INSERT INTO image_events (task_id, image_id, status, attempts, error_code)
        VALUES (NEW.task_id, NEW.id, NEW.status, NEW.attempts, NEW.error_code);
        PERFORM pg_notify('pixelmill_image_events', NEW.task_id::text);
    END IF;
    RETURN NULL;
END
$$;
