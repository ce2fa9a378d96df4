-- OpenAlert on-call: schedules, escalation policies, contact methods, notification rules,
-- notifications and outgoing webhooks. Timestamps are milliseconds since the Unix epoch.

CREATE TABLE oa_schedules (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL,
    time_zone   TEXT   NOT NULL,
    -- Keyed hash of the secret in the schedule's iCalendar feed URL; NULL: no feed.
    feed_token_hash TEXT UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (team_id, name)
);

-- A rotation. Higher `position` overrides lower.
CREATE TABLE oa_schedule_layers (
    id           INTEGER PRIMARY KEY,
    schedule_id  INTEGER NOT NULL REFERENCES oa_schedules (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    name         TEXT   NOT NULL,
    shift_unit   TEXT   NOT NULL CHECK (shift_unit IN ('hours', 'days', 'weeks')),
    shift_length INTEGER NOT NULL CHECK (shift_length > 0),
    -- First handoff in the schedule's local time, `YYYY-MM-DDTHH:MM`.
    starts_local TEXT   NOT NULL,
    -- JSON list of {days, start, end}; [] means no restriction.
    restrictions TEXT   NOT NULL,
    UNIQUE (schedule_id, position)
);

CREATE TABLE oa_layer_participants (
    layer_id INTEGER NOT NULL REFERENCES oa_schedule_layers (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (layer_id, position)
);
CREATE INDEX oa_layer_participants_user ON oa_layer_participants (user_id);

CREATE TABLE oa_schedule_overrides (
    id          INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES oa_schedules (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mode        TEXT   NOT NULL CHECK (mode IN ('replace', 'add')),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX oa_schedule_overrides_schedule ON oa_schedule_overrides (schedule_id, ends_at);

-- Personal iCalendar feeds of one's shifts.
CREATE TABLE oa_feed_tokens (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

ALTER TABLE oa_escalation_policies ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- How many times the whole policy runs again after its last level (0-9).
ALTER TABLE oa_escalation_policies ADD COLUMN repeat_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE oa_escalation_levels (
    id            INTEGER PRIMARY KEY,
    policy_id     INTEGER NOT NULL REFERENCES oa_escalation_policies (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    delay_minutes INTEGER NOT NULL CHECK (delay_minutes > 0),
    UNIQUE (policy_id, position)
);

-- Exactly one of user, schedule (whoever is on call) or team (every member).
CREATE TABLE oa_escalation_targets (
    id          INTEGER PRIMARY KEY,
    level_id    INTEGER NOT NULL REFERENCES oa_escalation_levels (id) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    schedule_id INTEGER REFERENCES oa_schedules (id) ON DELETE CASCADE,
    team_id     INTEGER REFERENCES teams (id) ON DELETE CASCADE,
    CHECK ((user_id IS NOT NULL) + (schedule_id IS NOT NULL) + (team_id IS NOT NULL) = 1)
);
CREATE INDEX oa_escalation_targets_level ON oa_escalation_targets (level_id);
CREATE INDEX oa_escalation_targets_schedule ON oa_escalation_targets (schedule_id);

-- Escalation state of an incident. `escalation_step` only grows; the engine advances an
-- incident with a compare-and-set on it, in the transaction that queues the notifications,
-- so each step happens once however many nodes run the engine.
ALTER TABLE oa_incidents ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
-- Index of the level notified last (-1: none yet) and the current repetition of the policy.
ALTER TABLE oa_incidents ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT -1;
ALTER TABLE oa_incidents ADD COLUMN escalation_round INTEGER NOT NULL DEFAULT 0;
-- When the next step is due; NULL: nothing to do (acknowledged, resolved or exhausted).
ALTER TABLE oa_incidents ADD COLUMN escalation_due_at INTEGER;
CREATE INDEX oa_incidents_escalation_due ON oa_incidents (escalation_due_at) WHERE escalation_due_at IS NOT NULL;

CREATE TABLE oa_contact_methods (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              TEXT   NOT NULL CHECK (kind IN ('email', 'sms', 'voice', 'webhook', 'slack', 'teams', 'mattermost', 'discord')),
    label             TEXT   NOT NULL,
    address           TEXT   NOT NULL,
    verified_at       INTEGER,
    verify_code_hash  TEXT,
    verify_expires_at INTEGER,
    verify_attempts   INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    UNIQUE (user_id, kind, address)
);

CREATE TABLE oa_notification_rules (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_method_id INTEGER NOT NULL REFERENCES oa_contact_methods (id) ON DELETE CASCADE,
    urgency           TEXT   NOT NULL CHECK (urgency IN ('high', 'low')),
    delay_minutes     INTEGER NOT NULL CHECK (delay_minutes >= 0),
    created_at        INTEGER NOT NULL,
    UNIQUE (contact_method_id, urgency, delay_minutes)
);
CREATE INDEX oa_notification_rules_user ON oa_notification_rules (user_id, urgency);

-- One message to one person through one method. `status`: pending → sent | failed |
-- skipped (the incident was acknowledged or resolved first) | bundled (throttled into a
-- summary message).
CREATE TABLE oa_notifications (
    id                INTEGER PRIMARY KEY,
    incident_id       INTEGER REFERENCES oa_incidents (id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_method_id INTEGER REFERENCES oa_contact_methods (id) ON DELETE SET NULL,
    kind              TEXT   NOT NULL,
    address           TEXT   NOT NULL,
    reason            TEXT   NOT NULL,
    escalation_step   INTEGER,
    status            TEXT   NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'bundled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    detail            TEXT   NOT NULL DEFAULT '',
    due_at            INTEGER NOT NULL,
    sent_at           INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX oa_notifications_incident ON oa_notifications (incident_id, id);
CREATE INDEX oa_notifications_throttle ON oa_notifications (kind, address, sent_at);
CREATE INDEX oa_notifications_user ON oa_notifications (user_id, id);

-- Outgoing webhooks for incident events of a team's services (or one service).
CREATE TABLE oa_webhooks (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    service_id INTEGER REFERENCES oa_services (id) ON DELETE CASCADE,
    url        TEXT   NOT NULL,
    -- The signing secret is derived from the server key and this salt, never stored.
    secret_salt TEXT  NOT NULL,
    events     TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX oa_webhooks_team ON oa_webhooks (team_id);

-- Position of the webhook dispatcher in oa_incident_log.
INSERT INTO oa_counters (name, value) VALUES ('webhook_log_cursor', 0);
