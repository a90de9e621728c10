//! WebSocket push: every new or changed incident and every heartbeat of the caller's
//! sites, as it happens. A client that falls too far behind is told to resynchronise
//! (`{"type":"resync"}`: fetch the queue again) rather than silently miss updates.
//!
//! Nothing personal goes out here whole: `alert` messages are masked once by the ingest
//! (`pipeline::personal::mask_alert_json`) for every client, and `incident` messages carry the
//! queue row, which holds no personal field.

use super::{AppState, Principal};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

#[utoipa::path(get, path = "/api/v1/ws", tag = "live",
    responses((status = 101, description = "WebSocket: `hello`, then `incident`, `node` and `resync` messages")))]
pub async fn live(
    State(app): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    headers: axum::http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Browsers send the page's origin on a WebSocket handshake and no CORS protects it:
    // refuse a page of another origin (non-browser clients send none).
    let host = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin.split_once("://").map(|(_, h)| h) != Some(host)
    {
        return super::ApiError::forbidden(format!("WebSocket from origin {origin:?}, not this dashboard"))
            .into_response();
    }
    // Subscribed before the upgrade completes: nothing published after the client's
    // request is missed.
    let feed = app.live.subscribe();
    upgrade.on_upgrade(move |socket| push(socket, feed, p))
}

async fn push(
    mut socket: WebSocket,
    mut feed: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::live::FeedEvent>>,
    p: Principal,
) {
    let m = pipeline::metrics::global();
    m.metric("qv_ws_connects_total", &[]).inc();
    let hello = serde_json::json!({ "type": "hello", "server_time": chrono::Utc::now() }).to_string();
    if socket.send(Message::Text(hello.into())).await.is_ok() {
        loop {
            tokio::select! {
                event = feed.recv() => {
                    let text = match event {
                        Ok(e) if p.user.sees_site(&e.site) => e.json.clone(),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(n)) => {
                            m.metric("qv_ws_resyncs_total", &[]).inc();
                            tracing::warn!("WebSocket client {} fell {n} messages behind: resync", p.user.username);
                            serde_json::json!({ "type": "resync", "missed": n }).to_string()
                        }
                        Err(RecvError::Closed) => break,
                    };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {} // clients have nothing to say; pings are answered by axum
                },
            }
        }
    }
    m.metric("qv_ws_disconnects_total", &[]).inc();
}
