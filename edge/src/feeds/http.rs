//! The feed's HTTP routes: `POST /v1/calls`, `/v1/units`, `/v1/telemetry`,
//! `/v1/declarations`, `/v1/inspections`, `/v1/lanes/identity` hand their body to the feed
//! thread and answer with what became of it; `POST /v1/scans` hands a multipart upload to
//! the X-ray lane.

use super::Fed;
use crate::xray_lane::XrayJob;
use crossbeam_channel::Sender;
use pipeline::feed::{FeedKind, Outcome};
use pipeline::metrics;

/// `POST /v1/calls`, `/v1/units`, `/v1/telemetry`: 202 with what became of the record, or
/// 400 with the reason. `POST /v1/scans` (multipart: `meta` JSON, `low` and `high` image
/// files) when the node has an X-ray lane: 202 with what the analysis found, or 400.
pub(super) async fn serve(
    addr: &str,
    tx: Sender<Fed>,
    xray: Option<Sender<XrayJob>>,
) -> Result<std::net::SocketAddr, String> {
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::StatusCode;
    use axum::routing::post;

    async fn feed(kind: FeedKind, tx: Sender<Fed>, body: axum::body::Bytes) -> (StatusCode, axum::Json<Outcome>) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if tx.send(Fed::Record { kind, bytes: body.to_vec(), reply: Some(reply) }).is_err() {
            let o = Outcome::refused("the feed is stopping".into());
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(o));
        }
        match answer.await {
            Ok(o) if o.result == "refused" => (StatusCode::BAD_REQUEST, axum::Json(o)),
            Ok(o) => (StatusCode::ACCEPTED, axum::Json(o)),
            Err(_) => {
                let o = Outcome::refused("the feed is stopping".into());
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(o))
            }
        }
    }
    let scans = axum::Router::new()
        .route("/v1/scans", post(upload_scan))
        .layer(DefaultBodyLimit::max(2 * pipeline::scans::MAX_FILE_BYTES as usize + (64 << 10)))
        .with_state(xray);
    let router = axum::Router::new()
        .route("/v1/calls", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Calls, tx, b)))
        .route("/v1/units", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Units, tx, b)))
        .route("/v1/telemetry", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Telemetry, tx, b)))
        .route("/v1/declarations", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Declarations, tx, b)))
        .route("/v1/inspections", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Inspections, tx, b)))
        .route("/v1/lanes/identity", post(|State(tx): State<Sender<Fed>>, b| feed(FeedKind::Identity, tx, b)))
        // Bodies up to the record limit reach the parser, which names the size it refuses.
        .layer(DefaultBodyLimit::max(pipeline::calls::MAX_RECORD_BYTES + 1024))
        .with_state(tx)
        .merge(scans);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("feeds.http_listen {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("feed HTTP server stopped: {e}");
        }
    });
    Ok(bound)
}

/// One scan uploaded as multipart parts `meta` (JSON), `low` and `high`.
async fn upload_scan(
    axum::extract::State(xray): axum::extract::State<Option<Sender<XrayJob>>>,
    mut parts: axum::extract::Multipart,
) -> (axum::http::StatusCode, axum::Json<Outcome>) {
    use axum::http::StatusCode;
    let answer = |status: StatusCode, result: &'static str, id: Option<String>, note: String| {
        (status, axum::Json(Outcome { result, id, notes: vec![note] }))
    };
    let refuse = |reason: &'static str, note: String| {
        metrics::global().metric("qv_scans_rejected_total", &[("reason", reason)]).inc();
        answer(StatusCode::BAD_REQUEST, "refused", None, note)
    };
    let Some(xray) = xray else {
        return answer(StatusCode::NOT_FOUND, "refused", None, "this node has no X-ray lane".into());
    };
    let (mut meta, mut low, mut high) = (None, None, None);
    loop {
        match parts.next_field().await {
            Ok(None) => break,
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let bytes = match field.bytes().await {
                    Ok(b) => b.to_vec(),
                    Err(e) => return refuse("upload", format!("part {name}: {e}")),
                };
                match name.as_str() {
                    "meta" => meta = Some(bytes),
                    "low" => low = Some(bytes),
                    "high" => high = Some(bytes),
                    other => return refuse("upload", format!("unexpected part {other:?} (meta, low, high)")),
                }
            }
            Err(e) => return refuse("upload", format!("not a multipart upload: {e}")),
        }
    }
    let (Some(meta), Some(low), Some(high)) = (meta, low, high) else {
        return refuse("upload", "an upload needs the parts meta, low and high".into());
    };
    let meta = match pipeline::scans::ScanMeta::parse(&meta, "meta") {
        Ok(m) => m,
        Err(e) => return refuse(e.reason(), e.to_string()),
    };
    let id = meta.scan_id.clone();
    let (reply, result) = tokio::sync::oneshot::channel();
    if xray.send(XrayJob { input: pipeline::scans::ScanInput { meta, low, high }, reply: Some(reply) }).is_err() {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "refused", Some(id), "the X-ray lane is stopping".into());
    }
    match result.await {
        Ok(Ok(summary)) => answer(StatusCode::ACCEPTED, "accepted", Some(id), summary),
        Ok(Err(reason)) => answer(StatusCode::BAD_REQUEST, "refused", Some(id), reason),
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "refused", Some(id), "the X-ray lane is stopping".into()),
    }
}
