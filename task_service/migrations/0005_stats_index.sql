-- The admin statistics count finished images per day.
CREATE INDEX images_finished ON images (finished_at) WHERE finished_at IS NOT NULL;
