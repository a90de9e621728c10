//! The evidence fetcher: the control room's side of the evidence transfer
//! ([`pipeline::evidence`] is the contract; the edge's side is `edge::evidence_server`).
//! It fetches the evidence files alerts refer to (`alert.evidence`, sha256 hashes) from
//! the edge node that holds them.
//!
//! The one idea: a wanted file is a row in `evidence.sqlite` and a `<hash>.part` file that
//! only ever grows; the part's length *is* the resume point. One worker thread asks the edge
//! for the next range (`get qv/{site}/evidence/{node}/{sha256}?offset=<part length>;len=..`),
//! appends it, and when the part is whole checks its sha256, renames it to `<hash>` and
//! tells the edge ([`evidence_ack`]) so the edge may evict its copy first.
//!
//! Priority: zenoh 1.10 replies with the QoS of the query, so each `get` here is sent at
//! `Priority::Background` with `CongestionControl::Block`: the bytes come back below every
//! alert and are never dropped in the transport. The edge caps the bandwidth.
//!
//! Failures never spin: an edge that does not answer (or is busy) backs off the whole node,
//! a bad file (hash mismatch, inconsistent reply) backs off that file, doubling from
//! `retry_min_ms` to `retry_max_ms`; evidence the edge no longer has is given up (`gone`).

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use pipeline::evidence::{MAX_CHUNK, SIZE_ATTACHMENT_PREFIX, is_sha256_hex};
use pipeline::keys::evidence_ack;
use pipeline::{keys, metrics};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::qos::{CongestionControl, Priority};

/// `[evidence]` in the control room's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetcherConfig {
    /// Bytes asked for per request, 1 ..= 262144 (the edge's limit).
    pub chunk_bytes: u64,
    /// How long one request may take before the edge counts as unreachable.
    pub request_timeout_ms: u64,
    /// First wait after a failure; it doubles per failure in a row ...
    pub retry_min_ms: u64,
    /// ... up to this.
    pub retry_max_ms: u64,
    /// A file the edge says is larger than this is refused (`too_large`) and given up: the
    /// size comes from the network, and the hash is only checked once all bytes are here.
    pub max_file_bytes: u64,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            chunk_bytes: MAX_CHUNK,
            request_timeout_ms: 10_000,
            retry_min_ms: 1_000,
            retry_max_ms: 300_000,
            max_file_bytes: 4 << 30,
        }
    }
}

impl FetcherConfig {
    /// Checks the ranges; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CHUNK).contains(&self.chunk_bytes) {
            return Err(format!("evidence.chunk_bytes: {} is not in 1..={MAX_CHUNK}", self.chunk_bytes));
        }
        for (field, v) in [("request_timeout_ms", self.request_timeout_ms), ("retry_min_ms", self.retry_min_ms)] {
            if v == 0 {
                return Err(format!("evidence.{field}: must be at least 1"));
            }
        }
        if self.retry_max_ms < self.retry_min_ms {
            return Err(format!(
                "evidence.retry_max_ms: {} is below retry_min_ms {}",
                self.retry_max_ms, self.retry_min_ms
            ));
        }
        Ok(())
    }

    /// The wait after `failures` failures in a row (1 → `retry_min_ms`).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u64.checked_shl(failures.saturating_sub(1)).unwrap_or(u64::MAX);
        Duration::from_millis(self.retry_min_ms.saturating_mul(factor).min(self.retry_max_ms))
    }
}

/// Where a wanted file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Being fetched: `have` bytes so far, of `size` once the edge has said.
    Wanted { have: u64, size: Option<u64> },
    /// Verified and in place at [`EvidenceFetcher::path`].
    Done,
    /// Given up: the edge no longer has it (evicted under its quota, or never had it), or
    /// it is over `max_file_bytes`. `reason` is the last error.
    Gone { reason: String },
}

/// What the worker did, for the UI and tests (see [`EvidenceFetcher::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// A chunk was appended: `have` of `size` bytes.
    Progress { sha256: String, have: u64, size: u64 },
    /// Verified and in place.
    Done { sha256: String },
    /// A failure; `retry_in` is `None` when the file is given up.
    Failed { sha256: String, cause: &'static str, detail: String, retry_in: Option<Duration> },
}

/// The control room's evidence fetcher: a durable want list and one worker thread.
/// Dropping it (or [`stop`](Self::stop)) lets the worker finish the request in flight,
/// keep its bytes, and exit.
pub struct EvidenceFetcher {
    shared: Arc<Shared>,
    wake: Sender<()>,
    worker: Option<JoinHandle<()>>,
}

/// Events kept for a slow reader before they are dropped.
const EVENT_BACKLOG: usize = 1024;

impl EvidenceFetcher {
    /// Opens `data_dir/evidence.sqlite` and `data_dir/evidence/` (creating them), and
    /// starts the worker on `session`, which resumes whatever was wanted before.
    pub fn start(session: zenoh::Session, data_dir: &Path, cfg: FetcherConfig) -> Result<Self, String> {
        cfg.validate()?;
        let files = data_dir.join("evidence");
        fs::create_dir_all(&files).map_err(|e| format!("evidence dir {}: {e}", files.display()))?;
        let path = data_dir.join("evidence.sqlite");
        let what = |e: rusqlite::Error| format!("evidence db {}: {e}", path.display());
        let conn = Connection::open(&path).map_err(what)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(what)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS wanted (
                 seq       INTEGER PRIMARY KEY AUTOINCREMENT,  -- fetch order
                 sha256    TEXT NOT NULL UNIQUE,
                 site      TEXT NOT NULL,
                 node      TEXT NOT NULL,
                 state     TEXT NOT NULL DEFAULT 'wanted',     -- wanted | done | gone
                 size      INTEGER,                            -- from the edge's first reply
                 acked     INTEGER NOT NULL DEFAULT 0,         -- done, and the edge was told
                 wanted_ms INTEGER NOT NULL,
                 done_ms   INTEGER,
                 last_error TEXT
             );
             CREATE INDEX IF NOT EXISTS wanted_by_state ON wanted (state, acked, seq);",
        )
        .map_err(what)?;
        let shared =
            Arc::new(Shared { db: Mutex::new(conn), files, stop: AtomicBool::new(false), events: Mutex::default() });
        let (wake, wake_rx) = bounded(1);
        let worker = Worker { session, shared: shared.clone(), cfg, wake: wake_rx, retry: HashMap::new() };
        let worker = std::thread::Builder::new()
            .name("evidence-fetch".into())
            .spawn(move || worker.run())
            .map_err(|e| format!("evidence fetcher thread: {e}"))?;
        Ok(Self { shared, wake, worker: Some(worker) })
    }

    /// Records durably that the control room wants `sha256` from `node` at `site`; true if
    /// it was not wanted before. The arguments come from alerts, so they are checked.
    pub fn want(&self, site: &str, node: &str, sha256: &str) -> Result<bool, String> {
        for (field, v) in [("site", site), ("node", node)] {
            if !keys::is_segment(v) {
                return Err(format!("evidence want: {field} {v:?} is not a key chunk"));
            }
        }
        if !is_sha256_hex(sha256) {
            return Err(format!("evidence want: hash {sha256:?} is not a sha256 (64 lowercase hex digits)"));
        }
        let added = self
            .shared
            .db()
            .execute(
                "INSERT OR IGNORE INTO wanted (sha256, site, node, wanted_ms) VALUES (?1, ?2, ?3, ?4)",
                params![sha256, site, node, chrono::Utc::now().timestamp_millis()],
            )
            .map_err(|e| format!("evidence want {sha256}: {e}"))?;
        if added > 0 {
            let _ = self.wake.try_send(());
        }
        Ok(added > 0)
    }

    /// Where `sha256` stands, `None` if it was never wanted.
    pub fn state(&self, sha256: &str) -> Result<Option<FileState>, String> {
        let row = self
            .shared
            .db()
            .query_row(
                "SELECT state, size, COALESCE(last_error, '') FROM wanted WHERE sha256 = ?1",
                params![sha256],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()
            .map_err(|e| format!("evidence state {sha256}: {e}"))?;
        Ok(row.map(|(state, size, error)| match state.as_str() {
            "done" => FileState::Done,
            "gone" => FileState::Gone { reason: error },
            _ => FileState::Wanted { have: part_len(&self.shared.part(sha256)), size: size.map(|s| s as u64) },
        }))
    }

    /// Where file `sha256` lies once [`FileState::Done`].
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.shared.files.join(sha256)
    }

    /// A stream of what the worker does from now on. Lossy: events are dropped when the
    /// reader falls [`EVENT_BACKLOG`] behind, never slowing the worker.
    pub fn events(&self) -> Receiver<FetchEvent> {
        let (tx, rx) = bounded(EVENT_BACKLOG);
        self.shared.events.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// Stops the worker after the request in flight (its bytes are kept) and waits for it.
    pub fn stop(self) {}
}

impl Drop for EvidenceFetcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// What the handle and the worker share.
struct Shared {
    db: Mutex<Connection>,
    files: PathBuf,
    stop: AtomicBool,
    events: Mutex<Vec<Sender<FetchEvent>>>,
}

impl Shared {
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn part(&self, sha256: &str) -> PathBuf {
        self.files.join(format!("{sha256}.part"))
    }

    fn emit(&self, event: FetchEvent) {
        let mut senders = self.events.lock().unwrap_or_else(|p| p.into_inner());
        senders.retain(|tx| !matches!(tx.try_send(event.clone()), Err(TrySendError::Disconnected(_))));
    }

    fn update(&self, sql: &str, sha256: &str, what: &str) {
        if let Err(e) = self.db().execute(sql, params![sha256]) {
            tracing::error!(%sha256, "evidence db {what}: {e}");
        }
    }
}

fn part_len(part: &Path) -> u64 {
    fs::metadata(part).map(|m| m.len()).unwrap_or(0)
}

/// A wanted file (or a done one whose acknowledgement is still owed).
#[derive(Debug, Clone)]
struct Row {
    sha256: String,
    site: String,
    node: String,
    done: bool,
    size: Option<u64>,
}

impl Row {
    fn node_key(&self) -> String {
        format!("{}/{}", self.site, self.node)
    }
    fn labels(&self) -> [(&str, &str); 2] {
        [("site", &self.site), ("node", &self.node)]
    }
}

/// What a failure holds back until its retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The edge node did not answer or was busy: all its files wait.
    Node,
    /// Something is wrong with this file's bytes: this file waits, from zero.
    File,
    /// The edge does not have the file, or it is too large: given up.
    Gone,
}

#[derive(Debug)]
struct Failure {
    scope: Scope,
    cause: &'static str,
    detail: String,
}

impl Failure {
    fn new(scope: Scope, cause: &'static str, detail: String) -> Self {
        Self { scope, cause, detail }
    }
}

/// Failures in a row for one key (a node or a file), and when to try again.
struct Retry {
    failures: u32,
    not_before: Instant,
}

struct Worker {
    session: zenoh::Session,
    shared: Arc<Shared>,
    cfg: FetcherConfig,
    wake: Receiver<()>,
    retry: HashMap<String, Retry>,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn run(mut self) {
        while !self.stopped() {
            let now = Instant::now();
            let rows = match self.open_work() {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!("{e}");
                    self.sleep(Some(now + Duration::from_millis(self.cfg.retry_max_ms)));
                    continue;
                }
            };
            let ready = |key: &str| self.retry.get(key).is_none_or(|r| r.not_before <= now);
            match rows.into_iter().find(|r| ready(&r.node_key()) && ready(&r.sha256)) {
                Some(row) if row.done => self.ack(&row),
                Some(row) => self.fetch(row),
                None => self.sleep(self.retry.values().map(|r| r.not_before).filter(|t| *t > now).min()),
            }
        }
    }

    /// Waits for a `want`, a stop, or `until` (forever if `None`, as nothing is waiting).
    fn sleep(&self, until: Option<Instant>) {
        match until {
            Some(t) => {
                let _ = self.wake.recv_timeout(t.saturating_duration_since(Instant::now()));
            }
            None => {
                let _ = self.wake.recv();
            }
        }
    }

    fn open_work(&self) -> Result<Vec<Row>, String> {
        let db = self.shared.db();
        let mut q = db
            .prepare_cached(
                "SELECT sha256, site, node, state, size FROM wanted
                 WHERE state = 'wanted' OR (state = 'done' AND acked = 0) ORDER BY seq",
            )
            .map_err(|e| format!("evidence db read: {e}"))?;
        q.query_map([], |r| {
            Ok(Row {
                sha256: r.get(0)?,
                site: r.get(1)?,
                node: r.get(2)?,
                done: r.get::<_, String>(3)? == "done",
                size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| format!("evidence db read: {e}"))
    }

    /// Fetches `row` chunk by chunk from the end of its part until it is whole, a
    /// failure, or a stop.
    fn fetch(&mut self, mut row: Row) {
        let part = self.shared.part(&row.sha256);
        while !self.stopped() {
            let have = part_len(&part);
            if let Some(size) = row.size
                && have >= size
            {
                return self.finish(&row, &part, have);
            }
            let (bytes, size) = match self.get_chunk(&row, have) {
                Ok(chunk) => chunk,
                Err(f) => return self.fail(&row, f),
            };
            if row.size.is_none() {
                row.size = Some(size);
                let set = self
                    .shared
                    .db()
                    .execute("UPDATE wanted SET size = ?2 WHERE sha256 = ?1", params![row.sha256, size as i64]);
                if let Err(e) = set {
                    tracing::error!(sha256 = %row.sha256, "evidence db size: {e}");
                }
            }
            if bytes.is_empty() {
                continue; // at the end: the size is now known, so the next turn finishes
            }
            let append = || -> std::io::Result<()> {
                let mut f = OpenOptions::new().create(true).append(true).open(&part)?;
                f.write_all(&bytes)?;
                f.sync_data() // what a restart resumes from must be on disk
            };
            if let Err(e) = append() {
                let detail = format!("appending {} bytes to {}: {e}", bytes.len(), part.display());
                return self.fail(&row, Failure::new(Scope::File, "io", detail));
            }
            self.retry.remove(&row.node_key()); // it answers
            metrics::global().metric("qv_evidence_fetched_bytes_total", &row.labels()).add(bytes.len() as u64);
            let have = have + bytes.len() as u64;
            self.shared.emit(FetchEvent::Progress { sha256: row.sha256.clone(), have, size });
        }
    }

    /// Asks for `[offset, offset + chunk)`; returns the bytes and the file's size, checked
    /// against what was asked and what is known.
    fn get_chunk(&self, row: &Row, offset: u64) -> Result<(Vec<u8>, u64), Failure> {
        let key = keys::evidence(&row.site, &row.node, &row.sha256);
        let selector = format!("{key}?offset={offset};len={}", self.cfg.chunk_bytes);
        let timeout = Duration::from_millis(self.cfg.request_timeout_ms);
        let unreachable = |detail| Failure::new(Scope::Node, "unreachable", detail);
        let replies = self
            .session
            .get(&selector)
            .priority(Priority::Background)
            .congestion_control(CongestionControl::Block)
            .timeout(timeout)
            .wait()
            .map_err(|e| unreachable(format!("get {selector}: {e}")))?;
        // zenoh ends the query at `timeout`; the margin only guards against a lost end.
        let reply = match replies.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(Some(reply)) => reply,
            _ => return Err(unreachable(format!("no reply to {selector} within {timeout:?}"))),
        };
        let sample = match reply.into_result() {
            Ok(sample) => sample,
            Err(e) => return Err(refusal(&selector, &e.payload().to_bytes())),
        };
        let bad = |detail: String| Failure::new(Scope::File, "bad_reply", format!("{selector}: {detail}"));
        let size = sample
            .attachment()
            .map(|a| a.to_bytes())
            .and_then(|a| std::str::from_utf8(&a).ok()?.strip_prefix(SIZE_ATTACHMENT_PREFIX)?.parse::<u64>().ok())
            .ok_or_else(|| bad("no size attachment".into()))?;
        if size > self.cfg.max_file_bytes {
            let detail = format!("{selector}: {size} bytes is over max_file_bytes {}", self.cfg.max_file_bytes);
            return Err(Failure::new(Scope::Gone, "too_large", detail));
        }
        let bytes = sample.payload().to_bytes().into_owned();
        let len = bytes.len() as u64;
        if row.size.is_some_and(|known| known != size) {
            return Err(bad(format!("size {size} differs from the {} bytes said before", row.size.unwrap_or(0))));
        }
        if len > self.cfg.chunk_bytes || offset + len > size || (len == 0 && offset < size) {
            return Err(bad(format!(
                "{len} bytes at offset {offset} do not fit a request of {} in {size} bytes",
                self.cfg.chunk_bytes
            )));
        }
        Ok((bytes, size))
    }

    /// Checks the whole part against its name, puts it in place and acknowledges it.
    fn finish(&mut self, row: &Row, part: &Path, have: u64) {
        let actual = match sha256_file(part) {
            Ok(h) => h,
            Err(e) => return self.fail(row, Failure::new(Scope::File, "io", format!("{}: {e}", part.display()))),
        };
        if have != row.size.unwrap_or(have) || actual != row.sha256 {
            let detail = format!("{}: {have} bytes hash to {actual}", part.display());
            return self.fail(row, Failure::new(Scope::File, "hash_mismatch", detail));
        }
        let path = self.shared.files.join(&row.sha256);
        let place = || -> std::io::Result<()> {
            fs::rename(part, &path)?;
            File::open(&self.shared.files)?.sync_all()
        };
        if let Err(e) = place() {
            return self.fail(row, Failure::new(Scope::File, "io", format!("renaming to {}: {e}", path.display())));
        }
        self.shared.update(
            "UPDATE wanted SET state = 'done', last_error = NULL, done_ms = strftime('%s','now') * 1000 WHERE sha256 = ?1",
            &row.sha256,
            "done",
        );
        self.retry.remove(&row.sha256);
        metrics::global().metric("qv_evidence_fetched_files_total", &row.labels()).inc();
        tracing::info!(sha256 = %row.sha256, node = %row.node_key(), bytes = have, "evidence fetched");
        self.shared.emit(FetchEvent::Done { sha256: row.sha256.clone() });
        self.ack(row);
    }

    /// Tells the edge that `row` is replicated, if the edge listens; else later.
    fn ack(&mut self, row: &Row) {
        let key = evidence_ack(&row.site, &row.node);
        let sent = (|| -> Result<bool, String> {
            let publisher = self
                .session
                .declare_publisher(key.clone())
                .priority(Priority::Background)
                .congestion_control(CongestionControl::Block)
                .wait()
                .map_err(|e| e.to_string())?;
            // A put nobody hears is lost, and the edge would keep the file as unreplicated.
            if !publisher.matching_status().wait().map_err(|e| e.to_string())?.matching() {
                return Ok(false);
            }
            publisher.put(row.sha256.as_str()).wait().map_err(|e| e.to_string())?;
            Ok(true)
        })();
        match sent {
            Ok(true) => self.shared.update("UPDATE wanted SET acked = 1 WHERE sha256 = ?1", &row.sha256, "acked"),
            Ok(false) => {
                self.back_off(row, Scope::Node, "ack_unheard");
            }
            Err(e) => {
                tracing::warn!(sha256 = %row.sha256, "evidence acknowledgement on {key}: {e}");
                self.back_off(row, Scope::Node, "ack_failed");
            }
        }
    }

    fn fail(&mut self, row: &Row, f: Failure) {
        metrics::global()
            .metric("qv_evidence_fetch_failures_total", &[row.labels()[0], row.labels()[1], ("cause", f.cause)])
            .inc();
        if let Err(e) = self.shared.db().execute(
            "UPDATE wanted SET last_error = ?2 WHERE sha256 = ?1",
            params![row.sha256, format!("{}: {}", f.cause, f.detail)],
        ) {
            tracing::error!(sha256 = %row.sha256, "evidence db last_error: {e}");
        }
        if f.scope != Scope::Node {
            // The part's bytes are suspect (or useless): start from zero next time.
            let _ = fs::remove_file(self.shared.part(&row.sha256));
            self.shared.update("UPDATE wanted SET size = NULL WHERE sha256 = ?1", &row.sha256, "size");
        }
        let retry_in = if f.scope == Scope::Gone {
            self.shared.update("UPDATE wanted SET state = 'gone' WHERE sha256 = ?1", &row.sha256, "gone");
            tracing::warn!(sha256 = %row.sha256, cause = f.cause, "evidence given up: {}", f.detail);
            None
        } else {
            let wait = self.back_off(row, f.scope, f.cause);
            tracing::warn!(sha256 = %row.sha256, cause = f.cause, retry_in = ?wait, "evidence fetch failed: {}", f.detail);
            Some(wait)
        };
        self.shared.emit(FetchEvent::Failed { sha256: row.sha256.clone(), cause: f.cause, detail: f.detail, retry_in });
    }

    /// Holds back the node or the file for the next backoff step; returns the wait.
    fn back_off(&mut self, row: &Row, scope: Scope, cause: &str) -> Duration {
        let key = if scope == Scope::Node { row.node_key() } else { row.sha256.clone() };
        let entry = self.retry.entry(key).or_insert(Retry { failures: 0, not_before: Instant::now() });
        entry.failures += 1;
        let wait = self.cfg.backoff(entry.failures);
        entry.not_before = Instant::now() + wait;
        tracing::debug!(sha256 = %row.sha256, cause, ?wait, "evidence backing off");
        wait
    }
}

/// Maps the edge's reply error `"<cause>: <what>"` to a failure.
fn refusal(selector: &str, payload: &[u8]) -> Failure {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(500)]).into_owned();
    let detail = format!("{selector}: edge refused: {text}");
    match text.split_once(':').map(|(cause, _)| cause) {
        Some("unknown_hash") => Failure::new(Scope::Gone, "unknown_hash", detail),
        // Our part is longer than the file: the part is wrong, not the edge.
        Some("bad_offset") => Failure::new(Scope::File, "bad_offset", detail),
        Some("busy") => Failure::new(Scope::Node, "busy", detail),
        _ => Failure::new(Scope::File, "refused", detail),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(format!("{:x}", hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests;
