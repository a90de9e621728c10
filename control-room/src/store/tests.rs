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
fn evidence_names_that_are_not_hashes_are_not_indexed() {
    let path = temp("evidence-names");
    let mut s = Store::open(&path).unwrap();
    let mut a = incoming("s1");
    a.alert.evidence = vec!["../../etc/passwd".into(), "e".repeat(64)];
    a.alert.attributes.insert("originals".into(), serde_json::json!(["../../etc/shadow", "../x"]));
    s.store(&[a], &[]).unwrap();
    let rows: Vec<(String, Option<String>)> = s
        .conn
        .prepare("SELECT sha256, original FROM evidence_index")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![("e".repeat(64), None)]);
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
