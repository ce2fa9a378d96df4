//! The event bus domain code publishes to, and the WebSocket stream clients read it from.
//! In-process by default; with Redis, events cross nodes by pub/sub so a client on node B
//! sees what node A published. Every event names its audience; the stream checks it per user.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::Timestamp;
use crate::redis::Redis;

/// Who may receive an event. Admins receive team events too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "ids", rename_all = "snake_case")]
pub enum Audience {
    Users(Vec<i64>),
    Teams(Vec<i64>),
    Admins,
}

impl Audience {
    pub fn admits(&self, user_id: i64, is_admin: bool, team_ids: &[i64]) -> bool {
        match self {
            Self::Users(ids) => ids.contains(&user_id),
            Self::Teams(ids) => is_admin || ids.iter().any(|t| team_ids.contains(t)),
            Self::Admins => is_admin,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// What happened, e.g. `incident.acknowledged`.
    pub topic: String,
    pub audience: Audience,
    pub at: Timestamp,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(
        topic: impl Into<String>,
        audience: Audience,
        at: Timestamp,
        data: serde_json::Value,
    ) -> Self {
        Self {
            topic: topic.into(),
            audience,
            at,
            data,
        }
    }
}

/// What travels over Redis: the event plus the node that published it.
#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    event: Event,
}

#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<Arc<Event>>,
    redis: Option<Redis>,
    node: Arc<str>,
}

/// Events buffered per subscriber; a client further behind than this is disconnected.
pub const SUBSCRIBER_BUFFER: usize = 1024;

impl EventBus {
    pub fn in_process() -> Self {
        Self {
            local: broadcast::channel(SUBSCRIBER_BUFFER).0,
            redis: None,
            node: crate::crypto::random_token(12).into(),
        }
    }

    /// Fans events out through Redis. Keeps resubscribing if the connection drops.
    pub fn with_redis(redis: Redis) -> Self {
        let bus = Self {
            redis: Some(redis.clone()),
            ..Self::in_process()
        };
        let local = bus.local.clone();
        let node = bus.node.clone();
        tokio::spawn(async move {
            let channel = redis.key("events");
            loop {
                match redis.client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                        Ok(()) => {
                            tracing::info!(%channel, "event bus: subscribed to Redis");
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                match serde_json::from_slice::<Envelope>(msg.get_payload_bytes()) {
                                    Ok(env) if *env.node != *node => {
                                        let _ = local.send(Arc::new(env.event));
                                    }
                                    Ok(_) => {}
                                    Err(err) => {
                                        tracing::warn!(error = %err, "event bus: bad message on Redis")
                                    }
                                }
                            }
                            tracing::warn!("event bus: Redis subscription ended; reconnecting");
                        }
                        Err(err) => tracing::warn!(error = %err, "event bus: subscribe failed"),
                    },
                    Err(err) => tracing::warn!(error = %err, "event bus: cannot reach Redis"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        bus
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }

    /// Delivers to this node's subscribers at once and to other nodes through Redis.
    pub async fn publish(&self, event: Event) {
        if let Some(redis) = &self.redis {
            let envelope = Envelope {
                node: self.node.to_string(),
                event: event.clone(),
            };
            let payload = serde_json::to_string(&envelope).unwrap_or_default();
            let mut conn = redis.manager.clone();
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(redis.key("events"))
                .arg(payload)
                .query_async(&mut conn)
                .await;
            if let Err(err) = sent {
                tracing::warn!(error = %err, topic = %event.topic, "event bus: Redis publish failed; other nodes miss this event");
            }
        }
        let _ = self.local.send(Arc::new(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_rules() {
        assert!(Audience::Users(vec![1]).admits(1, false, &[]));
        assert!(!Audience::Users(vec![1]).admits(2, true, &[]));
        assert!(Audience::Teams(vec![7]).admits(2, false, &[7]));
        assert!(!Audience::Teams(vec![7]).admits(2, false, &[8]));
        assert!(Audience::Teams(vec![7]).admits(2, true, &[]));
        assert!(!Audience::Admins.admits(2, false, &[7]));
    }
}
