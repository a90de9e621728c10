//! The control room's store (SQLite, WAL, `synchronous=FULL`): every alert exactly once
//! (the primary key is its `id`), the dead letters, and the latest state of each incident.
//!
//! An alert is acknowledged to its edge only after the transaction that stored it has
//! committed, so an acknowledged alert is on disk.

use operators::fusion::IncidentUpdate;
use pipeline::alert::Alert;
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;
use uuid::Uuid;

/// An alert as received: decoded, and its JSON as stored (unknown fields of a newer MINOR kept).
#[derive(Debug, Clone)]
pub struct Incoming {
    pub alert: Alert,
    pub json: String,
    pub key: String,
    /// The edge node that sent it, when it asked for an acknowledgement.
    pub node: Option<String>,
}

/// A message refused by the contract, parked with the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub key: String,
    pub node: Option<String>,
    /// The id, when the message had a readable one (so a resend is parked once).
    pub id: Option<Uuid>,
    /// Short label, e.g. `not_json`, `newer_major`, `too_large`.
    pub reason: String,
    /// The full reason, naming the field or byte.
    pub detail: String,
    pub size: usize,
    /// The first bytes of the message, for whoever investigates.
    pub head: Vec<u8>,
}

/// Bytes of a dead letter kept.
pub const DEAD_LETTER_HEAD: usize = 4096;

pub struct Store {
    conn: Connection,
}

fn us(ts: chrono::DateTime<chrono::Utc>) -> i64 {
    ts.timestamp_micros()
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let what = |e: rusqlite::Error| format!("store {}: {e}", path.display());
        let conn = Connection::open(path).map_err(what)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(what)?;
        // Incident ids are hashes, so their index is written at random places: keep its
        // pages in memory rather than reading them back for every batch (64 MiB).
        conn.pragma_update(None, "cache_size", -65536).map_err(what)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS alerts (
                 id        BLOB PRIMARY KEY,         -- 16 bytes
                 site      TEXT NOT NULL,
                 key       TEXT NOT NULL,
                 event_us  INTEGER NOT NULL,
                 stored_us INTEGER NOT NULL,
                 node      TEXT,
                 json      TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS alerts_by_event ON alerts (event_us);
             CREATE TABLE IF NOT EXISTS dead_letters (
                 seq       INTEGER PRIMARY KEY AUTOINCREMENT,
                 id        BLOB UNIQUE,
                 stored_us INTEGER NOT NULL,
                 key       TEXT NOT NULL,
                 node      TEXT,
                 reason    TEXT NOT NULL,
                 detail    TEXT NOT NULL,
                 size      INTEGER NOT NULL,
                 head      BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS incidents (
                 id         TEXT PRIMARY KEY,
                 site       TEXT NOT NULL,
                 updated_us INTEGER NOT NULL,
                 closed     INTEGER NOT NULL,
                 json       TEXT NOT NULL
             );",
        )
        .map_err(what)?;
        Ok(Self { conn })
    }

    /// Hands checkpoints (copying the write-ahead log into the database) to a thread of
    /// their own, so the ingest thread only appends to the log. Returns the thread; it
    /// stops when `stop` disconnects.
    pub fn checkpoint_in_background(
        &self,
        path: &Path,
        stop: crossbeam_channel::Receiver<()>,
    ) -> Result<std::thread::JoinHandle<()>, String> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| format!("store: {e}"))?;
        let conn = Connection::open(path).map_err(|e| format!("store {} (checkpoints): {e}", path.display()))?;
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                // PASSIVE never blocks the writer; it copies what no reader still needs.
                while stop.recv_timeout(std::time::Duration::from_millis(500))
                    == Err(crossbeam_channel::RecvTimeoutError::Timeout)
                {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!("store checkpoint: {e}");
                    }
                }
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| format!("spawning the checkpointer: {e}"))
    }

    /// A second, read-only connection to the same file (history queries run beside ingest).
    pub fn open_reader(path: &Path) -> Result<Self, String> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| format!("store {} (read-only): {e}", path.display()))?;
        Ok(Self { conn })
    }

    /// Stores alerts and dead letters in one transaction. Returns, per alert, whether it was
    /// new (false: already stored, a resend).
    pub fn store(&mut self, alerts: &[Incoming], dead: &[DeadLetter]) -> Result<Vec<bool>, String> {
        let now = us(chrono::Utc::now());
        let tx = self.conn.transaction().map_err(|e| format!("store: {e}"))?;
        let mut fresh = Vec::with_capacity(alerts.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (id, site, key, event_us, stored_us, node, json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| format!("store: {e}"))?;
            for a in alerts {
                let n = insert
                    .execute(params![
                        a.alert.id.as_bytes().as_slice(),
                        a.alert.site,
                        a.key,
                        us(a.alert.event_ts),
                        now,
                        a.node,
                        a.json
                    ])
                    .map_err(|e| format!("storing alert {}: {e}", a.alert.id))?;
                fresh.push(n == 1);
            }
            let mut park = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO dead_letters (id, stored_us, key, node, reason, detail, size, head)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(|e| format!("store: {e}"))?;
            for d in dead {
                park.execute(params![
                    d.id.map(|id| id.as_bytes().to_vec()),
                    now,
                    d.key,
                    d.node,
                    d.reason,
                    d.detail,
                    d.size as i64,
                    &d.head[..d.head.len().min(DEAD_LETTER_HEAD)]
                ])
                .map_err(|e| format!("parking a dead letter from {}: {e}", d.key))?;
            }
        }
        tx.commit().map_err(|e| format!("store commit: {e}"))?;
        Ok(fresh)
    }

    /// Keeps the latest state of each incident; `jsons[i]` is `updates[i]` as JSON.
    ///
    /// Committed without its own fsync (`synchronous=NORMAL` for this transaction): incidents
    /// are derived from the stored alerts and rebuilt from them after a crash, and the next
    /// alert commit (FULL) makes this one durable too. One fsync per batch, not two.
    pub fn save_incidents(&mut self, updates: &[IncidentUpdate], jsons: &[String]) -> Result<(), String> {
        if updates.is_empty() {
            return Ok(());
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| format!("store incidents: {e}"))?;
        let result = self.save_incidents_tx(updates, jsons);
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| format!("store incidents: {e}"))?;
        result
    }

    fn save_incidents_tx(&mut self, updates: &[IncidentUpdate], jsons: &[String]) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(|e| format!("store incidents: {e}"))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO incidents (id, site, updated_us, closed, json) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET updated_us = ?3, closed = ?4, json = ?5",
                )
                .map_err(|e| format!("store incidents: {e}"))?;
            let now = us(chrono::Utc::now());
            for (u, json) in updates.iter().zip(jsons) {
                let i = &u.incident;
                upsert
                    .execute(params![i.id.to_string(), i.site, now, i.closed, json])
                    .map_err(|e| format!("storing incident {}: {e}", i.id))?;
            }
        }
        tx.commit().map_err(|e| format!("store incidents commit: {e}"))
    }

    /// Alerts with `since_us <= event time < until_us`, oldest first, optionally of one site:
    /// `(key, json)` pairs, at most `limit`.
    pub fn alerts_between(
        &self,
        site: Option<&str>,
        since_us: i64,
        until_us: i64,
        mut keep: impl FnMut(&str) -> bool,
        limit: usize,
    ) -> Result<Vec<(String, String)>, String> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT key, json FROM alerts WHERE event_us >= ?1 AND event_us < ?2 AND (?3 IS NULL OR site = ?3)
                 ORDER BY event_us, id",
            )
            .map_err(|e| format!("history: {e}"))?;
        let mut rows = q.query(params![since_us, until_us, site]).map_err(|e| format!("history: {e}"))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows.next().map_err(|e| format!("history: {e}"))? else { break };
            let key: String = row.get(0).map_err(|e| format!("history: {e}"))?;
            if keep(&key) {
                out.push((key, row.get(1).map_err(|e| format!("history: {e}"))?));
            }
        }
        Ok(out)
    }

    /// Alerts whose event time is at or after `since_us`, in the order they were stored
    /// (to rebuild fusion's state after a restart).
    pub fn alerts_for_replay(&self, since_us: i64) -> Result<Vec<Alert>, String> {
        let mut q = self
            .conn
            .prepare("SELECT json FROM alerts WHERE event_us >= ?1 ORDER BY rowid")
            .map_err(|e| format!("replay: {e}"))?;
        let rows = q.query_map(params![since_us], |r| r.get::<_, String>(0)).map_err(|e| format!("replay: {e}"))?;
        let mut out = Vec::new();
        for json in rows {
            let json = json.map_err(|e| format!("replay: {e}"))?;
            // Stored alerts passed the contract once; one that no longer parses is skipped, loudly.
            match serde_json::from_str::<Alert>(&json) {
                Ok(a) => out.push(a),
                Err(e) => tracing::error!("replay: a stored alert does not parse: {e}"),
            }
        }
        Ok(out)
    }

    /// The newest event time stored, in microseconds.
    pub fn newest_event_us(&self) -> Result<Option<i64>, String> {
        self.conn.query_row("SELECT MAX(event_us) FROM alerts", [], |r| r.get(0)).map_err(|e| format!("store: {e}"))
    }

    /// Ids of the alerts stored from `node`.
    pub fn alert_ids_from(&self, node: &str) -> Result<Vec<Uuid>, String> {
        let mut q = self.conn.prepare("SELECT id FROM alerts WHERE node = ?1").map_err(|e| format!("store: {e}"))?;
        let rows = q.query_map(params![node], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| format!("store: {e}"))?;
        rows.map(|r| {
            let b = r.map_err(|e| format!("store: {e}"))?;
            Uuid::from_slice(&b).map_err(|e| format!("store: id of {} bytes: {e}", b.len()))
        })
        .collect()
    }

    pub fn alert_count(&self) -> Result<u64, String> {
        self.count("SELECT COUNT(*) FROM alerts")
    }

    pub fn dead_letter_count(&self) -> Result<u64, String> {
        self.count("SELECT COUNT(*) FROM dead_letters")
    }

    /// Dead letters, oldest first: `(key, reason, detail)`.
    pub fn dead_letters(&self) -> Result<Vec<(String, String, String)>, String> {
        let mut q = self
            .conn
            .prepare("SELECT key, reason, detail FROM dead_letters ORDER BY seq")
            .map_err(|e| format!("store: {e}"))?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(|e| format!("store: {e}"))?;
        rows.map(|r| r.map_err(|e| format!("store: {e}"))).collect()
    }

    /// The latest message of incident `id`, as JSON.
    pub fn incident(&self, id: &str) -> Result<Option<String>, String> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT json FROM incidents WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(|e| format!("store: {e}"))
    }

    /// The latest message of each incident, as JSON.
    pub fn incidents(&self) -> Result<Vec<String>, String> {
        let mut q =
            self.conn.prepare("SELECT json FROM incidents ORDER BY rowid").map_err(|e| format!("store: {e}"))?;
        let rows = q.query_map([], |r| r.get(0)).map_err(|e| format!("store: {e}"))?;
        rows.map(|r| r.map_err(|e| format!("store: {e}"))).collect()
    }

    fn count(&self, sql: &str) -> Result<u64, String> {
        self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(|e| format!("store: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::alert::SourceKind;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qorovul-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("control-room.sqlite")
    }

    fn incoming(site: &str) -> Incoming {
        let alert = Alert::minimal(site, SourceKind::Sensor, "rpm-1", "radiation_alarm");
        Incoming { json: alert.to_json(), key: alert.key_expr(), alert, node: Some("post-1".into()) }
    }

    #[test]
    fn an_alert_is_stored_once_however_often_it_arrives() {
        let path = temp("once");
        let mut s = Store::open(&path).unwrap();
        let a = incoming("s1");
        let b = incoming("s1");
        assert_eq!(s.store(&[a.clone(), b.clone()], &[]).unwrap(), vec![true, true]);
        assert_eq!(s.store(std::slice::from_ref(&a), &[]).unwrap(), vec![false]);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.alert_count().unwrap(), 2);
        let mut ids = s.alert_ids_from("post-1").unwrap();
        ids.sort();
        let mut want = vec![a.alert.id, b.alert.id];
        want.sort();
        assert_eq!(ids, want);
    }

    #[test]
    fn history_is_a_time_range_in_event_order_filtered_by_key_and_site() {
        let mut s = Store::open(&temp("history")).unwrap();
        let t0 = chrono::Utc::now();
        let mut batch = Vec::new();
        for (i, site) in ["s1", "s2", "s1", "s1"].iter().enumerate() {
            let mut a = incoming(site);
            a.alert.event_ts = t0 + chrono::Duration::seconds(10 - i as i64);
            batch.push(a);
        }
        s.store(&batch, &[]).unwrap();
        let all = s.alerts_between(Some("s1"), 0, i64::MAX, |_| true, 100).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].1, batch[3].json, "oldest event first");
        let window = s
            .alerts_between(
                None,
                us(t0 + chrono::Duration::seconds(8)),
                us(t0 + chrono::Duration::seconds(10)),
                |_| true,
                100,
            )
            .unwrap();
        assert_eq!(window.len(), 2, "since inclusive, until exclusive");
        assert!(s.alerts_between(None, 0, i64::MAX, |k| k.contains("/nothing/"), 100).unwrap().is_empty());
        assert_eq!(s.alerts_between(None, 0, i64::MAX, |_| true, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_dead_letter_with_an_id_is_parked_once() {
        let mut s = Store::open(&temp("dead")).unwrap();
        let d = DeadLetter {
            key: "qv/s1/alert/x".into(),
            node: None,
            id: Some(Uuid::now_v7()),
            reason: "newer_major".into(),
            detail: "schema_version 2.0".into(),
            size: 10,
            head: vec![b'{'; 10_000],
        };
        s.store(&[], &[d.clone(), d.clone()]).unwrap();
        s.store(&[], &[DeadLetter { id: None, ..d.clone() }, DeadLetter { id: None, ..d }]).unwrap();
        assert_eq!(s.dead_letter_count().unwrap(), 3, "without an id each message is its own");
    }
}
