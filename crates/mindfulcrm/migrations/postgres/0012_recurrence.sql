-- MindfulCRM: recurring events are stored as their occurrences within a window around today;
-- the window moves, so sources holding a series are read again once a day.

-- When the feed's body was last read in full (a conditional GET skips the body otherwise).
ALTER TABLE crm_calendar_feeds ADD COLUMN expanded_at BIGINT;
-- When the calendar's recurring objects were last read again.
ALTER TABLE crm_caldav_calendars ADD COLUMN expanded_at BIGINT;
-- The object holds a recurring event (1) or not (0).
ALTER TABLE crm_caldav_items ADD COLUMN recurring BIGINT NOT NULL DEFAULT 0 CHECK (recurring IN (0, 1));
