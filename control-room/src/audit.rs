//! The tamper-evident audit log: every workflow action, login, failed login, source mute and
//! view of personal data is appended to the `audit` table, and `verify` tells whether the log
//! is still what was written.
//!
//! The one idea: each row carries the SHA-256 of its content and of the previous row's hash, so
//! editing, deleting or reordering a row breaks the chain. An administrator who can write the
//! database could recompute the whole chain, though, so the chain head (last seq and hash) is
//! signed with this node's Ed25519 key and exported at intervals off the box (a mount on
//! another machine that this box can append to but not rewrite). A head already exported
//! cannot be taken back: a truncated tail or a recomputed chain no longer matches it.
//!
//! What it cannot show: changes to rows written after the last exported head (export often),
//! or anything about a log whose exported heads were rewritten where they are kept.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The audit table. `seq` is assigned by [`append_in`] (last + 1, inside a write transaction),
/// not by SQLite, so it runs 1, 2, 3… with no gaps; `detail` is compact JSON text, hashed as
/// stored; `prev_hash` and `hash` are 32-byte SHA-256 values.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    ts_us     INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    site      TEXT,
    target    TEXT,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);";

/// The file [`export_head`] appends to, in the export directory.
pub const HEADS_FILE: &str = "audit-heads.jsonl";

/// Starts every hashed row encoding, so a future encoding cannot be confused with this one.
const ENTRY_TAG: &[u8] = b"qorovul-audit-v1";
/// First line of the signed head text.
const HEAD_TAG: &str = "qorovul-audit-head-v1";
/// The `prev_hash` of seq 1, and the hash of an empty log's head.
const ZERO_HASH: [u8; 32] = [0; 32];

/// One audit row, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub seq: i64,
    pub ts: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub site: Option<String>,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    /// Hex of the previous row's hash (64 zeros for seq 1).
    pub prev_hash: String,
    /// Hex of this row's hash.
    pub hash: String,
}

/// A signed statement "on `ts`, `node`'s audit log ended at `seq` with `hash`".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Head {
    pub node: String,
    /// 0 for an empty log.
    pub seq: i64,
    /// Hex; 64 zeros for an empty log.
    pub hash: String,
    pub ts: DateTime<Utc>,
    /// Hex of the Ed25519 public key.
    pub public_key: String,
    /// Hex of the Ed25519 signature over [`head_text`].
    pub signature: String,
}

/// The hashed fields of a row, borrowed, so append and verify hash exactly the same thing.
struct Fields<'a> {
    seq: i64,
    ts_us: i64,
    actor: &'a str,
    action: &'a str,
    site: Option<&'a str>,
    target: Option<&'a str>,
    /// The compact JSON text as stored, never re-serialised (key order or number formatting
    /// could change on a round trip).
    detail: &'a str,
}

/// The chain hash of a row: SHA-256 over `qorovul-audit-v1`, `prev_hash` (32 bytes), seq and
/// ts_us (i64 LE), then actor, action, site, target, detail, each text as its length (u64 LE)
/// and bytes, and the optional ones after a presence byte (0 absent, 1 present), so no two
/// different rows encode to the same bytes (`"ab","c"` vs `"a","bc"`; NULL vs `""`).
fn chain_hash(prev_hash: &[u8; 32], fields: &Fields) -> [u8; 32] {
    fn text(hasher: &mut Sha256, s: &str) {
        hasher.update((s.len() as u64).to_le_bytes());
        hasher.update(s.as_bytes());
    }
    fn optional(hasher: &mut Sha256, s: Option<&str>) {
        match s {
            None => hasher.update([0u8]),
            Some(s) => {
                hasher.update([1u8]);
                text(hasher, s);
            }
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(ENTRY_TAG);
    hasher.update(prev_hash);
    hasher.update(fields.seq.to_le_bytes());
    hasher.update(fields.ts_us.to_le_bytes());
    text(&mut hasher, fields.actor);
    text(&mut hasher, fields.action);
    optional(&mut hasher, fields.site);
    optional(&mut hasher, fields.target);
    text(&mut hasher, fields.detail);
    hasher.finalize().into()
}

/// Appends one entry in its own `BEGIN IMMEDIATE` transaction. The immediate transaction takes
/// the write lock before the last row is read, so appenders on other connections, threads or
/// processes are serialised and seq and `prev_hash` never fork. `conn` must not be inside a
/// transaction already: use [`append_in`] to record an action in the action's transaction.
pub fn append(
    conn: &Connection,
    actor: &str,
    action: &str,
    site: Option<&str>,
    target: Option<&str>,
    detail: &serde_json::Value,
) -> Result<Entry, String> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| format!("audit {action} by {actor}: begin immediate transaction: {e}"))?;
    let entry = append_in(&tx, actor, action, site, target, detail)?;
    tx.commit().map_err(|e| format!("audit seq {}: commit: {e}", entry.seq))?;
    Ok(entry)
}

/// Appends one entry inside the caller's transaction, so the audit row commits (or rolls back)
/// with the action it records. Open `tx` with `TransactionBehavior::Immediate`: a deferred
/// transaction that has already read can fail to take the write lock (SQLITE_BUSY) here.
pub fn append_in(
    tx: &Transaction,
    actor: &str,
    action: &str,
    site: Option<&str>,
    target: Option<&str>,
    detail: &serde_json::Value,
) -> Result<Entry, String> {
    let detail_text =
        serde_json::to_string(detail).map_err(|e| format!("audit {action} by {actor}: detail as JSON: {e}"))?;
    let (last_seq, prev_hash) = last_link(tx)?;
    let seq = last_seq.checked_add(1).ok_or_else(|| format!("audit seq {last_seq}: no seq after it"))?;
    let ts = now_micros();
    let fields = Fields { seq, ts_us: ts.timestamp_micros(), actor, action, site, target, detail: &detail_text };
    let hash = chain_hash(&prev_hash, &fields);
    tx.execute(
        "INSERT INTO audit (seq, ts_us, actor, action, site, target, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![seq, fields.ts_us, actor, action, site, target, detail_text, &prev_hash[..], &hash[..]],
    )
    .map_err(|e| format!("audit seq {seq} ({action} by {actor}): insert: {e}"))?;
    Ok(Entry {
        seq,
        ts,
        actor: actor.to_string(),
        action: action.to_string(),
        site: site.map(str::to_string),
        target: target.map(str::to_string),
        detail: detail.clone(),
        prev_hash: to_hex(&prev_hash),
        hash: to_hex(&hash),
    })
}

/// The last row's seq and hash; `(0, zeros)` for an empty log.
fn last_link(conn: &Connection) -> Result<(i64, [u8; 32]), String> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(|e| format!("audit: reading the last entry: {e}"))?;
    match last {
        None => Ok((0, ZERO_HASH)),
        Some((seq, hash)) => {
            let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
                format!("audit seq {seq}: stored hash is {} bytes, not 32: the log is damaged, verify it", hash.len())
            })?;
            Ok((seq, hash))
        }
    }
}

/// Entries newest first: those with seq below `before_seq` (all when `None`), at most `limit`.
pub fn entries(conn: &Connection, before_seq: Option<i64>, limit: usize) -> Result<Vec<Entry>, String> {
    let mut stmt = conn
        .prepare(&format!("{SELECT_ROWS} WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"))
        .map_err(|e| format!("audit: listing entries: {e}"))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![before_seq.unwrap_or(i64::MAX), limit], StoredRow::read)
        .map_err(|e| format!("audit: listing entries: {e}"))?;
    rows.map(|row| row.map_err(|e| format!("audit: reading an entry: {e}")).and_then(StoredRow::into_entry)).collect()
}

const SELECT_ROWS: &str = "SELECT seq, ts_us, actor, action, site, target, detail, prev_hash, hash FROM audit";

/// A row as read by [`SELECT_ROWS`].
struct StoredRow {
    seq: i64,
    ts_us: i64,
    actor: String,
    action: String,
    site: Option<String>,
    target: Option<String>,
    detail: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl StoredRow {
    fn read(r: &rusqlite::Row) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            seq: r.get(0)?,
            ts_us: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            site: r.get(4)?,
            target: r.get(5)?,
            detail: r.get(6)?,
            prev_hash: r.get(7)?,
            hash: r.get(8)?,
        })
    }

    fn fields(&self) -> Fields<'_> {
        Fields {
            seq: self.seq,
            ts_us: self.ts_us,
            actor: &self.actor,
            action: &self.action,
            site: self.site.as_deref(),
            target: self.target.as_deref(),
            detail: &self.detail,
        }
    }

    fn into_entry(self) -> Result<Entry, String> {
        let seq = self.seq;
        let ts = DateTime::from_timestamp_micros(self.ts_us)
            .ok_or_else(|| format!("audit seq {seq}: ts_us {} is out of range", self.ts_us))?;
        let detail =
            serde_json::from_str(&self.detail).map_err(|e| format!("audit seq {seq}: detail is not JSON: {e}"))?;
        Ok(Entry {
            seq,
            ts,
            actor: self.actor,
            action: self.action,
            site: self.site,
            target: self.target,
            detail,
            prev_hash: to_hex(&self.prev_hash),
            hash: to_hex(&self.hash),
        })
    }
}

/// Signs heads with this node's Ed25519 key.
pub struct Signer {
    node: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    /// Names the node and public key, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("node", &self.node).field("public_key", &self.public_key_hex()).finish()
    }
}

impl Signer {
    /// Loads the 32-byte secret seed at `path`, or creates it (mode 0600) when there is none.
    /// A key file of another length is refused, never replaced: heads already exported name
    /// its public key.
    pub fn load_or_create(path: &Path, node: &str) -> Result<Signer, String> {
        if node.is_empty() || node.contains('\n') {
            return Err(format!("audit signer: node name {node:?} must be non-empty and on one line"));
        }
        let seed = match read_seed(path)? {
            Some(seed) => seed,
            None => create_seed(path)?,
        };
        Ok(Signer { node: node.to_string(), key: SigningKey::from_bytes(&seed) })
    }

    pub fn public_key_hex(&self) -> String {
        to_hex(self.key.verifying_key().as_bytes())
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Signs the log's current last entry (seq 0 and a zero hash for an empty log).
    pub fn head(&self, conn: &Connection) -> Result<Head, String> {
        let (seq, hash) = last_link(conn)?;
        Ok(self.sign(seq, &hash, now_micros()))
    }

    fn sign(&self, seq: i64, hash: &[u8; 32], ts: DateTime<Utc>) -> Head {
        use ed25519_dalek::Signer as _;
        let hash = to_hex(hash);
        let signature = self.key.sign(head_text(&self.node, seq, &hash, ts).as_bytes());
        Head {
            node: self.node.clone(),
            seq,
            hash,
            ts,
            public_key: self.public_key_hex(),
            signature: to_hex(&signature.to_bytes()),
        }
    }
}

/// The text a head's signature covers.
fn head_text(node: &str, seq: i64, hash: &str, ts: DateTime<Utc>) -> String {
    format!("{HEAD_TAG}\n{node}\n{seq}\n{hash}\n{}", ts.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn read_seed(path: &Path) -> Result<Option<[u8; 32]>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("audit key {}: {e}", path.display())),
    };
    let seed = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "audit key {}: {} bytes, expected a 32-byte Ed25519 seed; refusing to use or replace it",
            path.display(),
            bytes.len()
        )
    })?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "audit key {} is readable by others (mode {:o}); it should be 0600",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(Some(seed))
}

/// Writes a fresh seed under a temporary name and links it into place: a crash never leaves a
/// short key file, and when two processes create the key at once both end up with the winner's.
fn create_seed(path: &Path) -> Result<[u8; 32], String> {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let what = |e: std::io::Error| format!("audit key {}: {e}", path.display());
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| format!("audit key {}: no randomness for a new key: {e}", path.display()))?;
    let file_name = path.file_name().ok_or_else(|| format!("audit key {}: not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(&seed).and_then(|()| file.sync_all()));
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path.parent()).map_err(what)?;
            tracing::info!("audit key {} created", path.display());
            Ok(seed)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_seed(path)?.ok_or_else(|| format!("audit key {}: created by someone else, then gone", path.display()))
        }
        Err(e) => Err(what(e)),
    }
}

/// Makes a new directory entry durable.
fn sync_dir(dir: Option<&Path>) -> std::io::Result<()> {
    let dir = match dir {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Appends `head` as one JSON line to `dir/audit-heads.jsonl` and fsyncs it. `dir` is meant to
/// be a mount of another machine (an NFS or SMB share, or a directory shipped elsewhere) that
/// this box's administrators can append to but not rewrite: heads kept only on this box could
/// be rewritten together with the log. One exporter per file: appends from several machines
/// to one file on a network share are not atomic.
pub fn export_head(head: &Head, dir: &Path) -> Result<(), String> {
    let path = dir.join(HEADS_FILE);
    let what = |e: std::io::Error| format!("audit heads {}: {e}", path.display());
    let mut line = serde_json::to_string(head).map_err(|e| format!("audit heads {}: {e}", path.display()))?;
    line.push('\n');
    let created = !path.exists();
    let mut file = OpenOptions::new().append(true).create(true).open(&path).map_err(what)?;
    // One write, so a reader never sees half of one head followed by another.
    file.write_all(line.as_bytes()).map_err(what)?;
    file.sync_all().map_err(what)?;
    if created {
        sync_dir(Some(dir)).map_err(what)?;
    }
    Ok(())
}

/// Reads a heads file written by [`export_head`]; blank lines are skipped.
pub fn load_heads(path: &Path) -> Result<Vec<Head>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("audit heads {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("audit heads {} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Receives each new head; an error is logged and the head offered again at the next interval.
pub type Sink = Box<dyn Fn(&Head) -> Result<(), String> + Send>;

/// Signs and exports the head at intervals, on its own thread and read connection.
pub struct Exporter {
    /// Dropped to stop the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Every `every`, and once more on [`Exporter::stop`], signs the head of the log at
    /// `db_path` and hands it to each sink whose last export was a different head.
    pub fn start(db_path: PathBuf, signer: Signer, every: Duration, sinks: Vec<Sink>) -> Result<Exporter, String> {
        if every.is_zero() {
            return Err("audit head exporter: the interval must be longer than zero".to_string());
        }
        let what = |e: rusqlite::Error| format!("audit head exporter {}: {e}", db_path.display());
        // Opened read-write but query-only: a read-only connection to a WAL database fails
        // when it cannot create the -shm file. No CREATE: a missing database is an error, not
        // an empty log to sign.
        let conn =
            Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(what)?;
        conn.pragma_update(None, "query_only", true).map_err(what)?;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("audit-export".to_string())
            .spawn(move || export_loop(&conn, &signer, every, &sinks, &stopped))
            .map_err(|e| format!("audit head exporter: starting its thread: {e}"))?;
        Ok(Exporter { stop: Some(stop), thread: Some(thread) })
    }

    /// Exports the head once more if it changed, and joins the thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("audit head exporter thread panicked");
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn export_loop(conn: &Connection, signer: &Signer, every: Duration, sinks: &[Sink], stopped: &Receiver<()>) {
    // Per sink, so a sink that failed gets the head again without the others getting it twice.
    let mut exported: Vec<Option<(i64, [u8; 32])>> = vec![None; sinks.len()];
    loop {
        let stopping = match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        export_changed(conn, signer, sinks, &mut exported);
        if stopping {
            return;
        }
    }
}

fn export_changed(conn: &Connection, signer: &Signer, sinks: &[Sink], exported: &mut [Option<(i64, [u8; 32])>]) {
    let link = match last_link(conn) {
        Ok(link) => link,
        Err(e) => {
            tracing::warn!("audit head not exported: {e}");
            return;
        }
    };
    if exported.iter().all(|last| *last == Some(link)) {
        return;
    }
    let head = signer.sign(link.0, &link.1, now_micros());
    for (i, (sink, last)) in sinks.iter().zip(exported.iter_mut()).enumerate() {
        if *last == Some(link) {
            continue;
        }
        match sink(&head) {
            Ok(()) => *last = Some(link),
            Err(e) => tracing::warn!(sink = i, seq = head.seq, "audit head export failed, retried next interval: {e}"),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// No problems.
    pub ok: bool,
    /// Rows in the log.
    pub entries: i64,
    /// Heads whose signature and key checked out and that were compared with the log.
    pub heads_checked: usize,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Problem {
    /// The row, or the head's seq, concerned.
    pub seq: Option<i64>,
    pub what: String,
}

/// Walks the chain from seq 1 and checks each row's hash, its link to the row before and the
/// seq numbering; then checks each head's signature (and key: `trusted_key` when given, else
/// the first head's) and compares each authentic head with the log, which catches a truncated
/// tail and a chain recomputed after the head was exported. Heads that fail the signature or
/// key check are reported and not compared: they say nothing about the log.
pub fn verify(conn: &Connection, heads: &[Head], trusted_key: Option<&str>) -> Result<Report, String> {
    let mut problems = Vec::new();

    let reference_key = trusted_key.or_else(|| heads.first().map(|head| head.public_key.as_str()));
    let mut authentic = Vec::new();
    for head in heads {
        let about = format!("head for seq {} (node {}, exported {})", head.seq, head.node, head.ts.to_rfc3339());
        if let Err(why) = check_signature(head) {
            problems.push(Problem { seq: Some(head.seq), what: format!("{about}: {why}") });
            continue;
        }
        if let Some(reference) = reference_key
            && !head.public_key.eq_ignore_ascii_case(reference)
        {
            let whose = if trusted_key.is_some() { "the trusted key" } else { "the key of the first head" };
            problems.push(Problem {
                seq: Some(head.seq),
                what: format!("{about}: signed by key {}, not {whose} {reference}", head.public_key),
            });
            continue;
        }
        authentic.push(head);
    }

    // The log's hash at each seq a head names, filled in while walking the chain.
    let mut hash_at: BTreeMap<i64, Option<Vec<u8>>> =
        authentic.iter().filter(|head| head.seq > 0).map(|head| (head.seq, None)).collect();
    let mut entries = 0i64;
    let mut last_seq = 0i64;
    let mut prev_hash: Vec<u8> = ZERO_HASH.to_vec();
    let mut stmt = conn
        .prepare(&format!("{SELECT_ROWS} ORDER BY seq"))
        .map_err(|e| format!("audit verify: reading the log: {e}"))?;
    let mut rows = stmt.query([]).map_err(|e| format!("audit verify: reading the log: {e}"))?;
    while let Some(r) = rows.next().map_err(|e| format!("audit verify: reading the log after seq {last_seq}: {e}"))? {
        entries += 1;
        let seq: i64 = r.get(0).map_err(|e| format!("audit verify: the row after seq {last_seq}: {e}"))?;
        let expected = last_seq + 1;
        if seq != expected {
            problems.push(Problem {
                seq: Some(seq),
                what: format!(
                    "seq {seq}: gap or reordering: expected seq {expected} after seq {last_seq}, found seq {seq}"
                ),
            });
        }
        last_seq = seq;
        let row = match StoredRow::read(r) {
            Ok(row) => row,
            Err(e) => {
                // A column of the wrong type: written by hand, not by `append`.
                problems.push(Problem { seq: Some(seq), what: format!("seq {seq}: row edited, unreadable: {e}") });
                prev_hash = r.get::<_, Vec<u8>>(8).unwrap_or_default();
                continue;
            }
        };
        if row.prev_hash != prev_hash {
            problems.push(Problem {
                seq: Some(seq),
                what: format!(
                    "seq {seq}: broken link: prev_hash {} is not the hash {} of the row before",
                    to_hex(&row.prev_hash),
                    to_hex(&prev_hash)
                ),
            });
        }
        match <[u8; 32]>::try_from(row.prev_hash.as_slice()) {
            Ok(stored_prev) => {
                let recomputed = chain_hash(&stored_prev, &row.fields());
                if row.hash != recomputed {
                    problems.push(Problem {
                        seq: Some(seq),
                        what: format!(
                            "seq {seq}: row edited: stored hash {} but its content hashes to {}",
                            to_hex(&row.hash),
                            to_hex(&recomputed)
                        ),
                    });
                }
            }
            Err(_) => problems.push(Problem {
                seq: Some(seq),
                what: format!("seq {seq}: row edited: prev_hash is {} bytes, not 32", row.prev_hash.len()),
            }),
        }
        if let Some(slot) = hash_at.get_mut(&seq) {
            *slot = Some(row.hash.clone());
        }
        prev_hash = row.hash;
    }

    for head in &authentic {
        let about = format!("head for seq {} exported {} by {}", head.seq, head.ts.to_rfc3339(), head.node);
        let Some(claimed) = from_hex(&head.hash).filter(|hash| hash.len() == 32) else {
            problems.push(Problem { seq: Some(head.seq), what: format!("{about}: hash is not 64 hex digits") });
            continue;
        };
        let problem = if head.seq < 0 {
            Some(format!("{about}: negative seq"))
        } else if head.seq == 0 {
            (claimed != ZERO_HASH).then(|| format!("{about}: an empty log's head must have the zero hash"))
        } else if head.seq > last_seq {
            Some(format!(
                "truncated tail: {about} says the log reached seq {} but the log ends at seq {last_seq}",
                head.seq
            ))
        } else {
            match hash_at.get(&head.seq).cloned().flatten() {
                None => Some(format!("{about}: the log has no row seq {}", head.seq)),
                Some(logged) if logged != claimed => Some(format!(
                    "seq {}: chain rewritten: the log's hash {} is not the hash {} in the {about}; \
                     the log up to seq {} was recomputed after that head was exported",
                    head.seq,
                    to_hex(&logged),
                    head.hash,
                    head.seq
                )),
                Some(_) => None,
            }
        };
        if let Some(what) = problem {
            problems.push(Problem { seq: Some(head.seq), what });
        }
    }

    Ok(Report { ok: problems.is_empty(), entries, heads_checked: authentic.len(), problems })
}

/// Whether `head`'s signature verifies with the public key it names.
fn check_signature(head: &Head) -> Result<(), String> {
    if head.node.contains('\n') {
        return Err("node name contains a newline".to_string());
    }
    let public_key = from_hex(&head.public_key)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("public key {:?} is not 64 hex digits", head.public_key))?;
    let public_key = VerifyingKey::from_bytes(&public_key)
        .map_err(|e| format!("public key {} is not an Ed25519 key: {e}", head.public_key))?;
    let signature = from_hex(&head.signature)
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or_else(|| "signature is not 128 hex digits".to_string())?;
    public_key
        .verify_strict(
            head_text(&head.node, head.seq, &head.hash, head.ts).as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| format!("signature does not verify with public key {}", head.public_key))
}

/// Now, to the microsecond stored, so an entry returned by `append` equals the one read back.
fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    hex
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes().chunks(2).map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests;
