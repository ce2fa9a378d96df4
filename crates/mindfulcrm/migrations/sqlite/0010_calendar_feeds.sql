-- MindfulCRM: subscribed iCalendar feeds (read-only URLs such as a provider's secret address).

CREATE TABLE crm_calendar_feeds (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    -- The URL is often a secret address: sealed with the server key; `host` is what is shown.
    url_sealed     TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    -- For conditional GET, and to skip a body that did not change.
    etag           TEXT,
    last_modified  TEXT,
    content_hash   TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('new', 'ok', 'error')),
    events         INTEGER NOT NULL,
    last_synced_at INTEGER,
    last_error     TEXT,
    failures       INTEGER NOT NULL,
    next_sync_at   INTEGER NOT NULL,
    -- A refresh job is queued (cleared when it ends; a stale mark is taken over).
    queued_at      INTEGER,
    created_at     INTEGER NOT NULL
);
CREATE INDEX crm_calendar_feeds_due ON crm_calendar_feeds (next_sync_at);

-- Events read from a feed belong to it and go with it.
ALTER TABLE crm_events ADD COLUMN feed_id INTEGER REFERENCES crm_calendar_feeds (id) ON DELETE CASCADE;
CREATE INDEX crm_events_feed ON crm_events (feed_id);
