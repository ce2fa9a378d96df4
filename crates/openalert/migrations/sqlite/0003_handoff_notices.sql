-- One row per shift start or end a person was told about, so each notice goes out once
-- however many nodes look.
CREATE TABLE oa_handoff_notices (
    schedule_id INTEGER NOT NULL REFERENCES oa_schedules (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('starts', 'ended')),
    at          INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, user_id, kind, at)
);
