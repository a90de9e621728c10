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
fn after_reads_one_priority_past_a_position() {
    let mut ob = Outbox::open(&temp_db("after")).unwrap();
    let low: Vec<Alert> = (0..5).map(|_| alert(Severity::Low)).collect();
    ob.append(&low).unwrap();
    let first = ob.after(Priority::Backlog, 0, 2).unwrap();
    assert_eq!(first.len(), 2);
    let rest = ob.after(Priority::Backlog, first[1].seq, 10).unwrap();
    assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), low[2..].iter().map(|a| a.id).collect::<Vec<_>>());
    assert!(ob.after(Priority::Live, 0, 10).unwrap().is_empty());
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
    let mut ob = Outbox::open(&temp_db("priorities")).unwrap();
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

#[test]
fn a_row_keeps_the_public_form_beside_the_whole_alert_and_an_old_outbox_gets_one_when_read() {
    let path = temp_db("public");
    let mut plate = alert(Severity::Low);
    plate.correlation.plate = Some("01A777BC".into());
    let plain = alert(Severity::Low);
    let mut ob = Outbox::open(&path).unwrap();
    ob.append(&[plate.clone(), plain.clone()]).unwrap();
    let next = ob.next(2).unwrap();
    assert!(next[0].json.contains("01A777BC"), "whole, for the pii key");
    let public = next[0].public.as_deref().expect("a public form");
    assert!(!public.contains("01A777BC") && public.contains("01****BC"), "{public}");
    assert_eq!(next[1].public, None, "nothing personal: the same JSON on both keys");
    // An outbox written before the column existed: its rows are masked when read.
    drop(ob);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE outbox DROP COLUMN public").unwrap();
    drop(conn);
    let ob = Outbox::open(&path).unwrap();
    let old = ob.next(2).unwrap();
    assert!(old[0].public.as_deref().is_some_and(|p| p.contains("01****BC") && !p.contains("01A777BC")));
    assert!(old[1].public.is_some(), "an old row is never assumed to hold nothing personal");
}
