-- Public status pages: components with their status history as intervals, and incidents and
-- scheduled maintenances told as lists of updates.
CREATE TABLE oa_status_pages (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id            BIGINT  NOT NULL REFERENCES teams (id) ON DELETE RESTRICT,
    name               TEXT    NOT NULL,
    slug               TEXT    NOT NULL UNIQUE,
    custom_host        TEXT    UNIQUE,
    time_zone          TEXT    NOT NULL,
    logo_url           TEXT    NOT NULL,
    private            BIGINT  NOT NULL CHECK (private IN (0, 1)),
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX oa_status_pages_team ON oa_status_pages (team_id);

CREATE TABLE oa_status_groups (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id    BIGINT  NOT NULL REFERENCES oa_status_pages (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    position   BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (page_id, name)
);

CREATE TABLE oa_status_components (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id     BIGINT  NOT NULL REFERENCES oa_status_pages (id) ON DELETE CASCADE,
    group_id    BIGINT  REFERENCES oa_status_groups (id) ON DELETE SET NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    position    BIGINT  NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    service_id  BIGINT  REFERENCES oa_services (id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (page_id, name)
);
CREATE INDEX oa_status_components_service ON oa_status_components (service_id);

-- Each status a component had, from when to when (open interval: ended_at NULL).
CREATE TABLE oa_status_intervals (
    component_id BIGINT  NOT NULL REFERENCES oa_status_components (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    ended_at     BIGINT ,
    PRIMARY KEY (component_id, started_at)
);

-- Incidents (kind 'incident') and scheduled maintenances (kind 'maintenance').
CREATE TABLE oa_status_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id         BIGINT  NOT NULL REFERENCES oa_status_pages (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('incident', 'maintenance')),
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    impact          TEXT    NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical', 'maintenance')),
    postmortem      TEXT    NOT NULL,
    scheduled_for   BIGINT ,
    scheduled_until BIGINT ,
    auto_transition BIGINT  NOT NULL CHECK (auto_transition IN (0, 1)),
    started_at      BIGINT  NOT NULL,
    monitoring_at   BIGINT ,
    resolved_at     BIGINT ,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX oa_status_events_page ON oa_status_events (page_id, kind, resolved_at);
CREATE INDEX oa_status_events_due ON oa_status_events (auto_transition, resolved_at, scheduled_for);

CREATE TABLE oa_status_event_components (
    event_id     BIGINT  NOT NULL REFERENCES oa_status_events (id) ON DELETE CASCADE,
    component_id BIGINT  NOT NULL REFERENCES oa_status_components (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, component_id)
);
CREATE INDEX oa_status_event_components_component ON oa_status_event_components (component_id);

-- One entry of an incident's or maintenance's timeline; `changes` is a JSON list of
-- {component_id, name, old_status, new_status}.
CREATE TABLE oa_status_updates (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   BIGINT  NOT NULL REFERENCES oa_status_events (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    changes    TEXT    NOT NULL,
    notify     BIGINT  NOT NULL CHECK (notify IN (0, 1)),
    created_at BIGINT  NOT NULL
);
CREATE INDEX oa_status_updates_event ON oa_status_updates (event_id, created_at);
