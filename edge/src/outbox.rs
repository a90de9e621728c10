//! The durable alert outbox: SQLite in WAL mode with `synchronous=FULL`, so an append
//! that returned survives a power cut.
//!
//! Two lanes: alerts of severity high and critical are sent before a draining backlog
//! of lower ones, oldest first within a lane. Alerts are never evicted; evidence, which
//! lives elsewhere, is what a disk quota removes.

use pipeline::alert::{Alert, Severity};
use rusqlite::{Connection, params};
use std::path::Path;
use uuid::Uuid;

/// An alert waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Position in the outbox (append order).
    pub seq: i64,
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
                 id       TEXT NOT NULL UNIQUE,
                 lane     INTEGER NOT NULL,   -- 0 live (high, critical), 1 backlog
                 key      TEXT NOT NULL,
                 json     TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS outbox_by_lane ON outbox (lane, seq);",
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
            for a in alerts {
                let lane = if a.severity >= LIVE_LANE_FROM { 0 } else { 1 };
                added += insert
                    .execute(params![a.id.to_string(), lane, a.key_expr(), a.to_json()])
                    .map_err(|e| format!("outbox append {}: {e}", a.id))?;
            }
        }
        tx.commit().map_err(|e| format!("outbox append commit: {e}"))?;
        Ok(added)
    }

    /// Up to `limit` alerts to send next: the live lane first, then the backlog, each
    /// oldest first.
    pub fn next(&self, limit: usize) -> Result<Vec<Pending>, String> {
        let mut q = self
            .conn
            .prepare_cached("SELECT seq, id, key, json FROM outbox ORDER BY lane, seq LIMIT ?1")
            .map_err(|e| format!("outbox read: {e}"))?;
        let rows = q
            .query_map(params![limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(|e| format!("outbox read: {e}"))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, key, json) = row.map_err(|e| format!("outbox read: {e}"))?;
            let id = Uuid::parse_str(&id).map_err(|e| format!("outbox row {seq}: id {id:?}: {e}"))?;
            out.push(Pending { seq, id, key, json });
        }
        Ok(out)
    }

    /// Removes alerts the control room acknowledged; unknown ids are ignored (an ack can
    /// arrive twice). Returns how many were removed.
    pub fn ack(&mut self, ids: &[Uuid]) -> Result<usize, String> {
        let tx = self.conn.transaction().map_err(|e| format!("outbox ack: {e}"))?;
        let mut removed = 0;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM outbox WHERE id = ?1").map_err(|e| format!("outbox ack: {e}"))?;
            for id in ids {
                removed += del.execute(params![id.to_string()]).map_err(|e| format!("outbox ack {id}: {e}"))?;
            }
        }
        tx.commit().map_err(|e| format!("outbox ack commit: {e}"))?;
        Ok(removed)
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
        assert_eq!(ob.ack(&[alerts[0].id, alerts[1].id]).unwrap(), 2);
        assert_eq!(ob.ack(&[alerts[0].id]).unwrap(), 0, "a repeated ack changes nothing");
        drop(ob);
        let ob = Outbox::open(&path).unwrap();
        assert_eq!(ob.depth().unwrap(), (0, 3));
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
