-- MindfulCRM: contacts, tags, interactions and tasks. Every row belongs to one user and is
-- removed with them. Timestamps are milliseconds since the Unix epoch.

CREATE TABLE crm_contacts (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    given_name    TEXT   NOT NULL,
    family_name   TEXT   NOT NULL,
    display_name  TEXT   NOT NULL,
    company       TEXT   NOT NULL,
    title         TEXT   NOT NULL,
    -- `YYYY-MM-DD`, or `--MM-DD` when the year is unknown.
    birthday      TEXT,
    website       TEXT   NOT NULL,
    notes         TEXT   NOT NULL,
    stage         TEXT   NOT NULL CHECK (stage IN ('prospect', 'new', 'active', 'close', 'dormant', 'archived')),
    -- Keep in touch every N days; NULL: no cadence.
    cadence_days  INTEGER CHECK (cadence_days > 0),
    -- Derived from interactions, never typed in.
    last_interaction_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX crm_contacts_user_name ON crm_contacts (user_id, display_name, id);
CREATE INDEX crm_contacts_user_stage ON crm_contacts (user_id, stage);

CREATE TABLE crm_contact_emails (
    contact_id INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    PRIMARY KEY (contact_id, position)
);
-- Matching mail and calendar attendees to contacts, and duplicate suggestions.
CREATE INDEX crm_contact_emails_user ON crm_contact_emails (user_id, email);

CREATE TABLE crm_contact_phones (
    contact_id INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone      TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX crm_contact_phones_user ON crm_contact_phones (user_id, phone);

CREATE TABLE crm_tags (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    TEXT   NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE crm_contact_tags (
    contact_id INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES crm_tags (id) ON DELETE CASCADE,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX crm_contact_tags_tag ON crm_contact_tags (tag_id, contact_id);

CREATE TABLE crm_interactions (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT   NOT NULL CHECK (kind IN ('email', 'meeting', 'call', 'message', 'note')),
    occurred_at INTEGER NOT NULL,
    subject     TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    sentiment   TEXT   CHECK (sentiment IN ('positive', 'neutral', 'negative')),
    -- Where a synced interaction came from (message id, event uid), so re-syncs never duplicate.
    source_ref  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (user_id, source_ref)
);
CREATE INDEX crm_interactions_user_time ON crm_interactions (user_id, occurred_at);

CREATE TABLE crm_interaction_contacts (
    interaction_id INTEGER NOT NULL REFERENCES crm_interactions (id) ON DELETE CASCADE,
    contact_id     INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (interaction_id, contact_id)
);
CREATE INDEX crm_interaction_contacts_contact ON crm_interaction_contacts (contact_id, interaction_id);

CREATE TABLE crm_tasks (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT   NOT NULL,
    notes        TEXT   NOT NULL,
    due_at       INTEGER,
    priority     TEXT   NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    status       TEXT   NOT NULL CHECK (status IN ('open', 'done')),
    completed_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX crm_tasks_user_status_due ON crm_tasks (user_id, status, due_at);

CREATE TABLE crm_task_contacts (
    task_id    INTEGER NOT NULL REFERENCES crm_tasks (id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, contact_id)
);
CREATE INDEX crm_task_contacts_contact ON crm_task_contacts (contact_id);
