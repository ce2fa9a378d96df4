//! Two nodes on one database taking the same dedup keys at the same moment.

use futures_util::StreamExt;

use super::*;

crate::on_both_backends!(the_same_keys_on_two_nodes_at_once_make_one_incident_each);

const KEYS: usize = 200;
const ROUNDS: usize = 5;

async fn the_same_keys_on_two_nodes_at_once_make_one_incident_each(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let (_, service) = service(&a).await;
    let v2 = a.create_integration(service, "events_v2", json!({})).await;
    let key = v2["key"].as_str().unwrap().to_owned();
    let b = TestApp::spawn_on(a.db.clone(), common::settings_for(&a.db)).await;
    let client = common::client();

    // Every key goes to both nodes in the same instant, several rounds over, so that the
    // nodes' batches overlap on keys that neither has stored yet.
    let sends =
        (0..ROUNDS).flat_map(|round| (0..KEYS).flat_map(move |n| [(round, n, 0), (round, n, 1)]));
    let answers: Vec<(String, u16)> = futures_util::stream::iter(sends)
        .map(|(round, n, node)| {
            let api = if node == 0 { a.api(&client) } else { b.api(&client) };
            let body = json!({"routing_key": key, "event_action": "trigger",
                "dedup_key": format!("race-{n}"),
                "payload": {"summary": format!("race {n} round {round}"), "source": "probe", "severity": "critical"}});
            async move {
                let answer = api.post("/v2/enqueue", body).await;
                (format!("race-{n} on node {node}"), answer.status)
            }
        })
        .buffer_unordered(48)
        .collect()
        .await;
    let refused: Vec<_> = answers.iter().filter(|(_, s)| *s != 202).collect();
    assert!(refused.is_empty(), "every event is accepted: {refused:?}");

    let open = a.incidents("status=triggered&limit=200").await;
    assert_eq!(open.len(), KEYS, "one open incident per key");
    for n in 0..KEYS {
        let dedup_key = format!("race-{n}");
        let incident = open
            .iter()
            .find(|i| i["dedup_key"] == dedup_key.as_str())
            .unwrap_or_else(|| panic!("no incident for {dedup_key}"));
        assert_eq!(
            incident["alert_count"],
            json!(2 * ROUNDS),
            "every event of {dedup_key} is in its incident"
        );
    }
    b.stop().await;
    a.stop().await;
}
