-- People and systems told about a status page's incidents and maintenances. E-mail
-- subscribers confirm first (double opt-in); webhooks are added by the page's team.
CREATE TABLE oa_status_subscribers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id      BIGINT  NOT NULL REFERENCES oa_status_pages (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('email', 'webhook')),
    address      TEXT    NOT NULL,
    -- JSON list of component ids; empty: everything on the page.
    components   TEXT    NOT NULL,
    confirmed_at BIGINT ,
    -- When the last confirmation mail went out (at most one an hour per address).
    asked_at     BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    UNIQUE (page_id, kind, address)
);
CREATE INDEX oa_status_subscribers_page ON oa_status_subscribers (page_id, confirmed_at);

ALTER TABLE oa_status_pages ADD COLUMN notify_component_changes BIGINT  NOT NULL DEFAULT 0 CHECK (notify_component_changes IN (0, 1));

-- A component linked to a service may take a status on its own while a high-urgency incident
-- is open there (`auto_applied`: the current status came that way, so it may be undone).
ALTER TABLE oa_status_components ADD COLUMN auto_status TEXT CHECK (auto_status IN ('degraded_performance', 'partial_outage', 'major_outage'));
ALTER TABLE oa_status_components ADD COLUMN auto_applied BIGINT NOT NULL DEFAULT 0 CHECK (auto_applied IN (0, 1));
