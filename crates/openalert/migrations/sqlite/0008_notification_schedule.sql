-- The schedule that put a page's person on call, when a schedule did: on-call load is
-- reported per schedule as well as per person.
ALTER TABLE oa_notifications ADD COLUMN schedule_id INTEGER REFERENCES oa_schedules (id) ON DELETE SET NULL;
