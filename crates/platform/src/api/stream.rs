//! `GET /api/v1/stream`: the realtime feed over WebSocket. Each event is checked against the
//! connected user before it is sent. Heartbeats detect dead peers; a client that falls too far
//! behind is disconnected rather than buffered without bound.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::http::Principal;
use crate::http::extract::AuthMethod;
use crate::state::Platform;
use crate::store;

const PING_EVERY: Duration = Duration::from_secs(20);
/// Credentials and memberships are re-read this often, so a revoked session or a user removed
/// from a team stops receiving events.
const REFRESH_SCOPE_EVERY: Duration = Duration::from_secs(30);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Outgoing<'a> {
    topic: &'a str,
    at: crate::domain::Timestamp,
    data: &'a serde_json::Value,
}

/// Upgrade to a WebSocket carrying `{topic, at, data}` JSON messages the caller may see.
#[utoipa::path(get, path = "/api/v1/stream", tag = "me",
    responses((status = 101, description = "WebSocket of JSON events `{topic, at, data}`"), (status = 401, body = crate::http::Problem), (status = 403, description = "A browser session from another site", body = crate::http::Problem)),
    security(("token" = []), ("session" = [])))]
pub async fn stream(
    State(platform): State<Platform>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Browsers let any page open a WebSocket with our cookie attached; they always say which
    // page in `Origin`. A session may only stream to keel's own pages.
    if matches!(principal.method, AuthMethod::Session { .. }) {
        let origin = headers
            .get(axum::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let public = platform.config.public_url.as_ref().map(url::Url::origin);
        let allowed = origin.is_some_and(|o| {
            crate::http::middleware::is_same_origin(o, &headers, &uri)
                || url::Url::parse(o).is_ok_and(|o| Some(o.origin()) == public)
        });
        if !allowed {
            metrics::counter!("keel_csrf_refused_total").increment(1);
            return crate::http::Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "cross-origin WebSocket refused: open the stream from keel's own pages".to_string(),
            )
            .into_response();
        }
    }
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve(platform, principal, socket))
}

async fn serve(platform: Platform, principal: Principal, mut socket: WebSocket) {
    metrics::gauge!("keel_websocket_connections").increment(1.0);
    let mut events = platform.bus.subscribe();
    let user_id = principal.user.id;
    let is_admin = principal.user.is_admin();
    let mut teams = store::teams::team_ids_of_user(platform.db.pool(), user_id)
        .await
        .unwrap_or_default();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut refresh = tokio::time::interval(REFRESH_SCOPE_EVERY);
    let mut awaiting_pong = false;
    let close = loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    if !event.audience.admits(user_id, is_admin, &teams) {
                        continue;
                    }
                    let text = serde_json::to_string(&Outgoing { topic: &event.topic, at: event.at, data: &event.data }).unwrap_or_default();
                    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        _ => break None,
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    metrics::counter!("keel_websocket_dropped_slow_total").increment(1);
                    tracing::info!(user_id, skipped, "stream: client too slow; disconnecting");
                    break Some(CloseFrame { code: 1013, reason: "too slow; reconnect and reload".into() });
                }
                Err(RecvError::Closed) => break Some(CloseFrame { code: 1001, reason: "server shutting down".into() }),
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    break Some(CloseFrame { code: 1011, reason: "no answer to ping".into() });
                }
                awaiting_pong = true;
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break None;
                }
            },
            _ = refresh.tick() => {
                let (session, token) = match principal.method {
                    AuthMethod::Session { id } => (Some(id), None),
                    AuthMethod::Token { id } => (None, Some(id)),
                    AuthMethod::SignedLink | AuthMethod::Scheduled => break Some(CloseFrame { code: 1008, reason: "signed out".into() }),
                };
                if let Ok(false) = store::accounts::credential_is_live(platform.db.pool(), session, token, platform.now()).await {
                    break Some(CloseFrame { code: 1008, reason: "signed out".into() });
                }
                if let Ok(ids) = store::teams::team_ids_of_user(platform.db.pool(), user_id).await {
                    teams = ids;
                }
            },
        }
    };
    if let Some(frame) = close {
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    metrics::gauge!("keel_websocket_connections").decrement(1.0);
}
