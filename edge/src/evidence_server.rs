//! The evidence server: the edge's side of the evidence transfer ([`pipeline::evidence`]
//! says what is on the wire; the control room's side is `control_room::evidence_fetcher`).
//! It answers the control room's range requests from the [`EvidenceStore`], below
//! everything else, and takes its acknowledgements.
//!
//! Priority: zenoh 1.10 sends a reply with the QoS of its query (`ReplyBuilder::priority`
//! is a deprecated no-op), so the fetcher's `get` carries `Priority::Background` and
//! `CongestionControl::Block`. What the edge controls is the bandwidth: one token bucket
//! for all replies.
//!
//! Threads: zenoh callbacks only hand queries and acknowledgements to one plain thread,
//! the server thread, which owns the token bucket, reads files and replies; so a slow disk
//! or an empty bucket never holds up zenoh's receive path, where alerts arrive too.

use crate::evidence_store::{EvidenceStore, RangeError};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select, unbounded};
use pipeline::evidence::{MAX_CHUNK, SIZE_ATTACHMENT_PREFIX, is_sha256_hex};
use pipeline::keys;
use pipeline::metrics;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::bytes::Encoding;
use zenoh::pubsub::Subscriber;
use zenoh::query::{Query, Queryable};

/// A token bucket: `rate` bytes per second on average, up to `burst` bytes at once.
///
/// Time is passed in (`now`), so tests drive it without sleeping. A take larger than the
/// burst is let through when the bucket is full and leaves it in debt, so the average
/// rate still holds.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. `rate_bytes_per_sec` and `burst_bytes` are at least 1.
    pub fn new(rate_bytes_per_sec: u64, burst_bytes: u64, now: Instant) -> Self {
        let burst = burst_bytes.max(1) as f64;
        Self { rate: rate_bytes_per_sec.max(1) as f64, burst, tokens: burst, last: now }
    }

    /// Takes `n` bytes' worth of tokens at `now`, or says how long until they are there.
    pub fn try_take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        // A clock read out of order (earlier than `last`) adds nothing rather than panicking.
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let need = (n as f64).min(self.burst);
        if self.tokens >= need {
            self.tokens -= n as f64;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - self.tokens) / self.rate))
        }
    }

    /// Tokens available now (negative while in debt).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }
}

/// What the server thread did, for monitoring and tests (see [`EvidenceServer::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEvent {
    /// A range was sent (`len` may be 0 at the end of the file).
    Served { hash: String, offset: u64, len: u64 },
    /// A request was refused (`cause` one of [`pipeline::evidence::REFUSAL_CAUSES`]), or an acknowledgement
    /// that is not a sha256 was ignored (`cause` `bad_ack`).
    Refused { cause: &'static str, what: String },
    /// The control room acknowledged `hash`; `known` is false if it was not stored.
    Replicated { hash: String, known: bool },
}

/// The running evidence server of one node: a queryable on `qv/{site}/evidence/{node}/*`, a
/// subscriber on [`keys::evidence_ack`], and the server thread. Dropping it undeclares both and
/// joins the thread (after the reply in progress, if any).
pub struct EvidenceServer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    events: Arc<Mutex<Vec<Sender<ServeEvent>>>>,
    _queryable: Queryable<()>,
    _acks: Subscriber<()>,
}

/// Queries waiting for the server thread; beyond this they are refused as `busy`.
const QUERY_BACKLOG: usize = 64;
/// Events kept for a slow reader of [`EvidenceServer::events`] before they are dropped.
const EVENT_BACKLOG: usize = 1024;

impl EvidenceServer {
    /// A stream of what the server does from now on. Lossy: events are dropped when the
    /// reader falls [`EVENT_BACKLOG`] behind, never blocking the server.
    pub fn events(&self) -> Receiver<ServeEvent> {
        let (tx, rx) = bounded(EVENT_BACKLOG);
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }
}

impl Drop for EvidenceServer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `store` as the evidence server of `node` at `site`, replies together capped at
/// `cap_bytes_per_sec` (bursts of one [`MAX_CHUNK`]), and marks files replicated when the
/// control room says so.
pub fn serve(
    session: &zenoh::Session,
    site: &str,
    node: &str,
    store: Arc<EvidenceStore>,
    cap_bytes_per_sec: u64,
) -> Result<EvidenceServer, String> {
    for (field, v) in [("site", site), ("node", node)] {
        if !keys::is_segment(v) {
            return Err(format!("evidence serve: {field} {v:?} is not a key chunk"));
        }
    }
    if cap_bytes_per_sec == 0 {
        return Err("evidence serve: cap_bytes_per_sec must be at least 1".into());
    }
    let (query_tx, query_rx) = bounded::<Query>(QUERY_BACKLOG);
    let (ack_tx, ack_rx) = unbounded::<Vec<u8>>();
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let events: Arc<Mutex<Vec<Sender<ServeEvent>>>> = Arc::default();

    let server = Server {
        store,
        node: node.to_string(),
        bucket: TokenBucket::new(cap_bytes_per_sec, MAX_CHUNK, Instant::now()),
        events: events.clone(),
    };
    let key = keys::evidence(site, node, "*");
    let busy = server.clone_refuser();
    let queryable = session
        .declare_queryable(key.clone())
        .callback(move |q| {
            // Never block zenoh's thread: a full backlog is refused, the fetcher retries.
            if let Err(TrySendError::Full(q)) = query_tx.try_send(q) {
                busy.refuse(&q, "busy", format!("evidence server has {QUERY_BACKLOG} requests waiting, retry later"));
            }
        })
        .wait()
        .map_err(|e| format!("evidence serve: queryable {key}: {e}"))?;
    let ack_key = keys::evidence_ack(site, node);
    let acks = session
        .declare_subscriber(ack_key.clone())
        .callback(move |s| {
            let _ = ack_tx.send(s.payload().to_bytes().into_owned());
        })
        .wait()
        .map_err(|e| format!("evidence serve: subscriber {ack_key}: {e}"))?;
    let thread = std::thread::Builder::new()
        .name(format!("evidence-{node}"))
        .spawn(move || server.run(query_rx, ack_rx, stop_rx))
        .map_err(|e| format!("evidence serve: server thread: {e}"))?;
    Ok(EvidenceServer { stop: Some(stop_tx), thread: Some(thread), events, _queryable: queryable, _acks: acks })
}

/// The server thread's state.
struct Server {
    store: Arc<EvidenceStore>,
    node: String,
    bucket: TokenBucket,
    events: Arc<Mutex<Vec<Sender<ServeEvent>>>>,
}

/// What the queryable callback needs to refuse a request itself.
struct Refuser {
    node: String,
    events: Arc<Mutex<Vec<Sender<ServeEvent>>>>,
}

impl Refuser {
    fn refuse(&self, q: &Query, cause: &'static str, what: String) {
        metrics::global().metric("qv_evidence_refused_total", &[("node", &self.node), ("cause", cause)]).inc();
        tracing::debug!(key = %q.key_expr(), cause, %what, "evidence request refused");
        if let Err(e) = q.reply_err(format!("{cause}: {what}")).wait() {
            tracing::debug!(key = %q.key_expr(), "evidence refusal not sent: {e}");
        }
        emit(&self.events, ServeEvent::Refused { cause, what });
    }
}

fn emit(events: &Mutex<Vec<Sender<ServeEvent>>>, event: ServeEvent) {
    let mut senders = events.lock().unwrap_or_else(|p| p.into_inner());
    senders.retain(|tx| !matches!(tx.try_send(event.clone()), Err(TrySendError::Disconnected(_))));
}

/// A parsed range request.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    hash: String,
    offset: u64,
    len: u64,
}

/// Reads a request from the query's last key chunk and its `offset` / `len` parameters.
fn parse_request(key: &str, offset: Option<&str>, len: Option<&str>) -> Result<Request, (&'static str, String)> {
    let hash = key.rsplit('/').next().unwrap_or_default();
    if !is_sha256_hex(hash) {
        return Err(("bad_hash", RangeError::BadHash(hash.to_string()).to_string()));
    }
    let number = |field: &str, v: Option<&str>, default: u64| match v {
        None => Ok(default),
        Some(s) => s.parse::<u64>().map_err(|e| format!("parameter {field}={s:?}: {e}")),
    };
    let offset = number("offset", offset, 0).map_err(|e| ("bad_offset", e))?;
    let len = number("len", len, MAX_CHUNK).map_err(|e| ("bad_len", e))?.min(MAX_CHUNK);
    Ok(Request { hash: hash.to_string(), offset, len })
}

impl Server {
    fn clone_refuser(&self) -> Refuser {
        Refuser { node: self.node.clone(), events: self.events.clone() }
    }

    fn run(mut self, queries: Receiver<Query>, acks: Receiver<Vec<u8>>, stop: Receiver<()>) {
        let refuser = self.clone_refuser();
        loop {
            select! {
                recv(stop) -> _ => return,
                recv(acks) -> msg => match msg {
                    Ok(payload) => self.on_ack(&refuser, &payload),
                    Err(_) => return,
                },
                recv(queries) -> msg => match msg {
                    Ok(q) => if !self.answer(&refuser, &q, &stop) { return },
                    Err(_) => return,
                },
            }
        }
    }

    fn on_ack(&self, refuser: &Refuser, payload: &[u8]) {
        let hash = std::str::from_utf8(payload).unwrap_or_default().trim();
        if !is_sha256_hex(hash) {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned();
            metrics::global().metric("qv_evidence_refused_total", &[("node", &self.node), ("cause", "bad_ack")]).inc();
            tracing::warn!(payload = %shown, "evidence acknowledgement is not a sha256, ignored");
            emit(&refuser.events, ServeEvent::Refused { cause: "bad_ack", what: format!("acknowledgement {shown:?}") });
            return;
        }
        match self.store.mark_replicated(hash) {
            Ok(known) => {
                metrics::global().metric("qv_evidence_replicated_total", &[("node", &self.node)]).inc();
                emit(&self.events, ServeEvent::Replicated { hash: hash.to_string(), known });
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Answers one query; false when asked to stop while waiting for bandwidth.
    fn answer(&mut self, refuser: &Refuser, q: &Query, stop: &Receiver<()>) -> bool {
        let params = q.parameters();
        let req = match parse_request(q.key_expr().as_str(), params.get("offset"), params.get("len")) {
            Ok(r) => r,
            Err((cause, what)) => {
                refuser.refuse(q, cause, what);
                return true;
            }
        };
        let size = match self.store.size(&req.hash) {
            Ok(Some(size)) => size,
            Ok(None) => {
                refuser.refuse(q, "unknown_hash", RangeError::UnknownHash(req.hash).to_string());
                return true;
            }
            Err(e) => {
                refuser.refuse(q, e.cause(), e.to_string());
                return true;
            }
        };
        let n = req.len.min(size.saturating_sub(req.offset));
        // The bucket is shared by every reply: wait here, on the server thread, not in zenoh's.
        while let Err(wait) = self.bucket.try_take(n, Instant::now()) {
            if !matches!(stop.recv_timeout(wait), Err(crossbeam_channel::RecvTimeoutError::Timeout)) {
                return false;
            }
        }
        let bytes = match self.store.get_range(&req.hash, req.offset, req.len) {
            Ok(b) => b,
            Err(e) => {
                refuser.refuse(q, e.cause(), e.to_string());
                return true;
            }
        };
        let len = bytes.len() as u64;
        // Told before the reply leaves, so a reader who has the bytes has the event too.
        emit(&self.events, ServeEvent::Served { hash: req.hash.clone(), offset: req.offset, len });
        let sent = q
            .reply(q.key_expr().clone(), bytes)
            .encoding(Encoding::APPLICATION_OCTET_STREAM)
            .attachment(format!("{SIZE_ATTACHMENT_PREFIX}{size}"))
            .wait();
        match sent {
            Ok(()) => metrics::global().metric("qv_evidence_served_bytes_total", &[("node", &self.node)]).add(len),
            Err(e) => tracing::warn!(hash = %req.hash, offset = req.offset, "evidence reply not sent: {e}"),
        }
        true
    }
}

#[cfg(test)]
mod tests;
