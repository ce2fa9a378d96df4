-- MindfulCRM: CalDAV accounts, their calendars (the user picks which are read) and what was
-- read from each, so the next sync asks only for changes.

CREATE TABLE crm_caldav_accounts (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url             TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    -- Sealed with the server key; never shown again.
    password_sealed TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('new', 'ok', 'error')),
    last_error      TEXT,
    last_synced_at  INTEGER,
    failures        INTEGER NOT NULL,
    next_sync_at    INTEGER NOT NULL,
    -- A sync job is queued (cleared when it ends; a stale mark is taken over).
    queued_at       INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX crm_caldav_accounts_due ON crm_caldav_accounts (next_sync_at);

CREATE TABLE crm_caldav_calendars (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES crm_caldav_accounts (id) ON DELETE CASCADE,
    href       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    selected   INTEGER NOT NULL CHECK (selected IN (0, 1)),
    -- RFC 6578 token of the last sync; NULL reads everything (comparing ETags).
    sync_token TEXT,
    UNIQUE (account_id, href)
);

-- Each calendar object read: its ETag and the event UIDs it held.
CREATE TABLE crm_caldav_items (
    calendar_id INTEGER NOT NULL REFERENCES crm_caldav_calendars (id) ON DELETE CASCADE,
    href        TEXT    NOT NULL,
    etag        TEXT    NOT NULL,
    -- UIDs, one per line.
    uids        TEXT    NOT NULL,
    PRIMARY KEY (calendar_id, href)
);

-- Events read from a CalDAV calendar belong to it and go with it.
ALTER TABLE crm_events ADD COLUMN caldav_calendar_id INTEGER REFERENCES crm_caldav_calendars (id) ON DELETE CASCADE;
CREATE INDEX crm_events_caldav ON crm_events (caldav_calendar_id);
