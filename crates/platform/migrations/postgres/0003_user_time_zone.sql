-- The time zone a person lives in (IANA name), for times on pages and for telling working
-- hours from nights in on-call figures. Empty: not set (UTC is assumed).
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';
