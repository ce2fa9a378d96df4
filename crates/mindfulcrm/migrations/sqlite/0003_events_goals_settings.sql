-- MindfulCRM: calendar events, goals and per-user settings.

CREATE TABLE crm_events (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- iCalendar UID: an event imported twice is updated, never duplicated.
    uid            TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER NOT NULL CHECK (ends_at >= starts_at),
    all_day        INTEGER NOT NULL CHECK (all_day IN (0, 1)),
    location       TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    -- Attendee email addresses, one per line, lower-case.
    attendees      TEXT    NOT NULL,
    -- Set once the ended event became an interaction (or was found to have no known attendee).
    processed_at   INTEGER,
    interaction_id INTEGER REFERENCES crm_interactions (id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (user_id, uid)
);
CREATE INDEX crm_events_user_start ON crm_events (user_id, starts_at);
-- The processing sweep: ended events not yet processed.
CREATE INDEX crm_events_unprocessed ON crm_events (ends_at) WHERE processed_at IS NULL;

-- Attendees matched to contacts by email when the event is written.
CREATE TABLE crm_event_contacts (
    event_id   INTEGER NOT NULL REFERENCES crm_events (id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, contact_id)
);
CREATE INDEX crm_event_contacts_contact ON crm_event_contacts (contact_id, event_id);

-- A measurable target; progress and history are computed from interactions.
CREATE TABLE crm_goals (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title            TEXT    NOT NULL,
    -- `interactions`: N interactions a period; `reconnect`: reach every contact in the group.
    kind             TEXT    NOT NULL CHECK (kind IN ('interactions', 'reconnect')),
    period           TEXT    NOT NULL CHECK (period IN ('week', 'month', 'quarter')),
    target           INTEGER NOT NULL CHECK (target > 0),
    -- Optional narrowing: only interactions of this kind, only contacts of this stage / tag.
    interaction_kind TEXT,
    stage            TEXT,
    tag              TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX crm_goals_user ON crm_goals (user_id, id);

CREATE TABLE crm_settings (
    user_id              INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    time_zone            TEXT    NOT NULL,
    default_cadence_days INTEGER CHECK (default_cadence_days > 0),
    digest_enabled       INTEGER NOT NULL CHECK (digest_enabled IN (0, 1)),
    -- Local hour (0-23) the daily digest is sent at.
    digest_hour          INTEGER NOT NULL CHECK (digest_hour BETWEEN 0 AND 23),
    -- Local date (YYYY-MM-DD) of the last digest sent, so each day gets at most one.
    digest_sent_on       TEXT,
    updated_at           INTEGER NOT NULL
);
