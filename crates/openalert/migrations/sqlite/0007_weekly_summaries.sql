-- Teams that asked for the weekly summary mail, and the last week each was sent for: the
-- engine claims a week by moving week_ends_at forward (compare-and-set), so each summary goes
-- out once however many nodes look.
CREATE TABLE oa_weekly_summaries (
    team_id      INTEGER NOT NULL PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    week_ends_at INTEGER,
    updated_at   INTEGER NOT NULL
);
