//! Prometheus metrics and request instrumentation.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder (metrics are global; several servers in one test process share it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .expect("static bucket list is not empty")
                // Incident durations: from seconds to days, so teams can chart MTTA and MTTR.
                .set_buckets_for_metric(
                    Matcher::Prefix("keel_incident_time_to_".into()),
                    &[
                        30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14_400.0,
                        43_200.0, 86_400.0, 259_200.0,
                    ],
                )
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            fold_samples_in_background(handle.clone());
            handle
        })
        .clone()
}

/// Histogram samples wait in a queue until they are folded into their buckets, which a scrape
/// does; a server nobody scrapes would keep every request's sample. A thread folds them every
/// few seconds instead (a thread, because the recorder outlives any one runtime).
fn fold_samples_in_background(handle: PrometheusHandle) {
    let folding = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
    if let Err(e) = folding {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
    }
}

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    /// A gauge that exists only once it has been measured: a first value of 0 would read as a
    /// real one (no free disk space).
    Reading,
    Histogram,
}

/// A metric a crate exports: its name, kind and the `# HELP` text.
#[derive(Debug, Clone, Copy)]
pub struct MetricInfo {
    pub name: &'static str,
    pub kind: MetricKind,
    pub help: &'static str,
}

impl MetricInfo {
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: MetricKind::Counter,
            help,
        }
    }

    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: MetricKind::Gauge,
            help,
        }
    }

    pub const fn reading(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: MetricKind::Reading,
            help,
        }
    }

    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: MetricKind::Histogram,
            help,
        }
    }
}

/// The platform's own metrics; each product lists its own in its `ProductRoutes`.
pub const PLATFORM_METRICS: &[MetricInfo] = &[
    MetricInfo::reading(
        "keel_build_info",
        "Always 1; the version label names the running build.",
    ),
    MetricInfo::gauge(
        "keel_ready",
        "1 when /readyz answers ready (database, Redis and job queue), else 0; read at each scrape.",
    ),
    MetricInfo::counter(
        "keel_http_requests_total",
        "HTTP requests answered, by method, route and status.",
    ),
    MetricInfo::histogram(
        "keel_http_request_duration_seconds",
        "Time to answer HTTP requests, by method, route and status.",
    ),
    MetricInfo::counter(
        "keel_csrf_refused_total",
        "Unsafe requests refused because they came from another origin.",
    ),
    MetricInfo::counter(
        "keel_rate_limited_total",
        "Requests answered 429, by scope (api, ingest).",
    ),
    MetricInfo::counter(
        "keel_database_errors_total",
        "Requests and jobs that failed on a database error.",
    ),
    MetricInfo::reading(
        "keel_data_dir_free_bytes",
        "Free space on the data directory's file system; read at each scrape.",
    ),
    MetricInfo::reading(
        "keel_resident_memory_bytes",
        "Resident memory of the keel process; read at each scrape.",
    ),
    MetricInfo::reading(
        "keel_sqlite_memory_bytes",
        "Memory the embedded SQLite holds (page caches, prepared statements); read at each scrape.",
    ),
    MetricInfo::counter("keel_audit_events_total", "Audit records written."),
    MetricInfo::gauge(
        "keel_jobs_queued",
        "Jobs waiting, due or not; read at each scrape.",
    ),
    MetricInfo::gauge("keel_jobs_due", "Jobs due to run now; read at each scrape."),
    MetricInfo::gauge(
        "keel_jobs_running",
        "Jobs claimed by a worker; read at each scrape.",
    ),
    MetricInfo::gauge(
        "keel_jobs_dead",
        "Jobs kept as dead letters after their last attempt; read at each scrape.",
    ),
    MetricInfo::gauge(
        "keel_jobs_oldest_due_age_seconds",
        "How long the oldest due job has waited; read at each scrape.",
    ),
    MetricInfo::counter("keel_jobs_dead_total", "Jobs that used up their attempts."),
    MetricInfo::histogram("keel_job_duration_seconds", "Time a job run took, by kind."),
    MetricInfo::counter(
        "keel_job_failures_total",
        "Failed job runs (retried or dead), by kind.",
    ),
    MetricInfo::counter(
        "keel_mail_sent_total",
        "Mails handed to the mail server or drop.",
    ),
    MetricInfo::counter(
        "keel_mail_failed_total",
        "Mail deliveries that failed (retried by the queue).",
    ),
    MetricInfo::gauge(
        "keel_websocket_connections",
        "Open live-update connections.",
    ),
    MetricInfo::counter(
        "keel_websocket_dropped_slow_total",
        "Live-update connections closed because the client read too slowly.",
    ),
];

/// Gives every metric its `# HELP` line and a first series, so `/metrics` names each one from
/// the first scrape: dashboards and alert rules can tell "none yet" from "not exported".
pub fn describe(metrics: &[MetricInfo]) {
    for m in metrics {
        match m.kind {
            MetricKind::Counter => {
                metrics::describe_counter!(m.name, m.help);
                metrics::counter!(m.name).increment(0);
            }
            MetricKind::Gauge => {
                metrics::describe_gauge!(m.name, m.help);
                metrics::gauge!(m.name).increment(0.0);
            }
            MetricKind::Reading => metrics::describe_gauge!(m.name, m.help),
            MetricKind::Histogram => {
                metrics::describe_histogram!(m.name, m.help);
                let _registered = metrics::histogram!(m.name);
            }
        }
    }
    metrics::gauge!("keel_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Free bytes on the file system holding `dir` (for unprivileged users), if it can be read.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// This process's resident memory in bytes (Linux), if it can be read.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes the embedded SQLite holds now: page caches of every connection, prepared statements
/// and schemas (0 when no SQLite database is open).
pub fn sqlite_memory_bytes() -> u64 {
    // SAFETY: a read of a counter SQLite keeps under its own mutex; callable from any thread
    // at any time, with or without open connections.
    let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    used.max(0) as u64
}
