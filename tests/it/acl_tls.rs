//! Must show: a subscriber without the ACL right cannot read `qv/{site}/pii/**`, and no
//! edge certificate can speak for another node: it puts only its own heartbeat, and only
//! the control room puts acknowledgements.
//!
//! A `qorovul router` runs the shipped `configs/router.toml` (mutual TLS + access
//! control), pointed at certificates this test makes with the `openssl` CLI and at a
//! loopback port. Clients in this process connect over `tls/127.0.0.1` with each
//! identity: the CN in their certificate is what the router's rules go by. The shipped
//! rules bind edge-post-1 to site `post1` and edge-post-2 to `post2`.

use crate::support::{Proc, free_port, test_alert};
use pipeline::bus::{self, BusConfig, TlsConfig};
use pipeline::health::Heartbeat;
use pipeline::keys;
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const T: Duration = Duration::from_secs(20);

// One certificate authority for the tests and the benchmarks that need the production transport.
#[path = "../../benches/support/pki.rs"]
#[allow(dead_code)]
mod pki;
use pki::Pki;

/// A CA for one test in a temp folder, with a leaf for each of `cns` (and the router),
/// removed with its folder when dropped.
pub(crate) struct Ca(Pki);

impl std::ops::Deref for Ca {
    type Target = Pki;
    fn deref(&self) -> &Pki {
        &self.0
    }
}

impl Drop for Ca {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

pub(crate) fn ca(name: &str, cns: &[&str]) -> Ca {
    let dir = std::env::temp_dir().join(format!("qorovul-it-pki-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Ca(Pki::new(&dir, cns))
}

/// `configs/router.toml` as shipped, with its certificates from `pki` and its listener on
/// 127.0.0.1:`port`; returns the running router.
pub(crate) fn start_router(pki: &Pki, port: u16) -> Proc {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/router.toml")).unwrap();
    let (certs, listen) = ("/etc/qorovul/tls/", "tls/0.0.0.0:7447");
    assert!(shipped.contains(certs) && shipped.contains(listen), "configs/router.toml changed shape");
    let text =
        shipped.replace(certs, &format!("{}/", pki.dir.display())).replace(listen, &format!("tls/127.0.0.1:{port}"));
    let path = pki.dir.join("router.toml");
    std::fs::write(&path, text).unwrap();
    let router = Proc::qorovul(&["router", "--config", path.to_str().unwrap()]);
    router.wait_stderr("router listening on", T).unwrap();
    router
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// A plate read of `site`, its plate in clear: what a node's uplink sends.
fn plate_read(site: &str) -> pipeline::alert::Alert {
    let mut a = test_alert(site, "gate");
    a.kind = "plate_read".into();
    a.correlation.plate = Some("01A123BC".into());
    a
}

/// What `reader` receives on `qv/{site}/**` and on `qv/{site}/pii/**` (key, payload) when
/// `edge` (the site's node) publishes a plate read as its uplink does: whole on its pii key,
/// then masked on its public key. Returned once the public one has arrived: the two puts
/// travel in order on one link (congestion control `Block`, nothing dropped for lack of
/// room), so a whole one that was let through would be there already. No sleeps.
fn seen_by(
    rt: &tokio::runtime::Runtime,
    pki: &Pki,
    reader: &str,
    (edge, site): (&str, &str),
    port: u16,
) -> (Vec<(String, String)>, Vec<String>) {
    let reader = rt.block_on(bus::open(&pki.client(reader, port))).unwrap();
    // Declared first: the router handles one session's declarations in order, so once
    // the edge sees the `qv/{site}/**` subscriber, this one has been handled too.
    let pii = reader.declare_subscriber(format!("qv/{site}/pii/**")).wait().unwrap();
    let all = reader.declare_subscriber(format!("qv/{site}/**")).wait().unwrap();

    let edge = rt.block_on(bus::open(&pki.client(edge, port))).unwrap();
    let alert = plate_read(site);
    // Nobody else subscribes under this site: a match is the reader's subscriber.
    assert!(bus::wait_for_subscriber(&edge, &alert.key_expr(), T).unwrap(), "{site}: subscriber never matched");
    rt.block_on(bus::publish_alert(&edge, &alert)).unwrap();

    let mut on_all = Vec::new();
    while !on_all.iter().any(|(k, _)| *k == alert.key_expr()) {
        let sample = all.recv_timeout(T).unwrap().unwrap_or_else(|| panic!("{site}: the public alert never arrived"));
        on_all.push((sample.key_expr().to_string(), String::from_utf8_lossy(&sample.payload().to_bytes()).into()));
    }
    let on_pii = pii.drain().map(|s| s.key_expr().to_string()).collect();
    let _ = edge.close().wait();
    let _ = reader.close().wait();
    (on_all, on_pii)
}

#[test]
fn only_the_control_room_reads_pii_and_the_integrator_gets_the_alerts() {
    let pki = ca("acl", &["control-room", "edge-post-1", "edge-post-2", "integrator"]);
    let port = free_port();
    let _router = start_router(&pki, port);
    let rt = runtime();

    // The same procedure for both readers; only the certificate differs. The control
    // room shows the whole alert does get through when the ACL allows it (and that the edge
    // may publish it).
    let (all, pii) = seen_by(&rt, &pki, "control-room", ("edge-post-1", "post1"), port);
    let (whole, public) = (plate_read("post1").pii_key_expr(), plate_read("post1").key_expr());
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [whole.as_str(), public.as_str()], "control room on qv/post1/**");
    assert!(all[0].1.contains("01A123BC") && !all[1].1.contains("01A123BC") && all[1].1.contains("01****BC"));
    assert_eq!(pii, [whole], "control room on qv/post1/pii/**");

    let (all, pii) = seen_by(&rt, &pki, "integrator", ("edge-post-2", "post2"), port);
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [plate_read("post2").key_expr()], "integrator on qv/post2/**: the masked alert alone");
    assert!(!all[0].1.contains("01A123BC") && all[0].1.contains("01****BC"), "{}", all[0].1);
    assert!(pii.is_empty(), "integrator on qv/post2/pii/** received {pii:?}");
}

/// A put that only the router sees (never this session's own subscribers): what reaches a
/// subscriber came through the router's rules.
fn put(session: &zenoh::Session, key: &str, payload: Vec<u8>) {
    let put = session.put(key, payload).congestion_control(CongestionControl::Block);
    put.allowed_destination(zenoh::sample::Locality::Remote).wait().unwrap();
}

fn heartbeat(site: &str, node: &str) -> Vec<u8> {
    serde_json::to_vec(&Heartbeat::new(site, node, "edge", Duration::from_secs(5))).unwrap()
}

/// The keys `sub` receives up to and including `last`. Puts from one session travel in order
/// on its link, so a put made before `last` on the same session that the router let through
/// is among them. No sleeps.
fn keys_until(
    sub: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
    last: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some(last) {
        let sample = sub.recv_timeout(T).unwrap().unwrap_or_else(|| panic!("{last} never arrived; saw {seen:?}"));
        seen.push(sample.key_expr().to_string());
    }
    seen
}

/// edge-post-2 puts a heartbeat and an acknowledgement as edge-post-1 (refused at the router),
/// then its own heartbeat (taken); edge-post-1's own heartbeat is taken but an
/// acknowledgement it puts for itself is not; the control room's acknowledgement reaches it.
#[test]
fn an_edge_puts_only_its_own_heartbeat_and_only_the_control_room_acknowledges() {
    let pki = ca("speak", &["control-room", "edge-post-1", "edge-post-2"]);
    let port = free_port();
    let _router = start_router(&pki, port);
    let rt = runtime();
    let open = |cn: &str| rt.block_on(bus::open(&pki.client(cn, port))).unwrap();
    let (room, edge1, edge2) = (open("control-room"), open("edge-post-1"), open("edge-post-2"));
    // The control room sees everything put on the bus that the router lets through.
    let seen = room.declare_subscriber("qv/**").wait().unwrap();
    let acks = edge1.declare_subscriber(keys::acks_for("edge-post-1")).wait().unwrap();
    let (beat1, ack1) = (keys::health("post1", "edge-post-1"), keys::ack("post1", "edge-post-1"));
    let beat2 = keys::health("post2", "edge-post-2");

    assert!(bus::wait_for_subscriber(&edge2, &beat2, T).unwrap(), "the control room's subscriber never matched");
    put(&edge2, &beat1, heartbeat("post1", "edge-post-1"));
    put(&edge2, &ack1, keys::encode_ack(&[uuid::Uuid::now_v7()]));
    put(&edge2, &beat2, heartbeat("post2", "edge-post-2"));
    assert_eq!(
        keys_until(&seen, &beat2),
        std::slice::from_ref(&beat2),
        "edge-post-2's forged heartbeat or acknowledgement got through"
    );

    assert!(bus::wait_for_subscriber(&edge1, &beat1, T).unwrap());
    put(&edge1, &ack1, keys::encode_ack(&[uuid::Uuid::now_v7()]));
    put(&edge1, &beat1, heartbeat("post1", "edge-post-1"));
    assert_eq!(
        keys_until(&seen, &beat1),
        std::slice::from_ref(&beat1),
        "edge-post-1's own heartbeat, and no acknowledgement"
    );

    // The rightful acknowledgement: the first (and only) one edge-post-1 receives.
    let ids = [uuid::Uuid::now_v7()];
    put(&room, &ack1, keys::encode_ack(&ids));
    let got = acks.recv_timeout(T).unwrap().expect("the control room's acknowledgement reaches edge-post-1");
    assert_eq!(
        (got.key_expr().as_str(), keys::decode_ack(&got.payload().to_bytes())),
        (ack1.as_str(), Some(ids.to_vec()))
    );
    assert!(acks.try_recv().unwrap().is_none(), "no other acknowledgement reached edge-post-1");
    for s in [edge2, edge1, room] {
        let _ = s.close().wait();
    }
}

#[test]
fn untrusted_or_missing_client_certificates_and_plain_tcp_are_refused() {
    let pki = ca("mtls", &["control-room"]);
    // Same CN, other CA: the name alone gets nobody in.
    let rogue = ca("rogue", &["control-room"]);
    let port = free_port();
    let _router = start_router(&pki, port);
    let rt = runtime();

    // The router is up and a trusted certificate connects.
    let ok = rt.block_on(bus::open(&pki.client("control-room", port))).expect("trusted client connects");
    ok.close().wait().unwrap();

    let mut untrusted = pki.client("control-room", port);
    let tls = untrusted.tls.as_mut().unwrap();
    tls.certificate = Some(rogue.dir.join("control-room.pem"));
    tls.private_key = Some(rogue.dir.join("control-room.key"));
    let no_cert = BusConfig {
        tls: Some(TlsConfig { root_ca: pki.dir.join("ca.pem"), certificate: None, private_key: None, mtls: false }),
        ..pki.client("control-room", port)
    };
    let plain =
        BusConfig { mode: "client".into(), connect: vec![format!("tcp/127.0.0.1:{port}")], ..Default::default() };
    for (what, cfg) in [("a certificate from another CA", untrusted), ("no certificate", no_cert), ("plain tcp", plain)]
    {
        // A client tries its endpoint once (zenoh's client connect timeout is 0: no
        // retry) and open fails; the outer timeout only bounds a hang.
        let opened = rt.block_on(async { tokio::time::timeout(T, bus::open(&cfg)).await });
        assert!(!matches!(opened, Ok(Ok(_))), "{what}: connected to the mTLS router");
        println!(
            "{what}: refused ({})",
            match opened {
                Ok(Err(e)) => e,
                _ => "timed out".into(),
            }
        );
    }
}

/// `qorovul listen` takes an identity: with the integrator's certificate it is given the
/// site's alerts through the router and never its personal data; without one it cannot even
/// connect to a `tls/` router.
#[test]
fn qorovul_listen_with_the_integrator_s_certificate_gets_alerts_and_without_one_nothing() {
    let pki = ca("listen", &["edge-post-1", "integrator"]);
    let port = free_port();
    let _router = start_router(&pki, port);
    let endpoint = format!("tls/127.0.0.1:{port}");
    let (root, cert, key) = (pki.dir.join("ca.pem"), pki.dir.join("integrator.pem"), pki.dir.join("integrator.key"));
    let base = ["listen", "--mode", "client", "--connect", &endpoint, "--key", "qv/post1/**", "--count", "1"];

    let (status, _, err) = Proc::run(&base, T);
    assert!(status.is_some_and(|s| !s.success()), "without an identity: {err}");
    assert!(err.contains("needs a [bus.tls] section"), "{err}");

    let identity = ["--tls-root-ca", root.to_str().unwrap(), "--tls-certificate", cert.to_str().unwrap()];
    let listen = Proc::qorovul(&[&base[..], &identity[..], &["--tls-private-key", key.to_str().unwrap()]].concat());
    listen.wait_stderr("listening on qv/post1/**", T).unwrap();
    let rt = runtime();
    let edge = rt.block_on(bus::open(&pki.client("edge-post-1", port))).unwrap();
    let alert = plate_read("post1");
    assert!(bus::wait_for_subscriber(&edge, &alert.key_expr(), T).unwrap(), "the listener's subscription is seen");
    // Whole on the pii key first, then masked on the public one: the first line is the masked one.
    rt.block_on(bus::publish_alert(&edge, &alert)).unwrap();
    let line = listen.stdout.recv_timeout(T).expect("the alert is printed");
    assert!(line.contains(&alert.id.to_string()) && !line.contains("01A123BC") && line.contains("01****BC"), "{line}");
    let _ = edge.close().wait();
}
