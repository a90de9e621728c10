//! The durable alert outbox: SQLite in WAL mode with `synchronous=FULL`, so an append
//! that returned survives a power cut.
//!
//! Two priorities: alerts of severity high and critical are sent before a draining backlog
//! of lower ones, oldest first within a priority. Alerts are never evicted; evidence, which
//! lives elsewhere, is what a disk quota removes.
//!
//! Each row keeps the alert whole (sent on `qv/{site}/pii/alert/…`, for the control room) and
//! its public form (sent on `qv/{site}/alert/…`, personal fields masked), both made once, at
//! append.
//!
//! Beside the outbox, a ledger keeps the id of every alert ever appended (16 bytes a row,
//! pruned by age), so a post and its control room can be reconciled after an outage.

use pipeline::alert::{Alert, Severity};
use pipeline::personal;
use rusqlite::{Connection, params};
use std::path::Path;
use uuid::Uuid;

/// The two sending priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// High and critical alerts: sent first.
    Live = 0,
    /// Everything else, drained oldest first behind the live alerts.
    Backlog = 1,
}

/// An alert waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Position in the outbox (append order).
    pub seq: i64,
    pub priority: Priority,
    pub id: Uuid,
    /// Public key expression; the whole alert goes on its `pii` twin.
    pub key: String,
    /// The whole alert as JSON, exactly as it will be sent on `qv/{site}/pii/alert/…`.
    pub json: String,
    /// Its public form (personal fields masked); `None` when the alert holds nothing
    /// personal and `json` is sent on both keys.
    pub public: Option<String>,
}

/// The outbox of one edge node.
pub struct Outbox {
    conn: Connection,
}

/// Severity at and above which an alert is sent live.
const LIVE_FROM: Severity = Severity::High;

impl Outbox {
    /// Opens (creating if needed) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let what = |e: rusqlite::Error| format!("outbox {}: {e}", path.display());
        let conn = Connection::open(path).map_err(what)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(what)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                 seq      INTEGER PRIMARY KEY AUTOINCREMENT,
                 id       TEXT NOT NULL,              -- unique through the ledger
                 lane     INTEGER NOT NULL,   -- the priority: 0 live, 1 backlog (first name kept: outboxes on disk open as they are)
                 key      TEXT NOT NULL,
                 json     TEXT NOT NULL,
                 public   TEXT               -- the public form; '' when json holds nothing personal
             );
             CREATE INDEX IF NOT EXISTS outbox_by_lane ON outbox (lane, seq);
             CREATE TABLE IF NOT EXISTS ledger (
                 id       BLOB PRIMARY KEY,     -- 16 bytes
                 appended INTEGER NOT NULL      -- unix seconds
             ) WITHOUT ROWID;",
        )
        .map_err(what)?;
        // An outbox from before contract 1.3 has no public form; its rows get one when read.
        let has_public: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'public'", [], |r| r.get(0))
            .map_err(what)?;
        if !has_public {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN public TEXT").map_err(what)?;
        }
        Ok(Self { conn })
    }

    /// Appends alerts in one transaction (one fsync for the batch). An alert already in
    /// the outbox (same id) is not added twice. Returns how many were added.
    pub fn append(&mut self, alerts: &[Alert]) -> Result<usize, String> {
        let tx = self.conn.transaction().map_err(|e| format!("outbox append: {e}"))?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO outbox (id, lane, key, json, public) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| format!("outbox append: {e}"))?;
            let mut ledger = tx
                .prepare_cached("INSERT OR IGNORE INTO ledger (id, appended) VALUES (?1, ?2)")
                .map_err(|e| format!("outbox append: {e}"))?;
            let now = chrono::Utc::now().timestamp();
            for a in alerts {
                // Already sent and acknowledged once: a replayed alert is not sent again.
                if ledger
                    .execute(params![a.id.as_bytes().as_slice(), now])
                    .map_err(|e| format!("ledger {}: {e}", a.id))?
                    == 0
                {
                    continue;
                }
                let priority = if a.severity >= LIVE_FROM { Priority::Live } else { Priority::Backlog };
                let public = if personal::has_personal(a) { personal::public(a).to_json() } else { String::new() };
                added += insert
                    .execute(params![a.id.to_string(), priority as i64, a.key_expr(), a.to_json(), public])
                    .map_err(|e| format!("outbox append {}: {e}", a.id))?;
            }
        }
        tx.commit().map_err(|e| format!("outbox append commit: {e}"))?;
        Ok(added)
    }

    /// Up to `limit` alerts to send next: the live ones first, then the backlog, each
    /// oldest first.
    pub fn next(&self, limit: usize) -> Result<Vec<Pending>, String> {
        let mut out = self.after(Priority::Live, 0, limit)?;
        out.extend(self.after(Priority::Backlog, 0, limit - out.len())?);
        Ok(out)
    }

    /// Up to `limit` alerts of `priority` appended after position `seq`, oldest first.
    pub fn after(&self, priority: Priority, seq: i64, limit: usize) -> Result<Vec<Pending>, String> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT seq, id, key, json, public FROM outbox WHERE lane = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(|e| format!("outbox read: {e}"))?;
        let rows = q
            .query_map(params![priority as i64, seq, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| format!("outbox read: {e}"))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, key, json, public) = row.map_err(|e| format!("outbox read: {e}"))?;
            let id = Uuid::parse_str(&id).map_err(|e| format!("outbox row {seq}: id {id:?}: {e}"))?;
            let public = match public {
                Some(p) if p.is_empty() => None,
                Some(p) => Some(p),
                None => Some(public_of_old_row(&json)),
            };
            out.push(Pending { seq, priority, id, key, json, public });
        }
        Ok(out)
    }

    /// Removes acknowledged alerts by their positions (the sender knows which position it
    /// sent for each id; deleting by position needs no index on ids). Positions already
    /// removed are ignored (an ack can arrive twice). Returns how many were removed.
    ///
    /// Committed without its own fsync (`synchronous=NORMAL` for this transaction): a
    /// deletion lost to a power cut only sends the alert again, which the control room
    /// drops by id; the next append (FULL) makes it durable anyway.
    pub fn ack(&mut self, seqs: &[i64]) -> Result<usize, String> {
        if seqs.is_empty() {
            return Ok(0);
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| format!("outbox ack: {e}"))?;
        let removed = self.delete(seqs);
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| format!("outbox ack: {e}"))?;
        removed
    }

    fn delete(&mut self, seqs: &[i64]) -> Result<usize, String> {
        let tx = self.conn.transaction().map_err(|e| format!("outbox ack: {e}"))?;
        let mut removed = 0;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1").map_err(|e| format!("outbox ack: {e}"))?;
            for seq in seqs {
                removed += del.execute(params![seq]).map_err(|e| format!("outbox ack {seq}: {e}"))?;
            }
        }
        tx.commit().map_err(|e| format!("outbox ack commit: {e}"))?;
        Ok(removed)
    }

    /// Ids of every alert appended since `since` (unix seconds), for reconciliation.
    pub fn ledger(&self, since: i64) -> Result<Vec<Uuid>, String> {
        let mut q = self
            .conn
            .prepare_cached("SELECT id FROM ledger WHERE appended >= ?1")
            .map_err(|e| format!("ledger read: {e}"))?;
        let rows = q.query_map(params![since], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| format!("ledger read: {e}"))?;
        rows.map(|r| {
            let b = r.map_err(|e| format!("ledger read: {e}"))?;
            Uuid::from_slice(&b).map_err(|e| format!("ledger row of {} bytes: {e}", b.len()))
        })
        .collect()
    }

    /// Forgets ledger entries older than `before` (unix seconds); returns how many.
    pub fn prune_ledger(&mut self, before: i64) -> Result<usize, String> {
        self.conn
            .execute("DELETE FROM ledger WHERE appended < ?1", params![before])
            .map_err(|e| format!("ledger prune: {e}"))
    }

    /// Bytes the outbox database takes on disk (main file and write-ahead log), which the
    /// evidence quota leaves to alerts.
    pub fn disk_bytes(&self) -> u64 {
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else { return 0 };
        [path.to_string(), format!("{path}-wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Alerts waiting, per priority: `(live, backlog)`.
    pub fn depth(&self) -> Result<(u64, u64), String> {
        let count = |priority: i64| {
            self.conn
                .query_row("SELECT COUNT(*) FROM outbox WHERE lane = ?1", params![priority], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| format!("outbox depth: {e}"))
        };
        Ok((count(0)?, count(1)?))
    }
}

/// The public form of a row appended before contract 1.3 (no `public` column then). One that
/// no longer parses is sent on its personal key only: its public form is an empty object.
fn public_of_old_row(json: &str) -> String {
    match serde_json::from_str::<Alert>(json) {
        Ok(a) => personal::public(&a).to_json(),
        Err(_) => "{}".into(),
    }
}

#[cfg(test)]
mod tests;
