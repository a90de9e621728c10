//! Alert fabric benchmark, in one run, between two processes (this one as the edge, a
//! `qorovul control-room` child as the control room, peers over TCP on loopback):
//!   (a) raw zenoh: messages/s of alert-sized puts (congestion control Block) to a
//!       subscriber in another process — the limit everything else is compared with;
//!   (b) alerts/s through outbox → zenoh → control room (decode, store, acknowledge,
//!       fusion) until every alert is acknowledged (target ≥ 20,000/s);
//!   (c) latency at a fixed 1,000 alerts/s, from handing an alert to the outbox until its
//!       incident message arrives back (stored and fused; target p99 ≤ 20 ms);
//!   (d) a 1,000,000-alert backlog drained while live critical alerts keep arriving:
//!       drain rate and the live alerts' latency (target p99 ≤ 1 s).
//!
//! `cargo bench --bench fabric` runs the full sizes; without `--bench` (as `cargo test
//! --bench fabric` runs it in CI) it is a smoke run on small ones.

#[path = "support/mod.rs"]
mod common;
use common::{free_port, wait_for};
use edge::outbox::{Outbox, Priority};
use edge::uplink::{Uplink, UplinkConfig};
use pipeline::alert::{Alert, GeoPoint, Severity, SourceKind};
use pipeline::bus::BusConfig;
use pipeline::metrics;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

struct Sizes {
    raw: usize,
    throughput: usize,
    latency_secs: u64,
    backlog: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--raw-subscriber") {
        return raw_subscriber(&args[2], args[3].parse().unwrap());
    }
    let full = args.iter().any(|a| a == "--bench");
    let sizes = if full {
        Sizes { raw: 200_000, throughput: 200_000, latency_secs: 10, backlog: 1_000_000 }
    } else {
        Sizes { raw: 5_000, throughput: 5_000, latency_secs: 1, backlog: 5_000 }
    };
    let dir = std::env::temp_dir().join(format!("qorovul-bench-fabric-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sample = alert("bench", 0).to_json();

    // (a) raw zenoh, one process to another.
    let raw = raw_zenoh(&rt, sizes.raw, sample.len());

    // The control room, a process of its own.
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let _room = ControlRoomProc::start(&dir, &endpoint);
    let bus = BusConfig { mode: "peer".into(), connect: vec![endpoint.clone()], ..Default::default() };
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    assert!(
        pipeline::bus::wait_for_subscriber(&session, "qv/bench/alert/camera/x/y", Duration::from_secs(30)).unwrap(),
        "the control room subscribes"
    );
    let uplink = Uplink::start(
        session.clone(),
        Outbox::open(&dir.join("outbox.sqlite")).unwrap(),
        UplinkConfig::new("bench", "edge-b"),
    )
    .unwrap();

    // (b) throughput.
    let alerts: Vec<Alert> = (0..sizes.throughput).map(|i| alert("bench", i)).collect();
    let acked = metrics::global().metric("qv_uplink_acked_total", &[]);
    let start_acked = acked.get();
    let t0 = Instant::now();
    let tx = uplink.sender();
    for a in alerts {
        tx.send(a).unwrap();
    }
    wait_for(
        || acked.get() - start_acked >= sizes.throughput as u64,
        Duration::from_secs(if full { 600 } else { 120 }),
        "(b) acknowledgements",
    );
    let b = sizes.throughput as f64 / t0.elapsed().as_secs_f64();

    // (c) latency at 1,000 alerts/s.
    let watch = IncidentWatch::start(&session, "bench-lat");
    let n = sizes.latency_secs as usize * 1000;
    let t0 = Instant::now();
    for i in 0..n {
        pace(t0, i, 1000.0);
        let a = alert("bench-lat", i);
        watch.sent(a.id);
        tx.send(a).unwrap();
    }
    let c = watch.latencies(n, Duration::from_secs(60));

    // (d) a backlog of sizes.backlog drained while live critical alerts arrive.
    drop(tx);
    uplink.stop(Duration::from_secs(10)).unwrap();
    let backlog_path = dir.join("backlog.sqlite");
    let fill = Instant::now();
    {
        let mut ob = Outbox::open(&backlog_path).unwrap();
        let mut i = 0;
        while i < sizes.backlog {
            let batch: Vec<Alert> = (i..(i + 10_000).min(sizes.backlog)).map(|j| alert("bench-backlog", j)).collect();
            i += batch.len();
            ob.append(&batch).unwrap();
        }
    }
    let fill_secs = fill.elapsed().as_secs_f64();
    let live = IncidentWatch::start(&session, "bench-live");
    // A second connection to the backlog's outbox, to see when its backlog is empty.
    let backlog_view = Outbox::open(&backlog_path).unwrap();
    let uplink =
        Uplink::start(session.clone(), Outbox::open(&backlog_path).unwrap(), UplinkConfig::new("bench", "edge-b"))
            .unwrap();
    let tx = uplink.sender();
    let t0 = Instant::now();
    let mut live_sent = 0;
    while !backlog_view.after(Priority::Backlog, 0, 1).unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(if full { 1800 } else { 120 }), "(d) drain stalled");
        pace(t0, live_sent, 20.0);
        let mut a = alert("bench-live", live_sent);
        a.severity = Severity::Critical;
        live.sent(a.id);
        tx.send(a).unwrap();
        live_sent += 1;
    }
    let drain_secs = t0.elapsed().as_secs_f64();
    let d = live.latencies(live_sent, Duration::from_secs(60));
    drop(tx);
    uplink.stop(Duration::from_secs(10)).unwrap();

    println!();
    println!(
        "fabric benchmark: edge (this process) → zenoh TCP loopback → control-room process{}",
        if full { "" } else { " (smoke run)" }
    );
    println!(
        "  (a) raw zenoh pub/sub          {:>10.0} msgs/s   ({} puts of {} bytes, Block)",
        raw,
        sizes.raw,
        sample.len()
    );
    println!(
        "  (b) outbox→zenoh→fusion→store  {:>10.0} alerts/s ({} alerts)   target ≥ 20000: {:.2}×",
        b,
        sizes.throughput,
        b / 20_000.0
    );
    println!("      ratio to raw zenoh         {:>10.3}", b / raw);
    println!(
        "  (c) at 1000 alerts/s, {} s     p50 {:>7.2} ms  p99 {:>7.2} ms       target p99 ≤ 20 ms: {:.2}× the limit",
        sizes.latency_secs,
        c.0,
        c.1,
        c.1 / 20.0
    );
    println!(
        "  (d) backlog {} alerts         filled in {:.1} s, drained in {:.1} s = {:.0} alerts/s (ratio to raw {:.3})",
        sizes.backlog,
        fill_secs,
        drain_secs,
        sizes.backlog as f64 / drain_secs,
        sizes.backlog as f64 / drain_secs / raw
    );
    println!(
        "      {} live critical alerts  p50 {:>7.2} ms  p99 {:>7.2} ms       target p99 ≤ 1000 ms: {:.2}× the limit",
        live_sent,
        d.0,
        d.1,
        d.1 / 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alert number `i` of `site`: a camera alert at its own place (spread over ~100 km), so
/// each opens an incident of its own and fusion does its full work per alert.
fn alert(site: &str, i: usize) -> Alert {
    let mut a = Alert::minimal(site, SourceKind::Camera, &format!("cam-{}", i % 500), "zone_intrusion");
    a.confidence = 0.9;
    a.correlation.place =
        Some(GeoPoint { lat: 41.0 + (i % 1000) as f64 * 0.001, lon: 69.0 + (i / 1000 % 1000) as f64 * 0.001 });
    a
}

/// Sleeps until the `i`-th tick of a `rate`/s schedule started at `t0`.
fn pace(t0: Instant, i: usize, rate: f64) {
    let due = t0 + Duration::from_secs_f64(i as f64 / rate);
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// p50 and p99 of `xs`, in the unit given.
fn percentiles(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Times from handing an alert to the outbox until its incident's `created` message
/// arrives from the control room.
struct IncidentWatch {
    sent: Arc<Mutex<HashMap<Uuid, Instant>>>,
    got: crossbeam_channel::Receiver<f64>,
    _sub: zenoh::pubsub::Subscriber<()>,
}

impl IncidentWatch {
    fn start(session: &zenoh::Session, site: &str) -> Self {
        let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Default::default();
        let (tx, got) = crossbeam_channel::unbounded();
        let s = sent.clone();
        let sub = session
            .declare_subscriber(format!("qv/{site}/incident/**"))
            .callback(move |sample| {
                let now = Instant::now();
                let Ok(u) =
                    serde_json::from_slice::<control_room::fusion::IncidentUpdate>(&sample.payload().to_bytes())
                else {
                    return;
                };
                if let Some(m) = u.incident.members.first()
                    && let Some(at) = s.lock().unwrap().remove(&m.alert_id)
                {
                    let _ = tx.send((now - at).as_secs_f64() * 1000.0);
                }
            })
            .wait()
            .unwrap();
        Self { sent, got, _sub: sub }
    }

    fn sent(&self, id: Uuid) {
        self.sent.lock().unwrap().insert(id, Instant::now());
    }

    fn latencies(&self, n: usize, limit: Duration) -> (f64, f64) {
        let deadline = Instant::now() + limit;
        let mut xs = Vec::with_capacity(n);
        while xs.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.got.recv_timeout(left) {
                Ok(ms) => xs.push(ms),
                Err(_) => panic!("only {} of {n} incidents came back", xs.len()),
            }
        }
        percentiles(xs)
    }
}

/// `qorovul control-room` as a child, listening on `endpoint`.
struct ControlRoomProc(Child);

impl ControlRoomProc {
    fn start(dir: &Path, endpoint: &str) -> Self {
        let cfg: PathBuf = dir.join("control-room.toml");
        std::fs::write(
            &cfg,
            format!(
                "site = \"bench\"\nnode = \"cr-bench\"\n[bus]\nmode = \"peer\"\nlisten = [\"{endpoint}\"]\n\
                 [control_room]\ndata_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
                 [[fusion.rules]]\ntype = \"near\"\nname = \"same_place\"\nradius_m = 50\nwindow_secs = 120\n",
                dir.join("control-room").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_qorovul"))
            .args(["control-room", "--config", &cfg.display().to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qorovul control-room");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            if line.unwrap().contains("running; store") {
                break;
            }
        }
        // Keep draining its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self(child)
    }
}

impl Drop for ControlRoomProc {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

/// (a): this binary again as a subscriber process; messages/s from its first message to
/// its `n`-th.
fn raw_zenoh(rt: &tokio::runtime::Runtime, n: usize, size: usize) -> f64 {
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--raw-subscriber", &endpoint, &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(out.next().unwrap().unwrap(), "ready");
    let bus = BusConfig { mode: "peer".into(), connect: vec![endpoint], ..Default::default() };
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    assert!(pipeline::bus::wait_for_subscriber(&session, "bench/raw", Duration::from_secs(30)).unwrap());
    let publisher = session.declare_publisher("bench/raw").congestion_control(CongestionControl::Block).wait().unwrap();
    let payload = vec![b'x'; size];
    for _ in 0..n {
        publisher.put(payload.clone()).wait().unwrap();
    }
    let line = out.next().unwrap().unwrap();
    let _ = child.wait();
    let secs: f64 = line.strip_prefix("secs ").unwrap().parse().unwrap();
    drop(publisher);
    rt.block_on(async { session.close().await }).unwrap();
    n as f64 / secs
}

fn raw_subscriber(endpoint: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let bus = BusConfig { mode: "peer".into(), listen: vec![endpoint.into()], ..Default::default() };
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    let sub = session.declare_subscriber("bench/raw").wait().unwrap();
    println!("ready");
    let first = sub.recv().unwrap();
    drop(first);
    let t0 = Instant::now();
    for _ in 1..n {
        sub.recv().unwrap();
    }
    // n - 1 intervals after the first message.
    println!("secs {}", t0.elapsed().as_secs_f64() * n as f64 / (n - 1) as f64);
}
