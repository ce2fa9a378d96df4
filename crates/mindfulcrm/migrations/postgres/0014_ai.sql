-- MindfulCRM: AI assistant with hard cost controls. Money is in micro-dollars (USD × 10⁶).

-- OpenAI-compatible chat-completions endpoints the admin configured.
CREATE TABLE crm_ai_providers (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    base_url       TEXT    NOT NULL,
    -- Sealed with the server key; NULL for a local server that takes no key.
    api_key_sealed TEXT,
    timeout_ms     BIGINT NOT NULL,
    enabled        BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    created_at     BIGINT NOT NULL
);

CREATE TABLE crm_ai_models (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id         BIGINT NOT NULL REFERENCES crm_ai_providers (id) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    context_window      BIGINT NOT NULL,
    -- Price per million tokens.
    input_price_micros  BIGINT NOT NULL,
    output_price_micros BIGINT NOT NULL,
    tier                TEXT    NOT NULL CHECK (tier IN ('economy', 'standard', 'best')),
    enabled             BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    UNIQUE (provider_id, name)
);

-- Monthly budgets (calendar months, UTC): the whole server, and each user by default.
CREATE TABLE crm_ai_config (
    id                  BIGINT PRIMARY KEY CHECK (id = 1),
    global_budget_micros BIGINT NOT NULL,
    user_budget_micros  BIGINT NOT NULL
);

CREATE TABLE crm_ai_users (
    user_id          BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- Nothing about a user leaves the server before they opt in.
    opted_in         BIGINT NOT NULL CHECK (opted_in IN (0, 1)),
    -- The admin's budget for this user (NULL: the default) and the user's own lower limit.
    budget_micros    BIGINT,
    own_limit_micros BIGINT
);

-- Money committed per month and scope ('all' or 'user:<id>'): settled costs plus open
-- reservations. A call reserves its worst case with a conditional update that keeps this
-- within the budget, so concurrent calls on any number of nodes cannot overspend.
CREATE TABLE crm_ai_spend (
    scope            TEXT    NOT NULL,
    month            TEXT    NOT NULL,
    committed_micros BIGINT NOT NULL,
    PRIMARY KEY (scope, month)
);

-- Every call, and every call refused by a budget.
CREATE TABLE crm_ai_ledger (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    feature         TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    month           TEXT    NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    reserved_micros BIGINT NOT NULL,
    cost_micros     BIGINT NOT NULL,
    latency_ms      BIGINT NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('pending', 'ok', 'refused', 'provider_error', 'timed_out')),
    detail          TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX crm_ai_ledger_user ON crm_ai_ledger (user_id, month);
CREATE INDEX crm_ai_ledger_month ON crm_ai_ledger (month);

-- What the assistant wrote about a contact (the relationship summary, the suggested next
-- touch), one of each kind per contact, cached by a hash of what it was made from.
CREATE TABLE crm_ai_texts (
    contact_id  BIGINT NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('summary', 'next_touch')),
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source_hash TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('working', 'ready', 'failed')),
    -- The last text made (kept while a newer one is being made).
    text        TEXT,
    model       TEXT,
    error       TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (contact_id, kind)
);

-- Budget warnings sent (80 and 100 per cent), once per scope and month.
CREATE TABLE crm_ai_alerts (
    scope TEXT NOT NULL,
    month TEXT NOT NULL,
    level BIGINT  NOT NULL CHECK (level IN (80, 100)),
    PRIMARY KEY (scope, month, level)
);

-- Follow-ups the assistant found in an interaction, waiting for the user: nothing becomes a
-- task until they accept it.
CREATE TABLE crm_ai_proposals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    interaction_id BIGINT NOT NULL REFERENCES crm_interactions (id) ON DELETE CASCADE,
    title          TEXT    NOT NULL,
    -- YYYY-MM-DD when the text named a day.
    due_on         TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('open', 'accepted', 'dismissed')),
    task_id        BIGINT REFERENCES crm_tasks (id) ON DELETE SET NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX crm_ai_proposals_interaction ON crm_ai_proposals (interaction_id);
CREATE INDEX crm_ai_proposals_user_state ON crm_ai_proposals (user_id, state);

-- Pictures the photo finder fetched for a contact, until the user picks one (or looks again).
CREATE TABLE crm_photo_candidates (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id   BIGINT NOT NULL REFERENCES crm_contacts (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Where it came from, for people: "Libravatar", "www.example.com" …
    source       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    data         BYTEA    NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX crm_photo_candidates_contact ON crm_photo_candidates (contact_id);
