use super::*;
use crate::evidence_store::tests::{bytes, temp_dir};

/// A peer session that listens nowhere: queries and puts stay inside it.
fn local_session() -> zenoh::Session {
    pipeline::bus::open_blocking(&pipeline::bus::BusConfig::default()).unwrap()
}

#[test]
fn token_bucket_arithmetic_on_an_injected_clock() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut b = TokenBucket::new(1000, 500, t0);
    assert_eq!(b.try_take(300, t0), Ok(()));
    assert_eq!(b.try_take(300, t0), Err(Duration::from_millis(100)), "200 there, 100 more at 1000/s");
    assert_eq!(b.try_take(300, ms(100)), Ok(()));
    assert_eq!(b.tokens(), 0.0);
    // Refill stops at the burst however long it was idle.
    assert_eq!(b.try_take(500, ms(60_000)), Ok(()));
    assert_eq!(b.try_take(1, ms(60_000)), Err(Duration::from_millis(1)));
    // Larger than the burst: let through when full, then the debt is paid in time.
    assert_eq!(b.try_take(2000, ms(60_500)), Ok(()));
    assert_eq!(b.tokens(), -1500.0);
    assert_eq!(b.try_take(1, ms(60_500)), Err(Duration::from_millis(1501)));
    // A clock read out of order adds nothing and does not panic.
    assert!(b.try_take(1, t0).is_err());
    assert_eq!(b.try_take(500, ms(62_500)), Ok(()));
}

#[test]
fn request_parameters_are_parsed_capped_and_named_when_bad() {
    let h = "ab".repeat(32);
    let key = format!("qv/s/evidence/n/{h}");
    assert_eq!(parse_request(&key, None, None), Ok(Request { hash: h.clone(), offset: 0, len: MAX_CHUNK }));
    assert_eq!(parse_request(&key, Some("7"), Some("99999999")).unwrap().len, MAX_CHUNK);
    assert_eq!(parse_request(&key, Some("-1"), None).unwrap_err().0, "bad_offset");
    assert_eq!(parse_request(&key, None, Some("x")).unwrap_err().0, "bad_len");
    let (cause, what) = parse_request("qv/s/evidence/n/nothex", None, None).unwrap_err();
    assert_eq!(cause, "bad_hash");
    assert!(what.contains("nothex"), "{what}");
}

/// One `get` on the local session: `Ok((bytes, size attachment))` or `Err(reply error)`.
fn get(session: &zenoh::Session, selector: &str) -> Result<(Vec<u8>, String), String> {
    let replies = session.get(selector).timeout(Duration::from_secs(5)).wait().unwrap();
    let reply = replies.recv().expect("one reply");
    match reply.into_result() {
        Ok(s) => Ok((
            s.payload().to_bytes().into_owned(),
            s.attachment().map(|a| a.try_to_string().unwrap().into_owned()).unwrap_or_default(),
        )),
        Err(e) => Err(e.payload().try_to_string().unwrap().into_owned()),
    }
}

#[test]
fn serve_answers_ranges_refuses_bad_requests_and_takes_acknowledgements() {
    let session = local_session();
    let store = Arc::new(EvidenceStore::open(&temp_dir("serve")).unwrap());
    let data = bytes(MAX_CHUNK as usize + 1000, 6);
    let hash = store.put(&data).unwrap();
    let server = serve(&session, "s1", "serve-node", store.clone(), 100 << 20).unwrap();
    let events = server.events();
    let key = keys::evidence("s1", "serve-node", &hash);

    let size = format!("size={}", data.len());
    assert_eq!(get(&session, &format!("{key}?offset=10;len=20")), Ok((data[10..30].to_vec(), size.clone())));
    assert_eq!(get(&session, &key), Ok((data[..MAX_CHUNK as usize].to_vec(), size.clone())), "defaults, capped");
    let end = format!("{key}?offset={}", data.len());
    assert_eq!(get(&session, &end), Ok((vec![], size)));
    assert_eq!(events.recv().unwrap(), ServeEvent::Served { hash: hash.clone(), offset: 10, len: 20 });

    let refused =
        |cause| metrics::global().value("qv_evidence_refused_total", &[("node", "serve-node"), ("cause", cause)]);
    let bad = [
        (keys::evidence("s1", "serve-node", "nothex"), "bad_hash", "nothex"),
        (keys::evidence("s1", "serve-node", &"0".repeat(64)), "unknown_hash", "0000"),
        (format!("{key}?offset=999999999"), "bad_offset", "999999999"),
        (format!("{key}?offset=abc"), "bad_offset", "abc"),
        (format!("{key}?len=-5"), "bad_len", "-5"),
    ];
    for (selector, cause, named) in bad {
        let before = refused(cause);
        let err = get(&session, &selector).unwrap_err();
        assert!(err.starts_with(&format!("{cause}: ")) && err.contains(named), "{selector}: {err}");
        assert_eq!(refused(cause), before + 1, "{selector}");
    }

    session.put(keys::evidence_ack("s1", "serve-node"), "not a hash").wait().unwrap();
    session.put(keys::evidence_ack("s1", "serve-node"), hash.clone()).wait().unwrap();
    let mut server_events = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok());
    let bad_ack = server_events.find(|e| matches!(e, ServeEvent::Refused { cause: "bad_ack", .. }));
    assert!(bad_ack.is_some(), "a bad acknowledgement is reported");
    let replicated = server_events.find(|e| matches!(e, ServeEvent::Replicated { .. }));
    assert_eq!(replicated, Some(ServeEvent::Replicated { hash: hash.clone(), known: true }));
    assert!(store.is_replicated(&hash).unwrap());
    drop(server);
    assert!(session.get(&key).wait().unwrap().recv().is_err(), "undeclared with the server");
}
