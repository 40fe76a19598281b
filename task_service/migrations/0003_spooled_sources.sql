-- A source the gateway had to spool (S3 was down when it arrived) is not in S3 yet: its job
-- waits until the gateway reports the upload.
ALTER TABLE images ADD COLUMN source_pending boolean NOT NULL DEFAULT false;
