//! The feed's HTTP routes: `POST /v1/calls`, `/v1/units`, `/v1/telemetry`,
//! `/v1/declarations`, `/v1/declarations/import`, `/v1/inspections`, `/v1/lanes/identity`
//! hand their body to the feed thread and answer with what became of it; `POST /v1/scans`
//! hands a multipart upload to the X-ray lane.
//!
//! Every route is behind [`authenticate`]: the bearer token is checked, and the route
//! against its identity's scope, before a byte of the body is read. Without an
//! `Authorization` header no browser page can post here (a cross-origin page cannot set
//! one without a CORS preflight, which this server never grants).

use super::{Fed, refuse_unauthorized, source_of};
use crate::xray_lane::XrayJob;
use crossbeam_channel::Sender;
use pipeline::credentials::{Caller, Credentials};
use pipeline::feed::{FeedKind, Outcome};
use pipeline::metrics;
use std::sync::Arc;

/// The route's feed, for scoping a credential.
fn route_feed(path: &str) -> Option<FeedKind> {
    Some(match path {
        "/v1/calls" => FeedKind::Calls,
        "/v1/units" => FeedKind::Units,
        "/v1/telemetry" => FeedKind::Telemetry,
        "/v1/declarations" => FeedKind::Declarations,
        "/v1/declarations/import" => FeedKind::DeclarationImports,
        "/v1/inspections" => FeedKind::Inspections,
        "/v1/lanes/identity" => FeedKind::Identity,
        "/v1/scans" => FeedKind::Scans,
        _ => return None,
    })
}

/// Who is asking, and may they use this route: 401/403 (counted, with the reason) before
/// the body is read; JSON routes take `application/json` only (415).
async fn authenticate(
    axum::extract::State(creds): axum::extract::State<Arc<Credentials>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let feed = route_feed(req.uri().path());
    let label = feed.map_or("unknown", FeedKind::as_str);
    let refused = |status: u16, reason: &'static str, note: String| {
        refuse_unauthorized("http", label, reason, &note);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        (status, axum::Json(Outcome::refused(note))).into_response()
    };
    let auth = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let caller = match creds.bearer(auth, chrono::Utc::now()) {
        Ok(c) => c,
        Err(r) => return refused(r.status, r.reason, r.note),
    };
    let Some(feed) = feed else {
        return refused(404, "route", format!("no feed at {}", req.uri().path()));
    };
    if let Err(r) = caller.may_post(feed) {
        return refused(r.status, r.reason, r.note);
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if feed != FeedKind::Scans && !json {
        return refused(415, "content_type", "Content-Type: a feed record is application/json".into());
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// `POST /v1/calls`, `/v1/units`, `/v1/telemetry`: 202 with what became of the record, or
/// 400 with the reason. `POST /v1/scans` (multipart: `meta` JSON, `low` and `high` image
/// files) when the node has an X-ray lane: 202 with what the analysis found, or 400.
pub(super) async fn serve(
    addr: &str,
    tx: Sender<Fed>,
    xray: Option<Sender<XrayJob>>,
    creds: Arc<Credentials>,
) -> Result<std::net::SocketAddr, String> {
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    type From = axum::Extension<Caller>;

    async fn feed(
        kind: FeedKind,
        tx: Sender<Fed>,
        from: Caller,
        body: axum::body::Bytes,
    ) -> (StatusCode, axum::Json<Outcome>) {
        if let Some((field, source)) = source_of(kind, &body)
            && let Err(r) = from.may_speak_for(field, &source)
        {
            refuse_unauthorized("http", kind.as_str(), r.reason, &r.note);
            return (StatusCode::FORBIDDEN, axum::Json(Outcome::refused(r.note)));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        if tx.send(Fed::Record { kind, bytes: body.to_vec(), from, reply: Some(reply) }).is_err() {
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
    let route = |kind: FeedKind| post(move |State(tx): State<Sender<Fed>>, f: From, b| feed(kind, tx, f.0, b));
    let router = axum::Router::new()
        .route("/v1/calls", route(FeedKind::Calls))
        .route("/v1/units", route(FeedKind::Units))
        .route("/v1/telemetry", route(FeedKind::Telemetry))
        .route("/v1/declarations", route(FeedKind::Declarations))
        .route("/v1/declarations/import", route(FeedKind::DeclarationImports))
        .route("/v1/inspections", route(FeedKind::Inspections))
        .route("/v1/lanes/identity", route(FeedKind::Identity))
        // Bodies up to the record limit reach the parser, which names the size it refuses.
        .layer(DefaultBodyLimit::max(pipeline::calls::MAX_RECORD_BYTES + 1024))
        .with_state(tx)
        .merge(scans)
        // Outermost: nothing above runs, and no body is read, for a sender it refuses.
        .layer(axum::middleware::from_fn_with_state(creds, authenticate));
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
    axum::Extension(from): axum::Extension<Caller>,
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
                    // The scanner is checked against the sender as soon as it is named, before
                    // the images are read.
                    "meta" => {
                        let m = match pipeline::scans::ScanMeta::parse(&bytes, "meta") {
                            Ok(m) => m,
                            Err(e) => return refuse(e.reason(), e.to_string()),
                        };
                        if let Err(r) = from.may_speak_for("meta.scanner_id", &m.scanner_id) {
                            refuse_unauthorized("http", "scans", r.reason, &r.note);
                            return answer(StatusCode::FORBIDDEN, "refused", Some(m.scan_id), r.note);
                        }
                        meta = Some(m);
                    }
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
