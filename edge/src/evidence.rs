//! The evidence lane, edge side: snapshot JPEGs, clips and X-ray renders, stored under
//! their sha256 and served to the control room in byte ranges, below everything else.
//!
//! The one idea: a file's name *is* its content hash. Storing is idempotent, a transfer
//! can resume at any offset, and the receiver verifies what it got without trusting the
//! sender. Evidence is expendable under a disk quota; alerts (the outbox, another file)
//! are not, and nothing here ever touches them.
//!
//! On the wire (the control room's side is `dashboard::evidence`):
//! - `get qv/{site}/evidence/{node}/{sha256}?offset=O;len=L` is answered with one reply:
//!   the bytes `[O, O + min(L, MAX_CHUNK, size - O))` (empty at the end of the file), with
//!   the attachment `size=<file size>`. `offset` defaults to 0, `len` to [`MAX_CHUNK`].
//!   A bad request gets a reply error `"<cause>: <what>"`, cause one of [`REFUSAL_CAUSES`].
//! - `put` on [`evidence_ack`] with the sha256 (hex) as payload: the control room has
//!   verified and stored that file, which becomes the first to go under the quota.
//!
//! Priority: zenoh 1.10 sends a reply with the QoS of its query (`ReplyBuilder::priority`
//! is a deprecated no-op), so the fetcher's `get` carries `Priority::Background` and
//! `CongestionControl::Block`. What the edge controls is the bandwidth: one token bucket
//! for all replies.
//!
//! Threads: zenoh callbacks only hand queries and acknowledgements to one plain thread,
//! the lane thread, which owns the token bucket, reads files and replies; so a slow disk or
//! an empty bucket never holds up zenoh's receive path, where alerts arrive too.

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select, unbounded};
use pipeline::keys;
use pipeline::metrics;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::bytes::Encoding;
use zenoh::pubsub::Subscriber;
use zenoh::query::{Query, Queryable};

/// The most bytes one reply carries; a larger `len` is cut to this.
pub const MAX_CHUNK: u64 = 256 * 1024;

/// The prefix of the attachment on each reply that gives the whole file's size.
pub const SIZE_ATTACHMENT_PREFIX: &str = "size=";

/// The causes a request can be refused for: the prefix of the reply error and the
/// `cause` label of `qv_evidence_refused_total`.
pub const REFUSAL_CAUSES: [&str; 6] = ["bad_hash", "unknown_hash", "bad_offset", "bad_len", "busy", "io"];

pub use pipeline::keys::{evidence_ack, is_sha256_hex};

/// Files and bytes, e.g. of evidence not yet replicated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

/// Why a byte range could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// The name is not 64 lowercase hex digits.
    BadHash(String),
    /// No file with that hash is stored (never was, or evicted).
    UnknownHash(String),
    /// The offset lies past the end of the file.
    BadOffset { hash: String, offset: u64, size: u64 },
    /// The disk failed us.
    Io(String),
}

impl RangeError {
    /// The short cause, one of [`REFUSAL_CAUSES`].
    pub fn cause(&self) -> &'static str {
        match self {
            Self::BadHash(_) => "bad_hash",
            Self::UnknownHash(_) => "unknown_hash",
            Self::BadOffset { .. } => "bad_offset",
            Self::Io(_) => "io",
        }
    }
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadHash(name) => write!(f, "evidence name {name:?} is not a sha256 (64 lowercase hex digits)"),
            Self::UnknownHash(hash) => write!(f, "evidence {hash} is not stored at this node"),
            Self::BadOffset { hash, offset, size } => {
                write!(f, "evidence {hash}: offset {offset} is past the end ({size} bytes)")
            }
            Self::Io(what) => f.write_str(what),
        }
    }
}

/// A directory of evidence files named by their sha256, with a SQLite index
/// (`index.sqlite`: size, stored time, replicated flag). Shared between threads behind an
/// `Arc`; the index is behind a mutex, file bytes are written and read outside it.
pub struct EvidenceStore {
    dir: PathBuf,
    index: Mutex<Connection>,
}

/// The index's file name inside the store's directory.
const INDEX_FILE: &str = "index.sqlite";
/// Files being written start with this; a restart removes leftovers.
const TEMP_PREFIX: &str = ".tmp-";

impl EvidenceStore {
    /// Opens (creating if needed) the store in `dir` and reconciles the index with the
    /// files: a crash can leave a temp file, a file without its row, or a row without
    /// its file (after an eviction).
    pub fn open(dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(dir).map_err(|e| format!("evidence dir {}: {e}", dir.display()))?;
        let path = dir.join(INDEX_FILE);
        let what = |e: rusqlite::Error| format!("evidence index {}: {e}", path.display());
        let conn = Connection::open(&path).map_err(what)?;
        // NORMAL, not FULL: a row lost to a power cut is rebuilt from the files at the next open.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(what)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS evidence (
                 seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- store order: oldest first
                 hash       TEXT NOT NULL UNIQUE,
                 size       INTEGER NOT NULL,
                 stored_ms  INTEGER NOT NULL,                   -- wall clock, for people
                 replicated INTEGER NOT NULL DEFAULT 0
             );
             CREATE INDEX IF NOT EXISTS evidence_by_eviction ON evidence (replicated, seq);",
        )
        .map_err(what)?;
        let store = Self { dir: dir.to_path_buf(), index: Mutex::new(conn) };
        store.reconcile()?;
        Ok(store)
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` under their sha256 and returns the hash (hex). Storing the same bytes
    /// again changes nothing. The file is written to a temp name, fsynced and renamed, so a
    /// file under a hash name is always complete.
    pub fn put(&self, bytes: &[u8]) -> Result<String, String> {
        let hash = format!("{:x}", Sha256::digest(bytes));
        // A row means the file is there: rows go with their files, under the lock.
        if self.size(&hash).map_err(|e| e.to_string())?.is_some() {
            return Ok(hash);
        }
        let path = self.dir.join(&hash);
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::now_v7()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all() // the rename itself
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(format!("evidence {}: {e}", path.display()));
        }
        self.lock()
            .execute(
                "INSERT OR IGNORE INTO evidence (hash, size, stored_ms) VALUES (?1, ?2, ?3)",
                params![hash, bytes.len() as i64, chrono::Utc::now().timestamp_millis()],
            )
            .map_err(|e| format!("evidence index insert {hash}: {e}"))?;
        Ok(hash)
    }

    /// The size of the stored file `hash`, `None` if it is not stored.
    pub fn size(&self, hash: &str) -> Result<Option<u64>, RangeError> {
        if !is_sha256_hex(hash) {
            return Err(RangeError::BadHash(hash.to_string()));
        }
        self.lock()
            .query_row("SELECT size FROM evidence WHERE hash = ?1", params![hash], |r| r.get::<_, i64>(0))
            .optional()
            .map(|s| s.map(|s| s as u64))
            .map_err(|e| RangeError::Io(format!("evidence index read {hash}: {e}")))
    }

    /// Up to `len` bytes of file `hash` from `offset` (fewer at the end; none at the end).
    pub fn get_range(&self, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>, RangeError> {
        let size = self.size(hash)?.ok_or_else(|| RangeError::UnknownHash(hash.to_string()))?;
        if offset > size {
            return Err(RangeError::BadOffset { hash: hash.to_string(), offset, size });
        }
        let n = len.min(size - offset);
        let path = self.dir.join(hash);
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0; n as usize];
            f.read_exact(&mut buf)?;
            Ok(buf)
        };
        read().map_err(|e| match e.kind() {
            // Evicted between the index read and the open.
            std::io::ErrorKind::NotFound => RangeError::UnknownHash(hash.to_string()),
            _ => RangeError::Io(format!("evidence {}: reading {n} bytes at {offset}: {e}", path.display())),
        })
    }

    /// Records that the control room holds a verified copy of `hash`. Returns false if the
    /// file is not stored (an acknowledgement can arrive after an eviction, or twice).
    pub fn mark_replicated(&self, hash: &str) -> Result<bool, String> {
        self.lock()
            .execute("UPDATE evidence SET replicated = 1 WHERE hash = ?1", params![hash])
            .map(|n| n > 0)
            .map_err(|e| format!("evidence index mark_replicated {hash}: {e}"))
    }

    /// Whether `hash` is stored and marked replicated.
    pub fn is_replicated(&self, hash: &str) -> Result<bool, String> {
        self.lock()
            .query_row("SELECT replicated FROM evidence WHERE hash = ?1", params![hash], |r| r.get::<_, bool>(0))
            .optional()
            .map(|r| r.unwrap_or(false))
            .map_err(|e| format!("evidence index read {hash}: {e}"))
    }

    /// Evidence the control room does not have yet.
    pub fn pending(&self) -> Result<Usage, String> {
        self.usage("WHERE replicated = 0")
    }

    /// Bytes of all stored evidence files (the index itself, a few KiB, is not counted).
    pub fn used_bytes(&self) -> Result<u64, String> {
        Ok(self.usage("")?.bytes)
    }

    /// Evicts evidence until at most `quota_bytes` are used: replicated files first, then
    /// unreplicated ones, each oldest first. Returns what was evicted.
    ///
    /// The quota is for evidence alone: the caller subtracts what the alert outbox uses
    /// from the node's disk budget and passes the rest, so an alert is never evicted; at
    /// worst all evidence goes.
    pub fn enforce_quota(&self, quota_bytes: u64) -> Result<Usage, String> {
        let conn = self.lock();
        let mut used = usage(&conn, "")?.bytes;
        let mut evicted = Usage::default();
        if used <= quota_bytes {
            return Ok(evicted);
        }
        let victims: Vec<(String, u64, bool)> = {
            let mut q = conn
                .prepare("SELECT hash, size, replicated FROM evidence ORDER BY replicated DESC, seq")
                .map_err(|e| format!("evidence quota: {e}"))?;
            q.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| format!("evidence quota: {e}"))?
        };
        for (hash, size, replicated) in victims {
            if used <= quota_bytes {
                break;
            }
            let path = self.dir.join(&hash);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("evidence quota: removing {}: {e}", path.display())),
            }
            conn.execute("DELETE FROM evidence WHERE hash = ?1", params![hash])
                .map_err(|e| format!("evidence quota: index delete {hash}: {e}"))?;
            used -= size;
            evicted.files += 1;
            evicted.bytes += size;
            let label = if replicated { "true" } else { "false" };
            metrics::global().metric("qv_evidence_evicted_total", &[("replicated", label)]).inc();
            if replicated {
                tracing::info!(%hash, size, quota_bytes, "evidence evicted over quota (replicated)");
            } else {
                tracing::warn!(%hash, size, quota_bytes, "evidence evicted over quota before the control room had it");
            }
        }
        Ok(evicted)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (transactions).
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn usage(&self, filter: &str) -> Result<Usage, String> {
        usage(&self.lock(), filter)
    }

    /// Brings index and directory into agreement after a crash.
    fn reconcile(&self) -> Result<(), String> {
        let dir_err = |e: std::io::Error| format!("evidence dir {}: {e}", self.dir.display());
        let mut on_disk = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(dir_err)? {
            let entry = entry.map_err(dir_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                // Never renamed: the put did not return, so nobody holds its hash.
                let _ = fs::remove_file(entry.path());
            } else if is_sha256_hex(&name) {
                on_disk.push((name, entry.metadata().map_err(dir_err)?.len()));
            }
        }
        let conn = self.lock();
        let rows: Vec<String> = conn
            .prepare("SELECT hash FROM evidence")
            .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| format!("evidence index read: {e}"))?;
        for hash in rows.iter().filter(|h| !self.dir.join(h).exists()) {
            tracing::warn!(%hash, "evidence index row without its file, removed");
            conn.execute("DELETE FROM evidence WHERE hash = ?1", params![hash])
                .map_err(|e| format!("evidence index delete {hash}: {e}"))?;
        }
        for (hash, size) in on_disk {
            let added = conn
                .execute(
                    "INSERT OR IGNORE INTO evidence (hash, size, stored_ms) VALUES (?1, ?2, ?3)",
                    params![hash, size as i64, chrono::Utc::now().timestamp_millis()],
                )
                .map_err(|e| format!("evidence index insert {hash}: {e}"))?;
            if added > 0 {
                tracing::info!(%hash, size, "evidence file without an index row, indexed as not replicated");
            }
        }
        Ok(())
    }
}

fn usage(conn: &Connection, filter: &str) -> Result<Usage, String> {
    conn.query_row(&format!("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM evidence {filter}"), [], |r| {
        Ok(Usage { files: r.get::<_, i64>(0)? as u64, bytes: r.get::<_, i64>(1)? as u64 })
    })
    .map_err(|e| format!("evidence index usage: {e}"))
}

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

/// What the lane thread did, for monitoring and tests (see [`EvidenceServer::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEvent {
    /// A range was sent (`len` may be 0 at the end of the file).
    Served { hash: String, offset: u64, len: u64 },
    /// A request was refused (`cause` one of [`REFUSAL_CAUSES`]), or an acknowledgement
    /// that is not a sha256 was ignored (`cause` `bad_ack`).
    Refused { cause: &'static str, what: String },
    /// The control room acknowledged `hash`; `known` is false if it was not stored.
    Replicated { hash: String, known: bool },
}

/// The running evidence lane of one node: a queryable on `qv/{site}/evidence/{node}/*`, a
/// subscriber on [`evidence_ack`], and the lane thread. Dropping it undeclares both and
/// joins the thread (after the reply in progress, if any).
pub struct EvidenceServer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    events: Arc<Mutex<Vec<Sender<ServeEvent>>>>,
    _queryable: Queryable<()>,
    _acks: Subscriber<()>,
}

/// Queries waiting for the lane thread; beyond this they are refused as `busy`.
const QUERY_BACKLOG: usize = 64;
/// Events kept for a slow reader of [`EvidenceServer::events`] before they are dropped.
const EVENT_BACKLOG: usize = 1024;

impl EvidenceServer {
    /// A stream of what the lane does from now on. Lossy: events are dropped when the
    /// reader falls [`EVENT_BACKLOG`] behind, never blocking the lane.
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

/// Serves `store` on the evidence lane of `node` at `site`, replies together capped at
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
        if !keys::is_chunk(v) {
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

    let lane = Lane {
        store,
        node: node.to_string(),
        bucket: TokenBucket::new(cap_bytes_per_sec, MAX_CHUNK, Instant::now()),
        events: events.clone(),
    };
    let key = keys::evidence(site, node, "*");
    let busy = lane.clone_refuser();
    let queryable = session
        .declare_queryable(key.clone())
        .callback(move |q| {
            // Never block zenoh's thread: a full backlog is refused, the fetcher retries.
            if let Err(TrySendError::Full(q)) = query_tx.try_send(q) {
                busy.refuse(&q, "busy", format!("evidence lane has {QUERY_BACKLOG} requests waiting, retry later"));
            }
        })
        .wait()
        .map_err(|e| format!("evidence serve: queryable {key}: {e}"))?;
    let ack_key = evidence_ack(site, node);
    let acks = session
        .declare_subscriber(ack_key.clone())
        .callback(move |s| {
            let _ = ack_tx.send(s.payload().to_bytes().into_owned());
        })
        .wait()
        .map_err(|e| format!("evidence serve: subscriber {ack_key}: {e}"))?;
    let thread = std::thread::Builder::new()
        .name(format!("evidence-{node}"))
        .spawn(move || lane.run(query_rx, ack_rx, stop_rx))
        .map_err(|e| format!("evidence serve: lane thread: {e}"))?;
    Ok(EvidenceServer { stop: Some(stop_tx), thread: Some(thread), events, _queryable: queryable, _acks: acks })
}

/// The lane thread's state.
struct Lane {
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

impl Lane {
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
        // The bucket is shared by every reply: wait here, on the lane thread, not in zenoh's.
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
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qorovul-evidence-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Bytes that differ from file to file (`seed`) and do not compress to nothing.
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A peer session that listens nowhere: queries and puts stay inside it.
    fn local_session() -> zenoh::Session {
        pipeline::bus::open_blocking(&pipeline::bus::BusConfig::default()).unwrap()
    }

    #[test]
    fn put_is_idempotent_and_names_the_file_by_its_hash() {
        let store = EvidenceStore::open(&temp_dir("put")).unwrap();
        let data = bytes(10_000, 1);
        let hash = store.put(&data).unwrap();
        assert_eq!(hash, format!("{:x}", Sha256::digest(&data)));
        assert_eq!(fs::read(store.dir().join(&hash)).unwrap(), data);
        assert_eq!(store.put(&data).unwrap(), hash);
        assert_eq!(store.used_bytes().unwrap(), 10_000);
        assert_eq!(store.pending().unwrap(), Usage { files: 1, bytes: 10_000 });
        assert!(
            !fs::read_dir(store.dir())
                .unwrap()
                .any(|e| { e.unwrap().file_name().to_string_lossy().starts_with(TEMP_PREFIX) })
        );
        assert!(store.mark_replicated(&hash).unwrap());
        assert!(store.is_replicated(&hash).unwrap());
        assert_eq!(store.pending().unwrap(), Usage::default());
        assert!(!store.mark_replicated(&"0".repeat(64)).unwrap(), "unknown hash");
    }

    #[test]
    fn get_range_returns_exactly_the_asked_bytes_and_names_bad_requests() {
        let store = EvidenceStore::open(&temp_dir("range")).unwrap();
        let data = bytes(1000, 2);
        let hash = store.put(&data).unwrap();
        assert_eq!(store.get_range(&hash, 100, 50).unwrap(), &data[100..150]);
        assert_eq!(store.get_range(&hash, 990, 50).unwrap(), &data[990..], "cut at the end");
        assert_eq!(store.get_range(&hash, 1000, 50).unwrap(), b"", "empty at the end");
        let past = store.get_range(&hash, 1001, 1).unwrap_err();
        assert_eq!(past.cause(), "bad_offset");
        assert!(past.to_string().contains(&hash) && past.to_string().contains("1001"), "{past}");
        let unknown = store.get_range(&"a".repeat(64), 0, 1).unwrap_err();
        assert_eq!(unknown.cause(), "unknown_hash");
        let bad = store.get_range("../../etc/passwd", 0, 1).unwrap_err();
        assert_eq!(bad.cause(), "bad_hash");
        assert!(bad.to_string().contains("etc/passwd"), "{bad}");
        assert_eq!(store.get_range(&hash.to_uppercase(), 0, 1).unwrap_err().cause(), "bad_hash");
    }

    #[test]
    fn a_reopen_indexes_orphan_files_and_drops_temp_files_and_rows_without_files() {
        let dir = temp_dir("reconcile");
        let (kept, lost) = {
            let store = EvidenceStore::open(&dir).unwrap();
            (store.put(&bytes(100, 3)).unwrap(), store.put(&bytes(200, 4)).unwrap())
        };
        // A crash after the rename but before the index insert; one mid-write; a lost file.
        let orphan = bytes(300, 5);
        let orphan_hash = format!("{:x}", Sha256::digest(&orphan));
        fs::write(dir.join(&orphan_hash), &orphan).unwrap();
        fs::write(dir.join(format!("{TEMP_PREFIX}half")), b"half").unwrap();
        fs::remove_file(dir.join(&lost)).unwrap();

        let store = EvidenceStore::open(&dir).unwrap();
        assert_eq!(store.size(&kept).unwrap(), Some(100));
        assert_eq!(store.size(&orphan_hash).unwrap(), Some(300));
        assert_eq!(store.size(&lost).unwrap(), None);
        assert!(!dir.join(format!("{TEMP_PREFIX}half")).exists());
        assert_eq!(store.pending().unwrap(), Usage { files: 2, bytes: 400 });
    }

    #[test]
    fn quota_evicts_replicated_first_then_oldest_and_ends_under_quota() {
        // The only test that evicts: the metric deltas below are this test's own.
        let evicted = |r| metrics::global().value("qv_evidence_evicted_total", &[("replicated", r)]);
        let (rep0, unrep0) = (evicted("true"), evicted("false"));
        let store = EvidenceStore::open(&temp_dir("quota")).unwrap();
        let h: Vec<String> = (0..5).map(|i| store.put(&bytes(1000, 10 + i)).unwrap()).collect();
        store.mark_replicated(&h[3]).unwrap();
        store.mark_replicated(&h[1]).unwrap();

        assert_eq!(store.enforce_quota(5000).unwrap(), Usage::default(), "at quota: nothing to do");
        // 5000 used, quota 2500: both replicated (h1, h3: oldest first), then the oldest h0.
        assert_eq!(store.enforce_quota(2500).unwrap(), Usage { files: 3, bytes: 3000 });
        assert!(store.used_bytes().unwrap() <= 2500);
        for gone in [&h[0], &h[1], &h[3]] {
            assert_eq!(store.size(gone).unwrap(), None);
            assert!(!store.dir().join(gone).exists());
        }
        for kept in [&h[2], &h[4]] {
            assert_eq!(store.get_range(kept, 0, 10).unwrap().len(), 10);
        }
        assert_eq!((evicted("true") - rep0, evicted("false") - unrep0), (2, 1));

        assert_eq!(store.enforce_quota(0).unwrap(), Usage { files: 2, bytes: 2000 });
        assert_eq!(store.used_bytes().unwrap(), 0);
        assert!(store.dir().join(INDEX_FILE).exists(), "only evidence goes");
    }

    #[test]
    fn token_bucket_arithmetic_on_an_injected_clock() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = TokenBucket::new(1000, 500, t0);
        assert_eq!(b.try_take(300, t0), Ok(()));
        assert_eq!(b.try_take(300, t0), Err(Duration::from_millis(100)), "200 there, 100 more at 1000/s");
        assert_eq!(b.try_take(300, ms(100)), Ok(()));
        assert_eq!(b.tokens(), 0.0);
        // Refill stops at the burst however long it was idle.
        assert_eq!(b.try_take(500, ms(60_000)), Ok(()));
        assert_eq!(b.try_take(1, ms(60_000)), Err(Duration::from_millis(1)));
        // Larger than the burst: let through when full, then the debt is paid in time.
        assert_eq!(b.try_take(2000, ms(60_500)), Ok(()));
        assert_eq!(b.tokens(), -1500.0);
        assert_eq!(b.try_take(1, ms(60_500)), Err(Duration::from_millis(1501)));
        // A clock read out of order adds nothing and does not panic.
        assert!(b.try_take(1, t0).is_err());
        assert_eq!(b.try_take(500, ms(62_500)), Ok(()));
    }

    #[test]
    fn request_parameters_are_parsed_capped_and_named_when_bad() {
        let h = "ab".repeat(32);
        let key = format!("qv/s/evidence/n/{h}");
        assert_eq!(parse_request(&key, None, None), Ok(Request { hash: h.clone(), offset: 0, len: MAX_CHUNK }));
        assert_eq!(parse_request(&key, Some("7"), Some("99999999")).unwrap().len, MAX_CHUNK);
        assert_eq!(parse_request(&key, Some("-1"), None).unwrap_err().0, "bad_offset");
        assert_eq!(parse_request(&key, None, Some("x")).unwrap_err().0, "bad_len");
        let (cause, what) = parse_request("qv/s/evidence/n/nothex", None, None).unwrap_err();
        assert_eq!(cause, "bad_hash");
        assert!(what.contains("nothex"), "{what}");
    }

    /// One `get` on the local session: `Ok((bytes, size attachment))` or `Err(reply error)`.
    fn get(session: &zenoh::Session, selector: &str) -> Result<(Vec<u8>, String), String> {
        let replies = session.get(selector).timeout(Duration::from_secs(5)).wait().unwrap();
        let reply = replies.recv().expect("one reply");
        match reply.into_result() {
            Ok(s) => Ok((
                s.payload().to_bytes().into_owned(),
                s.attachment().map(|a| a.try_to_string().unwrap().into_owned()).unwrap_or_default(),
            )),
            Err(e) => Err(e.payload().try_to_string().unwrap().into_owned()),
        }
    }

    #[test]
    fn serve_answers_ranges_refuses_bad_requests_and_takes_acknowledgements() {
        let session = local_session();
        let store = Arc::new(EvidenceStore::open(&temp_dir("serve")).unwrap());
        let data = bytes(MAX_CHUNK as usize + 1000, 6);
        let hash = store.put(&data).unwrap();
        let server = serve(&session, "s1", "serve-node", store.clone(), 100 << 20).unwrap();
        let events = server.events();
        let key = keys::evidence("s1", "serve-node", &hash);

        let size = format!("size={}", data.len());
        assert_eq!(get(&session, &format!("{key}?offset=10;len=20")), Ok((data[10..30].to_vec(), size.clone())));
        assert_eq!(get(&session, &key), Ok((data[..MAX_CHUNK as usize].to_vec(), size.clone())), "defaults, capped");
        let end = format!("{key}?offset={}", data.len());
        assert_eq!(get(&session, &end), Ok((vec![], size)));
        assert_eq!(events.recv().unwrap(), ServeEvent::Served { hash: hash.clone(), offset: 10, len: 20 });

        let refused =
            |cause| metrics::global().value("qv_evidence_refused_total", &[("node", "serve-node"), ("cause", cause)]);
        let bad = [
            (keys::evidence("s1", "serve-node", "nothex"), "bad_hash", "nothex"),
            (keys::evidence("s1", "serve-node", &"0".repeat(64)), "unknown_hash", "0000"),
            (format!("{key}?offset=999999999"), "bad_offset", "999999999"),
            (format!("{key}?offset=abc"), "bad_offset", "abc"),
            (format!("{key}?len=-5"), "bad_len", "-5"),
        ];
        for (selector, cause, named) in bad {
            let before = refused(cause);
            let err = get(&session, &selector).unwrap_err();
            assert!(err.starts_with(&format!("{cause}: ")) && err.contains(named), "{selector}: {err}");
            assert_eq!(refused(cause), before + 1, "{selector}");
        }

        session.put(evidence_ack("s1", "serve-node"), "not a hash").wait().unwrap();
        session.put(evidence_ack("s1", "serve-node"), hash.clone()).wait().unwrap();
        let mut lane_events = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok());
        let bad_ack = lane_events.find(|e| matches!(e, ServeEvent::Refused { cause: "bad_ack", .. }));
        assert!(bad_ack.is_some(), "a bad acknowledgement is reported");
        let replicated = lane_events.find(|e| matches!(e, ServeEvent::Replicated { .. }));
        assert_eq!(replicated, Some(ServeEvent::Replicated { hash: hash.clone(), known: true }));
        assert!(store.is_replicated(&hash).unwrap());
        drop(server);
        assert!(session.get(&key).wait().unwrap().recv().is_err(), "undeclared with the server");
    }
}
