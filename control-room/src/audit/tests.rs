use super::*;
use serde_json::json;
use std::sync::{Arc, Barrier};

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qorovul-audit-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_log(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn
}

fn memory_log() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn
}

/// The kinds of entry the dashboard writes.
fn append_actions(conn: &Connection, n: usize) {
    for i in 0..n {
        match i % 5 {
            0 => append(conn, "alice", "login", None, None, &json!({"ip": "10.0.0.7"})),
            1 => append(conn, "mallory", "login_failed", None, None, &json!({"ip": "10.0.0.9", "reason": "password"})),
            2 => append(conn, "alice", "incident.ack", Some("tashkent-1"), Some("inc-42"), &json!({"note": i})),
            3 => append(conn, "bob", "source.mute", Some("tashkent-1"), Some("cam-3"), &json!({"minutes": 30})),
            _ => append(conn, "bob", "alert.reveal", Some("samarkand"), Some("alert-7"), &json!({"reason": "case"})),
        }
        .unwrap();
    }
}

fn signer(dir: &TempDir, name: &str) -> Signer {
    Signer::load_or_create(&dir.0.join(name), "dash-1").unwrap()
}

/// What an administrator with the source would do: recompute every hash from `from` on,
/// so the log is consistent again.
fn recompute_from(conn: &Connection, from: i64) {
    let mut prev_hash = if from == 1 {
        ZERO_HASH
    } else {
        let hash: Vec<u8> = conn.query_row("SELECT hash FROM audit WHERE seq = ?1", [from - 1], |r| r.get(0)).unwrap();
        hash.try_into().unwrap()
    };
    let rows: Vec<StoredRow> = {
        let mut stmt = conn.prepare(&format!("{SELECT_ROWS} WHERE seq >= ?1 ORDER BY seq")).unwrap();
        stmt.query_map([from], StoredRow::read).unwrap().map(Result::unwrap).collect()
    };
    for row in rows {
        let hash = chain_hash(&prev_hash, &row.fields());
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![&prev_hash[..], &hash[..], row.seq],
        )
        .unwrap();
        prev_hash = hash;
    }
}

fn whats(report: &Report) -> Vec<(Option<i64>, &str)> {
    report.problems.iter().map(|p| (p.seq, p.what.as_str())).collect()
}

#[test]
fn appended_actions_verify_clean_against_exported_heads() {
    let dir = TempDir::new("clean");
    let conn = memory_log();
    let signer = signer(&dir, "audit.key");
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();
    append_actions(&conn, 4);
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();
    append_actions(&conn, 6);
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();

    let heads = load_heads(&dir.0.join(HEADS_FILE)).unwrap();
    assert_eq!(heads.iter().map(|h| h.seq).collect::<Vec<_>>(), [0, 4, 10]);
    let report = verify(&conn, &heads, Some(&signer.public_key_hex())).unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, 10);
    assert_eq!(report.heads_checked, 3);

    let newest = entries(&conn, None, 3).unwrap();
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), [10, 9, 8]);
    assert_eq!(newest[0].prev_hash, newest[1].hash);
    let older = entries(&conn, Some(2), 10).unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].prev_hash, "0".repeat(64));
    assert_eq!((older[0].action.as_str(), older[0].site.as_deref()), ("login", None));
}

#[test]
fn appended_entry_is_what_is_read_back() {
    let conn = memory_log();
    let detail = json!({"reason": "case 17", "fields": ["face", "plate"]});
    let appended = append(&conn, "bob", "alert.reveal", Some("samarkand"), Some("alert-7"), &detail).unwrap();
    assert_eq!(entries(&conn, None, 10).unwrap(), vec![appended]);
}

#[test]
fn the_hash_encoding_is_unambiguous() {
    let fields = |actor, action, site| Fields { seq: 1, ts_us: 7, actor, action, site, target: None, detail: "{}" };
    let base = chain_hash(&ZERO_HASH, &fields("ab", "c", None));
    assert_ne!(base, chain_hash(&ZERO_HASH, &fields("a", "bc", None)));
    assert_ne!(base, chain_hash(&ZERO_HASH, &fields("ab", "c", Some(""))));
    assert_ne!(base, chain_hash(&[1; 32], &fields("ab", "c", None)));
}

#[test]
fn an_edited_row_is_detected() {
    let conn = memory_log();
    append_actions(&conn, 5);
    assert!(verify(&conn, &[], None).unwrap().ok);
    conn.execute("UPDATE audit SET detail = '{\"minutes\":1}' WHERE seq = 4", []).unwrap();

    let report = verify(&conn, &[], None).unwrap();
    assert!(!report.ok);
    let problems = whats(&report);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, Some(4));
    assert!(problems[0].1.starts_with("seq 4: row edited"), "{}", problems[0].1);
}

#[test]
fn a_gap_and_a_broken_link_are_detected() {
    let conn = memory_log();
    append_actions(&conn, 5);
    conn.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let report = verify(&conn, &[], None).unwrap();
    let problems = whats(&report);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|(seq, _)| *seq == Some(4)));
    assert!(problems[0].1.contains("gap or reordering: expected seq 3 after seq 2, found seq 4"), "{problems:?}");
    assert!(problems[1].1.contains("broken link"), "{problems:?}");
}

#[test]
fn a_deleted_tail_is_detected_against_a_head_exported_before() {
    let dir = TempDir::new("tail");
    let conn = memory_log();
    let signer = signer(&dir, "audit.key");
    append_actions(&conn, 5);
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();
    conn.execute("DELETE FROM audit WHERE seq > 3", []).unwrap();

    // The chain that is left is consistent: only the head shows what is missing.
    assert!(verify(&conn, &[], None).unwrap().ok);
    let heads = load_heads(&dir.0.join(HEADS_FILE)).unwrap();
    let report = verify(&conn, &heads, Some(&signer.public_key_hex())).unwrap();
    let problems = whats(&report);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, Some(5));
    assert!(problems[0].1.starts_with("truncated tail"), "{}", problems[0].1);
    assert!(problems[0].1.contains("reached seq 5 but the log ends at seq 3"), "{}", problems[0].1);
}

#[test]
fn a_chain_recomputed_by_an_admin_is_caught_only_by_the_exported_heads() {
    let dir = TempDir::new("recomputed");
    let conn = memory_log();
    let signer = signer(&dir, "audit.key");
    append_actions(&conn, 3);
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();
    append_actions(&conn, 3);
    export_head(&signer.head(&conn).unwrap(), &dir.0).unwrap();

    conn.execute("UPDATE audit SET actor = 'nobody' WHERE seq = 2", []).unwrap();
    recompute_from(&conn, 2);

    assert!(verify(&conn, &[], None).unwrap().ok, "the recomputed chain is self-consistent");
    let heads = load_heads(&dir.0.join(HEADS_FILE)).unwrap();
    let report = verify(&conn, &heads, Some(&signer.public_key_hex())).unwrap();
    assert!(!report.ok);
    assert_eq!(report.heads_checked, 2);
    let problems = whats(&report);
    assert_eq!(problems.iter().map(|p| p.0).collect::<Vec<_>>(), [Some(3), Some(6)]);
    assert!(problems.iter().all(|p| p.1.contains("chain rewritten")), "{problems:?}");
}

#[test]
fn forged_and_foreign_heads_are_detected() {
    let dir = TempDir::new("forged");
    let conn = memory_log();
    let ours = signer(&dir, "ours.key");
    let theirs = signer(&dir, "theirs.key");
    assert_ne!(ours.public_key_hex(), theirs.public_key_hex());
    append_actions(&conn, 3);
    let genuine = ours.head(&conn).unwrap();
    assert!(verify(&conn, std::slice::from_ref(&genuine), Some(&ours.public_key_hex())).unwrap().ok);

    // A head claiming a longer log, with the signature of the genuine one.
    let mut forged = genuine.clone();
    forged.seq = 9;
    let report = verify(&conn, &[forged], Some(&ours.public_key_hex())).unwrap();
    assert_eq!(report.heads_checked, 0);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].seq, Some(9));
    assert!(report.problems[0].what.contains("signature does not verify"), "{}", report.problems[0].what);

    // A validly signed head from another key: untrusted, and not the first head's key.
    let foreign = theirs.head(&conn).unwrap();
    let report = verify(&conn, std::slice::from_ref(&foreign), Some(&ours.public_key_hex())).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].what.contains("not the trusted key"), "{}", report.problems[0].what);
    let report = verify(&conn, &[genuine, foreign], None).unwrap();
    assert_eq!(report.heads_checked, 1);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].what.contains("not the key of the first head"), "{}", report.problems[0].what);
}

#[test]
fn concurrent_appends_from_two_connections_make_one_gapless_chain() {
    let dir = TempDir::new("concurrent");
    let path = dir.0.join("audit.db");
    drop(open_log(&path));
    let start = Arc::new(Barrier::new(2));
    let threads: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|actor| {
            let (path, start) = (path.clone(), start.clone());
            std::thread::spawn(move || {
                let conn = open_log(&path);
                start.wait();
                for i in 0..100 {
                    append(&conn, actor, "incident.note", Some("tashkent-1"), None, &json!({"i": i})).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let conn = open_log(&path);
    let report = verify(&conn, &[], None).unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.entries, 200);
    let all = entries(&conn, None, 1000).unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=200).rev().collect::<Vec<_>>());
    for actor in ["alice", "bob"] {
        assert_eq!(all.iter().filter(|e| e.actor == actor).count(), 100);
    }
}

/// A sink that sends each head to the test.
fn channel_sink() -> (Sink, Receiver<Head>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (Box::new(move |head: &Head| tx.send(head.clone()).map_err(|e| e.to_string())), rx)
}

#[test]
fn exporter_exports_only_changed_heads() {
    let dir = TempDir::new("exporter");
    let path = dir.0.join("audit.db");
    let conn = open_log(&path);
    append_actions(&conn, 2);
    let signer = signer(&dir, "audit.key");
    let key = signer.public_key_hex();
    let (sink, heads) = channel_sink();
    let exporter = Exporter::start(path, signer, Duration::from_millis(5), vec![sink]).unwrap();

    let first = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.seq, 2);
    // About twenty intervals pass with the log unchanged: nothing is exported.
    assert_eq!(heads.recv_timeout(Duration::from_millis(100)), Err(RecvTimeoutError::Timeout));
    append_actions(&conn, 1);
    let second = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second.seq, 3);

    // Stopping with the head unchanged exports nothing more; the sink is dropped with the thread.
    exporter.stop();
    assert_eq!(heads.try_iter().count(), 0);
    assert!(heads.recv().is_err());
    let report = verify(&conn, &[first, second], Some(&key)).unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.heads_checked, 2);
}

#[test]
fn exporter_exports_once_more_on_stop_and_survives_a_failing_sink() {
    let dir = TempDir::new("exporter-stop");
    let path = dir.0.join("audit.db");
    let conn = open_log(&path);
    let (sink, heads) = channel_sink();
    let failing: Sink = Box::new(|_: &Head| Err("share not mounted".to_string()));
    let hour = Duration::from_secs(3600);
    let exporter = Exporter::start(path, signer(&dir, "audit.key"), hour, vec![failing, sink]).unwrap();
    append_actions(&conn, 4);
    exporter.stop();

    let exported: Vec<Head> = heads.iter().collect();
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(exported[0].seq, 4);
    assert!(verify(&conn, &exported, None).unwrap().ok);
}

#[test]
fn the_key_file_is_private_reused_and_checked() {
    let dir = TempDir::new("key");
    let path = dir.0.join("audit.key");
    let first = Signer::load_or_create(&path, "dash-1").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read(&path).unwrap().len(), 32);
    let again = Signer::load_or_create(&path, "dash-1").unwrap();
    assert_eq!(first.public_key_hex(), again.public_key_hex());
    assert!(!format!("{first:?}").contains(&to_hex(&std::fs::read(&path).unwrap())));

    let short = dir.0.join("short.key");
    std::fs::write(&short, [7u8; 31]).unwrap();
    let err = Signer::load_or_create(&short, "dash-1").unwrap_err();
    assert!(err.contains("short.key") && err.contains("31 bytes"), "{err}");
    assert_eq!(std::fs::read(&short).unwrap(), [7u8; 31], "a bad key file is left alone");
}

#[test]
fn heads_round_trip_and_a_bad_line_is_named() {
    let dir = TempDir::new("heads");
    let conn = memory_log();
    let signer = signer(&dir, "audit.key");
    let empty = signer.head(&conn).unwrap();
    assert_eq!((empty.seq, empty.hash.as_str()), (0, "0".repeat(64).as_str()));
    append_actions(&conn, 2);
    let two = signer.head(&conn).unwrap();
    export_head(&empty, &dir.0).unwrap();
    export_head(&two, &dir.0).unwrap();
    let path = dir.0.join(HEADS_FILE);
    assert_eq!(load_heads(&path).unwrap(), vec![empty, two]);

    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"\n{\"node\":\"dash-1\",\"seq\":").unwrap();
    let err = load_heads(&path).unwrap_err();
    assert!(err.contains(HEADS_FILE) && err.contains("line 4"), "{err}");
}
