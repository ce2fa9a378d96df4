-- MindfulCRM: connected mail accounts (IMAP), the messages read from them, and the addresses
-- the user writes to that are no contact yet.

CREATE TABLE crm_mail_accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address         TEXT    NOT NULL,
    host            TEXT    NOT NULL,
    port            BIGINT  NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls             TEXT    NOT NULL CHECK (tls IN ('implicit', 'starttls', 'plain')),
    username        TEXT    NOT NULL,
    -- Sealed with the server key; never shown again.
    password_sealed TEXT    NOT NULL,
    -- Folders the user picked besides INBOX and Sent, one per line.
    folders         TEXT    NOT NULL,
    backfill_days   BIGINT  NOT NULL CHECK (backfill_days BETWEEN 1 AND 3650),
    state           TEXT    NOT NULL CHECK (state IN ('new', 'syncing', 'ok', 'error')),
    progress_done   BIGINT  NOT NULL,
    progress_total  BIGINT  NOT NULL,
    last_synced_at  BIGINT,
    last_error      TEXT,
    -- Failed syncs in a row; the next try backs off with it.
    failures        BIGINT  NOT NULL,
    next_sync_at    BIGINT  NOT NULL,
    -- A sync job is queued (cleared when it ends; a stale mark is taken over).
    queued_at       BIGINT,
    -- One worker on one node syncs an account at a time.
    lease_until     BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (user_id, address)
);
CREATE INDEX crm_mail_accounts_due ON crm_mail_accounts (next_sync_at);

-- Where the sync of each folder stands.
CREATE TABLE crm_mail_folders (
    account_id     BIGINT  NOT NULL REFERENCES crm_mail_accounts (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    uid_validity   BIGINT  NOT NULL,
    last_uid       BIGINT  NOT NULL,
    uid_next       BIGINT,
    highest_modseq BIGINT,
    PRIMARY KEY (account_id, name)
);

-- One row per message, however many folders or accounts hold it.
CREATE TABLE crm_mail_messages (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Cleared when the account is removed and the user keeps what it brought in.
    account_id     BIGINT  REFERENCES crm_mail_accounts (id) ON DELETE SET NULL,
    -- Message-ID without angle brackets, or a digest of date, sender and subject without one.
    message_key    TEXT    NOT NULL,
    sent_at        BIGINT  NOT NULL,
    direction      TEXT    NOT NULL CHECK (direction IN ('received', 'sent')),
    from_address   TEXT    NOT NULL,
    from_name      TEXT    NOT NULL,
    -- `Name <address>` per line, To then Cc.
    recipients     TEXT    NOT NULL,
    -- Lower-case addresses other than the account's own, each followed by a newline and the
    -- first preceded by one, so one address is found with LIKE '%\naddr\n%'.
    participants   TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    snippet        TEXT    NOT NULL,
    -- In-Reply-To and References ids, space-separated.
    thread_refs    TEXT    NOT NULL,
    interaction_id BIGINT  REFERENCES crm_interactions (id) ON DELETE SET NULL,
    created_at     BIGINT  NOT NULL,
    UNIQUE (user_id, message_key)
);
CREATE INDEX crm_mail_messages_account ON crm_mail_messages (account_id);
CREATE INDEX crm_mail_messages_interaction ON crm_mail_messages (interaction_id);

-- Addresses the user wrote to that are no contact: offered as suggested contacts.
CREATE TABLE crm_mail_suggestions (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    sent_count BIGINT  NOT NULL,
    last_at    BIGINT  NOT NULL,
    ignored    BIGINT  NOT NULL CHECK (ignored IN (0, 1)),
    PRIMARY KEY (user_id, address)
);

-- Mail interactions say which way they went.
ALTER TABLE crm_interactions ADD COLUMN direction TEXT CHECK (direction IN ('received', 'sent'));
