//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) with a `webhook_configs`
//! and a `pagerduty_configs` receiver pointed at keel: an alert fired with `amtool` opens an
//! incident through each path, and resolving it with `amtool` closes both.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, TestApp, eventually};
use serde_json::{Value, json};

on_both_backends!(alertmanager_fires_and_resolves_through_both_receivers);

fn alertmanager_binary() -> Option<&'static str> {
    let found = ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|bin| {
            Command::new(bin)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    let amtool = Command::new("amtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found.is_none() || !amtool {
        assert!(
            std::env::var("CI").is_err(),
            "CI must provide Alertmanager and amtool (apt-get install prometheus-alertmanager)"
        );
        eprintln!("skipping: Alertmanager or amtool is not installed");
        return None;
    }
    found
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn amtool(am_url: &str, extra: &[&str]) {
    let mut args = vec![
        "alert",
        "add",
        "KeelInterop",
        "severity=critical",
        "instance=web-1",
        "--annotation=summary=p99 latency high",
    ];
    args.extend_from_slice(extra);
    let out = Command::new("amtool")
        .args(&args)
        .arg(format!("--alertmanager.url={am_url}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn alertmanager_fires_and_resolves_through_both_receivers(backend: Backend) {
    let Some(binary) = alertmanager_binary() else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let team = app.create_team("SRE").await;
    let service: Value = app
        .client
        .post(app.url("/api/v1/services"))
        .json(&json!({"team_id": team, "name": "web"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service = service["id"].as_i64().unwrap();
    let mut keys = Vec::new();
    for kind in ["alertmanager", "events_v2"] {
        let issued: Value = app
            .client
            .post(app.url(&format!("/api/v1/services/{service}/integrations")))
            .json(&json!({"type": kind, "name": kind}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.push(issued["key"].as_str().unwrap().to_string());
    }

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "route:\n  receiver: keel\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: keel\n    webhook_configs:\n      - url: \"{base}/integrations/alertmanager/{am}\"\n        send_resolved: true\n\
         \x20   pagerduty_configs:\n      - url: \"{base}/v2/enqueue\"\n        routing_key: \"{pd}\"\n        send_resolved: true\n",
        base = app.base,
        am = keys[0],
        pd = keys[1]
    );
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    let port = free_port();
    let am_url = format!("http://127.0.0.1:{port}");
    let _alertmanager = KillOnDrop(
        Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alertmanager"),
    );
    let ready = eventually(Duration::from_secs(20), || async {
        reqwest::get(format!("{am_url}/-/ready"))
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    assert!(ready.is_some(), "alertmanager did not become ready");

    amtool(&am_url, &[]);
    let open = eventually(Duration::from_secs(30), || async {
        let page: Value = app
            .client
            .get(app.url("/api/v1/incidents?status=open"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = page["incidents"].as_array().unwrap().clone();
        (list.len() == 2).then_some(list)
    })
    .await
    .expect("an incident through each receiver");
    let titles: Vec<&str> = open.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert!(
        titles.contains(&"KeelInterop: p99 latency high"),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("[FIRING:1] KeelInterop")),
        "{titles:?}"
    );

    let past = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap()
        .to_string();
    amtool(&am_url, &[&format!("--end={past}")]);
    let resolved = eventually(Duration::from_secs(30), || async {
        let page: Value = app
            .client
            .get(app.url("/api/v1/incidents?status=resolved"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (page["incidents"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    assert!(
        resolved.is_some(),
        "both incidents resolved by Alertmanager's resolved notifications"
    );
    app.stop().await;
}
