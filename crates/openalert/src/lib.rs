//! OpenAlert: incident response and on-call paging on the keel platform.
//!
//! `domain` holds the rules and the readers of monitoring tools' formats, `store` the SQL,
//! `catalog` / `incidents` / `ingest` the operations, `engine` the background cycle, `api`
//! and `web` the HTTP surfaces.

pub mod analytics;
pub mod api;
pub mod catalog;
pub mod domain;
pub mod engine;
pub mod escalation;
pub mod handoff;
pub mod incidents;
pub mod ingest;
pub mod notify;
pub mod oncall;
pub mod paging;
pub mod retention;
pub mod seed;
pub mod status;
pub mod store;
mod web;
pub mod weekly_summary;

use keel_platform::Platform;
use keel_platform::db::MigrationSet;
use keel_platform::observability::MetricInfo;
use keel_platform::server::ProductRoutes;

/// OpenAlert's schema.
pub static MIGRATIONS: &[&MigrationSet] = &[&SCHEMA];
static SCHEMA: MigrationSet = keel_platform::migrations!("openalert", "0001_incidents" => 2001, "0002_oncall" => 2002, "0003_handoff_notices" => 2003, "0004_status_pages" => 2004, "0005_status_subscribers" => 2005, "0006_incident_facts" => 2006, "0007_weekly_summaries" => 2007, "0008_notification_schedule" => 2008, "0009_alert_retention" => 2009, "0010_webhook_commit_order" => 2010)
    .never_reusing_ids(&[
        "oa_escalation_policies",
        "oa_services",
        "oa_integrations",
        "oa_incidents",
        "oa_schedules",
        "oa_contact_methods",
        "oa_notifications",
        "oa_webhooks",
        "oa_status_pages",
        "oa_status_groups",
        "oa_status_components",
        "oa_status_events",
        "oa_status_updates",
        "oa_status_subscribers",
    ]);

/// Registers OpenAlert's background jobs: notification delivery, summaries, webhooks, status
/// page notices and the weekly summary mail.
pub fn register_jobs(registry: &mut keel_platform::jobs::Registry, platform: &Platform) {
    let notifier = notify::Notifier::new(platform.clone());
    let n = notifier.clone();
    registry.register(move |job: notify::NotifyJob| {
        let n = n.clone();
        async move { n.deliver(&job).await }
    });
    let n = notifier.clone();
    registry.register(move |job: notify::SummaryJob| {
        let n = n.clone();
        async move { n.send_summary(&job).await }
    });
    registry.register(move |job: notify::WebhookJob| {
        let n = notifier.clone();
        async move { n.send_webhook(&job).await }
    });
    let p = platform.clone();
    registry.register(move |notice: status::notices::Notice| {
        let p = p.clone();
        async move { status::notices::fan_out(&p, &notice).await }
    });
    let p = platform.clone();
    registry.register(move |job: status::notices::Delivery| {
        let p = p.clone();
        async move { status::notices::deliver(&p, &job).await }
    });
    let p = platform.clone();
    registry.register(move |job: weekly_summary::WeeklySummary| {
        let p = p.clone();
        async move { weekly_summary::send(&p, &job).await }
    });
}

/// The metrics OpenAlert exports (described on `/metrics` from the start).
const METRICS: &[MetricInfo] = &[
    MetricInfo::counter(
        "keel_ingest_events_total",
        "Alert events written by the ingestion endpoints (counted after their commit).",
    ),
    MetricInfo::histogram(
        "keel_ingest_batch_size",
        "Events written per group commit of the ingestion writer.",
    ),
    MetricInfo::counter(
        "keel_ingest_races_total",
        "Ingest batches tried again because another node opened the same incident first.",
    ),
    MetricInfo::counter(
        "keel_incidents_opened_total",
        "Incidents opened, by urgency.",
    ),
    MetricInfo::histogram(
        "keel_incident_time_to_acknowledge_seconds",
        "Time from an incident opening to its first acknowledgement.",
    ),
    MetricInfo::histogram(
        "keel_incident_time_to_resolve_seconds",
        "Time from an incident opening to its resolution.",
    ),
    MetricInfo::counter(
        "keel_notifications_total",
        "Notifications delivered or failed, by kind (email, sms, voice, slack, webhook…) and outcome.",
    ),
    MetricInfo::counter(
        "keel_status_page_cache_total",
        "Public status page documents served from the cache or rebuilt, by result.",
    ),
];

/// OpenAlert's routes; starts this node's ingestion writer.
pub fn routes(platform: &Platform) -> ProductRoutes {
    let ingestor = ingest::Ingestor::start(platform.clone());
    ProductRoutes {
        api: Some(
            api::services::router()
                .merge(api::incidents::router())
                .merge(api::analytics::router())
                .merge(api::oncall::router())
                .merge(api::notifications::router())
                .merge(api::status_pages::router()),
        ),
        machine: Some(api::ingest::router(ingestor).merge(api::oncall::feeds_router())),
        home: Some(std::sync::Arc::new(|platform, principal| {
            Box::pin(async move { web::on_call_card(&platform, &principal).await })
        })),
        web: Some(web::router()),
        nav: Some(keel_platform::server::ProductLink {
            href: "/openalert",
            label: "OpenAlert",
            section: "openalert",
        }),
        summary: Some("OpenAlert (incident response and on-call)"),
        metrics: METRICS,
        hosts: Some(std::sync::Arc::new(|platform, host| {
            Box::pin(async move { status::public::prefix_for_host(&platform, &host).await })
        })),
        api_tags: &[
            (
                "services",
                "OpenAlert: services, integrations, maintenance windows",
            ),
            (
                "incidents",
                "OpenAlert: incidents, their alerts and timelines",
            ),
            (
                "on-call",
                "OpenAlert: schedules, overrides, calendar feeds and escalation policies",
            ),
            (
                "notifications",
                "OpenAlert: contact methods, notification rules and outgoing webhooks",
            ),
            (
                "status pages",
                "OpenAlert: public status pages, their components, incidents and maintenances",
            ),
            (
                "ingestion",
                "OpenAlert: endpoints monitoring tools send alerts to, keyed by integration key",
            ),
        ],
    }
}
