-- Teams that asked for the weekly summary mail, and the last week each was sent for: the
-- engine claims a week by moving week_ends_at forward (compare-and-set), so each summary goes
-- out once however many nodes look.
CREATE TABLE oa_weekly_summaries (
    team_id      BIGINT NOT NULL PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    enabled      BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    week_ends_at BIGINT,
    updated_at   BIGINT NOT NULL
);
