//! Monitoring keel itself: `/metrics` names and describes every metric from the first
//! scrape, and the alert rules and dashboard in `deploy/` use only metrics keel exports.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestApp};

on_both_backends!(rules_and_dashboard_name_only_exported_metrics);

/// Every `keel_…` name in a text, histogram series folded into their metric.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("keel_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| start + n);
        if boundary {
            names.insert(text[start..end].to_string());
        }
        i = end;
    }
    names
}

fn read_deploy(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

async fn rules_and_dashboard_name_only_exported_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let exposition = answer.text().await.unwrap();

    let mut typed = BTreeSet::new();
    let mut described = BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("TYPE"), Some(name)) => typed.insert(name.to_string()),
            (Some("#"), Some("HELP"), Some(name)) => described.insert(name.to_string()),
            _ => false,
        };
    }
    for name in [
        "keel_ready",
        "keel_build_info",
        "keel_http_requests_total",
        "keel_jobs_oldest_due_age_seconds",
        "keel_notifications_total",
        "keel_ai_cost_microdollars_total",
        "keel_incident_time_to_acknowledge_seconds",
    ] {
        assert!(typed.contains(name), "/metrics lacks {name}:\n{exposition}");
    }
    let undescribed: Vec<&String> = typed.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "metrics without # HELP: {undescribed:?}"
    );
    assert!(
        exposition.contains("keel_ready 1"),
        "a fresh server is ready"
    );
    let value = |name: &str| -> Option<f64> {
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    let resident = value("keel_resident_memory_bytes").expect("resident memory is read");
    assert!(resident > 1e6, "{resident}");
    if matches!(backend, Backend::Sqlite) {
        let sqlite = value("keel_sqlite_memory_bytes");
        assert!(sqlite.is_some_and(|b| b > 0.0), "{sqlite:?}");
    }

    let exported = |name: &str| {
        typed.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| typed.contains(base))
            })
    };
    for file in [
        "deploy/prometheus/keel.rules.yml",
        "deploy/grafana/keel.json",
    ] {
        let named = metric_names(&read_deploy(file));
        assert!(!named.is_empty(), "{file} names no keel metric");
        let unknown: Vec<&String> = named.iter().filter(|n| !exported(n)).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics keel does not export: {unknown:?}"
        );
    }
    app.stop().await;
}
