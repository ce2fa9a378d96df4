-- What a job is about (`openalert.webhook:12`), so deleting that thing cancels its queued
-- jobs. NULL for jobs about nothing that can be deleted.
ALTER TABLE jobs ADD COLUMN subject TEXT;
CREATE INDEX jobs_subject ON jobs (subject) WHERE subject IS NOT NULL;
