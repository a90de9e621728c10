//! The control room's store: one SQLite file (WAL, `synchronous=FULL`) holding every alert
//! exactly once (the primary key is its `id`), the dead letters, the latest state of each
//! incident with its workflow row, the sources seen and the evidence each alert names.
//! [`Store`] (this module) is how the ingest thread writes it; [`dashboard`] is how the
//! dashboard reads and writes the same file; the schema is in [`migrations`].
//!
//! An alert is acknowledged to its edge only after the transaction that stored it has
//! committed, so an acknowledged alert is on disk.

pub mod dashboard;
pub mod migrations;

use crate::fusion::IncidentUpdate;
use crate::workflow::{Action, IncidentSummary, ResponseTargets, Workflow};
use pipeline::alert::Alert;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::HashMap;
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
    /// Sources as last written (event time, name, place): a source is rewritten when it
    /// changes or a minute of event time has passed, not for every alert.
    sources: HashMap<(String, String, String), SourceSeen>,
}

/// What [`Store`] last wrote of a source.
#[derive(Debug, Clone, PartialEq)]
struct SourceSeen {
    event_us: i64,
    name: String,
    place: Option<(f64, f64)>,
}

/// Event time after which a source's `last_alert_us` is written again.
const SOURCE_REFRESH_US: i64 = 60_000_000;

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
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(what)?;
        let mut conn = conn;
        crate::store::migrations::migrate(&mut conn).map_err(|e| format!("store {}: {e}", path.display()))?;
        Ok(Self { conn, sources: HashMap::new() })
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
        Ok(Self { conn, sources: HashMap::new() })
    }

    /// Stores alerts and dead letters in one transaction, received now. Returns, per alert,
    /// whether it was new (false: already stored, a resend).
    pub fn store(&mut self, alerts: &[Incoming], dead: &[DeadLetter]) -> Result<Vec<bool>, String> {
        self.store_at(alerts, dead, chrono::Utc::now())
    }

    /// [`Store::store`] for a batch the control room received at `received` (its own clock):
    /// kept as each new alert's `stored_us`, from which fusion bounds the alert's event time
    /// (again on replay) and evidence retention runs. A resend keeps its first time.
    pub fn store_at(
        &mut self,
        alerts: &[Incoming],
        dead: &[DeadLetter],
        received: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<bool>, String> {
        let now = us(received);
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
            // The sources seen, for the map and for muting: written when new or changed, and
            // otherwise once a minute of event time.
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO sources (site, kind, id, name, lat, lon, last_alert_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (site, kind, id) DO UPDATE SET name = ?4, lat = COALESCE(?5, lat),
                         lon = COALESCE(?6, lon), last_alert_us = MAX(last_alert_us, ?7)",
                )
                .map_err(|e| format!("store: {e}"))?;
            for (a, _) in alerts.iter().zip(&fresh).filter(|(_, f)| **f) {
                let src = &a.alert.source;
                let seen = SourceSeen {
                    event_us: us(a.alert.event_ts),
                    name: src.name.clone(),
                    place: src.location.map(|l| (l.lat, l.lon)),
                };
                let key = (a.alert.site.clone(), src.kind.as_str().to_string(), src.id.clone());
                let stale = self.sources.get(&key).is_none_or(|last| {
                    last.name != seen.name
                        || (seen.place.is_some() && last.place != seen.place)
                        || seen.event_us > last.event_us + SOURCE_REFRESH_US
                });
                if !stale {
                    continue;
                }
                let (lat, lon) = (seen.place.map(|p| p.0), seen.place.map(|p| p.1));
                upsert
                    .execute(params![key.0, key.1, key.2, seen.name, lat, lon, seen.event_us])
                    .map_err(|e| format!("storing source {}/{}/{}: {e}", key.0, key.1, key.2))?;
                self.sources.insert(key, seen);
            }
            let mut evidence = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO evidence_index (sha256, alert_id, site, node, original) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| format!("store: {e}"))?;
            for (a, _) in alerts.iter().zip(&fresh).filter(|(a, f)| **f && !a.alert.evidence.is_empty()) {
                let originals = a.alert.attributes.get("originals").and_then(|o| o.as_array());
                for (i, sha) in a.alert.evidence.iter().enumerate() {
                    // Names from the network become file names: only hashes are accepted.
                    let original = originals
                        .and_then(|o| o.get(i))
                        .and_then(|o| o.as_str())
                        .and_then(pipeline::evidence::evidence_hash);
                    let Some(sha) = pipeline::evidence::evidence_hash(sha) else { continue };
                    evidence
                        .execute(params![sha, a.alert.id.as_bytes().as_slice(), a.alert.site, a.node, original])
                        .map_err(|e| format!("indexing evidence of alert {}: {e}", a.alert.id))?;
                }
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

    /// Keeps the latest state of each incident with its queue columns, and opens (or, when a
    /// new alert joins a resolved one, reopens) its workflow. `jsons[i]` is `updates[i]` as
    /// JSON and `causes[i]` the alert that caused it. Returns each incident's summary with
    /// its workflow, for the live feed.
    ///
    /// Committed without its own fsync (`synchronous=NORMAL` for this transaction): incidents
    /// are derived from the stored alerts and rebuilt from them after a crash, and the next
    /// alert commit (FULL) makes this one durable too. One fsync per batch, not two.
    pub fn save_incidents(
        &mut self,
        updates: &[IncidentUpdate],
        jsons: &[String],
        causes: &[Option<Uuid>],
        targets: &ResponseTargets,
    ) -> Result<Vec<IncidentSummary>, String> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| format!("store incidents: {e}"))?;
        let result = self.save_incidents_tx(updates, jsons, causes, targets);
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| format!("store incidents: {e}"))?;
        result
    }

    fn save_incidents_tx(
        &mut self,
        updates: &[IncidentUpdate],
        jsons: &[String],
        causes: &[Option<Uuid>],
        targets: &ResponseTargets,
    ) -> Result<Vec<IncidentSummary>, String> {
        let err = |e: rusqlite::Error| format!("store incidents: {e}");
        let tx = self.conn.transaction().map_err(err)?;
        let mut out = Vec::with_capacity(updates.len());
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO incidents (id, site, updated_us, closed, json, severity, first_event_us, merged)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET updated_us = ?3, closed = ?4, json = ?5, severity = ?6,
                         first_event_us = ?7, merged = ?8",
                )
                .map_err(err)?;
            let now = chrono::Utc::now();
            for ((u, json), cause) in updates.iter().zip(jsons).zip(causes) {
                let i = &u.incident;
                let id = i.id.to_string();
                let mut summary = IncidentSummary::of(i, *cause);
                upsert
                    .execute(params![
                        id,
                        i.site,
                        us(now),
                        i.closed,
                        json,
                        i.severity as i64,
                        us(i.first_event_ts),
                        i.merged_into.is_some()
                    ])
                    .map_err(|e| format!("storing incident {id}: {e}"))?;
                // An incident nobody has touched has no workflow row (a write saved per new
                // incident): it is new, due by its severity's target.
                let workflow = match read_workflow(&tx, &id)? {
                    None => Workflow::new(i.first_event_ts, i.severity, targets),
                    Some(w) if w.state == crate::workflow::State::Resolved && cause.is_some() && !i.closed => {
                        let w = crate::workflow::apply(&w, &Action::Reopen, now).unwrap_or(w);
                        write_workflow(&tx, &id, &i.site, &w, now)?;
                        add_event(&tx, &id, now, "fusion", "reopen", &serde_json::json!({ "alert": cause }))?;
                        w
                    }
                    Some(w) => w,
                };
                summary.workflow = Some(workflow);
                out.push(summary);
            }
        }
        tx.commit().map_err(|e| format!("store incidents commit: {e}"))?;
        Ok(out)
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

    /// Alerts whose stated event time is at or after `since_us`, in the order they were
    /// stored, each with the time it was received (to rebuild fusion's state after a restart).
    pub fn alerts_for_replay(&self, since_us: i64) -> Result<Vec<(Alert, chrono::DateTime<chrono::Utc>)>, String> {
        let mut q = self
            .conn
            .prepare("SELECT json, stored_us FROM alerts WHERE event_us >= ?1 ORDER BY rowid")
            .map_err(|e| format!("replay: {e}"))?;
        let rows = q
            .query_map(params![since_us], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| format!("replay: {e}"))?;
        let mut out = Vec::new();
        for row in rows {
            let (json, received) = row.map_err(|e| format!("replay: {e}"))?;
            // Stored alerts passed the contract once; one that no longer parses is skipped, loudly.
            match serde_json::from_str::<Alert>(&json) {
                Ok(a) => out.push((a, chrono::DateTime::from_timestamp_micros(received).unwrap_or_default())),
                Err(e) => tracing::error!("replay: a stored alert does not parse: {e}"),
            }
        }
        Ok(out)
    }

    /// The newest time fusion used for a stored alert, in µs, where `fused(event_us,
    /// received_us)` is that time and never later than `event_us` (fusion only bounds a
    /// stated time from above). Walks the event-time index down from the newest and stops at
    /// the first event time at or below the best found, so future-dated alerts cost a row each.
    pub fn newest_fused_us(&self, fused: impl Fn(i64, i64) -> i64) -> Result<Option<i64>, String> {
        let mut q = self
            .conn
            .prepare("SELECT event_us, stored_us FROM alerts ORDER BY event_us DESC")
            .map_err(|e| format!("store: {e}"))?;
        let mut rows = q.query([]).map_err(|e| format!("store: {e}"))?;
        let mut best: Option<i64> = None;
        while let Some(row) = rows.next().map_err(|e| format!("store: {e}"))? {
            let (event, received): (i64, i64) =
                (row.get(0).map_err(|e| format!("store: {e}"))?, row.get(1).map_err(|e| format!("store: {e}"))?);
            if best.is_some_and(|b| event <= b) {
                break;
            }
            let t = fused(event, received);
            best = Some(best.map_or(t, |b| b.max(t)));
        }
        Ok(best)
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

    /// The mutes that still hold.
    pub fn mutes(&self) -> Result<HashMap<crate::live::SourceRef, crate::live::Mute>, String> {
        let mut q = self
            .conn
            .prepare("SELECT site, kind, id, muted_by, reason, until_us FROM mutes WHERE until_us > ?1")
            .map_err(|e| format!("store mutes: {e}"))?;
        let rows = q
            .query_map(params![us(chrono::Utc::now())], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    crate::live::Mute {
                        by: r.get(3)?,
                        reason: r.get(4)?,
                        until: chrono::DateTime::from_timestamp_micros(r.get(5)?).unwrap_or_default(),
                    },
                ))
            })
            .map_err(|e| format!("store mutes: {e}"))?;
        rows.map(|r| r.map_err(|e| format!("store mutes: {e}"))).collect()
    }

    fn count(&self, sql: &str) -> Result<u64, String> {
        self.conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(|e| format!("store: {e}"))
    }
}

/// The workflow row of incident `id`, if it has one.
pub fn read_workflow(conn: &Connection, id: &str) -> Result<Option<Workflow>, String> {
    let row = conn
        .prepare_cached(
            "SELECT state, assignee, resolution, acknowledged_us, resolved_us, response_due_us
             FROM workflow WHERE incident_id = ?1",
        )
        .and_then(|mut q| {
            q.query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .optional()
        })
        .map_err(|e| format!("workflow of {id}: {e}"))?;
    let Some((state, assignee, resolution, acked, resolved, due)) = row else { return Ok(None) };
    let time = |v: Option<i64>| v.and_then(chrono::DateTime::from_timestamp_micros);
    Ok(Some(Workflow {
        state: crate::workflow::State::parse(&state).ok_or_else(|| format!("workflow of {id}: state {state:?}"))?,
        assignee,
        resolution: resolution.and_then(|r| serde_json::from_value(serde_json::Value::String(r)).ok()),
        acknowledged_at: time(acked),
        resolved_at: time(resolved),
        response_due: time(due),
    }))
}

/// Writes incident `id`'s workflow row.
pub fn write_workflow(
    conn: &Connection,
    id: &str,
    site: &str,
    w: &Workflow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    conn.prepare_cached(
        "INSERT INTO workflow (incident_id, site, state, assignee, resolution, acknowledged_us, resolved_us,
             response_due_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (incident_id) DO UPDATE SET state = ?3, assignee = ?4, resolution = ?5, acknowledged_us = ?6,
             resolved_us = ?7, response_due_us = ?8, updated_us = ?9",
    )
    .and_then(|mut q| {
        q.execute(params![
            id,
            site,
            w.state.as_str(),
            w.assignee,
            w.resolution.map(|r| r.as_str()),
            w.acknowledged_at.map(us),
            w.resolved_at.map(us),
            w.response_due.map(us),
            us(now)
        ])
    })
    .map(|_| ())
    .map_err(|e| format!("workflow of {id}: {e}"))
}

/// Appends an entry to incident `id`'s timeline.
pub fn add_event(
    conn: &Connection,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), String> {
    conn.prepare_cached(
        "INSERT INTO incident_events (incident_id, ts_us, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut q| q.execute(params![id, us(now), actor, action, detail.to_string()]))
    .map(|_| ())
    .map_err(|e| format!("timeline of {id}: {e}"))
}

#[cfg(test)]
mod tests;
