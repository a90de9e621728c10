//! 102 call benchmark, in one run:
//!   (a) calls/s through the desk: validate → merge → triage with the e5 embedding →
//!       place → units → alert, on the labelled narratives; the limit is the bare
//!       embedding of the same narratives, one at a time (the desk's dominant cost);
//!   (b) from a call record's arrival (put on the zenoh feed key) to its incident being
//!       published by the control room (outbox → zenoh → store → fusion), at a fixed rate:
//!       p50 / p99, against the desk's own time per call measured in (a).
//!
//! `cargo bench --bench calls` runs the full sizes; `cargo test --bench calls` (CI) a smoke run.

use chrono::Utc;
use operators::calls::CallDesk;
use operators::calls::embed::Embedder;
use operators::detect::Manifest;
use qorovul::config::PipelineConfig;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenoh::Wait;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n_desk, n_latency, rate) = if full { (263, 300, 5.0) } else { (40, 20, 5.0) };
    let texts: Vec<String> = include_str!("../operators/tests/data/calls/labelled.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    let dir = std::env::temp_dir().join(format!("qorovul-bench-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = PipelineConfig::parse(
        &format!(
            r#"site = "bench"
[bus]
listen = ["tcp/127.0.0.1:{port}"]
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
            dir.display()
        ),
        "bench",
    )
    .unwrap();

    // (a) the desk alone, and the bare embedding of the same texts.
    let mut embedder = Embedder::load(&Manifest::builtin(), 1).expect("the e5 model: run `qorovul models fetch`");
    let sample: Vec<&str> = texts.iter().cycle().take(n_desk).map(String::as_str).collect();
    let t0 = Instant::now();
    for t in &sample {
        embedder.embed(&[t], "query: ").unwrap();
    }
    let bare = sample.len() as f64 / t0.elapsed().as_secs_f64();
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
        "(a) desk: {desk_rate:.1} calls/s (validate + triage with e5 + place + units), bare e5 embedding {bare:.1} texts/s: ratio {:.2}; desk p99 {:.1} ms per call ({} calls, 1 ORT thread)",
        desk_rate / bare,
        ms(desk_p99),
        sample.len()
    );
    drop(desk);

    // (b) arrival → incident published, through the whole node.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(pipeline::bus::open(&cfg.bus)).unwrap();
    let room =
        control_room::ControlRoom::start(session.clone(), &cfg.site, "room", &cfg.control_room, cfg.fusion.clone())
            .unwrap();
    let node = edge::node::EdgeNode::start(session.clone(), &cfg.site, "edge", &cfg.edge).unwrap();
    let feeds =
        edge::feeds::Feeds::start(&cfg.feed_thread(), &session, rt.handle(), node.alerts(), None).unwrap().unwrap();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (s2, l2) = (sent.clone(), lat.clone());
    let _sub = session
        .declare_subscriber("qv/bench/incident/**")
        .callback(move |s| {
            let Ok(u) = serde_json::from_slice::<control_room::fusion::IncidentUpdate>(&s.payload().to_bytes()) else {
                return;
            };
            for call in &u.incident.keys.call {
                if let Some(t) = s2.lock().unwrap().remove(call) {
                    l2.lock().unwrap().push(t.elapsed());
                }
            }
        })
        .wait()
        .unwrap();
    let key = pipeline::keys::calls_feed(&cfg.site);
    let t0 = Instant::now();
    for i in 0..n_latency {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait); // pacing the offered load, not synchronisation
        }
        let id = format!("b-{i}");
        let rec = record(&id, &texts[i % texts.len()]);
        sent.lock().unwrap().insert(id, Instant::now());
        session.put(&key, rec).wait().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while lat.lock().unwrap().len() < n_latency && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut l = lat.lock().unwrap().clone();
    assert_eq!(l.len(), n_latency, "every call's incident was published");
    l.sort();
    let p = |q: usize| l[(l.len() * q / 100).min(l.len() - 1)];
    println!(
        "(b) call arrival → incident published: p50 {:.1} ms, p99 {:.1} ms at {rate} calls/s ({n_latency} calls); the desk's own p99 is {:.1} ms of it ({:.0}%)",
        ms(p(50)),
        ms(p(99)),
        ms(desk_p99),
        100.0 * desk_p99.as_secs_f64() / p(99).as_secs_f64()
    );
    drop(feeds);
    let _ = node.stop(Duration::from_secs(2));
    let _ = room.stop();
    let _ = std::fs::remove_dir_all(&dir);
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
