-- OpenAlert: services, integrations, maintenance windows, incidents, alerts and timelines.
-- Timestamps are milliseconds since the Unix epoch.

-- Escalation policies are filled in by the on-call engine; services may already point at one.
CREATE TABLE oa_escalation_policies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id    BIGINT  NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    name       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (team_id, name)
);

CREATE TABLE oa_services (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id              BIGINT  NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    name                 TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    escalation_policy_id BIGINT  REFERENCES oa_escalation_policies (id) ON DELETE SET NULL,
    urgency_rule         TEXT    NOT NULL CHECK (urgency_rule IN ('high', 'low', 'severity')),
    auto_resolve_minutes BIGINT,
    ack_timeout_minutes  BIGINT,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    UNIQUE (team_id, name)
);
CREATE INDEX oa_services_policy ON oa_services (escalation_policy_id);

CREATE TABLE oa_maintenance_windows (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id  BIGINT  NOT NULL REFERENCES oa_services (id) ON DELETE CASCADE,
    starts_at   BIGINT  NOT NULL,
    ends_at     BIGINT  NOT NULL,
    description TEXT    NOT NULL,
    created_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX oa_maintenance_service ON oa_maintenance_windows (service_id, ends_at);

CREATE TABLE oa_integrations (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id            BIGINT  NOT NULL REFERENCES oa_services (id) ON DELETE CASCADE,
    kind                  TEXT    NOT NULL CHECK (kind IN ('events_v2', 'alertmanager', 'grafana', 'generic', 'heartbeat')),
    name                  TEXT    NOT NULL,
    key_hash              TEXT    NOT NULL UNIQUE,
    key_prefix            TEXT    NOT NULL,
    rate_limit_per_minute BIGINT,
    heartbeat_seconds     BIGINT,
    last_heartbeat_at     BIGINT,
    disabled_at           BIGINT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);
CREATE INDEX oa_integrations_service ON oa_integrations (service_id);
CREATE INDEX oa_integrations_heartbeat ON oa_integrations (kind, last_heartbeat_at);

-- One row per organisation-wide sequence (incident numbers).
CREATE TABLE oa_counters (
    name  TEXT    PRIMARY KEY,
    value BIGINT  NOT NULL
);
INSERT INTO oa_counters (name, value) VALUES ('incident_number', 0);

CREATE TABLE oa_incidents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number           BIGINT  NOT NULL UNIQUE,
    service_id       BIGINT  NOT NULL REFERENCES oa_services (id) ON DELETE CASCADE,
    title            TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    urgency          TEXT    NOT NULL CHECK (urgency IN ('high', 'low')),
    dedup_key        TEXT    NOT NULL,
    alert_count      BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    last_alert_at    BIGINT  NOT NULL,
    acknowledged_at  BIGINT,
    acknowledged_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    resolved_at      BIGINT,
    resolved_by      BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    resolved_how     TEXT
);
-- At most one open incident per (service, dedup key).
CREATE UNIQUE INDEX oa_incidents_open_key ON oa_incidents (service_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX oa_incidents_status ON oa_incidents (status, id);
CREATE INDEX oa_incidents_service ON oa_incidents (service_id, id);
CREATE INDEX oa_incidents_created ON oa_incidents (created_at);

CREATE TABLE oa_incident_assignees (
    incident_id BIGINT  NOT NULL REFERENCES oa_incidents (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_at BIGINT  NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX oa_incident_assignees_user ON oa_incident_assignees (user_id);

CREATE TABLE oa_alerts (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id     BIGINT  NOT NULL REFERENCES oa_services (id) ON DELETE CASCADE,
    integration_id BIGINT  REFERENCES oa_integrations (id) ON DELETE SET NULL,
    -- NULL when recorded during a maintenance window (it paged nobody).
    incident_id    BIGINT  REFERENCES oa_incidents (id) ON DELETE CASCADE,
    dedup_key      TEXT    NOT NULL,
    alert_key      TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('firing', 'resolved')),
    summary        TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    severity       TEXT    NOT NULL CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    component      TEXT,
    grp            TEXT,
    class          TEXT,
    details        TEXT    NOT NULL,
    links          TEXT    NOT NULL,
    images         TEXT    NOT NULL,
    raw            TEXT    NOT NULL,
    suppressed     BIGINT  NOT NULL DEFAULT 0,
    received_at    BIGINT  NOT NULL,
    resolved_at    BIGINT
);
CREATE INDEX oa_alerts_incident ON oa_alerts (incident_id, alert_key);
CREATE INDEX oa_alerts_service ON oa_alerts (service_id, received_at);
CREATE INDEX oa_alerts_integration ON oa_alerts (integration_id);

CREATE TABLE oa_incident_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id   BIGINT  NOT NULL REFERENCES oa_incidents (id) ON DELETE CASCADE,
    at            BIGINT  NOT NULL,
    kind          TEXT    NOT NULL,
    actor_user_id BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    actor         TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    details       TEXT    NOT NULL
);
CREATE INDEX oa_incident_log_incident ON oa_incident_log (incident_id, id);
