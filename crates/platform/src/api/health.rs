use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::Platform;
use crate::store;

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "`ok`", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    checks: Vec<Check>,
}

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A due job older than this means the workers are stuck or missing.
const QUEUE_STALL_SECONDS: f64 = 300.0;

/// Readiness: the database answers, Redis answers (if configured), the job queue moves.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "`{\"status\":\"ready\",\"checks\":[{\"name\",\"ok\",\"detail\"}]}`", body = Object),
    (status = 503, description = "Not ready; `checks` says why", body = Object)))]
pub async fn readyz(State(platform): State<Platform>) -> Response {
    let stats = store::jobs::stats(platform.db.pool(), platform.now()).await;
    let checks = readiness(&platform, &stats).await;
    let ready = checks.iter().all(|c| c.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not ready" },
        checks,
    };
    (status, Json(body)).into_response()
}

/// The checks `/readyz` reports, given the job queue's figures (read once by the caller).
async fn readiness(
    platform: &Platform,
    stats: &sqlx::Result<store::jobs::QueueStats>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let db = platform.db.ping().await;
    checks.push(Check {
        name: "database",
        ok: db.is_ok(),
        detail: db.err().map(|e| format!("database unreachable: {e}")),
    });
    if let Some(redis) = &platform.redis {
        let ping = tokio::time::timeout(std::time::Duration::from_secs(2), redis.ping()).await;
        let detail = match ping {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("redis unreachable: {e}")),
            Err(_) => Some("redis did not answer within 2 s".into()),
        };
        checks.push(Check {
            name: "redis",
            ok: detail.is_none(),
            detail,
        });
    }
    match stats {
        Ok(stats) => {
            let stalled = stats.oldest_due_age_seconds > QUEUE_STALL_SECONDS;
            checks.push(Check {
                name: "job_queue",
                ok: !stalled,
                detail: stalled.then(|| {
                    format!(
                        "oldest due job has waited {:.0} s",
                        stats.oldest_due_age_seconds
                    )
                }),
            });
        }
        Err(e) => checks.push(Check {
            name: "job_queue",
            ok: false,
            detail: Some(format!("cannot read the queue: {e}")),
        }),
    }
    checks
}

/// Prometheus text exposition. Readiness, queue, disk and memory gauges are read fresh on each
/// scrape.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(platform): State<Platform>) -> Response {
    let stats = store::jobs::stats(platform.db.pool(), platform.now()).await;
    if let Ok(stats) = &stats {
        metrics::gauge!("keel_jobs_queued").set(stats.queued as f64);
        metrics::gauge!("keel_jobs_due").set(stats.due as f64);
        metrics::gauge!("keel_jobs_running").set(stats.running as f64);
        metrics::gauge!("keel_jobs_dead").set(stats.dead as f64);
        metrics::gauge!("keel_jobs_oldest_due_age_seconds").set(stats.oldest_due_age_seconds);
    }
    let ready = readiness(&platform, &stats).await.iter().all(|c| c.ok);
    metrics::gauge!("keel_ready").set(if ready { 1.0 } else { 0.0 });
    if let Some(free) = crate::observability::free_bytes(&platform.config.data_dir) {
        metrics::gauge!("keel_data_dir_free_bytes").set(free as f64);
    }
    if let Some(resident) = crate::observability::resident_bytes() {
        metrics::gauge!("keel_resident_memory_bytes").set(resident as f64);
    }
    if platform.config.backend == crate::config::Backend::Sqlite {
        metrics::gauge!("keel_sqlite_memory_bytes")
            .set(crate::observability::sqlite_memory_bytes() as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        platform.metrics.render(),
    )
        .into_response()
}
