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
//! Then (a), (b) and (c) again over the production transport, in the same run: a `qorovul
//! router` child with mutual TLS and `[bus.access]` rules, the control room and this process
//! (and (a)'s subscriber) its clients, each with its own certificate, so every message
//! crosses the router and is checked against the rules (`on`); the figures above are `off`
//! (the embedded default: peers over plain TCP on loopback); each is printed with on/off.
//! Alerts on the bus carry no signature of their own (the router's rules and the control
//! room's key checks are their door), so on/off here is the cost of the transport: TLS,
//! the extra hop through the router, and the access check of every message.
//!
//! `cargo bench --bench fabric` runs the full sizes; without `--bench` (as `cargo test
//! --bench fabric` runs it in CI) it is a smoke run on small ones.

#[path = "support/mod.rs"]
mod common;
#[path = "support/pki.rs"]
mod pki;
use common::{free_port, wait_for};
use edge::outbox::{Outbox, Priority};
use edge::uplink::{Uplink, UplinkConfig};
use pipeline::alert::{Alert, GeoPoint, Severity, SourceKind};
use pipeline::bus::BusConfig;
use pipeline::metrics;
use pki::{Pki, Router, allow};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
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

impl Sizes {
    /// `cargo bench` (full) or the smoke run of `./run test`.
    fn of(full: bool) -> Sizes {
        if full {
            Sizes { raw: 200_000, throughput: 200_000, latency_secs: 10, backlog: 1_000_000 }
        } else {
            Sizes { raw: 5_000, throughput: 5_000, latency_secs: 1, backlog: 5_000 }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--raw-subscriber") {
        // Its bus: listening on a loopback endpoint, or a client of the router (pki dir, port).
        let bus = match args.get(4) {
            None => BusConfig { mode: "peer".into(), listen: vec![args[2].clone()], ..Default::default() },
            Some(pki) => Pki { dir: pki.into() }.client("raw-sub", args[2].parse().unwrap()),
        };
        return raw_subscriber(bus, args[3].parse().unwrap());
    }
    let full = args.iter().any(|a| a == "--bench");
    if args.get(1).map(String::as_str) == Some("--production-transport") {
        return production_transport(std::path::Path::new(&args[2]), full);
    }
    let sizes = Sizes::of(full);
    let dir = std::env::temp_dir().join(format!("qorovul-bench-fabric-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sample = alert(Area::Throughput, 0).to_json();

    // (a) raw zenoh, one process to another.
    let (raw, raw_got) = raw_zenoh(&rt, sizes.raw, sample.len(), None);
    assert_eq!(raw_got, sizes.raw, "(a): every message arrived");

    // The control room, a process of its own.
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let mut room = ControlRoomProc::start(&dir, &format!("[bus]\nmode = \"peer\"\nlisten = [\"{endpoint}\"]\n"));
    let bus = BusConfig { mode: "peer".into(), connect: vec![endpoint.clone()], ..Default::default() };
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    assert!(
        pipeline::bus::wait_for_subscriber(&session, "qv/bench/pii/alert/camera/x/y", Duration::from_secs(30)).unwrap(),
        "the control room subscribes"
    );
    let uplink = Uplink::start(
        session.clone(),
        Outbox::open(&dir.join("outbox.sqlite")).unwrap(),
        UplinkConfig::new("bench", "edge-b"),
    )
    .unwrap();

    let tx = uplink.sender();
    let (b, c) = throughput_and_latency(&mut room, &session, &tx, &sizes, full);
    assert_eq!(c.got, c.n, "(c): every alert's incident came back");

    // (d) a backlog of sizes.backlog drained while live critical alerts arrive.
    drop(tx);
    uplink.stop(Duration::from_secs(10)).unwrap();
    let backlog_path = dir.join("backlog.sqlite");
    let fill = Instant::now();
    {
        let mut ob = Outbox::open(&backlog_path).unwrap();
        let mut i = 0;
        while i < sizes.backlog {
            let batch: Vec<Alert> = (i..(i + 10_000).min(sizes.backlog)).map(|j| alert(Area::Backlog, j)).collect();
            i += batch.len();
            ob.append(&batch).unwrap();
        }
    }
    let fill_secs = fill.elapsed().as_secs_f64();
    let live = IncidentWatch::start(&session);
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
        let mut a = alert(Area::Live, live_sent);
        a.severity = Severity::Critical;
        live.sent(a.id);
        tx.send(a).unwrap();
        live_sent += 1;
    }
    let drain_secs = t0.elapsed().as_secs_f64();
    let d = live.latencies(live_sent, Duration::from_secs(60));
    assert_eq!(d.got, d.n, "(d): every live alert's incident came back");
    drop(tx);
    uplink.stop(Duration::from_secs(10)).unwrap();
    drop(live);
    rt.block_on(async { session.close().await }).unwrap();
    drop(room);

    // The same (a), (b) and (c) over the production transport, in a child process: zenoh's TLS
    // link can crash its process under load (eclipse-zenoh/zenoh#2557, open upstream), and the
    // figures above are not lost with it; a crash is printed, never hidden.
    let on = production_transport_child(&dir, full);

    println!();
    println!(
        "fabric benchmark: edge (this process) → zenoh TCP loopback → control-room process{}",
        if full { "" } else { " (smoke run)" }
    );
    println!(
        "  (a) limit: zenoh alone         {:>10.0} msgs/s   ({} puts of {} bytes in a loop, congestion Block, to one subscriber in \
         another process; zenoh's default config, loopback endpoints, scouting off)",
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
    println!("      ratio to the limit (a)     {:>10.3}", b / raw);
    println!(
        "  (c) at 1000 alerts/s, {} s     p50 {:>7.2} ms  p99 {:>7.2} ms       target p99 ≤ 20 ms: {:.2}× the target",
        sizes.latency_secs,
        c.p50,
        c.p99,
        c.p99 / 20.0
    );
    println!(
        "  (d) backlog {} alerts         filled in {:.1} s, drained in {:.1} s = {:.0} alerts/s (ratio to the limit (a) {:.3})",
        sizes.backlog,
        fill_secs,
        drain_secs,
        sizes.backlog as f64 / drain_secs,
        sizes.backlog as f64 / drain_secs / raw
    );
    println!(
        "      {} live critical alerts  p50 {:>7.2} ms  p99 {:>7.2} ms       target p99 ≤ 1000 ms: {:.2}× the target",
        live_sent,
        d.p50,
        d.p99,
        d.p99 / 1000.0
    );
    println!("  over the production transport (TLS + access rules, through a router process), in the same run:");
    let on = match on {
        Ok(on) => on,
        Err(e) => {
            println!("      not measured: {e} (zenoh's TLS link, eclipse-zenoh/zenoh#2557; its stderr is above)");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    };
    let (raw_on, raw_on_got, b_on, c_on) = (on.raw, on.raw_got, on.b, on.c);
    println!(
        "  (a) limit, zenoh alone on {:>10.0} msgs/s   off {:>10.0} msgs/s   on/off {:.3}",
        raw_on,
        raw,
        raw_on / raw
    );
    println!(
        "  (b) outbox→…→store     on {:>10.0} alerts/s off {:>10.0} alerts/s on/off {:.3}   (on: target ≥ 20000: {:.2}×)",
        b_on,
        b,
        b_on / b,
        b_on / 20_000.0
    );
    println!(
        "  (c) p50 on {:>7.2} ms off {:>7.2} ms on/off {:.2};  p99 on {:>7.2} ms off {:>7.2} ms on/off {:.2}   (on: target p99 ≤ 20 ms: {:.2}× the target)",
        c_on.p50,
        c.p50,
        c_on.p50 / c.p50,
        c_on.p99,
        c.p99,
        c_on.p99 / c.p99,
        c_on.p99 / 20.0
    );
    // Not asserted (the figures are what this run measured), but never hidden.
    if raw_on_got < sizes.raw {
        println!(
            "      on: only {} of {} raw messages reached the subscriber through the router ({} missing 5 s after the last)",
            raw_on_got,
            sizes.raw,
            sizes.raw - raw_on_got
        );
    }
    if c_on.got < c_on.n {
        println!(
            "      on: only {} of {} incidents came back to the edge through the router ({} missing {} s after the last)",
            c_on.got,
            c_on.n,
            c_on.n - c_on.got,
            if full { 60 } else { 10 }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// (a), (b) and (c) over the production transport (TLS + access rules, through a router
/// process): what the child process `--production-transport DIR` measures.
struct OnFigures {
    raw: f64,
    raw_got: usize,
    b: f64,
    c: Latencies,
}

/// Runs this benchmark again as `--production-transport DIR` and reads its one line of
/// figures; `Err` says how the child ended when it gave none.
fn production_transport_child(dir: &std::path::Path, full: bool) -> Result<OnFigures, String> {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.arg("--production-transport").arg(dir);
    if full {
        cmd.arg("--bench");
    }
    let out = cmd.stderr(std::process::Stdio::inherit()).output().map_err(|e| format!("not started: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("on ")).ok_or_else(|| format!("the child {}", out.status))?;
    let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    Ok(OnFigures {
        raw: v[0],
        raw_got: v[1] as usize,
        b: v[2],
        c: Latencies { p50: v[3], p99: v[4], got: v[5] as usize, n: v[6] as usize },
    })
}

/// The child: measures over the production transport and prints `on RAW RAW_GOT B P50 P99 GOT N`.
fn production_transport(dir: &std::path::Path, full: bool) {
    let sizes = Sizes::of(full);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sample = alert(Area::Throughput, 0).to_json();
    let on_dir = dir.join("tls");
    let pki = Pki::new(&on_dir.join("pki"), &["control-room", "edge-b", "raw-sub"]);
    let router_port = free_port();
    let _router = Router::start(&pki, router_port, &router_rules());
    let (raw_on, raw_on_got) = raw_zenoh(&rt, sizes.raw, sample.len(), Some((&pki, router_port)));
    let room_bus = pki.client("control-room", router_port);
    let tls = room_bus.tls.as_ref().unwrap();
    let mut room = ControlRoomProc::start(
        &on_dir,
        &format!(
            "[bus]\nmode = \"client\"\nconnect = {:?}\n[bus.tls]\nroot_ca = {:?}\ncertificate = {:?}\nprivate_key = {:?}\n",
            room_bus.connect,
            tls.root_ca,
            tls.certificate.as_ref().unwrap(),
            tls.private_key.as_ref().unwrap()
        ),
    );
    let session = rt.block_on(pipeline::bus::open(&pki.client("edge-b", router_port))).unwrap();
    assert!(
        pipeline::bus::wait_for_subscriber(&session, "qv/bench/pii/alert/camera/x/y", Duration::from_secs(30)).unwrap(),
        "the control room subscribes, through the router"
    );
    let uplink = Uplink::start(
        session.clone(),
        Outbox::open(&on_dir.join("outbox.sqlite")).unwrap(),
        UplinkConfig::new("bench", "edge-b"),
    )
    .unwrap();
    let tx = uplink.sender();
    let (b_on, c_on) = throughput_and_latency(&mut room, &session, &tx, &sizes, full);
    drop(tx);
    uplink.stop(Duration::from_secs(10)).unwrap();
    rt.block_on(async { session.close().await }).unwrap();
    drop(room);
    println!("on {raw_on} {raw_on_got} {b_on} {} {} {} {}", c_on.p50, c_on.p99, c_on.got, c_on.n);
}

/// (b) and (c) on `session`, whose uplink takes alerts on `tx`: alerts/s until every one
/// is acknowledged, and p50 / p99 (ms) at 1,000 alerts/s.
fn throughput_and_latency(
    room: &mut ControlRoomProc,
    session: &zenoh::Session,
    tx: &crossbeam_channel::Sender<Alert>,
    sizes: &Sizes,
    full: bool,
) -> (f64, Latencies) {
    // Declared before (b), so that by (c) the subscription has reached the control room
    // (through the router, on the `on` side); it ignores (b)'s incidents.
    let watch = IncidentWatch::start(session);

    // (b) throughput.
    let alerts: Vec<Alert> = (0..sizes.throughput).map(|i| alert(Area::Throughput, i)).collect();
    let acked = metrics::global().metric("qv_uplink_acked_total", &[]);
    let start_acked = acked.get();
    let t0 = Instant::now();
    for a in alerts {
        tx.send(a).unwrap();
    }
    wait_for(
        || acked.get() - start_acked >= sizes.throughput as u64 || room.exited(),
        Duration::from_secs(if full { 600 } else { 120 }),
        "(b) acknowledgements",
    );
    assert!(!room.exited(), "(b): the control room exited; its log is control-room.log in {}", room.1.display());
    let b = sizes.throughput as f64 / t0.elapsed().as_secs_f64();

    // (c) latency at 1,000 alerts/s.
    let n = sizes.latency_secs as usize * 1000;
    let t0 = Instant::now();
    for i in 0..n {
        pace(t0, i, 1000.0);
        let a = alert(Area::Latency, i);
        watch.sent(a.id);
        tx.send(a).unwrap();
    }
    (b, watch.latencies(n, Duration::from_secs(if full { 60 } else { 10 })))
}

/// The router's rules for the `on` side: exactly what each certificate needs, as in
/// configs/router.toml (everything else is denied).
fn router_rules() -> String {
    let edge_puts = ["qv/bench/alert/**", "qv/bench/pii/alert/**", "qv/bench/health/edge-b", "bench/raw"];
    // It subscribes to its acknowledgements under every site (and refuses other sites').
    let edge_gets = ["qv/*/ack/edge-b", "qv/bench/incident/**"];
    let room = pki::EVERY_MESSAGE;
    [
        allow("control-room", &room, "ingress", &["qv/**"]),
        allow("control-room", &room, "egress", &["qv/**"]),
        allow("edge-b", &["put"], "ingress", &edge_puts),
        allow("edge-b", &["declare_subscriber"], "ingress", &edge_gets),
        allow("edge-b", &["put"], "egress", &edge_gets),
        // Who subscribes, so its publishers see matching subscribers (key expressions, no data).
        allow("edge-b", &["declare_subscriber"], "egress", &["qv/**", "bench/raw"]),
        allow("raw-sub", &["declare_subscriber"], "ingress", &["bench/raw"]),
        allow("raw-sub", &["put"], "egress", &["bench/raw"]),
    ]
    .concat()
}

/// Where each part's alerts are, a degree of latitude apart, so no alert fuses with
/// another part's. One site for all: an uplink takes acknowledgements only on its own site.
#[derive(Clone, Copy)]
enum Area {
    Throughput,
    Latency,
    Backlog,
    Live,
}

/// Alert number `i` of `area`: a camera alert at its own place (spread over ~100 km), so
/// each opens an incident of its own and fusion does its full work per alert.
fn alert(area: Area, i: usize) -> Alert {
    let mut a = Alert::minimal("bench", SourceKind::Camera, &format!("cam-{}", i % 500), "zone_intrusion");
    a.confidence = 0.9;
    let lat = 41.0 + area as usize as f64 + (i % 1000) as f64 * 0.001;
    a.correlation.place = Some(GeoPoint { lat, lon: 69.0 + (i / 1000 % 1000) as f64 * 0.001 });
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
    fn start(session: &zenoh::Session) -> Self {
        let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Default::default();
        let (tx, got) = crossbeam_channel::unbounded();
        let s = sent.clone();
        let sub = session
            .declare_subscriber("qv/bench/incident/**")
            .callback(move |sample| {
                let now = Instant::now();
                let Ok(u) =
                    serde_json::from_slice::<control_room::fusion::IncidentUpdate>(&sample.payload().to_bytes())
                else {
                    return;
                };
                let mut sent = s.lock().unwrap();
                for m in &u.incident.members {
                    if let Some(at) = sent.remove(&m.alert_id) {
                        let _ = tx.send((now - at).as_secs_f64() * 1000.0);
                    }
                }
            })
            .wait()
            .unwrap();
        Self { sent, got, _sub: sub }
    }

    fn sent(&self, id: Uuid) {
        self.sent.lock().unwrap().insert(id, Instant::now());
    }

    /// p50, p99 (ms) and how many of the `n` incidents came back, waiting until all have
    /// or none for `quiet`.
    fn latencies(&self, n: usize, quiet: Duration) -> Latencies {
        let mut xs = Vec::with_capacity(n);
        while xs.len() < n {
            match self.got.recv_timeout(quiet) {
                Ok(ms) => xs.push(ms),
                Err(_) => break,
            }
        }
        let got = xs.len();
        let (p50, p99) = if xs.is_empty() { (f64::NAN, f64::NAN) } else { percentiles(xs) };
        Latencies { p50, p99, got, n }
    }
}

struct Latencies {
    p50: f64,
    p99: f64,
    got: usize,
    n: usize,
}

/// `qorovul control-room` as a child, with `bus` (its `[bus]` tables) and its store and log
/// in `dir`.
struct ControlRoomProc(Child, PathBuf);

impl ControlRoomProc {
    fn start(dir: &Path, bus: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let cfg: PathBuf = dir.join("control-room.toml");
        std::fs::write(
            &cfg,
            format!(
                "site = \"bench\"\nnode = \"cr-bench\"\n{bus}\
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
        // Keep draining its stderr (so it never blocks on a full pipe) into control-room.log.
        let mut log = std::fs::File::create(dir.join("control-room.log")).unwrap();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
            }
        });
        Self(child, dir.to_path_buf())
    }

    fn exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }
}

impl Drop for ControlRoomProc {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

/// (a): this binary again as a subscriber process; messages/s from its first message to
/// its `n`-th (or its last, when some never came), and how many came. Peers over plain TCP on loopback, or both clients of the router at `tls`.
fn raw_zenoh(rt: &tokio::runtime::Runtime, n: usize, size: usize, tls: Option<(&Pki, u16)>) -> (f64, usize) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    let bus = match tls {
        None => {
            let endpoint = format!("tcp/127.0.0.1:{}", free_port());
            cmd.args(["--raw-subscriber", &endpoint, &n.to_string()]);
            BusConfig { mode: "peer".into(), connect: vec![endpoint], ..Default::default() }
        }
        Some((pki, port)) => {
            cmd.args(["--raw-subscriber", &port.to_string(), &n.to_string(), &pki.dir.display().to_string()]);
            pki.client("edge-b", port)
        }
    };
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(out.next().unwrap().unwrap(), "ready");
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    assert!(pipeline::bus::wait_for_subscriber(&session, "bench/raw", Duration::from_secs(30)).unwrap());
    let publisher = session.declare_publisher("bench/raw").congestion_control(CongestionControl::Block).wait().unwrap();
    let payload = vec![b'x'; size];
    for _ in 0..n {
        publisher.put(payload.clone()).wait().unwrap();
    }
    let line = out.next().unwrap().unwrap();
    let _ = child.wait();
    let (secs, got) = line.strip_prefix("secs ").and_then(|l| l.split_once(" got ")).unwrap();
    let got: usize = got.parse().unwrap();
    drop(publisher);
    rt.block_on(async { session.close().await }).unwrap();
    (got as f64 / secs.parse::<f64>().unwrap(), got)
}

fn raw_subscriber(bus: BusConfig, n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    let sub = session.declare_subscriber("bench/raw").wait().unwrap();
    println!("ready");
    let first = sub.recv().unwrap();
    drop(first);
    let t0 = Instant::now();
    let (mut got, mut last) = (1, t0);
    // Until the n-th, or 5 s of nothing (a message lost on the way would otherwise hang it).
    while got < n && sub.recv_timeout(Duration::from_secs(5)).ok().flatten().is_some() {
        (got, last) = (got + 1, Instant::now());
    }
    // got - 1 intervals after the first message.
    println!("secs {} got {got}", (last - t0).as_secs_f64() * got as f64 / (got - 1).max(1) as f64);
}
