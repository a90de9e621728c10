use super::*;
use edge::evidence_server::ServeEvent;
use edge::evidence_store::EvidenceStore;
use pipeline::bus::BusConfig;

const WAIT: Duration = Duration::from_secs(30);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qorovul-fetch-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Bytes that differ from file to file (`seed`).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    pipeline::rng::SplitMix64::new(seed).bytes(n)
}

fn open(listen: Vec<String>, connect: Vec<String>) -> zenoh::Session {
    let cfg = BusConfig { mode: "peer".into(), listen, connect, ..Default::default() };
    pipeline::bus::open_blocking(&cfg).unwrap()
}

/// Two peer sessions over TCP on loopback: `(edge, control room)`.
fn sessions() -> (zenoh::Session, zenoh::Session) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let edge = open(vec![endpoint.clone()], vec![]);
    (edge, open(vec![], vec![endpoint]))
}

/// Short waits so tests that fail on purpose are quick.
fn quick() -> FetcherConfig {
    FetcherConfig { request_timeout_ms: 5_000, retry_min_ms: 20, retry_max_ms: 200, ..Default::default() }
}

/// Every event up to and including the first one `pred` accepts; panics after [`WAIT`].
fn until<T: std::fmt::Debug>(rx: &Receiver<T>, what: &str, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => {
                let done = pred(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("waiting for {what} (after {seen:?}): {e}"),
        }
    }
}

/// The first event `pred` accepts, skipping others.
fn wait_for<T: std::fmt::Debug>(rx: &Receiver<T>, what: &str, pred: impl FnMut(&T) -> bool) -> T {
    until(rx, what, pred).pop().expect("until returns the match")
}

/// The `(offset, len)` of every range served among `events`.
fn served(events: impl IntoIterator<Item = ServeEvent>) -> Vec<(u64, u64)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            ServeEvent::Served { offset, len, .. } => Some((offset, len)),
            _ => None,
        })
        .collect()
}

fn is_replicated(e: &ServeEvent) -> bool {
    matches!(e, ServeEvent::Replicated { .. })
}

#[test]
fn config_is_checked_field_by_field_and_backoff_doubles_to_the_cap() {
    assert_eq!(FetcherConfig::default().validate(), Ok(()));
    let bad = FetcherConfig { chunk_bytes: MAX_CHUNK + 1, ..Default::default() };
    assert!(bad.validate().unwrap_err().starts_with("evidence.chunk_bytes"));
    let bad = FetcherConfig { retry_min_ms: 10, retry_max_ms: 5, ..Default::default() };
    assert!(bad.validate().unwrap_err().starts_with("evidence.retry_max_ms"));
    let cfg = FetcherConfig { retry_min_ms: 100, retry_max_ms: 1000, ..Default::default() };
    let waits: Vec<u64> = (1..=6).map(|n| cfg.backoff(n).as_millis() as u64).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(cfg.backoff(200), Duration::from_millis(1000), "no overflow");
}

#[test]
fn wants_are_checked_and_survive_a_restart() {
    let dir = temp_dir("want");
    let hash = "ab".repeat(32);
    {
        let f = EvidenceFetcher::start(open(vec![], vec![]), &dir, quick()).unwrap();
        assert!(f.want("s", "n", "nothex").unwrap_err().contains("\"nothex\""));
        assert!(f.want("s", "a/b", &hash).unwrap_err().contains("node \"a/b\""));
        assert!(f.want("s", "n", &hash.to_uppercase()).is_err());
        assert!(f.want("s", "n", &hash).unwrap());
        assert!(!f.want("s", "n", &hash).unwrap(), "already wanted");
    }
    let f = EvidenceFetcher::start(open(vec![], vec![]), &dir, quick()).unwrap();
    assert_eq!(f.state(&hash).unwrap(), Some(FileState::Wanted { have: 0, size: None }));
    assert_eq!(f.state(&"cd".repeat(32)).unwrap(), None);
}

#[test]
fn an_unreachable_edge_is_retried_with_growing_waits() {
    let f = EvidenceFetcher::start(open(vec![], vec![]), &temp_dir("unreachable"), quick()).unwrap();
    let events = f.events();
    let hash = "ef".repeat(32);
    f.want("s", "nobody", &hash).unwrap();
    let waits: Vec<Option<Duration>> = (0..5)
        .map(|_| match wait_for(&events, "a failure", |e| matches!(e, FetchEvent::Failed { .. })) {
            FetchEvent::Failed { cause, retry_in, .. } => {
                assert_eq!(cause, "unreachable");
                retry_in
            }
            _ => unreachable!(),
        })
        .collect();
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(waits, [ms(20), ms(40), ms(80), ms(160), ms(200)]);
    assert_eq!(f.state(&hash).unwrap(), Some(FileState::Wanted { have: 0, size: None }));
}

#[test]
fn a_3_mb_file_arrives_byte_identical_and_the_edge_learns_it_is_replicated() {
    let (edge_session, room_session) = sessions();
    let store = Arc::new(EvidenceStore::open(&temp_dir("3mb-edge")).unwrap());
    let data = bytes(3 << 20, 1);
    let hash = store.put(&data).unwrap();
    let server = edge::evidence_server::serve(&edge_session, "s1", "post-3mb", store.clone(), 1 << 30).unwrap();
    let edge_events = server.events();

    let fetcher = EvidenceFetcher::start(room_session, &temp_dir("3mb-room"), quick()).unwrap();
    let events = fetcher.events();
    assert!(fetcher.want("s1", "post-3mb", &hash).unwrap());
    wait_for(&events, "done", |e| matches!(e, FetchEvent::Done { .. }));

    assert_eq!(fetcher.state(&hash).unwrap(), Some(FileState::Done));
    assert!(fs::read(fetcher.path(&hash)).unwrap() == data, "byte-identical");
    let replicated = wait_for(&edge_events, "the acknowledgement", is_replicated);
    assert_eq!(replicated, ServeEvent::Replicated { hash: hash.clone(), known: true });
    assert_eq!(store.pending().unwrap().files, 0);
    let labels = [("site", "s1"), ("node", "post-3mb")];
    assert_eq!(metrics::global().value("qv_evidence_fetched_bytes_total", &labels), 3 << 20);
    assert_eq!(metrics::global().value("qv_evidence_fetched_files_total", &labels), 1);
}

#[test]
fn an_interrupted_transfer_resumes_without_asking_again_for_bytes_it_has() {
    let (edge_session, room_session) = sessions();
    let store = Arc::new(EvidenceStore::open(&temp_dir("resume-edge")).unwrap());
    let data = bytes(3 << 20, 2);
    let size = data.len() as u64;
    let hash = store.put(&data).unwrap();
    // 2 MiB/s: a chunk every 125 ms, so the first fetcher is stopped well before the end.
    let server = edge::evidence_server::serve(&edge_session, "s1", "post-resume", store, 2 << 20).unwrap();
    let edge_events = server.events();
    let room_dir = temp_dir("resume-room");

    let first = EvidenceFetcher::start(room_session.clone(), &room_dir, quick()).unwrap();
    let events = first.events();
    first.want("s1", "post-resume", &hash).unwrap();
    wait_for(&events, "3 chunks", |e| matches!(e, FetchEvent::Progress { have, .. } if *have >= 3 * MAX_CHUNK));
    first.stop();
    let had = part_len(&room_dir.join("evidence").join(format!("{hash}.part")));
    assert!(had >= 3 * MAX_CHUNK && had < size, "interrupted at {had}");
    let before = served(edge_events.try_iter()); // every Served event precedes its reply
    let expected: Vec<(u64, u64)> = (0..had / MAX_CHUNK).map(|i| (i * MAX_CHUNK, MAX_CHUNK)).collect();
    assert_eq!(before, expected, "every chunk served before the stop is in the part");

    let second = EvidenceFetcher::start(room_session, &room_dir, quick()).unwrap();
    let events = second.events();
    assert!(!second.want("s1", "post-resume", &hash).unwrap(), "the want survived");
    wait_for(&events, "done", |e| matches!(e, FetchEvent::Done { .. }));
    assert!(fs::read(second.path(&hash)).unwrap() == data, "byte-identical");
    let after = served(until(&edge_events, "the acknowledgement", is_replicated));
    assert_eq!(after.first().map(|r| r.0), Some(had), "resumed at the part's end");
    let offsets = before.iter().chain(&after).map(|r| r.0).collect::<Vec<_>>();
    let expected = (0..size.div_ceil(MAX_CHUNK)).map(|i| i * MAX_CHUNK).collect::<Vec<_>>();
    assert_eq!(offsets, expected, "each offset served once, in order");
    assert_eq!(before.iter().chain(&after).map(|r| r.1).sum::<u64>(), size);
}

#[test]
fn a_corrupted_part_is_caught_by_its_hash_and_fetched_again_from_zero() {
    let (edge_session, room_session) = sessions();
    let store = Arc::new(EvidenceStore::open(&temp_dir("corrupt-edge")).unwrap());
    let data = bytes(600_000, 3);
    let hash = store.put(&data).unwrap();
    let server = edge::evidence_server::serve(&edge_session, "s1", "post-corrupt", store, 1 << 30).unwrap();
    let edge_events = server.events();
    // A part left by an earlier run, with one byte gone bad on disk.
    let room_dir = temp_dir("corrupt-room");
    let mut part = data[..300_000].to_vec();
    part[1234] ^= 0x40;
    fs::create_dir_all(room_dir.join("evidence")).unwrap();
    fs::write(room_dir.join("evidence").join(format!("{hash}.part")), &part).unwrap();

    let fetcher = EvidenceFetcher::start(room_session, &room_dir, quick()).unwrap();
    let events = fetcher.events();
    let mismatches = || {
        metrics::global().value(
            "qv_evidence_fetch_failures_total",
            &[("site", "s1"), ("node", "post-corrupt"), ("cause", "hash_mismatch")],
        )
    };
    fetcher.want("s1", "post-corrupt", &hash).unwrap();
    let failed =
        wait_for(&events, "the mismatch", |e| matches!(e, FetchEvent::Failed { cause, .. } if *cause != "unreachable"));
    assert!(matches!(failed, FetchEvent::Failed { cause: "hash_mismatch", retry_in: Some(_), .. }), "{failed:?}");
    wait_for(&events, "done", |e| matches!(e, FetchEvent::Done { .. }));
    assert!(fs::read(fetcher.path(&hash)).unwrap() == data, "byte-identical");
    assert_eq!(mismatches(), 1);
    let seen = until(&edge_events, "the acknowledgement", is_replicated);
    let offsets: Vec<u64> = served(seen).into_iter().map(|r| r.0).collect();
    assert_eq!(offsets, [300_000, 300_000 + MAX_CHUNK, 0, MAX_CHUNK, 2 * MAX_CHUNK], "resumed, then from zero");
}

#[test]
fn evidence_the_edge_no_longer_has_is_given_up_not_retried() {
    let (edge_session, room_session) = sessions();
    let store = Arc::new(EvidenceStore::open(&temp_dir("gone-edge")).unwrap());
    let server = edge::evidence_server::serve(&edge_session, "s1", "post-gone", store, 1 << 30).unwrap();
    let edge_events = server.events();
    let fetcher = EvidenceFetcher::start(room_session, &temp_dir("gone-room"), quick()).unwrap();
    let events = fetcher.events();
    let gone_failure = |hash: &str| {
        fetcher.want("s1", "post-gone", hash).unwrap();
        wait_for(&events, "the refusal", |e| matches!(e, FetchEvent::Failed { cause, .. } if *cause != "unreachable"))
    };
    let hash = "0".repeat(64);
    let failed = gone_failure(&hash);
    assert!(matches!(failed, FetchEvent::Failed { cause: "unknown_hash", retry_in: None, .. }), "{failed:?}");
    assert!(matches!(fetcher.state(&hash).unwrap(), Some(FileState::Gone { reason }) if reason.contains(&hash)));
    // Files are fetched in want order: had the first been retried, the edge would have
    // refused it again before it saw the second.
    gone_failure(&"1".repeat(64));
    let refused: Vec<String> = edge_events
        .try_iter()
        .filter_map(|e| match e {
            ServeEvent::Refused { what, .. } => Some(what),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains(&hash), "{refused:?}");
}

#[test]
fn a_file_over_max_file_bytes_is_given_up_after_its_first_reply() {
    let (edge_session, room_session) = sessions();
    let store = Arc::new(EvidenceStore::open(&temp_dir("large-edge")).unwrap());
    let hash = store.put(&bytes(200_000, 4)).unwrap();
    let _server = edge::evidence_server::serve(&edge_session, "s1", "post-large", store, 1 << 30).unwrap();
    let cfg = FetcherConfig { max_file_bytes: 100_000, ..quick() };
    let fetcher = EvidenceFetcher::start(room_session, &temp_dir("large-room"), cfg).unwrap();
    let events = fetcher.events();
    fetcher.want("s1", "post-large", &hash).unwrap();
    let failed =
        wait_for(&events, "the refusal", |e| matches!(e, FetchEvent::Failed { cause, .. } if *cause != "unreachable"));
    assert!(
        matches!(&failed, FetchEvent::Failed { cause: "too_large", retry_in: None, detail, .. }
        if detail.contains("200000")),
        "{failed:?}"
    );
    assert!(matches!(fetcher.state(&hash).unwrap(), Some(FileState::Gone { .. })));
    assert!(!fetcher.path(&hash).exists() && !fetcher.shared.part(&hash).exists());
}
