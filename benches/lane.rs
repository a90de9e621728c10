//! Customs lane decision latency: from a vehicle's last input (its radiation portal
//! reading, after its declaration, plate read and X-ray scan summary) to its decision
//! record arriving on `qv/{site}/pii/lane/{lane}/decision`, through the real path: zenoh →
//! the feed thread's customs desk (link by plate and container, importer history in
//! SQLite on disk, reliability, selectivity, record stored) → zenoh. Every lane of the
//! policy (`configs/customs.toml`) gets its own camera, scanner and portal, and vehicles
//! arrive round-robin across them at a fixed rate.
//!
//! Door on and off, alternating vehicle by vehicle in the same run:
//!   - on: the lane's devices and the customs system are a second zenoh session; both
//!     sessions are clients of a `qorovul router` with mutual TLS and access rules (the
//!     production transport); the declaration is signed with the customs system's key and
//!     checked by the post (signature, scope, freshness); the decision goes back to that
//!     session through the router;
//!   - off: the same four inputs handed to the feed thread in-process (`Feeds::sender`, the
//!     declaration as from `Caller::local`), i.e. exactly the path behind the door, and the
//!     decision taken by a subscriber on the post's own session. No configuration lets a
//!     feed key take unsigned records, so this is the honest "off".
//!
//! Both are printed, and on/off. The difference is two router hops plus the door; to split
//! them, a bare echo over the same two sessions through the same router is measured in the
//! same run: put → the post's session puts it back → received (the same two hops, nothing
//! done between).
//!
//! `cargo bench --bench lane` runs the full size; `cargo test --bench lane` (CI) a smoke run.

use pipeline::alert::{Alert, SourceKind};
use qorovul::config::PipelineConfig;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenoh::Wait;

#[path = "support/pki.rs"]
mod pki;
#[path = "support/signer.rs"]
mod signer;
use edge::feeds::Fed;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (vehicles, rate) = if full { (2000, 20.0) } else { (120, 20.0) };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).unwrap();
    let policy = operators::risk::RiskConfig::load(std::path::Path::new("configs/customs.toml")).unwrap();
    let lanes: Vec<String> = policy.lanes.iter().map(|l| l.id.clone()).collect();
    let dir = std::env::temp_dir().join(format!("qorovul-bench-lane-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pki = pki::Pki::new(&dir.join("pki"), &["edge-bench", "lane-devices"]);
    // Exactly what each side needs. The devices: the declarations feed, their alerts and the
    // probe; they are given the decisions and the echo. The post: subscribes to its feeds
    // and alerts, puts decisions and the echo.
    let (decisions, alerts) = ("qv/bench/pii/lane/*/decision", "qv/bench/pii/alert/**");
    let rules = [
        pki::allow("lane-devices", &["put"], "ingress", &["qv/bench/pii/feed/declarations", alerts, "qv/bench/probe"]),
        pki::allow("lane-devices", &["declare_subscriber"], "ingress", &[decisions, "qv/bench/probe-back"]),
        pki::allow("lane-devices", &["put"], "egress", &[decisions, "qv/bench/probe-back"]),
        pki::allow("lane-devices", &["declare_subscriber"], "egress", &["qv/**"]),
        pki::allow("edge-bench", &["declare_subscriber"], "ingress", &["qv/bench/**"]),
        pki::allow("edge-bench", &["put"], "egress", &["qv/bench/pii/feed/declarations", alerts, "qv/bench/probe"]),
        pki::allow("edge-bench", &["put"], "ingress", &[decisions, "qv/bench/probe-back"]),
        pki::allow("edge-bench", &["declare_subscriber"], "egress", &["qv/**"]),
    ]
    .concat();
    let _router = pki::Router::start(&pki, port, &rules);
    let lane_devices: String = lanes
        .iter()
        .map(|l| {
            format!("[[customs.lane]]\nid = {l:?}\ncameras = [\"cam-{l}\"]\nscanners = [\"scan-{l}\"]\nportals = [\"rpm-{l}\"]\n")
        })
        .collect();
    let (creds, signer) = signer::feed_identity(&dir, "customs-system", &[pipeline::feed::FeedKind::Declarations]);
    let cfg = PipelineConfig::parse(
        &format!(
            "site = \"bench\"\n[feeds]\ncredentials = \"{}\"\n[customs]\nenabled = true\nhistory = \"{}\"\n{lane_devices}",
            creds.display(),
            dir.join("history.sqlite").display()
        ),
        "bench",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(pipeline::bus::open(&pki.client("edge-bench", port))).unwrap();
    let devices = rt.block_on(pipeline::bus::open(&pki.client("lane-devices", port))).unwrap();

    // The limit: a bare echo through the post's session.
    let echo = session.clone();
    let _echo = session
        .declare_subscriber("qv/bench/probe")
        .callback(move |s| {
            let _ = echo.put("qv/bench/probe-back", s.payload().to_bytes().to_vec()).wait();
        })
        .wait()
        .unwrap();
    let probe_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let (ptx, prx) = crossbeam_channel::unbounded::<Duration>();
    let sent = probe_at.clone();
    let _probe = devices
        .declare_subscriber("qv/bench/probe-back")
        .callback(move |s| {
            let n: u64 = String::from_utf8_lossy(&s.payload().to_bytes()).parse().unwrap_or(0);
            if let Some(t) = sent.lock().unwrap().remove(&n) {
                let _ = ptx.send(t.elapsed());
            }
        })
        .wait()
        .unwrap();
    // Subscriptions travel between the sessions too: wait until each side sees the other's.
    let met = |on: &zenoh::Session, key: String| {
        let seen = pipeline::bus::wait_for_subscriber(on, &key, Duration::from_secs(20)).unwrap();
        assert!(seen, "no subscriber to {key} reached the other session");
    };
    met(&devices, "qv/bench/probe".into());
    met(&session, "qv/bench/probe-back".into());
    let mut bare = Vec::new();
    for n in 0..vehicles as u64 {
        probe_at.lock().unwrap().insert(n, Instant::now());
        devices.put("qv/bench/probe", n.to_string()).wait().unwrap();
        bare.push(prx.recv_timeout(Duration::from_secs(10)).expect("the probe comes back"));
        std::thread::sleep(Duration::from_secs_f64(1.0 / rate));
    }

    // The desk, and a subscriber for its decisions.
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded::<Alert>();
    let feeds = edge::feeds::Feeds::start(&cfg.feed_thread(), &session, rt.handle(), alerts_tx, None).unwrap().unwrap();
    // Declaration id → (through the door?, when its last input was handed over).
    let last_input: Arc<Mutex<HashMap<String, (bool, Instant)>>> = Arc::default();
    let (dtx, drx) = crossbeam_channel::unbounded::<(bool, Duration, String)>();
    // Each side's subscriber takes its own vehicles' decisions: "on" through the router.
    let decided = |door: bool| {
        let (inputs, dtx) = (last_input.clone(), dtx.clone());
        move |s: zenoh::sample::Sample| {
            let r: serde_json::Value = serde_json::from_slice(&s.payload().to_bytes()).unwrap();
            let id = r["inputs"]["declaration"]["id"].as_str().unwrap_or_default().to_string();
            let corridor = r["decision"]["corridor"].as_str().unwrap_or_default().to_string();
            let mut inputs = inputs.lock().unwrap();
            if inputs.get(&id).is_some_and(|(d, _)| *d == door) {
                let (_, t) = inputs.remove(&id).unwrap();
                let _ = dtx.send((door, t.elapsed(), corridor));
            }
        }
    };
    let _decisions = devices.declare_subscriber("qv/bench/pii/lane/*/decision").callback(decided(true)).wait().unwrap();

    met(&devices, "qv/bench/pii/feed/declarations".into());
    for lane in &lanes {
        met(&devices, format!("qv/bench/pii/alert/camera/cam-{lane}/plate_read"));
        met(&devices, format!("qv/bench/pii/alert/xray/scan-{lane}/xray_scan"));
        met(&devices, format!("qv/bench/pii/alert/sensor/rpm-{lane}/radiation_reading"));
        met(&session, format!("qv/bench/pii/lane/{lane}/decision"));
    }
    // After the checks above, which it would satisfy itself.
    let _decisions_here =
        session.declare_subscriber("qv/bench/pii/lane/*/decision").callback(decided(false)).wait().unwrap();
    let feed = feeds.sender();
    let put = |key: String, body: String| devices.put(&key, body).wait().unwrap();
    // One input of a vehicle: through the router (and the door, for a declaration) or in-process.
    let send = |door: bool, a: Alert| {
        if door {
            put(a.pii_key_expr(), serde_json::to_string(&a).unwrap())
        } else {
            feed.send(Fed::LaneAlert(Box::new(a))).unwrap()
        }
    };
    let every = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    for i in 0..vehicles {
        let door = i % 2 == 0;
        let lane = &lanes[i % lanes.len()];
        let (plate, container, id) = (format!("01A{:03}BC", i % 1000), container(i), format!("D-{i:06}"));
        let declaration = json!({"id": id, "importer_tin": format!("{:09}", 200_000_000 + i % 40), "submitted": chrono::Utc::now(),
               "origin": "TR", "route": ["TR", "GE", "AZ", "KZ"], "plates": [plate], "containers": [container],
               "goods": [{"hs_code": "620342", "description": "cotton trousers", "net_kg": 8200.0, "value_usd": 65600.0}]})
        .to_string();
        if door {
            signer.put(&devices, "qv/bench/pii/feed/declarations", declaration).unwrap();
        } else {
            let from = pipeline::credentials::Caller::local("bench");
            let kind = pipeline::feed::FeedKind::Declarations;
            feed.send(Fed::Record { kind, bytes: declaration.into_bytes(), from, reply: None }).unwrap();
        }
        let mut read = Alert::minimal("bench", SourceKind::Camera, &format!("cam-{lane}"), "plate_read");
        read.correlation.plate = Some(plate.clone());
        send(door, read);
        let mut scan = Alert::minimal("bench", SourceKind::Xray, &format!("scan-{lane}"), "xray_scan");
        scan.correlation.plate = Some(plate);
        scan.correlation.container = Some(container);
        scan.attributes = json!({"scan_id": format!("S-{i}"), "finding_list": [], "threat_classes": [],
                                 "declaration_checked": true, "declaration_id": id})
        .as_object()
        .unwrap()
        .clone();
        send(door, scan);
        let mut reading = Alert::minimal("bench", SourceKind::Sensor, &format!("rpm-{lane}"), "radiation_reading");
        reading.attributes = json!({"result": "clean", "gamma": {"max_nsigma": 1.2}}).as_object().unwrap().clone();
        last_input.lock().unwrap().insert(id, (door, Instant::now()));
        send(door, reading);
        let next = start + every * (i as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now())); // pacing the arrivals
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let mut corridors: HashMap<String, usize> = HashMap::new();
    while on.len() + off.len() < vehicles {
        let (door, d, c) = drx.recv_timeout(Duration::from_secs(30)).expect("every vehicle gets a decision");
        if door {
            on.push(d)
        } else {
            off.push(d)
        }
        *corridors.entry(c).or_default() += 1;
    }
    let decided_alerts = alerts_rx.try_iter().filter(|a| a.kind == "lane_decision").count();
    feeds.stop();
    let (on50, on99, off50, off99) = (pct(&mut on, 50), pct(&mut on, 99), pct(&mut off, 50), pct(&mut off, 99));
    let (b50, b99) = (pct(&mut bare, 50), pct(&mut bare, 99));
    println!(
        "last input → decision published at {rate} vehicles/s over {} lanes ({vehicles} vehicles alternating door on/off, 4 inputs each, history in SQLite on disk):",
        lanes.len()
    );
    println!(
        "  door on  (via TLS + ACL router, declaration signed and checked, decision back through the router): p50 {:.2} ms, p99 {:.2} ms",
        ms(on50),
        ms(on99)
    );
    println!(
        "  door off (in-process, after the door, decision on the post's session): p50 {:.2} ms, p99 {:.2} ms",
        ms(off50),
        ms(off99)
    );
    println!(
        "  on/off: p50 {:.2}×, p99 {:.2}×; bare zenoh echo over the same two sessions through the router p50 {:.3} ms, p99 {:.3} ms (on/echo: p50 {:.1}, p99 {:.1})",
        on50.as_secs_f64() / off50.as_secs_f64(),
        on99.as_secs_f64() / off99.as_secs_f64(),
        ms(b50),
        ms(b99),
        on50.as_secs_f64() / b50.as_secs_f64(),
        on99.as_secs_f64() / b99.as_secs_f64(),
    );
    println!(
        "  limit (door on): the bare zenoh echo above — zenoh alone, default config with the production transport's \
         TLS and access rules, put → the post's session puts it back → received, {} round trips at the same rate, in this run",
        bare.len()
    );
    println!("corridors: {corridors:?}; lane_decision alerts to the outbox: {decided_alerts}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ISO 6346 container number with a valid check digit.
fn container(i: usize) -> String {
    let first10 = format!("QVBU{:06}", i % 1_000_000);
    let check = operators::customs::check_digit(&first10).expect("a well-formed owner and serial");
    format!("{first10}{check}")
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
