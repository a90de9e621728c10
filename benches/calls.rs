//! 102 call benchmark, in one run:
//!   (a) calls/s through the desk: validate → merge → triage with the e5 embedding →
//!       place → units → alert, on the labelled narratives; the limit is the bare
//!       embedding of the same narratives, one at a time (the desk's dominant cost);
//!   (b) from a call record's arrival to its incident being published by the control room
//!       (desk → outbox → zenoh → store → fusion), at a fixed rate: p50 / p99, against the
//!       desk's own time per call measured in (a), with the feed door on and off, alternating
//!       call by call in the same run:
//!       - on: the record signed by the call-handling system's key and put on the zenoh feed
//!         key from its own session, a client of a `qorovul router` with mutual TLS and
//!         access rules (the production transport), to the post's session, another client;
//!         the post checks the signature, the identity's scope and freshness;
//!       - off: the same record handed to the feed thread in-process
//!         (`Feeds::sender`, `Caller::local`), i.e. exactly the path behind the door. No
//!         configuration lets a feed key take unsigned records, so this is the honest "off";
//!       and on/off. The difference is the router hop plus the door, so the bare hop (a put of
//!       the same size through the same router, one way) is printed too, to split transport
//!       from authentication.
//!
//! `cargo bench --bench calls` runs the full sizes; `cargo test --bench calls` (CI) a smoke run.

use chrono::Utc;
use operators::calls::CallDesk;
use operators::calls::embed::Embedder;
use operators::detect::Manifest;
use qorovul::config::PipelineConfig;
use serde_json::json;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenoh::Wait;

#[path = "support/pki.rs"]
mod pki;
#[path = "support/signer.rs"]
mod signer;
use edge::feeds::Fed;

/// Set in the child that measures the bare embedding: the file of token ids it embeds.
const BARE_IDS: &str = "QV_CALLS_BARE_IDS";

fn main() {
    if let Ok(path) = std::env::var(BARE_IDS) {
        return bare_embedding(Path::new(&path));
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (n_desk, n_latency, rate) = if full { (263, 600, 5.0) } else { (40, 40, 5.0) };
    let texts: Vec<String> = include_str!("../operators/tests/data/calls/labelled.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    let dir = std::env::temp_dir().join(format!("qorovul-bench-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (creds, signer) = signer::feed_identity(&dir, "call-centre", &[pipeline::feed::FeedKind::Calls]);
    let cfg = PipelineConfig::parse(
        &format!(
            r#"site = "bench"
[feeds]
credentials = "{1}"
[calls]
enabled = true
[[calls.place.cameras]]
id = "cam-1"
location = {{ lat = 41.3111, lon = 69.2797 }}
heading_deg = 90
fov_deg = 60
range_m = 100
[edge]
data_dir = "{0}/edge"
[control_room]
data_dir = "{0}/room"
[[fusion.rules]]
type = "same_key"
name = "same_call"
key = "call"
window_secs = 3600
"#,
            dir.display(),
            creds.display()
        ),
        "bench",
    )
    .unwrap();

    // (a) the desk alone, and the bare embedding of the same texts (the limit) in a child
    // process of its own: ONNX Runtime alone on the texts' token ids.
    // One ORT thread, as the desk loads its embedder (a post without cameras runs it so).
    let embedder = Embedder::load(&Manifest::builtin(), 1).expect("the e5 model: run `qorovul models fetch`");
    let sample: Vec<&str> = texts.iter().cycle().take(n_desk).map(String::as_str).collect();
    let ids: Vec<Vec<u32>> = sample.iter().map(|t| embedder.token_ids(t, "query: ").unwrap()).collect();
    drop(embedder);
    let (bare, bare_settings) = bare_embedding_child(&dir, &ids);
    let mut desk = CallDesk::new(&cfg.calls, &cfg.site, vec![]).unwrap();
    let mut out = Vec::new();
    let mut per_call = Vec::with_capacity(sample.len());
    let t0 = Instant::now();
    for (i, t) in sample.iter().enumerate() {
        let rec = record(&format!("a-{i}"), t);
        let t1 = Instant::now();
        let o = desk.call_record(rec.as_bytes(), Utc::now(), &mut out);
        per_call.push(t1.elapsed());
        assert_eq!(o.result, "accepted", "{o:?}");
    }
    let desk_rate = sample.len() as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(out.len(), sample.len());
    per_call.sort();
    let desk_p99 = per_call[(per_call.len() * 99 / 100).min(per_call.len() - 1)];
    println!(
        "(a) desk: {desk_rate:.1} calls/s (validate + triage with e5 + place + units, 1 ORT thread), {:.2}× the limit; desk p99 {:.1} ms per call ({} calls)\n    limit: bare e5 embedding, ONNX Runtime alone on the same texts' token ids one at a time ({bare_settings}, the fastest of the sweep above): {bare:.1} texts/s",
        desk_rate / bare,
        ms(desk_p99),
        sample.len()
    );
    drop(desk);

    // (b) arrival → incident published, through the whole node: the post (edge and control
    // room on one session) and the call-handling system are clients of a TLS + ACL router.
    let pki = pki::Pki::new(&dir.join("pki"), &["edge-bench", "call-centre"]);
    let router_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let key = pipeline::keys::calls_feed(&cfg.site);
    let rules = [
        pki::allow("call-centre", &["put"], "ingress", &[&key, "qvbench/hop"]),
        pki::allow("call-centre", &["declare_subscriber"], "egress", &["qv/**", "qvbench/**"]),
        // The post is edge and control room in one: it publishes its alerts, incidents and
        // acknowledgements (to itself, and to the router, which has nobody else to give them to).
        pki::allow("edge-bench", &["put", "declare_subscriber"], "ingress", &["qv/bench/**", "qvbench/**"]),
        pki::allow("edge-bench", &["put"], "egress", &[&key, "qvbench/hop"]),
    ]
    .concat();
    let _router = pki::Router::start(&pki, router_port, &rules);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(pipeline::bus::open(&pki.client("edge-bench", router_port))).unwrap();
    let centre = rt.block_on(pipeline::bus::open(&pki.client("call-centre", router_port))).unwrap();
    let room =
        control_room::ControlRoom::start(session.clone(), &cfg.site, "room", &cfg.control_room, cfg.fusion.clone())
            .unwrap();
    let node = edge::node::EdgeNode::start(session.clone(), &cfg.site, "edge", &cfg.edge).unwrap();
    let feeds =
        edge::feeds::Feeds::start(&cfg.feed_thread(), &session, rt.handle(), node.alerts(), None).unwrap().unwrap();
    // Call id → (sent through the door?, when).
    let sent: Arc<Mutex<HashMap<String, (bool, Instant)>>> = Arc::default();
    let (ltx, lrx) = crossbeam_channel::unbounded::<(bool, Duration)>();
    let s2 = sent.clone();
    let _sub = session
        .declare_subscriber("qv/bench/incident/**")
        .callback(move |s| {
            let Ok(u) = serde_json::from_slice::<control_room::fusion::IncidentUpdate>(&s.payload().to_bytes()) else {
                return;
            };
            for call in &u.incident.keys.call {
                if let Some((door, t)) = s2.lock().unwrap().remove(call) {
                    let _ = ltx.send((door, t.elapsed()));
                }
            }
        })
        .wait()
        .unwrap();
    assert!(
        pipeline::bus::wait_for_subscriber(&centre, &key, Duration::from_secs(30)).unwrap(),
        "the post's feed subscriber reached the call-handling system through the router"
    );
    // On and off alternate, one call each at a time, so both see the same load and the same
    // state of the desk; the offered rate is the same as before, shared by the two.
    let feed = feeds.sender();
    let t0 = Instant::now();
    for i in 0..n_latency {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait); // pacing the offered load, not synchronisation
        }
        let door = i % 2 == 0;
        let id = format!("b-{i}");
        let rec = record(&id, &texts[i % texts.len()]);
        sent.lock().unwrap().insert(id, (door, Instant::now()));
        if door {
            signer.put(&centre, &key, rec).unwrap();
        } else {
            let from = pipeline::credentials::Caller::local("bench");
            let fed = Fed::Record { kind: pipeline::feed::FeedKind::Calls, bytes: rec.into_bytes(), from, reply: None };
            feed.send(fed).unwrap();
        }
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..n_latency {
        let (door, d) = lrx.recv_timeout(Duration::from_secs(60)).expect("every call's incident was published");
        if door { on.push(d) } else { off.push(d) }
    }
    // The bare hop of the "on" side: a call-sized put from the call-handling system through
    // the router to the post's session, at the same rate, nothing done on arrival.
    let mut hop = bare_hop(&centre, &session, record("hop", &texts[0]).len(), n_latency / 2, rate);
    let (on50, on99, off50, off99, hop50, hop99) = (
        pct(&mut on, 50),
        pct(&mut on, 99),
        pct(&mut off, 50),
        pct(&mut off, 99),
        pct(&mut hop, 50),
        pct(&mut hop, 99),
    );
    println!(
        "(b) call arrival → incident published at {rate} calls/s, {} calls each way, alternating; the desk's own p99 is {:.1} ms:",
        n_latency / 2,
        ms(desk_p99)
    );
    println!(
        "    door on  (signed, via TLS + ACL router, signature checked): p50 {:.1} ms, p99 {:.1} ms (desk p99 {:.0}% of it)",
        ms(on50),
        ms(on99),
        100.0 * desk_p99.as_secs_f64() / on99.as_secs_f64()
    );
    println!(
        "    door off (in-process, after the door):                     p50 {:.1} ms, p99 {:.1} ms",
        ms(off50),
        ms(off99)
    );
    println!(
        "    on/off: p50 {:.2}×, p99 {:.2}×; of the difference, the bare router hop (TLS + ACL, one way) p50 {:.2} ms, p99 {:.2} ms",
        on50.as_secs_f64() / off50.as_secs_f64(),
        on99.as_secs_f64() / off99.as_secs_f64(),
        ms(hop50),
        ms(hop99)
    );
    let _ = centre.close().wait();
    drop(feeds);
    let _ = node.stop(Duration::from_secs(2));
    let _ = room.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One-way latencies of `n` puts of `size` bytes from `from` to a subscriber on `to`, at `rate`.
fn bare_hop(from: &zenoh::Session, to: &zenoh::Session, size: usize, n: usize, rate: f64) -> Vec<Duration> {
    let (tx, rx) = crossbeam_channel::unbounded::<Instant>();
    let _sub = to
        .declare_subscriber("qvbench/hop")
        .callback(move |_| {
            let _ = tx.send(Instant::now());
        })
        .wait()
        .unwrap();
    assert!(pipeline::bus::wait_for_subscriber(from, "qvbench/hop", Duration::from_secs(30)).unwrap());
    let payload = vec![b'x'; size];
    let t0 = Instant::now();
    (0..n)
        .map(|i| {
            let due = t0 + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait); // pacing, as for the calls
            }
            let at = Instant::now();
            from.put("qvbench/hop", payload.clone()).wait().unwrap();
            rx.recv_timeout(Duration::from_secs(10)).expect("the bare put arrives") - at
        })
        .collect()
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A call record 100 m east of the camera with `narrative`.
fn record(id: &str, narrative: &str) -> String {
    json!({"call_id": id, "start_ts": Utc::now(), "caller": {"number": "+998901112233"},
           "location": {"lat": 41.3111, "lon": 69.2809, "uncertainty_m": 30}, "narrative": narrative})
    .to_string()
}

/// Runs this binary as the bare-embedding child on `ids`; (texts/s, its settings).
fn bare_embedding_child(dir: &Path, ids: &[Vec<u32>]) -> (f64, String) {
    let path = dir.join("bare-ids.json");
    std::fs::write(&path, serde_json::to_vec(ids).unwrap()).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap()).env(BARE_IDS, &path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bare embedding child: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut best = None;
    for line in stdout.lines() {
        match line.strip_prefix("BEST ") {
            Some(b) => best = b.split_once(' ').map(|(r, s)| (r.parse().unwrap(), s.to_string())),
            None => println!("{line}"),
        }
    }
    best.expect("the child's BEST line")
}

/// The limit: ONNX Runtime alone, default session options but the thread count and
/// spinning, swept; each text's ids run one at a time, as the desk embeds a call.
fn bare_embedding(path: &Path) {
    use ort::session::Session;
    use ort::value::TensorRef;
    let ids: Vec<Vec<u32>> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let env = ort::init_from(operators::detect::runtime::dylib_path()).unwrap().build().unwrap();
    let model = Manifest::builtin().entry_for("e5_small", "embed").unwrap().cached_path();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut best: Option<(f64, String)> = None;
    for threads in [1, cores] {
        for spinning in [true, false] {
            let mut builder = Session::builder(&env)
                .unwrap()
                .with_intra_threads(threads)
                .unwrap()
                .with_intra_op_spinning(spinning)
                .unwrap();
            let mut session = builder.commit_from_file(&model).unwrap();
            let mut run = |row: &[u32]| {
                let ids: Vec<i64> = row.iter().map(|&i| i64::from(i)).collect();
                let mask = vec![1i64; ids.len()];
                let t_ids = TensorRef::from_array_view(([1, ids.len()], &ids[..])).unwrap();
                let t_mask = TensorRef::from_array_view(([1, mask.len()], &mask[..])).unwrap();
                let out = session.run(ort::inputs!["input_ids" => t_ids, "attention_mask" => t_mask]).unwrap();
                black_box(out[0].try_extract_tensor::<f32>().unwrap().1[0]);
            };
            run(&ids[0]); // warm-up
            let t0 = Instant::now();
            for row in &ids {
                run(row);
            }
            let rate = ids.len() as f64 / t0.elapsed().as_secs_f64();
            let what = format!("{threads} ORT threads, spinning {spinning}");
            println!("    bare e5 embedding sweep: {what}: {rate:.1} texts/s");
            if best.as_ref().is_none_or(|b| rate > b.0) {
                best = Some((rate, what));
            }
        }
    }
    let (rate, what) = best.unwrap();
    println!("BEST {rate} {what}");
}
