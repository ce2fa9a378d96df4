//! Wiring: the platform plus OpenAlert and MindfulCRM, as one application. The binary's CLI
//! lives in `main.rs`; tests start the same application through [`start`].

pub mod bench;
pub mod logging;
pub mod migrate_to;

use std::sync::Arc;
use std::time::Duration;

use keel_platform::Platform;
use keel_platform::clock::SharedClock;
use keel_platform::config::Config;
use keel_platform::db::MigrationSet;
use keel_platform::jobs::{Registry, Worker};
use tokio::sync::watch;

/// The products' schemas (the platform adds its own first when it starts).
pub fn migrations() -> Vec<&'static MigrationSet> {
    let mut sets = Vec::new();
    sets.extend_from_slice(keel_openalert::MIGRATIONS);
    sets.extend_from_slice(keel_mindfulcrm::MIGRATIONS);
    sets
}

/// Opens storage and connections (applying migrations).
pub async fn platform(config: Config, clock: SharedClock) -> anyhow::Result<Platform> {
    Platform::start(config, clock, &migrations()).await
}

/// The HTTP application.
pub fn router(platform: &Platform) -> axum::Router {
    keel_platform::server::app(
        platform.clone(),
        vec![keel_openalert::routes(platform), keel_mindfulcrm::routes()],
    )
}

/// Job handlers of every crate.
pub fn job_registry(platform: &Platform) -> Registry {
    let mut registry = Registry::default();
    let mailer_platform = platform.clone();
    registry.register(move |queued: keel_platform::mail::QueuedMail| {
        let platform = mailer_platform.clone();
        async move {
            let mail = queued.open(&platform.secret)?;
            Ok(platform.mailer.send(&mail).await?)
        }
    });
    keel_openalert::register_jobs(&mut registry, platform);
    keel_mindfulcrm::register_jobs(&mut registry, platform);
    registry
}

pub fn worker(platform: &Platform) -> Worker {
    Worker::new(
        platform.db.clone(),
        platform.clock.clone(),
        platform.job_wake.clone(),
        job_registry(platform),
        platform.config.job_workers,
    )
    .with_lease(platform.config.job_lease)
}

/// A running server: HTTP, job worker and housekeeping, until `shutdown` flips to true.
pub async fn serve(
    platform: Platform,
    listener: tokio::net::TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Connections opened before the first request, within the 200 ms readiness allowance.
    platform.db.warm(Duration::from_millis(150)).await;
    let worker = tokio::spawn(worker(&platform).run(shutdown.clone()));
    let housekeeping = tokio::spawn(housekeeping(platform.clone(), shutdown.clone()));
    let engine = tokio::spawn(keel_openalert::engine::run(
        platform.clone(),
        shutdown.clone(),
    ));
    let crm_engine = tokio::spawn(keel_mindfulcrm::engine::run(
        platform.clone(),
        shutdown.clone(),
    ));
    let mut http_shutdown = shutdown.clone();
    let served = keel_platform::server::serve(listener, router(&platform), async move {
        let _ = http_shutdown.wait_for(|stop| *stop).await;
    })
    .await;
    // HTTP has drained; let running jobs finish.
    let _ = worker.await;
    housekeeping.abort();
    let _ = engine.await;
    let _ = crm_engine.await;
    platform.db.close().await;
    served.map_err(Into::into)
}

/// Periodic clean-up of rows that can never be used again.
async fn housekeeping(platform: Platform, mut shutdown: watch::Receiver<bool>) {
    // The first pass waits a minute: deleting old rows must not compete with the first
    // requests after a start.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = prune(&platform).await {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// One housekeeping pass: old sessions, then every crate's retention (see
/// `docs/operations.md`, "Data retention").
pub async fn prune(platform: &Platform) -> sqlx::Result<()> {
    let cutoff = platform.now().minus(Duration::from_secs(7 * 86_400));
    let sessions =
        keel_platform::store::accounts::delete_dead_sessions(platform.db.pool(), cutoff).await?;
    let own = keel_platform::retention::prune(platform).await?;
    let alerts = keel_openalert::retention::prune(platform).await?;
    let crm = keel_mindfulcrm::retention::prune(platform).await?;
    if sessions > 0
        || own != Default::default()
        || alerts != Default::default()
        || crm != Default::default()
    {
        tracing::info!(
            sessions,
            audit_events = own.audit_events,
            dead_jobs = own.dead_jobs,
            mail_files = own.mail_files,
            alert_payloads = alerts.payloads_cleared,
            alerts = alerts.alerts_removed,
            ai_calls = crm.ai_calls,
            ai_months = crm.ai_months,
            photo_candidates = crm.photo_candidates,
            "housekeeping: pruned"
        );
    }
    Ok(())
}

/// The wall clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(keel_platform::clock::SystemClock)
}
