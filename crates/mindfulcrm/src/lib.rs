//! MindfulCRM: a personal relationship CRM on the keel platform.
//!
//! `domain` holds the vocabulary (stages, health), `store` the SQL (every statement scoped to
//! one user), `contacts` and `activity` (interactions, tasks) the operations, `api` and `web`
//! the HTTP surfaces.

pub mod activity;
pub mod ai;
pub mod api;
pub mod caldav;
pub mod calendar;
pub mod calendar_feeds;
pub mod contacts;
pub mod csv_import;
pub mod domain;
pub mod engine;
pub mod goals;
pub mod ics;
pub mod mailbox;
pub mod merge;
pub mod photo_finder;
pub mod portability;
pub mod retention;
pub mod seed;
pub mod settings;
pub mod store;
pub mod sync_schedule;
pub mod transfer;
pub mod vcard;
mod web;

use keel_platform::Platform;
use keel_platform::db::MigrationSet;
use keel_platform::observability::MetricInfo;
use keel_platform::server::ProductRoutes;

/// MindfulCRM's schema.
pub static MIGRATIONS: &[&MigrationSet] = &[&SCHEMA];
static SCHEMA: MigrationSet = keel_platform::migrations!("mindfulcrm", "0001_contacts" => 3001, "0002_search" => 3002, "0003_events_goals_settings" => 3003, "0004_contact_stage_index" => 3004, "0005_contact_addresses_links" => 3005, "0006_contact_photos" => 3006, "0007_contact_last_interaction_index" => 3007, "0008_search_short_pending_list" => 3008, "0009_mail_sync" => 3009, "0010_calendar_feeds" => 3010, "0011_caldav" => 3011, "0012_recurrence" => 3012, "0013_mail_bodies" => 3013, "0014_ai" => 3014, "0015_ai_ledger_retention" => 3015)
    .never_reusing_ids(&["crm_contacts", "crm_mail_accounts", "crm_calendar_feeds", "crm_caldav_accounts", "crm_ai_providers", "crm_ai_models"]);

/// Background jobs of MindfulCRM.
pub fn register_jobs(registry: &mut keel_platform::jobs::Registry, platform: &Platform) {
    let for_mail = platform.clone();
    registry.register(move |job: mailbox::sync::MailSyncJob| {
        let platform = for_mail.clone();
        async move { mailbox::sync::run(&platform, job).await }
    });
    let for_feeds = platform.clone();
    registry.register(move |job: calendar_feeds::FeedRefreshJob| {
        let platform = for_feeds.clone();
        async move { calendar_feeds::run(&platform, job).await }
    });
    let for_caldav = platform.clone();
    registry.register(move |job: caldav::CalDavSyncJob| {
        let platform = for_caldav.clone();
        async move { caldav::run(&platform, job).await }
    });
    let for_ai = platform.clone();
    registry.register(move |job: ai::contact_texts::AiTextJob| {
        let platform = for_ai.clone();
        async move { ai::contact_texts::run(&platform, job).await }
    });
    let for_proposals = platform.clone();
    registry.register(move |job: ai::proposals::ActionItemsJob| {
        let platform = for_proposals.clone();
        async move { ai::proposals::run(&platform, job).await }
    });
}

/// The metrics MindfulCRM exports (described on `/metrics` from the start).
const METRICS: &[MetricInfo] = &[
    MetricInfo::counter(
        "keel_ai_calls_total",
        "AI assistant calls, by model and outcome (including calls refused by a budget).",
    ),
    MetricInfo::counter(
        "keel_ai_input_tokens_total",
        "Tokens sent to AI providers, by model.",
    ),
    MetricInfo::counter(
        "keel_ai_output_tokens_total",
        "Tokens received from AI providers, by model.",
    ),
    MetricInfo::counter(
        "keel_ai_cost_microdollars_total",
        "What AI calls cost, in millionths of a US dollar, by model.",
    ),
];

pub fn routes() -> ProductRoutes {
    ProductRoutes {
        api: Some(api::router()),
        web: Some(web::router()),
        nav: Some(keel_platform::server::ProductLink {
            href: "/crm",
            label: "MindfulCRM",
            section: "crm",
        }),
        summary: Some("MindfulCRM (personal relationship CRM)"),
        hosts: None,
        api_tags: &[(
            "crm",
            "MindfulCRM: your contacts, interactions, tasks, calendar, connected accounts and AI assistant (always your own)",
        )],
        metrics: METRICS,
        ..ProductRoutes::default()
    }
}
