//! Dashboard live-feed benchmark, in one process: an edge zenoh session publishes alerts
//! (`pipeline::bus::publish_alert`) over TCP loopback to the control room's session, which
//! stores and fuses them (`ControlRoom`); its live feed pushes them through the axum
//! WebSocket (`Dashboard`) to signed-in clients, with a queue of 10,000 open alarms:
//!   floor: bare zenoh pub→sub latency between the same two sessions, alert-sized payloads
//!          at the same rate — the limit the dashboard's latency is compared with;
//!   (a) alert → client latency with 200 real WebSocket clients (tokio-tungstenite over TCP,
//!       each signed in with POST /api/v1/login) at 100 alerts/s for 30 s: p50/p99/max of the
//!       `alert` and of the `incident` message, and every client must receive every alert
//!       (target p99 ≤ 200 ms);
//!   (a) on: (a) again in the same run, with the alerts coming over the production transport:
//!       a second edge session, a client of a `qorovul router` with mutual TLS and access
//!       rules, to the same control room (whose session, still a peer listening on
//!       loopback, also connects to the router with its own certificate), next to the
//!       floor over that router; printed with the plain-loopback figures (`off`) and
//!       on/off. Alerts on the bus carry no signature of their own (the router's rules
//!       are their door), so on/off is the cost of the transport: TLS, the hop through the
//!       router and the access check of every message.
//!       Authentication on the dashboard itself (login with argon2, the session cookie on
//!       every request and on the WebSocket upgrade) is always on, in both.
//!   (b) alert → row in the DOM of one real browser (Chromium headless, driven by
//!       tests/browser/bench.mjs) with the whole queue loaded, and whether the queue stays
//!       responsive meanwhile: long tasks, frame gaps, time to open an incident.
//! Every streamed alert comes from a new source, so each adds an open alarm: the queue grows
//! from 10,000 by the alerts of (a), of (a) on, then of (b) (the figures say by how many).
//!
//! `cargo bench --bench dashboard` runs the full sizes; without `--bench` (as `cargo test
//! --bench dashboard` runs it in CI) it is a smoke run on small ones, which still checks
//! that every client received every alert and the browser showed every row.

#[path = "support/mod.rs"]
mod common;
#[path = "support/pki.rs"]
mod pki;
use common::{free_port, wait_for};
use control_room::auth::Role;
use control_room::fusion::FusionConfig;
use control_room::store::dashboard::{DashboardStore, IncidentQuery, Sites};
use control_room::web::{Dashboard, WebConfig, seed_users};
use control_room::{ControlRoom, ControlRoomConfig};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use futures_util::StreamExt;
use pipeline::alert::{Alert, Severity, SourceKind};
use pipeline::bus::{self, BusConfig};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[path = "../tests/browser/env.rs"]
mod browser;
use browser::browser_env;
const SITE: &str = "bench";
const NODE: &str = "cr-bench";
const TARGET_P99_MS: f64 = 200.0;

struct Sizes {
    /// Open alarms in the queue before the measurements.
    queue: usize,
    clients: usize,
    /// Alerts/s and seconds of (a) and of the floor.
    rate: f64,
    secs: f64,
    /// Alerts/s and seconds of (b).
    browser_rate: f64,
    browser_secs: f64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes { queue: 10_000, clients: 200, rate: 100.0, secs: 30.0, browser_rate: 100.0, browser_secs: 10.0 }
    } else {
        Sizes { queue: 500, clients: 20, rate: 20.0, secs: 2.0, browser_rate: 5.0, browser_secs: 2.0 }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = std::env::temp_dir().join(format!("qorovul-bench-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The server (web, WebSocket fan-out) and the clients on runtimes of their own, as if the
    // clients were other machines; they do share this machine's cores, which real ones would not.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-clients")
        .enable_all()
        .build()
        .unwrap();

    // The control room and its dashboard on one session; the edge on another, over TCP. The
    // control room's session is also a client of the router, where the `on` edge connects.
    let pki = pki::Pki::new(&dir.join("pki"), &["control-room", "edge-bench"]);
    let router_port = free_port();
    let _router = pki::Router::start(&pki, router_port, &router_rules());
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let room_bus = BusConfig {
        listen: vec![endpoint.clone()],
        connect: vec![format!("tls/127.0.0.1:{router_port}")],
        tls: Some(pki.tls("control-room")),
        ..Default::default()
    };
    let session = rt.block_on(bus::open(&room_bus)).unwrap();
    let room_cfg = ControlRoomConfig { data_dir: dir.join("control-room"), ..Default::default() };
    let room = ControlRoom::start(session.clone(), SITE, NODE, &room_cfg, FusionConfig::default()).unwrap();
    let web_cfg = WebConfig { listen: "127.0.0.1:0".into(), ..Default::default() };
    let web = rt
        .block_on(Dashboard::start(session.clone(), &room, SITE, NODE, &web_cfg, &room_cfg.response_targets_secs))
        .unwrap();
    let addr = web.server.addr;
    let users = seed_users(web.store.as_ref(), &[SITE.to_string()]).unwrap();
    let edge = rt.block_on(bus::open(&BusConfig { connect: vec![endpoint], ..Default::default() })).unwrap();
    assert!(
        bus::wait_for_subscriber(
            &edge,
            &format!("qv/{SITE}/pii/alert/camera/x/zone_intrusion"),
            Duration::from_secs(30)
        )
        .unwrap(),
        "the control room subscribes"
    );

    // The queue: one open alarm per source.
    let t0 = Instant::now();
    rt.block_on(async {
        for i in 0..sizes.queue {
            bus::publish_alert(&edge, &camera_alert(&format!("cam-q{i}"))).await.unwrap();
        }
    });
    wait_for(
        || {
            room.stats.stored.load(Ordering::Relaxed) >= sizes.queue as u64
                && room.stats.incident_updates.load(Ordering::Relaxed) >= sizes.queue as u64
        },
        Duration::from_secs(600),
        "seeding the queue",
    );
    let seed_secs = t0.elapsed().as_secs_f64();
    let queue_start = open_incidents(web.store.as_ref());
    assert!(queue_start >= sizes.queue, "{queue_start} open alarms after seeding {}", sizes.queue);

    // Floor: bare zenoh, same sessions, same payloads, same rate.
    let floor = bare_zenoh(&rt, &edge, &session, sizes.rate, sizes.secs);

    // (a) WebSocket clients.
    let t0 = Instant::now();
    let logins: Vec<(String, String)> =
        (0..sizes.clients).map(|i| users[i % users.len()].clone()).map(|(u, _, p)| (u, p)).collect();
    let sockets = clients_rt.block_on(connect_clients(addr, logins.clone()));
    let login_secs = t0.elapsed().as_secs_f64();
    let a = stream_to_clients(&rt, &clients_rt, &edge, sockets, sizes.rate, sizes.secs);

    // (a) on: the same over the router, with the same clients signed in again.
    let edge_on = rt.block_on(bus::open(&pki.client("edge-bench", router_port))).unwrap();
    assert!(
        bus::wait_for_subscriber(
            &edge_on,
            &format!("qv/{SITE}/pii/alert/camera/x/zone_intrusion"),
            Duration::from_secs(30)
        )
        .unwrap(),
        "the control room subscribes, through the router"
    );
    let floor_on = bare_zenoh(&rt, &edge_on, &session, sizes.rate, sizes.secs);
    let sockets = clients_rt.block_on(connect_clients(addr, logins));
    let a_on = stream_to_clients(&rt, &clients_rt, &edge_on, sockets, sizes.rate, sizes.secs);
    let queue_after_a = open_incidents(web.store.as_ref());

    // (b) one browser.
    let operator = users.iter().find(|(_, r, _)| *r == Role::Operator).map(|(u, _, p)| (u.clone(), p.clone())).unwrap();
    let b = browser(&rt, &edge, addr, &operator, queue_after_a, sizes.browser_rate, sizes.browser_secs);
    let queue_end = open_incidents(web.store.as_ref());

    // ---- the report ----------------------------------------------------------------------
    let (fp50, fp99, fmax) = percentiles(&floor);
    let (ap50, ap99, amax) = percentiles(&a.alert_ms);
    let (ip50, ip99, imax) = percentiles(&a.incident_ms);
    let n_a = (sizes.rate * sizes.secs) as usize;
    let expected = sizes.clients * a.published;
    let worst_p99 = ap99.max(ip99);
    println!();
    println!(
        "dashboard benchmark: edge session → zenoh TCP loopback → control room (store, fusion) → live feed → \
         axum WebSocket{}",
        if full { "" } else { " (smoke run)" }
    );
    println!(
        "  queue: {} open alarms seeded in {:.1} s; {} after (a) and (a) on, {} after (b)",
        queue_start, seed_secs, queue_after_a, queue_end
    );
    println!(
        "  floor (the limit): zenoh alone, pub→sub between the same two sessions (default config, loopback endpoints), \
         alert-sized puts at {:.0}/s for {:.0} s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} messages)",
        sizes.rate,
        sizes.secs,
        fp50,
        fp99,
        fmax,
        floor.len()
    );
    println!(
        "  (a) {} WebSocket clients (signed in in {:.1} s), {:.0} alerts/s for {:.0} s ({} of {} alerts published)",
        sizes.clients, login_secs, sizes.rate, sizes.secs, a.published, n_a
    );
    println!(
        "      `alert` message    p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   received {} of {}",
        ap50,
        ap99,
        amax,
        a.alert_ms.len(),
        expected
    );
    println!(
        "      `incident` message p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   received {} of {}",
        ip50,
        ip99,
        imax,
        a.incident_ms.len(),
        expected
    );
    let (gp50, gp99, gmax) = percentiles(&a.ingest_ms);
    println!(
        "      of which ingest    p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   (publish → incident put on zenoh \
         by the control room, after store, fusion and the live feed; {} of {})",
        gp50,
        gp99,
        gmax,
        a.ingest_ms.len(),
        a.published
    );
    println!(
        "      p99 / target {TARGET_P99_MS:.0} ms: {:.3}×   p99 / zenoh floor p99: {:.1}×   resyncs {}, \
         clients missing something {}, connections closed early {}",
        worst_p99 / TARGET_P99_MS,
        worst_p99 / fp99.max(f64::MIN_POSITIVE),
        a.resyncs,
        a.clients_missing,
        a.closed_early
    );
    let (op50, op99, omax) = percentiles(&floor_on);
    let (aop50, aop99, aomax) = percentiles(&a_on.alert_ms);
    let (iop50, iop99, iomax) = percentiles(&a_on.incident_ms);
    println!(
        "  (a) on: the edge over the production transport (mutual TLS + access rules, through a router process), \
         same clients, same rate; off = the figures above (plain TCP loopback)"
    );
    let row = |what: &str, on: (f64, f64, f64), off: (f64, f64, f64)| {
        println!(
            "      {what:<18} on p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   off p50 {:>7.2} ms  p99 {:>7.2} ms   \
             on/off p50 {:.2}×  p99 {:.2}×",
            on.0,
            on.1,
            on.2,
            off.0,
            off.1,
            on.0 / off.0,
            on.1 / off.1
        )
    };
    row("floor (bare zenoh)", (op50, op99, omax), (fp50, fp99, fmax));
    row("`alert` message", (aop50, aop99, aomax), (ap50, ap99, amax));
    row("`incident` message", (iop50, iop99, iomax), (ip50, ip99, imax));
    println!(
        "      on: received {} and {} of {}; resyncs {}, clients missing something {}, connections closed early {}",
        a_on.alert_ms.len(),
        a_on.incident_ms.len(),
        sizes.clients * a_on.published,
        a_on.resyncs,
        a_on.clients_missing,
        a_on.closed_early
    );
    let (dp50, dp99, dmax) = percentiles(&b.dom_ms);
    let (pp50, pp99, _) = percentiles(&b.frame_ms);
    let (op50, _, omax) = percentiles(&b.opens_ms);
    println!(
        "  (b) Chromium {} headless: queue of {} rows loaded in {:.2} s after signing in; {:.0} alerts/s for {:.0} s",
        b.version,
        b.rows,
        b.load_ms / 1000.0,
        sizes.browser_rate,
        sizes.browser_secs
    );
    println!(
        "      alert → row in DOM   p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms   rows {} of {}",
        dp50,
        dp99,
        dmax,
        b.dom_ms.len(),
        b.sent
    );
    println!("      alert → next frame   p50 {:>7.2} ms  p99 {:>7.2} ms   (the row painted by then)", pp50, pp99);
    let (wp50, wp99, wmax) = percentiles(&b.ws_ms);
    let (gp50, gp99, gmax) = percentiles(&b.page_ms);
    println!(
        "      of which publish → `incident` message event in the page  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        wp50, wp99, wmax
    );
    println!(
        "      and that message → row in DOM (the page's own)   p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        gp50, gp99, gmax
    );
    println!(
        "      p99 / target {TARGET_P99_MS:.0} ms: {:.3}×   p99 / zenoh floor p99: {:.1}×",
        dp99 / TARGET_P99_MS,
        dp99 / fp99.max(f64::MIN_POSITIVE)
    );
    let (bp50, _, bmax) = percentiles(&b.backs_ms);
    println!(
        "      the queue while streaming: longest long task {:.0} ms ({} long tasks, {:.0} ms in all), \
         worst frame gap {:.0} ms (p99 {:.1} ms over {} frames)",
        b.longest_task_ms, b.long_tasks, b.long_task_total_ms, b.worst_gap_ms, b.gap_p99_ms, b.frames,
    );
    println!(
        "      open an incident (click → its view in the DOM) p50 {:.0} ms, max {:.0} ms; back to the queue p50 {:.0} ms, \
         max {:.0} ms ({} of each)",
        op50,
        omax,
        bp50,
        bmax,
        b.opens_ms.len()
    );

    if let Some((ms, script, layout, render, top)) = b.long_frames.iter().max_by(|x, y| x.0.total_cmp(&y.0)) {
        println!(
            "      {} long animation frames (> 50 ms), {:.0} ms in all; the longest {:.0} ms: script {:.0} ms, \
             style and layout {:.0} ms, render {:.0} ms; its longest script: {}",
            b.long_frames.len(),
            b.long_frames.iter().fold(0.0, |s, f| s + f.0),
            ms,
            script,
            layout,
            render,
            if top.is_empty() { "none" } else { top }
        );
    } else {
        println!("      no long animation frames (> 50 ms)");
    }

    // Correctness, not timing: every client received every alert, the browser every row.
    assert_eq!(a.published, n_a, "every alert of (a) was published");
    assert_eq!(a.alert_ms.len(), expected, "every client received every `alert` message");
    assert_eq!(a.incident_ms.len(), expected, "every client received every `incident` message");
    assert_eq!(a.resyncs, 0, "no client was told to resynchronise");
    assert_eq!(a_on.published, n_a, "every alert of (a) on was published");
    assert_eq!(a_on.alert_ms.len(), expected, "(a) on: every client received every `alert` message");
    assert_eq!(a_on.incident_ms.len(), expected, "(a) on: every client received every `incident` message");
    assert_eq!(a_on.resyncs, 0, "(a) on: no client was told to resynchronise");
    assert_eq!(b.dom_ms.len(), b.sent, "every alert's row appeared in the browser");
    assert!(!b.opens_ms.is_empty(), "an incident was opened while the stream ran");

    rt.block_on(web.stop());
    room.stop().unwrap();
    rt.block_on(async {
        let _ = edge_on.close().await;
        let _ = edge.close().await;
        let _ = session.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The router's rules: exactly what each certificate needs, as in configs/router.toml
/// (everything else is denied). The edge puts its alerts and the floor's messages, and is
/// delivered the incidents it watches for ingest's share.
fn router_rules() -> String {
    let room = pki::EVERY_MESSAGE;
    let (alerts, pii_alerts, incidents, floor) =
        ("qv/bench/alert/**", "qv/bench/pii/alert/**", "qv/bench/incident/**", "qvbench/floor/**");
    [
        pki::allow("control-room", &room, "ingress", &["qv/**", floor]),
        pki::allow("control-room", &room, "egress", &["qv/**", floor]),
        pki::allow("edge-bench", &["put"], "ingress", &[alerts, pii_alerts, floor]),
        pki::allow("edge-bench", &["declare_subscriber"], "ingress", &[incidents]),
        pki::allow("edge-bench", &["put"], "egress", &[incidents]),
        // Who subscribes, so its publishers see matching subscribers (key expressions, no data).
        pki::allow("edge-bench", &["declare_subscriber"], "egress", &["qv/**", floor]),
    ]
    .concat()
}

/// A camera alert from source `source`: each source is an open alarm of its own.
fn camera_alert(source: &str) -> Alert {
    let mut a = Alert::minimal(SITE, SourceKind::Camera, source, "zone_intrusion");
    a.confidence = 0.9;
    a
}

fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// p50, p99 and max of `xs` (NaN for none).
fn percentiles(xs: &[f64]) -> (f64, f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), xs[xs.len() - 1])
}

/// Open alarms (not resolved) of every site, as the queue lists them.
fn open_incidents(store: &dyn DashboardStore) -> usize {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let q = IncidentQuery { open_only: true, limit: 10_000, cursor, ..Default::default() };
        let page = store.incidents(&q, &Sites::All).unwrap();
        n += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return n,
        }
    }
}

/// A fixed-rate schedule: the `i`-th tick at `i / rate` s (ticks missed are caught up).
fn schedule(rate: f64) -> tokio::time::Interval {
    tokio::time::interval(Duration::from_secs_f64(1.0 / rate))
}

// ---- floor ---------------------------------------------------------------------------------

/// Latencies (ms) of `rate × secs` alert-sized puts from `edge` to a subscriber on `room`,
/// published as `publish_alert` does (serialised at send time, Block, JSON).
fn bare_zenoh(
    rt: &tokio::runtime::Runtime,
    edge: &zenoh::Session,
    room: &zenoh::Session,
    rate: f64,
    secs: f64,
) -> Vec<f64> {
    let n = (rate * secs) as usize;
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, Instant)>();
    let sub = room
        .declare_subscriber("qvbench/floor/**")
        .callback(move |s| {
            let now = Instant::now();
            if let Some(a) = s.attachment()
                && let Ok(i) = <[u8; 8]>::try_from(a.to_bytes().as_ref())
            {
                let _ = tx.send((u64::from_le_bytes(i) as usize, now));
            }
        })
        .wait()
        .unwrap();
    let key = "qvbench/floor/camera";
    assert!(bus::wait_for_subscriber(edge, key, Duration::from_secs(30)).unwrap());
    let mut sent = vec![None; n];
    rt.block_on(async {
        let mut tick = schedule(rate);
        for (i, at) in sent.iter_mut().enumerate() {
            tick.tick().await;
            *at = Some(Instant::now());
            let json = camera_alert(&format!("cam-f{i}")).to_json();
            edge.put(key, json)
                .congestion_control(CongestionControl::Block)
                .encoding(zenoh::bytes::Encoding::APPLICATION_JSON)
                .attachment((i as u64).to_le_bytes().to_vec())
                .await
                .unwrap();
        }
    });
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (i, at) = rx.recv_timeout(Duration::from_secs(30)).expect("every floor message arrives");
        out.push((at - sent[i].unwrap()).as_secs_f64() * 1000.0);
    }
    drop(sub);
    out
}

// ---- (a) WebSocket clients -------------------------------------------------------------------

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `POST /api/v1/login` over a plain TCP connection; the `qv_session` cookie's value.
async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let status = resp.lines().next().unwrap_or("");
    assert!(status.split_whitespace().nth(1) == Some("200"), "login as {user}: {status}");
    resp.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().strip_prefix("qv_session=").and_then(|v| v.split(';').next()))
        .unwrap_or_else(|| panic!("login as {user}: no qv_session cookie"))
        .to_string()
}

/// Every client signed in (a few at a time: argon2 takes tens of ms of CPU each) and
/// connected, its `hello` read.
async fn connect_clients(addr: SocketAddr, logins: Vec<(String, String)>) -> Vec<Socket> {
    let cookies: Vec<String> = futures_util::stream::iter(logins)
        .map(|(u, p)| async move { login(addr, &u, &p).await })
        .buffered(4)
        .collect()
        .await;
    let mut sockets = Vec::with_capacity(cookies.len());
    for cookie in cookies {
        let mut req = format!("ws://{addr}/api/v1/ws").into_client_request().unwrap();
        req.headers_mut().insert("cookie", format!("qv_session={cookie}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"hello\"") => {}
            other => panic!("expected hello, got {other:?}"),
        }
        sockets.push(ws);
    }
    sockets
}

/// The alerts of a run: id → (its number, when it was handed to zenoh).
type Published = Arc<RwLock<HashMap<Uuid, (usize, Instant)>>>;

#[derive(Deserialize)]
struct IdOnly {
    id: Uuid,
}

#[derive(Deserialize)]
struct SummaryOnly {
    last_alert: Option<IdOnly>,
}

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    alert: Option<IdOnly>,
    summary: Option<SummaryOnly>,
}

/// What one client saw: per alert, the latency of its `alert` and `incident` messages.
struct ClientLog {
    alert: Vec<Option<f64>>,
    incident: Vec<Option<f64>>,
    resyncs: usize,
    closed_early: bool,
}

async fn client(
    mut ws: Socket,
    published: Published,
    n: usize,
    got: Arc<AtomicUsize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ClientLog {
    let mut log = ClientLog { alert: vec![None; n], incident: vec![None; n], resyncs: 0, closed_early: false };
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => break,
        };
        let now = Instant::now();
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                log.closed_early = true;
                break;
            }
        };
        let Ok(m) = serde_json::from_str::<Msg>(text.as_str()) else { continue };
        let (slot, id) = match (m.kind, m.alert, m.summary) {
            ("alert", Some(a), _) => (&mut log.alert, a.id),
            ("incident", _, Some(SummaryOnly { last_alert: Some(a) })) => (&mut log.incident, a.id),
            ("resync", ..) => {
                log.resyncs += 1;
                continue;
            }
            _ => continue,
        };
        let Some(&(i, at)) = published.read().unwrap().get(&id) else { continue };
        if slot[i].is_none() {
            slot[i] = Some((now - at).as_secs_f64() * 1000.0);
            got.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = ws.close(None).await;
    log
}

struct StreamResult {
    published: usize,
    alert_ms: Vec<f64>,
    incident_ms: Vec<f64>,
    resyncs: usize,
    clients_missing: usize,
    closed_early: usize,
    /// Publish → the incident on zenoh, from the control room: ingest's share.
    ingest_ms: Vec<f64>,
}

/// Publishes `rate × secs` alerts, each from a new source, at a fixed rate while `sockets`
/// listen; waits until every client has both messages of every alert (or 15 s of nothing new).
fn stream_to_clients(
    rt: &tokio::runtime::Runtime,
    clients_rt: &tokio::runtime::Runtime,
    edge: &zenoh::Session,
    sockets: Vec<Socket>,
    rate: f64,
    secs: f64,
) -> StreamResult {
    let n = (rate * secs) as usize;
    let clients = sockets.len();
    let published: Published = Default::default();
    let got = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| clients_rt.spawn(client(ws, published.clone(), n, got.clone(), stop_rx.clone())))
        .collect();
    // Where the time goes: the control room puts each incident on zenoh after storing and
    // fusing its alert and after handing both messages to the live feed, so publish → this
    // is an upper bound of ingest (decode, store with its fsync, fusion, live-feed JSON).
    let ingest_ms: Arc<Mutex<Vec<f64>>> = Default::default();
    let (p, ms) = (published.clone(), ingest_ms.clone());
    let incidents = edge
        .declare_subscriber(format!("qv/{SITE}/incident/**"))
        .callback(move |sample| {
            let now = Instant::now();
            let Ok(u) = serde_json::from_slice::<control_room::fusion::IncidentUpdate>(&sample.payload().to_bytes())
            else {
                return;
            };
            if let Some(m) = u.incident.members.first()
                && let Some(&(_, at)) = p.read().unwrap().get(&m.alert_id)
            {
                ms.lock().unwrap().push((now - at).as_secs_f64() * 1000.0);
            }
        })
        .wait()
        .unwrap();
    let alerts: Vec<Alert> = (0..n).map(|i| camera_alert(&format!("cam-a{i}"))).collect();
    rt.block_on(async {
        let mut tick = schedule(rate);
        for (i, a) in alerts.iter().enumerate() {
            tick.tick().await;
            published.write().unwrap().insert(a.id, (i, Instant::now()));
            bus::publish_alert(edge, a).await.unwrap();
        }
    });
    // Until every client has everything, or nothing new arrives for a while.
    let expected = 2 * clients * n;
    let (mut last, mut since) = (0, Instant::now());
    while got.load(Ordering::Relaxed) < expected {
        let now = got.load(Ordering::Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(15) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop_tx.send(true).unwrap();
    drop(incidents);
    let logs: Vec<ClientLog> = clients_rt.block_on(async {
        let mut logs = Vec::new();
        for t in tasks {
            logs.push(t.await.unwrap());
        }
        logs
    });
    let mut r = StreamResult {
        published: published.read().unwrap().len(),
        alert_ms: Vec::with_capacity(clients * n),
        incident_ms: Vec::with_capacity(clients * n),
        resyncs: 0,
        clients_missing: 0,
        closed_early: 0,
        ingest_ms: std::mem::take(&mut ingest_ms.lock().unwrap()),
    };
    for log in logs {
        r.alert_ms.extend(log.alert.iter().flatten());
        r.incident_ms.extend(log.incident.iter().flatten());
        r.resyncs += log.resyncs;
        r.closed_early += log.closed_early as usize;
        if log.alert.iter().chain(&log.incident).any(Option::is_none) {
            r.clients_missing += 1;
        }
    }
    r
}

// ---- (b) one browser -----------------------------------------------------------------------

struct BrowserResult {
    version: String,
    rows: usize,
    load_ms: f64,
    sent: usize,
    dom_ms: Vec<f64>,
    frame_ms: Vec<f64>,
    /// Click a row → its incident view in the DOM; back to the queue → the queue shown.
    opens_ms: Vec<f64>,
    backs_ms: Vec<f64>,
    long_tasks: usize,
    longest_task_ms: f64,
    long_task_total_ms: f64,
    worst_gap_ms: f64,
    gap_p99_ms: f64,
    frames: usize,
    /// Publish → the `incident` message event in the page; that message → the row in the DOM.
    ws_ms: Vec<f64>,
    page_ms: Vec<f64>,
    /// Long animation frames (> 50 ms): (ms, script ms, style and layout ms, render ms, top script).
    long_frames: Vec<(f64, f64, f64, f64, String)>,
}

/// tests/browser/bench.mjs signs in as the operator, waits for `rows` queue rows and says
/// `READY stream`; alerts (severity high, so each lands among the rows above the seeded
/// ones) are then published at `rate` for `secs`, each announced to it as
/// `ALERT <id> <publish wall-clock ms>`, then `END`; it answers `RESULT <json>`.
fn browser(
    rt: &tokio::runtime::Runtime,
    edge: &zenoh::Session,
    addr: SocketAddr,
    (user, password): &(String, String),
    rows: usize,
    rate: f64,
    secs: f64,
) -> BrowserResult {
    let mut node = Command::new("node");
    node.arg(Path::new(REPO).join("tests/browser/bench.mjs"))
        .envs(browser_env())
        .env("QV_BASE_URL", format!("http://{addr}"))
        .env("QV_OPERATOR_USER", user)
        .env("QV_OPERATOR_PASSWORD", password)
        .env("QV_EXPECT_ROWS", rows.to_string());
    let mut script = Script::spawn(node);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut version = String::new();
    loop {
        let line = script.next_line(deadline);
        eprintln!("browser: {line}");
        if let Some(v) = line.strip_prefix("STEP chromium ") {
            version = v.split_whitespace().next().unwrap_or("").to_string();
        }
        match line.split_whitespace().next().unwrap_or("") {
            "READY" => break,
            "STEP" => {}
            _ => script.fail(&line),
        }
    }
    let n = (rate * secs) as usize;
    rt.block_on(async {
        let mut tick = schedule(rate);
        for i in 0..n {
            tick.tick().await;
            let mut a = camera_alert(&format!("cam-b{i}"));
            a.severity = Severity::High;
            let at = wall_ms();
            bus::publish_alert(edge, &a).await.unwrap();
            script.answer(&format!("ALERT {} {at:.3}", a.id));
        }
    });
    script.answer("END");
    let result = loop {
        let line = script.next_line(deadline);
        match line.split_once(' ') {
            Some(("RESULT", json)) => break serde_json::from_str::<serde_json::Value>(json).unwrap(),
            Some(("STEP", _)) => eprintln!("browser: {line}"),
            _ => script.fail(&line),
        }
    };
    let status = script.wait(deadline);
    assert!(status.success(), "bench.mjs exited {status}\n{}", script.stderr());
    let nums = |k: &str| -> Vec<f64> {
        result[k].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default()
    };
    let num = |k: &str| result[k].as_f64().unwrap_or(f64::NAN);
    let long = nums("long_tasks_ms");
    BrowserResult {
        version,
        rows: num("rows") as usize,
        load_ms: num("load_ms"),
        sent: n,
        dom_ms: nums("dom_ms"),
        frame_ms: nums("frame_ms"),
        opens_ms: nums("opens_ms"),
        backs_ms: nums("backs_ms"),
        long_tasks: long.len(),
        longest_task_ms: long.iter().copied().fold(0.0, f64::max),
        long_task_total_ms: long.iter().fold(0.0, |s, x| s + x),
        worst_gap_ms: num("worst_gap_ms"),
        gap_p99_ms: percentiles(&nums("gaps_ms")).1,
        frames: nums("gaps_ms").len(),
        ws_ms: nums("ws_ms"),
        page_ms: nums("page_ms"),
        long_frames: result["long_frames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        let g = |k: &str| f[k].as_f64().unwrap_or(0.0);
                        let top = f["top_script"].as_str().unwrap_or("").to_string();
                        (g("ms"), g("script_ms"), g("style_layout_ms"), g("render_ms"), top)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The browser script: its stdin to answer on, its output lines on channels; killed when
/// dropped.
struct Script {
    child: Child,
    stdin: ChildStdin,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Script {
    fn spawn(mut cmd: Command) -> Script {
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting node");
        let stdin = child.stdin.take().unwrap();
        let (tx, stdout) = crossbeam_channel::unbounded();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        let stderr: Arc<Mutex<Vec<String>>> = Default::default();
        let (err, keep) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(l);
            }
        });
        Script { child, stdin, stdout, stderr }
    }

    fn next_line(&mut self, deadline: Instant) -> String {
        let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_secs(180));
        match self.stdout.recv_timeout(wait) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => self.fail(&format!("no line from bench.mjs for {wait:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait(deadline);
                self.fail(&format!("bench.mjs exited ({status}) without RESULT"))
            }
        }
    }

    fn answer(&mut self, line: &str) {
        if let Err(e) = writeln!(self.stdin, "{line}").and_then(|_| self.stdin.flush()) {
            // It exited: say why.
            std::thread::sleep(Duration::from_millis(200));
            self.fail(&format!("answering bench.mjs: {e}"));
        }
    }

    fn wait(&mut self, deadline: Instant) -> std::process::ExitStatus {
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let rest: Vec<String> = self.stdout.try_iter().collect();
        panic!("browser benchmark failed: {why}\n{}\nstderr:\n{}", rest.join("\n"), self.stderr())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
