//! The durable alert outbox: SQLite in WAL mode with `synchronous=FULL`, so an append
//! that returned survives a power cut.
//!
//! Two lanes: alerts of severity high and critical are sent before a draining backlog
//! of lower ones, oldest first within a lane. Alerts are never evicted; evidence, which
//! lives elsewhere, is what a disk quota removes.
//!
//! Beside the outbox, a ledger keeps the id of every alert ever appended (16 bytes a row,
//! pruned by age), so a post and its control room can be reconciled after an outage.

use pipeline::alert::{Alert, Severity};
use rusqlite::{Connection, params};
use std::path::Path;
use uuid::Uuid;

/// The two sending lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// High and critical alerts: sent first.
    Live = 0,
    /// Everything else, drained oldest first behind the live lane.
    Backlog = 1,
}

/// An alert waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Position in the outbox (append order).
    pub seq: i64,
    pub lane: Lane,
    pub id: Uuid,
    /// Published key expression.
    pub key: String,
    /// The alert as JSON, exactly as it will be sent.
    pub json: String,
}

/// The outbox of one edge node.
pub struct Outbox {
    conn: Connection,
}

/// Severity at and above which an alert takes the live lane.
const LIVE_LANE_FROM: Severity = Severity::High;

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
                 lane     INTEGER NOT NULL,   -- 0 live (high, critical), 1 backlog
                 key      TEXT NOT NULL,
                 json     TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS outbox_by_lane ON outbox (lane, seq);
             CREATE TABLE IF NOT EXISTS ledger (
                 id       BLOB PRIMARY KEY,     -- 16 bytes
                 appended INTEGER NOT NULL      -- unix seconds
             ) WITHOUT ROWID;",
        )
        .map_err(what)?;
        Ok(Self { conn })
    }

    /// Appends alerts in one transaction (one fsync for the batch). An alert already in
    /// the outbox (same id) is not added twice. Returns how many were added.
    pub fn append(&mut self, alerts: &[Alert]) -> Result<usize, String> {
        let tx = self.conn.transaction().map_err(|e| format!("outbox append: {e}"))?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare_cached("INSERT OR IGNORE INTO outbox (id, lane, key, json) VALUES (?1, ?2, ?3, ?4)")
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
                let lane = if a.severity >= LIVE_LANE_FROM { Lane::Live } else { Lane::Backlog };
                added += insert
                    .execute(params![a.id.to_string(), lane as i64, a.key_expr(), a.to_json()])
                    .map_err(|e| format!("outbox append {}: {e}", a.id))?;
            }
        }
        tx.commit().map_err(|e| format!("outbox append commit: {e}"))?;
        Ok(added)
    }

    /// Up to `limit` alerts to send next: the live lane first, then the backlog, each
    /// oldest first.
    pub fn next(&self, limit: usize) -> Result<Vec<Pending>, String> {
        let mut out = self.after(Lane::Live, 0, limit)?;
        out.extend(self.after(Lane::Backlog, 0, limit - out.len())?);
        Ok(out)
    }

    /// Up to `limit` alerts of `lane` appended after position `seq`, oldest first.
    pub fn after(&self, lane: Lane, seq: i64, limit: usize) -> Result<Vec<Pending>, String> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let mut q = self
            .conn
            .prepare_cached("SELECT seq, id, key, json FROM outbox WHERE lane = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
            .map_err(|e| format!("outbox read: {e}"))?;
        let rows = q
            .query_map(params![lane as i64, seq, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(|e| format!("outbox read: {e}"))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, key, json) = row.map_err(|e| format!("outbox read: {e}"))?;
            let id = Uuid::parse_str(&id).map_err(|e| format!("outbox row {seq}: id {id:?}: {e}"))?;
            out.push(Pending { seq, lane, id, key, json });
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

    /// Alerts waiting, per lane: `(live, backlog)`.
    pub fn depth(&self) -> Result<(u64, u64), String> {
        let count = |lane: i64| {
            self.conn
                .query_row("SELECT COUNT(*) FROM outbox WHERE lane = ?1", params![lane], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| format!("outbox depth: {e}"))
        };
        Ok((count(0)?, count(1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::alert::*;

    fn alert(severity: Severity) -> Alert {
        Alert { severity, ..Alert::minimal("post-1", SourceKind::Sensor, "rpm-1", "radiation_alarm") }
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qorovul-outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("outbox.sqlite")
    }

    #[test]
    fn appended_alerts_survive_a_reopen_until_acknowledged() {
        let path = temp_db("reopen");
        let alerts: Vec<Alert> = (0..5).map(|_| alert(Severity::Low)).collect();
        {
            let mut ob = Outbox::open(&path).unwrap();
            assert_eq!(ob.append(&alerts).unwrap(), 5);
            // Dropped without any shutdown step, as a killed process would be.
        }
        let mut ob = Outbox::open(&path).unwrap();
        let next = ob.next(10).unwrap();
        assert_eq!(next.iter().map(|p| p.id).collect::<Vec<_>>(), alerts.iter().map(|a| a.id).collect::<Vec<_>>());
        assert_eq!(next[0].json, alerts[0].to_json());
        assert_eq!(next[0].key, "qv/post-1/alert/sensor/rpm-1/radiation_alarm");
        assert_eq!(ob.ack(&[next[0].seq, next[1].seq]).unwrap(), 2);
        assert_eq!(ob.ack(&[next[0].seq]).unwrap(), 0, "a repeated ack changes nothing");
        drop(ob);
        let ob = Outbox::open(&path).unwrap();
        assert_eq!(ob.depth().unwrap(), (0, 3));
        let mut ledger = ob.ledger(0).unwrap();
        ledger.sort();
        let mut ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
        ids.sort();
        assert_eq!(ledger, ids, "the ledger keeps acknowledged alerts too");
    }

    #[test]
    fn an_acknowledged_alert_appended_again_is_not_resent() {
        let mut ob = Outbox::open(&temp_db("replay")).unwrap();
        let a = alert(Severity::Low);
        ob.append(std::slice::from_ref(&a)).unwrap();
        let seq = ob.next(1).unwrap()[0].seq;
        ob.ack(&[seq]).unwrap();
        assert_eq!(ob.append(std::slice::from_ref(&a)).unwrap(), 0);
        assert_eq!(ob.depth().unwrap(), (0, 0));
    }

    #[test]
    fn after_reads_one_lane_past_a_position() {
        let mut ob = Outbox::open(&temp_db("after")).unwrap();
        let low: Vec<Alert> = (0..5).map(|_| alert(Severity::Low)).collect();
        ob.append(&low).unwrap();
        let first = ob.after(Lane::Backlog, 0, 2).unwrap();
        assert_eq!(first.len(), 2);
        let rest = ob.after(Lane::Backlog, first[1].seq, 10).unwrap();
        assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), low[2..].iter().map(|a| a.id).collect::<Vec<_>>());
        assert!(ob.after(Lane::Live, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn the_same_alert_is_kept_once() {
        let mut ob = Outbox::open(&temp_db("dedup")).unwrap();
        let a = alert(Severity::Low);
        assert_eq!(ob.append(std::slice::from_ref(&a)).unwrap(), 1);
        assert_eq!(ob.append(std::slice::from_ref(&a)).unwrap(), 0);
        assert_eq!(ob.depth().unwrap(), (0, 1));
    }

    #[test]
    fn high_and_critical_overtake_the_backlog() {
        let mut ob = Outbox::open(&temp_db("lanes")).unwrap();
        let backlog: Vec<Alert> = (0..100).map(|_| alert(Severity::Low)).collect();
        ob.append(&backlog).unwrap();
        let critical = alert(Severity::Critical);
        let high = alert(Severity::High);
        ob.append(&[critical.clone(), high.clone()]).unwrap();
        let next = ob.next(3).unwrap();
        assert_eq!(next[0].id, critical.id);
        assert_eq!(next[1].id, high.id);
        assert_eq!(next[2].id, backlog[0].id, "then the backlog, oldest first");
        assert_eq!(ob.depth().unwrap(), (2, 100));
    }

    #[test]
    fn the_database_is_in_wal_mode_with_full_sync() {
        let ob = Outbox::open(&temp_db("pragmas")).unwrap();
        let mode: String = ob.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let sync: i64 = ob.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
    }
}
