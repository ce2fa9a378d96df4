//! PagerDuty Events API v2 (`POST /v2/enqueue`), read as PagerDuty reads it: every problem
//! is reported, unknown fields are ignored, an over-long summary is cut rather than refused.

use serde_json::{Map, Value, json};

use super::{
    Action, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS, NormalizedEvent, Severity, body_dedup_key,
    truncate_chars,
};

/// A valid event and the routing (integration) key it was sent with.
#[derive(Debug)]
pub struct Enqueue {
    pub routing_key: String,
    pub event: NormalizedEvent,
    /// What was accepted but changed, said back to the sender (e.g. a summary cut to length).
    pub warnings: Vec<String>,
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Parses and validates one event. `Err` lists every problem, in PagerDuty's wording style.
pub fn parse(body: &[u8]) -> Result<Enqueue, Vec<String>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("body is not valid JSON: {e}")])?;
    let Some(object) = value.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let mut errors = Vec::new();

    let routing_key = match object.get("routing_key") {
        Some(Value::String(key)) if !key.trim().is_empty() => key.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            errors.push("'routing_key' is missing or blank".into());
            String::new()
        }
        Some(_) => {
            errors.push("'routing_key' must be a string".into());
            String::new()
        }
    };

    let action = match object.get("event_action").and_then(Value::as_str) {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(_) => {
            errors.push("'event_action' must be one of trigger, acknowledge, resolve".into());
            None
        }
        None => {
            errors.push("'event_action' is missing or blank".into());
            None
        }
    };

    let dedup_key = match object.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if key.chars().count() > MAX_DEDUP_KEY_CHARS => {
            errors.push(format!(
                "'dedup_key' must be at most {MAX_DEDUP_KEY_CHARS} characters"
            ));
            None
        }
        Some(Value::String(key)) if key.trim().is_empty() => None,
        Some(Value::String(key)) => Some(key.to_string()),
        Some(_) => {
            errors.push("'dedup_key' must be a string".into());
            None
        }
    };
    if matches!(action, Some(Action::Acknowledge | Action::Resolve)) && dedup_key.is_none() {
        errors.push("'dedup_key' is required for acknowledge and resolve events".into());
    }

    let empty = Map::new();
    let payload = match (action, object.get("payload")) {
        (Some(Action::Trigger), Some(Value::Object(p))) => p,
        (Some(Action::Trigger), _) => {
            errors.push("'payload' is missing or not an object".into());
            &empty
        }
        (_, Some(Value::Object(p))) => p,
        _ => &empty,
    };

    let mut summary = String::new();
    let mut warnings = Vec::new();
    let mut source = String::new();
    let mut severity = Severity::Error;
    if action == Some(Action::Trigger) && !payload.is_empty() {
        match text(payload, "summary") {
            Some(s) => {
                summary = truncate_chars(s, MAX_SUMMARY_CHARS);
                if summary.len() < s.len() {
                    warnings.push(format!(
                        "'payload.summary' was cut to {MAX_SUMMARY_CHARS} characters; the whole event is kept with the alert"
                    ));
                }
            }
            None => errors.push("'payload.summary' is missing or blank".into()),
        }
        match text(payload, "source") {
            Some(s) => source = truncate_chars(s, 255),
            None => errors.push("'payload.source' is missing or blank".into()),
        }
        match payload.get("severity").and_then(Value::as_str) {
            Some(raw @ ("critical" | "error" | "warning" | "info")) => {
                severity = Severity::parse(raw).unwrap_or(Severity::Error)
            }
            Some(_) => errors
                .push("'payload.severity' must be one of critical, error, warning, info".into()),
            None => errors.push("'payload.severity' is missing or blank".into()),
        }
        if let Some(ts) = payload.get("timestamp")
            && ts
                .as_str()
                .is_none_or(|s| s.parse::<jiff::Timestamp>().is_err())
        {
            errors.push("'payload.timestamp' must be an ISO 8601 timestamp".into());
        }
        for field in ["component", "group", "class"] {
            if payload
                .get(field)
                .is_some_and(|v| !v.is_string() && !v.is_null())
            {
                errors.push(format!("'payload.{field}' must be a string"));
            }
        }
    }
    let links = list_of_objects(object, "links", &["href"], &mut errors);
    let images = list_of_objects(object, "images", &["src"], &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    let action = action.expect("validated");
    let dedup_key = dedup_key.unwrap_or_else(|| body_dedup_key(body));
    let mut details = match payload.get("custom_details") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) => json!({ "details": other }),
    };
    if let Some(ts) = text(payload, "timestamp") {
        details["timestamp"] = json!(ts);
    }
    for field in ["client", "client_url"] {
        if let Some(value) = text(object, field) {
            details[field] = json!(value);
        }
    }
    let optional = |field: &str| text(payload, field).map(|s| truncate_chars(s, 255));
    Ok(Enqueue {
        routing_key,
        event: NormalizedEvent {
            action,
            alert_key: dedup_key.clone(),
            dedup_key,
            repeat_is_duplicate: false,
            summary,
            source,
            severity,
            component: optional("component"),
            group: optional("group"),
            class: optional("class"),
            details,
            links,
            images,
        },
        warnings,
    })
}

fn list_of_objects(
    object: &Map<String, Value>,
    field: &str,
    required: &[&str],
    errors: &mut Vec<String>,
) -> Value {
    match object.get(field) {
        None | Some(Value::Null) => json!([]),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_object() {
                    Some(o) => {
                        for key in required {
                            if text(o, key).is_none() {
                                errors.push(format!("'{field}[{i}].{key}' is missing or blank"));
                            }
                        }
                    }
                    None => errors.push(format!("'{field}[{i}]' must be an object")),
                }
            }
            Value::Array(items.clone())
        }
        Some(_) => {
            errors.push(format!("'{field}' must be an array"));
            json!([])
        }
    }
}

/// The body as it is kept with the alert: the routing key is a credential, so it is
/// replaced wherever it stands. Keys have no characters JSON escapes and senders write them as
/// they are, so a text replacement is enough and cheap; a body that never spells the key
/// plainly (escapes) is rewritten whole.
pub fn without_routing_key(body: &[u8], routing_key: &str) -> Vec<u8> {
    const REDACTED: &[u8] = b"[redacted]";
    let needle = routing_key.as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    let mut replaced = false;
    while !needle.is_empty()
        && let Some(at) = rest.windows(needle.len()).position(|w| w == needle)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED);
        rest = &rest[at + needle.len()..];
        replaced = true;
    }
    out.extend_from_slice(rest);
    if replaced {
        return out;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut object)) => {
            object.insert("routing_key".into(), Value::String("[redacted]".into()));
            serde_json::to_vec(&object).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_key_is_not_kept() {
        let key = "0123456789abcdef0123456789abcdef";
        let plain = format!(r#"{{"routing_key": "{key}","event_action":"trigger"}}"#);
        let kept = String::from_utf8(without_routing_key(plain.as_bytes(), key)).unwrap();
        assert_eq!(
            kept,
            r#"{"routing_key": "[redacted]","event_action":"trigger"}"#
        );
        let escaped =
            r#"{"routing_key":"\u0030123456789abcdef0123456789abcdef","event_action":"trigger"}"#;
        let kept = String::from_utf8(without_routing_key(escaped.as_bytes(), key)).unwrap();
        assert!(!kept.contains("123456789abcdef"), "{kept}");
        assert!(kept.contains("[redacted]"), "{kept}");
    }

    #[test]
    fn reads_what_alertmanager_sends() {
        let body = include_bytes!("../../tests/fixtures/pagerduty.json");
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.routing_key, "0123456789abcdef0123456789abcdef");
        assert_eq!(parsed.event.action, Action::Trigger);
        assert_eq!(parsed.event.severity, Severity::Error);
        assert_eq!(
            parsed.event.summary,
            "[FIRING:1] HighLatency (web-1 checkout critical)"
        );
        assert!(parsed.event.dedup_key.starts_with("3b98946"));
        assert_eq!(parsed.event.details["num_firing"], "1");
        assert_eq!(parsed.event.details["client"], "Alertmanager");
    }

    #[test]
    fn reports_every_problem() {
        let errors = parse(br#"{"event_action":"explode","payload":{}}"#).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("routing_key")));
        assert!(errors.iter().any(|e| e.contains("event_action")));
        let errors = parse(br#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"loud"}}"#).unwrap_err();
        assert_eq!(
            errors,
            ["'payload.severity' must be one of critical, error, warning, info"]
        );
        let errors = parse(br#"{"routing_key":"k","event_action":"resolve"}"#).unwrap_err();
        assert_eq!(
            errors,
            ["'dedup_key' is required for acknowledge and resolve events"]
        );
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[1]").is_err());
    }

    #[test]
    fn long_summaries_are_cut_and_missing_keys_derived() {
        let summary = "x".repeat(2000);
        let body = format!(
            r#"{{"routing_key":"k","event_action":"trigger","payload":{{"summary":"{summary}","source":"s","severity":"info"}},"extra":1}}"#
        );
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.event.summary.len(), MAX_SUMMARY_CHARS);
        assert_eq!(parsed.warnings.len(), 1, "the sender is told");
        assert_eq!(
            parsed.event.dedup_key,
            parse(body.as_bytes()).unwrap().event.dedup_key,
            "a retry gets the same key"
        );
    }
}
