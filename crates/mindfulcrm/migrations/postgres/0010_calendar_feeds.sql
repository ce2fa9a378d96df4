-- MindfulCRM: subscribed iCalendar feeds (read-only URLs such as a provider's secret address).

CREATE TABLE crm_calendar_feeds (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    -- The URL is often a secret address: sealed with the server key; `host` is what is shown.
    url_sealed     TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    -- For conditional GET, and to skip a body that did not change.
    etag           TEXT,
    last_modified  TEXT,
    content_hash   TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('new', 'ok', 'error')),
    events         BIGINT  NOT NULL,
    last_synced_at BIGINT,
    last_error     TEXT,
    failures       BIGINT  NOT NULL,
    next_sync_at   BIGINT  NOT NULL,
    -- A refresh job is queued (cleared when it ends; a stale mark is taken over).
    queued_at      BIGINT,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX crm_calendar_feeds_due ON crm_calendar_feeds (next_sync_at);

-- Events read from a feed belong to it and go with it.
ALTER TABLE crm_events ADD COLUMN feed_id BIGINT  REFERENCES crm_calendar_feeds (id) ON DELETE CASCADE;
CREATE INDEX crm_events_feed ON crm_events (feed_id);
