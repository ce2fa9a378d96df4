//! Prometheus Alertmanager's webhook (version 4) and Grafana alerting's webhook, which uses the
//! same shape with extra fields. One incident per `groupKey`; one alert per `fingerprint`.

use serde_json::{Map, Value, json};

use super::{
    Action, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS, NormalizedEvent, Severity, body_dedup_key,
    truncate_chars,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Alertmanager,
    Grafana,
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn label<'a>(alert: &'a Map<String, Value>, group: &str, key: &str) -> Option<&'a str> {
    alert
        .get(group)
        .and_then(Value::as_object)
        .and_then(|m| text(m, key))
}

/// Reads a notification into one event per alert it carries.
pub fn parse(body: &[u8], flavor: Flavor) -> Result<Vec<NormalizedEvent>, Vec<String>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("body is not valid JSON: {e}")])?;
    let Some(object) = value.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let Some(alerts) = object.get("alerts").and_then(Value::as_array) else {
        return Err(vec!["'alerts' is missing or not an array".into()]);
    };
    let group_key = match text(object, "groupKey") {
        Some(key) if key.chars().count() <= MAX_DEDUP_KEY_CHARS => key.to_string(),
        Some(key) => format!("groupKey:{}", body_dedup_key(key.as_bytes())),
        None => return Err(vec!["'groupKey' is missing or blank".into()]),
    };
    let external_url = text(object, "externalURL");
    let mut errors = Vec::new();
    let mut events = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let Some(alert) = alert.as_object() else {
            errors.push(format!("'alerts[{i}]' must be an object"));
            continue;
        };
        let action = match text(alert, "status") {
            Some("firing") => Action::Trigger,
            Some("resolved") => Action::ResolveAlert,
            _ => {
                errors.push(format!("'alerts[{i}].status' must be firing or resolved"));
                continue;
            }
        };
        let labels = alert.get("labels").cloned().unwrap_or_else(|| json!({}));
        let alert_key = match text(alert, "fingerprint") {
            Some(f) => f.to_string(),
            None => body_dedup_key(labels.to_string().as_bytes()),
        };
        let alertname = label(alert, "labels", "alertname");
        let summary = label(alert, "annotations", "summary")
            .or_else(|| {
                (flavor == Flavor::Grafana)
                    .then(|| text(object, "title"))
                    .flatten()
            })
            .or_else(|| label(alert, "annotations", "description"))
            .or(alertname)
            .unwrap_or("Alert")
            .to_string();
        let summary = match alertname {
            Some(name) if !summary.contains(name) => format!("{name}: {summary}"),
            _ => summary,
        };
        let severity = label(alert, "labels", "severity")
            .and_then(Severity::parse)
            .unwrap_or(Severity::Error);
        let source = label(alert, "labels", "instance")
            .or_else(|| label(alert, "labels", "job"))
            .or(external_url)
            .unwrap_or(match flavor {
                Flavor::Alertmanager => "alertmanager",
                Flavor::Grafana => "grafana",
            })
            .to_string();
        let mut links = Vec::new();
        for (field, name) in [
            ("generatorURL", "Source"),
            ("dashboardURL", "Dashboard"),
            ("panelURL", "Panel"),
            ("silenceURL", "Silence"),
        ] {
            if let Some(href) = text(alert, field) {
                links.push(json!({"href": href, "text": name}));
            }
        }
        let mut details = json!({
            "labels": labels,
            "annotations": alert.get("annotations").cloned().unwrap_or_else(|| json!({})),
            "startsAt": alert.get("startsAt").cloned().unwrap_or(Value::Null),
            "endsAt": alert.get("endsAt").cloned().unwrap_or(Value::Null),
            "receiver": object.get("receiver").cloned().unwrap_or(Value::Null),
            "externalURL": object.get("externalURL").cloned().unwrap_or(Value::Null),
        });
        if flavor == Flavor::Grafana {
            for field in ["values", "valueString"] {
                if let Some(v) = alert.get(field) {
                    details[field] = v.clone();
                }
            }
            for field in ["orgId", "title", "state", "message"] {
                if let Some(v) = object.get(field) {
                    details[field] = v.clone();
                }
            }
        }
        events.push(NormalizedEvent {
            action,
            dedup_key: group_key.clone(),
            alert_key,
            repeat_is_duplicate: true,
            summary: truncate_chars(&summary, MAX_SUMMARY_CHARS),
            source: truncate_chars(&source, 255),
            severity,
            component: label(alert, "labels", "service").map(str::to_string),
            group: label(alert, "labels", "job").map(str::to_string),
            class: alertname.map(str::to_string),
            details,
            links: Value::Array(links),
            images: json!([]),
        });
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_firing_notification() {
        let events = parse(
            include_bytes!("../../tests/fixtures/webhook.json"),
            Flavor::Alertmanager,
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, Action::Trigger);
        assert_eq!(
            e.dedup_key,
            "{}/{alertname=~\".+\"}:{alertname=\"HighLatency\"}"
        );
        assert_eq!(e.alert_key, "6bb710ed11b2b558");
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(e.summary, "HighLatency: p99 latency high");
        assert_eq!(e.source, "web-1");
        assert_eq!(e.details["annotations"]["description"], "p99 > 2s for 5m");
        assert_eq!(e.details["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(e.links[0]["href"], "http://127.0.0.1:9090/graph");
    }

    #[test]
    fn reads_a_real_resolved_notification() {
        let events = parse(
            include_bytes!("../../tests/fixtures/webhook_resolved.json"),
            Flavor::Alertmanager,
        )
        .unwrap();
        assert_eq!(events[0].action, Action::ResolveAlert);
        assert_eq!(events[0].alert_key, "6bb710ed11b2b558");
    }

    #[test]
    fn refuses_malformed_bodies() {
        assert!(parse(b"{}", Flavor::Alertmanager).is_err());
        assert!(
            parse(
                br#"{"groupKey":"g","alerts":[{"status":"weird"}]}"#,
                Flavor::Alertmanager
            )
            .is_err()
        );
        assert!(parse(br#"{"alerts":[]}"#, Flavor::Alertmanager).is_err());
    }

    #[test]
    fn grafana_extras_are_kept() {
        let body = br#"{"receiver":"oa","status":"firing","orgId":1,"title":"[FIRING:1] CPU","state":"alerting","message":"CPU high","groupKey":"{}:{alertname=\"CPU\"}","alerts":[{"status":"firing","labels":{"alertname":"CPU","grafana_folder":"infra"},"annotations":{},"fingerprint":"abc","values":{"A":97.5},"dashboardURL":"http://grafana/d/1","panelURL":"http://grafana/d/1?viewPanel=2","startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}],"version":"1"}"#;
        let events = parse(body, Flavor::Grafana).unwrap();
        assert_eq!(
            events[0].summary, "[FIRING:1] CPU",
            "the alert name is already in it"
        );
        assert_eq!(events[0].details["values"]["A"], 97.5);
        assert_eq!(events[0].links.as_array().unwrap().len(), 2);
    }
}
