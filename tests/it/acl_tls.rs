//! Must show: a subscriber without the ACL right cannot read `qv/{site}/pii/**`.
//!
//! A `qorovul router` runs the shipped `configs/router.toml` (mutual TLS + access
//! control), pointed at certificates this test makes with the `openssl` CLI and at a
//! loopback port. Clients in this process connect over `tls/127.0.0.1` with each
//! identity: the CN in their certificate is what the router's rules go by.

use crate::support::{Proc, free_port, test_alert};
use pipeline::bus::{self, BusConfig, TlsConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const T: Duration = Duration::from_secs(20);

/// A certificate authority in a temp dir, issuing `{dir}/{cn}.pem` + `{dir}/{cn}.key`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("qorovul-it-pki-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", &format!("/CN=qorovul-test-ca-{name}")],
        );
        Pki { dir }
    }

    /// A leaf for `cn`, valid as server and client on 127.0.0.1 / localhost.
    fn issue(&self, cn: &str) {
        let ext = self.dir.join(format!("{cn}.ext"));
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let (key, csr, pem) = (format!("{cn}.key"), format!("{cn}.csr"), format!("{cn}.pem"));
        openssl(
            &self.dir,
            &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={cn}")],
        );
        openssl(
            &self.dir,
            &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"],
            &["-out", &pem, "-days", "2", "-extfile", ext.to_str().unwrap()],
        );
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, a: &[&str], b: &[&str]) {
    let out = Command::new("openssl").args(a).args(b).current_dir(dir).output().expect("running openssl");
    assert!(out.status.success(), "openssl {a:?} {b:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `configs/router.toml` as shipped, with its certificates from `pki` and its listener on
/// 127.0.0.1:`port`; returns the running router.
fn start_router(pki: &Pki, port: u16) -> Proc {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/router.toml")).unwrap();
    let (certs, listen) = ("/etc/qorovul/tls/", "tls/0.0.0.0:7447");
    assert!(shipped.contains(certs) && shipped.contains(listen), "configs/router.toml changed shape");
    let text =
        shipped.replace(certs, &format!("{}/", pki.dir.display())).replace(listen, &format!("tls/127.0.0.1:{port}"));
    let path = pki.path("router.toml");
    std::fs::write(&path, text).unwrap();
    let router = Proc::qorovul(&["router", "--config", path.to_str().unwrap()]);
    router.wait_stderr("router listening on", T).unwrap();
    router
}

/// A client of the router at `port` presenting `cn`'s certificate (mutual TLS).
fn client(pki: &Pki, cn: &str, port: u16) -> BusConfig {
    BusConfig {
        mode: "client".into(),
        connect: vec![format!("tls/127.0.0.1:{port}")],
        tls: Some(TlsConfig {
            root_ca: pki.path("ca.pem"),
            certificate: Some(pki.path(&format!("{cn}.pem"))),
            private_key: Some(pki.path(&format!("{cn}.key"))),
            mtls: true,
        }),
        ..Default::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// The keys `reader` receives on `qv/{site}/**` and on `qv/{site}/pii/**` when the edge
/// puts a plate on `qv/{site}/pii/plate/x` and then, on the same session, a public
/// alert. Returned once the alert has arrived: the two puts travel in order on one
/// link (congestion control `Block`, nothing dropped for lack of room), so a plate that
/// was let through would be there already. No sleeps.
fn seen_by(rt: &tokio::runtime::Runtime, pki: &Pki, reader: &str, site: &str, port: u16) -> (Vec<String>, Vec<String>) {
    let reader = rt.block_on(bus::open(&client(pki, reader, port))).unwrap();
    // Declared first: the router handles one session's declarations in order, so once
    // the edge sees the `qv/{site}/**` subscriber, this one has been handled too.
    let pii = reader.declare_subscriber(format!("qv/{site}/pii/**")).wait().unwrap();
    let all = reader.declare_subscriber(format!("qv/{site}/**")).wait().unwrap();

    let edge = rt.block_on(bus::open(&client(pki, "edge-post-1", port))).unwrap();
    let alert = test_alert(site, "gate");
    // Nobody else subscribes under this site: a match is the reader's subscriber.
    assert!(bus::wait_for_subscriber(&edge, &alert.key_expr(), T).unwrap(), "{site}: subscriber never matched");
    let plate = format!("qv/{site}/pii/plate/x");
    edge.put(&plate, "01A123BC").congestion_control(CongestionControl::Block).wait().unwrap();
    rt.block_on(bus::publish_alert(&edge, &alert)).unwrap();

    let mut on_all = Vec::new();
    while !on_all.contains(&alert.key_expr()) {
        let sample = all.recv_timeout(T).unwrap().unwrap_or_else(|| panic!("{site}: the public alert never arrived"));
        on_all.push(sample.key_expr().to_string());
    }
    let on_pii = pii.drain().map(|s| s.key_expr().to_string()).collect();
    let _ = edge.close().wait();
    let _ = reader.close().wait();
    (on_all, on_pii)
}

#[test]
fn only_the_control_room_reads_pii_and_the_integrator_gets_the_alerts() {
    let pki = Pki::new("acl");
    for cn in ["router", "control-room", "edge-post-1", "integrator"] {
        pki.issue(cn);
    }
    let port = free_port();
    let _router = start_router(&pki, port);
    let rt = runtime();

    // The same procedure for both readers; only the certificate differs. The control
    // room shows the plate does get through when the ACL allows it (and that the edge
    // may publish it).
    let (all, pii) = seen_by(&rt, &pki, "control-room", "s0", port);
    let alert = test_alert("s0", "gate").key_expr();
    assert_eq!(all, ["qv/s0/pii/plate/x".to_string(), alert], "control room on qv/s0/**");
    assert_eq!(pii, ["qv/s0/pii/plate/x"], "control room on qv/s0/pii/**");

    let (all, pii) = seen_by(&rt, &pki, "integrator", "s1", port);
    assert_eq!(all, [test_alert("s1", "gate").key_expr()], "integrator on qv/s1/**: the alert, never the plate");
    assert!(pii.is_empty(), "integrator on qv/s1/pii/** received {pii:?}");
}

#[test]
fn untrusted_or_missing_client_certificates_and_plain_tcp_are_refused() {
    let pki = Pki::new("mtls");
    for cn in ["router", "control-room"] {
        pki.issue(cn);
    }
    // Same CN, other CA: the name alone gets nobody in.
    let rogue = Pki::new("rogue");
    rogue.issue("control-room");
    let port = free_port();
    let _router = start_router(&pki, port);
    let rt = runtime();

    // The router is up and a trusted certificate connects.
    let ok = rt.block_on(bus::open(&client(&pki, "control-room", port))).expect("trusted client connects");
    ok.close().wait().unwrap();

    let mut untrusted = client(&pki, "control-room", port);
    let tls = untrusted.tls.as_mut().unwrap();
    tls.certificate = Some(rogue.path("control-room.pem"));
    tls.private_key = Some(rogue.path("control-room.key"));
    let no_cert = BusConfig {
        tls: Some(TlsConfig { root_ca: pki.path("ca.pem"), certificate: None, private_key: None, mtls: false }),
        ..client(&pki, "control-room", port)
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
