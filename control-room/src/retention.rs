//! Evidence retention: files older than their source kind's limit are deleted from disk by
//! a background task (the alerts that named them stay; the dashboard then says the
//! evidence was purged). Limits are in days per source kind (`camera`, `xray`, `call`,
//! `sensor`); a kind without a limit is kept. Evidence of an alert in an incident under a
//! legal hold is kept whatever its age.
//!
//! Age runs from when this control room received the alert (the store's `stored_us`), never
//! from the event time a node states: a node whose clock says 1970 cannot have its evidence
//! deleted on arrival, nor one that says 2100 keep it forever.

use crossbeam_channel::Receiver;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Days evidence of each source kind is kept.
pub type RetentionDays = BTreeMap<String, f64>;

pub fn default_days() -> RetentionDays {
    [("camera", 30.0), ("xray", 365.0), ("call", 90.0), ("sensor", 30.0)]
        .into_iter()
        .map(|(k, v)| (k.into(), v))
        .collect()
}

/// Checks what serde cannot; `Err` names the kind.
pub fn validate(days: &RetentionDays) -> Result<(), String> {
    for (kind, d) in days {
        if !(d.is_finite() && *d > 0.0) {
            return Err(format!("evidence_retention_days.{kind}: {d} must be a positive number of days"));
        }
    }
    Ok(())
}

/// Deletes the evidence past its limit at `now_us`; returns how many files were deleted.
pub fn purge(conn: &Connection, evidence_dir: &Path, days: &RetentionDays, now_us: i64) -> Result<usize, String> {
    let mut deleted = 0;
    for (kind, d) in days {
        let cutoff = now_us - (d * 86_400e6) as i64;
        let due: Vec<(String, Option<String>, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT e.sha256, e.original, e.alert_id FROM evidence_index e JOIN alerts a ON a.id = e.alert_id
                 WHERE e.purged_us IS NULL AND a.stored_us < ?1 AND json_extract(a.json, '$.source.kind') = ?2
                   AND lower(hex(e.alert_id)) NOT IN (
                       SELECT replace(json_extract(m.value, '$.alert_id'), '-', '')
                       FROM legal_holds h JOIN incidents i ON i.id = h.incident_id,
                            json_each(i.json, '$.incident.members') m)",
            )
            .and_then(|mut q| q.query_map(params![cutoff, kind], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .map_err(|e| format!("retention ({kind}): {e}"))?;
        for (sha, original, alert) in due {
            for file in std::iter::once(&sha).chain(original.as_ref()) {
                match std::fs::remove_file(evidence_dir.join(file)) {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("retention: deleting evidence {file}: {e}"),
                }
            }
            conn.execute(
                "UPDATE evidence_index SET purged_us = ?1 WHERE sha256 = ?2 AND alert_id = ?3",
                params![now_us, sha, alert],
            )
            .map_err(|e| format!("retention: {e}"))?;
        }
    }
    Ok(deleted)
}

/// Runs [`purge`] every `every` until `stop` disconnects.
pub fn start(
    store_path: PathBuf,
    evidence_dir: PathBuf,
    days: RetentionDays,
    every: Duration,
    stop: Receiver<()>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let conn = Connection::open(&store_path).map_err(|e| format!("retention: {}: {e}", store_path.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| format!("retention: {e}"))?;
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            loop {
                match purge(&conn, &evidence_dir, &days, chrono::Utc::now().timestamp_micros()) {
                    Ok(0) => {}
                    Ok(n) => {
                        pipeline::metrics::global().metric("qv_evidence_purged_total", &[]).add(n as u64);
                        tracing::info!("retention: {n} evidence files past their limit deleted");
                    }
                    Err(e) => tracing::error!("{e}"),
                }
                if stop.recv_timeout(every) != Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                    return;
                }
            }
        })
        .map_err(|e| format!("spawning retention: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Incoming, Store};
    use chrono::TimeDelta;
    use pipeline::alert::{Alert, SourceKind};

    #[test]
    fn evidence_past_its_kinds_limit_since_it_was_received_is_deleted_and_the_rest_kept() {
        let dir = std::env::temp_dir().join(format!("qorovul-retention-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("evidence")).unwrap();
        let path = dir.join("control-room.sqlite");
        let mut store = Store::open(&path).unwrap();
        let now = chrono::Utc::now();
        let epoch = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let mut alerts = Vec::new();
        // (kind, stated event time, days since received, evidence)
        for (kind, stated, received_days_ago, sha) in [
            (SourceKind::Camera, now - TimeDelta::days(40), 40, "a".repeat(64)),
            (SourceKind::Camera, now - TimeDelta::days(10), 10, "b".repeat(64)),
            (SourceKind::Xray, now - TimeDelta::days(40), 40, "c".repeat(64)),
            // A node whose clock says 1970, received today.
            (SourceKind::Camera, epoch, 0, "d".repeat(64)),
        ] {
            let mut a = Alert::minimal("s", kind, "src", "k");
            a.event_ts = stated;
            a.evidence = vec![sha.clone()];
            std::fs::write(dir.join("evidence").join(&sha), b"img").unwrap();
            let i = Incoming { json: a.to_json(), key: a.key_expr(), alert: a, node: None };
            store.store_at(std::slice::from_ref(&i), &[], now - TimeDelta::days(received_days_ago)).unwrap();
            alerts.push(i);
        }
        let conn = Connection::open(&path).unwrap();
        let n = purge(&conn, &dir.join("evidence"), &default_days(), now.timestamp_micros()).unwrap();
        assert_eq!(n, 1, "only the camera snapshot received 40 days ago (camera keeps 30 days, xray 365)");
        assert!(!dir.join("evidence").join("a".repeat(64)).exists());
        for kept in ["b", "c", "d"] {
            assert!(dir.join("evidence").join(kept.repeat(64)).exists(), "{kept}: kept");
        }
        assert_eq!(purge(&conn, &dir.join("evidence"), &default_days(), now.timestamp_micros()).unwrap(), 0, "once");

        // A legal hold on the X-ray alert's incident keeps its evidence past the limit.
        let xray = &alerts[2].alert;
        let mut engine = crate::fusion::Engine::new(crate::fusion::FusionConfig::default()).unwrap();
        let updates = engine.ingest(xray);
        let jsons: Vec<String> = updates.iter().map(|u| u.to_json()).collect();
        let causes = vec![Some(xray.id); updates.len()];
        store.save_incidents(&updates, &jsons, &causes, &Default::default()).unwrap();
        conn.execute(
            "INSERT INTO legal_holds VALUES (?1, 's', 'sup', 'court order 12/26', 0)",
            params![updates[0].incident.id.to_string()],
        )
        .unwrap();
        let far_future = (now + TimeDelta::days(400)).timestamp_micros();
        assert_eq!(
            purge(&conn, &dir.join("evidence"), &default_days(), far_future).unwrap(),
            2,
            "the two camera ones received 10 days ago and today"
        );
        assert!(dir.join("evidence").join("c".repeat(64)).exists(), "held");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
