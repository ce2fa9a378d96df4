//! The generic JSON integration, for curl and scripts:
//! `{"summary": "...", "severity": "critical|error|warning|info", "dedup_key": "...",
//!   "action": "trigger|acknowledge|resolve", "source": "...", "details": {...}}`.
//! Only `summary` is required for a trigger; unknown fields are ignored.

use serde_json::{Value, json};

use super::{
    Action, MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS, NormalizedEvent, Severity, body_dedup_key,
    truncate_chars,
};

pub fn parse(body: &[u8]) -> Result<NormalizedEvent, Vec<String>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("body is not valid JSON: {e}")])?;
    let Some(object) = value.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let text = |field: &str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut errors = Vec::new();
    let action = match text("action") {
        None | Some("trigger") => Action::Trigger,
        Some("acknowledge") => Action::Acknowledge,
        Some("resolve") => Action::Resolve,
        Some(_) => {
            errors.push("'action' must be one of trigger, acknowledge, resolve".to_string());
            Action::Trigger
        }
    };
    let dedup_key = text("dedup_key").map(str::to_string);
    if dedup_key
        .as_ref()
        .is_some_and(|k| k.chars().count() > MAX_DEDUP_KEY_CHARS)
    {
        errors.push(format!(
            "'dedup_key' must be at most {MAX_DEDUP_KEY_CHARS} characters"
        ));
    }
    if action != Action::Trigger && dedup_key.is_none() {
        errors.push("'dedup_key' is required for acknowledge and resolve".into());
    }
    let summary = text("summary");
    if action == Action::Trigger && summary.is_none() {
        errors.push("'summary' is missing or blank".into());
    }
    let severity = match object.get("severity") {
        None | Some(Value::Null) => Severity::Error,
        Some(Value::String(raw)) => Severity::parse(raw).unwrap_or_else(|| {
            errors.push("'severity' must be one of critical, error, warning, info".into());
            Severity::Error
        }),
        Some(_) => {
            errors.push("'severity' must be a string".into());
            Severity::Error
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let dedup_key = dedup_key.unwrap_or_else(|| body_dedup_key(body));
    let details = match object.get("details") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) => json!({"details": other}),
    };
    Ok(NormalizedEvent {
        action,
        alert_key: dedup_key.clone(),
        dedup_key,
        repeat_is_duplicate: false,
        summary: truncate_chars(summary.unwrap_or_default(), MAX_SUMMARY_CHARS),
        source: truncate_chars(text("source").unwrap_or("generic"), 255),
        severity,
        component: None,
        group: None,
        class: None,
        details,
        links: json!([]),
        images: json!([]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_trigger() {
        let e = parse(br#"{"summary":"disk full on db-1"}"#).unwrap();
        assert_eq!(e.action, Action::Trigger);
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.source, "generic");
    }

    #[test]
    fn problems_are_listed() {
        let errors = parse(br#"{"action":"resolve","severity":"apocalyptic"}"#).unwrap_err();
        assert_eq!(errors.len(), 2);
    }
}
