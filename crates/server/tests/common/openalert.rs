//! OpenAlert fixtures, made as the admin signed in by `setup_admin`: services, integrations,
//! escalation policies, Events API v2 triggers and incidents.

use serde_json::{Value, json};

use super::{Answer, TestApp};

impl TestApp {
    /// A service of `team`; returns its id.
    pub async fn create_service(&self, team: i64, name: &str) -> i64 {
        self.create_service_with(team, name, json!({})).await
    }

    /// A service of `team` with more fields (`urgency_rule`, timeouts…); returns its id.
    pub async fn create_service_with(&self, team: i64, name: &str, extra: Value) -> i64 {
        let mut body = json!({"team_id": team, "name": name});
        merge(&mut body, extra);
        self.admin_api()
            .post("/api/v1/services", body)
            .await
            .expect(201)
            .id()
    }

    /// An integration of `kind` on `service`, named "<kind> source" unless `extra` names it;
    /// returns it as issued (with its key and ingest URL).
    pub async fn create_integration(&self, service: i64, kind: &str, extra: Value) -> Value {
        let mut body = json!({"type": kind, "name": format!("{kind} source")});
        merge(&mut body, extra);
        self.admin_api()
            .post(&format!("/api/v1/services/{service}/integrations"), body)
            .await
            .created()
    }

    /// An Events API v2 integration called `name` on `service`; returns its routing key.
    pub async fn events_v2_key(&self, service: i64, name: &str) -> String {
        self.create_integration(service, "events_v2", json!({"name": name}))
            .await["key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A service of `team` with an Events v2 integration: (service id, routing key).
    pub async fn service_with_events_v2(&self, team: i64, name: &str) -> (i64, String) {
        let service = self.create_service(team, name).await;
        (service, self.events_v2_key(service, "Monitoring").await)
    }

    /// An integration's ingest URL on this test server (the issued one names the public URL).
    pub fn ingest_url(&self, integration: &Value) -> String {
        integration["ingest_url"]
            .as_str()
            .unwrap()
            .replace(&self.platform.config.base_url(), &self.base)
    }

    /// An escalation policy of `team`; returns its id.
    pub async fn create_policy(&self, team: i64, name: &str, levels: Value, repeat: i64) -> i64 {
        self.admin_api()
            .post(
                "/api/v1/escalation-policies",
                json!({"team_id": team, "name": name, "repeat_count": repeat, "levels": levels}),
            )
            .await
            .ok()["id"]
            .as_i64()
            .unwrap()
    }

    /// Makes `policy` the one that pages for `service`.
    pub async fn attach_policy(&self, service: i64, policy: i64) {
        self.admin_api()
            .patch(
                &format!("/api/v1/services/{service}"),
                json!({"escalation_policy_id": policy}),
            )
            .await
            .expect(200);
    }

    /// An outgoing webhook of `team` to `url`; returns it as created (with its secret).
    pub async fn create_webhook(&self, team: i64, url: &str) -> Value {
        self.admin_api()
            .post("/api/v1/webhooks", json!({"team_id": team, "url": url}))
            .await
            .ok()
    }

    /// Sends one Events API v2 body as a monitoring tool does.
    pub async fn enqueue(&self, event: Value) -> Answer {
        self.sender().post("/v2/enqueue", event).await
    }

    /// Triggers "<dedup_key> is down" (critical) on the integration `routing_key`; returns the
    /// open incident it landed in.
    pub async fn trigger(&self, routing_key: &str, dedup_key: &str) -> i64 {
        self.enqueue(json!({"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key,
            "payload": {"summary": format!("{dedup_key} is down"), "source": "probe", "severity": "critical"}}))
            .await
            .expect(202);
        self.incidents("status=triggered,acknowledged")
            .await
            .iter()
            .find(|i| i["dedup_key"] == dedup_key)
            .unwrap_or_else(|| panic!("no open incident for {dedup_key}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// The incidents the admin sees, filtered by `query` (`status=open&limit=5`, or "").
    pub async fn incidents(&self, query: &str) -> Vec<Value> {
        let page = self
            .admin_api()
            .get(&format!("/api/v1/incidents?{query}"))
            .await
            .json_ok();
        page["incidents"].as_array().unwrap().clone()
    }

    /// One incident with its alerts, timeline and notifications.
    pub async fn incident(&self, id: i64) -> Value {
        self.admin_api()
            .get(&format!("/api/v1/incidents/{id}"))
            .await
            .json_ok()
    }
}

/// Adds the fields of `extra` to `body`, replacing any of the same name.
fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(fields) = extra {
        body.as_object_mut().unwrap().extend(fields);
    }
}
