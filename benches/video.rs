//! Video benchmark on vtest.avi (795 frames, CenterNet 512×512 on the CPU).
//!
//! Three figures per round, each in a process of its own so no setting leaks between them:
//! - **limit**: the bare tools at their best on this machine, in one loop on the same
//!   cores — a GStreamer pipeline alone (decode, convert, scale to the model's input, with
//!   the faster of two stock conversions) feeding ONNX Runtime alone (default session
//!   options, only the detections output fetched) at the settings a sweep found fastest:
//!   one session with 1 or every core's threads, spinning on or off, or a session per core
//!   side by side. Bare decode alone and bare inference alone are printed too.
//! - **pipeline**: qorovul's camera path as a node runs it (camera → slot → inference
//!   executor → tracker → rules), motion gate off, every frame analysed.
//! - **peer**: the loop a plain integrator writes first (`benches/peer/video_peer.py`:
//!   OpenCV decode + onnxruntime, nothing set but the thread count), when Python is here.
//!
//! Three rounds, each limit, pipeline and peer back to back (every other round in reverse
//! order, so a machine drifting over minutes favours none); the summary prints the medians,
//! each round's own pipeline / limit (target ≥ 0.95) and pipeline / peer, and CPU time per
//! frame. Timings are printed, never asserted.
//!
//! `cargo bench --bench video` runs it all; without `--bench` (as `cargo test --bench
//! video` runs it in CI) it is a smoke run: one round on a short slice.

use edge::camera_path::{CameraPath, PathEvent};
use operators::detect::Manifest;
use pipeline::metrics;
use pipeline::sources::camera::CameraConfig;
use qorovul::config::PipelineConfig;
use std::collections::BTreeMap;
use std::process::Command;

#[path = "support/bare_video.rs"]
mod bare_video;
use bare_video::{Bare, MODEL, OrtSettings, Rate, one_loop};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
/// The child's role, and the ONNX Runtime settings later rounds reuse from the first sweep.
const ROLE: &str = "QV_VIDEO_ROLE";
const SETTINGS: &str = "QV_VIDEO_ORT";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let frames: usize = if full { 795 } else { 60 };
    match std::env::var(ROLE).as_deref() {
        Ok("limit") => return limit(frames, if full { 150 } else { 20 }),
        Ok("pipeline") => return pipeline(frames),
        _ => {}
    }
    let rounds = if full { 3 } else { 1 };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let peer = Peer::prepare();
    let mut results: Vec<BTreeMap<String, f64>> = Vec::new();
    let mut settings = None;
    for round in 1..=rounds {
        println!("round {round}/{rounds}");
        // Limit, pipeline, peer; the next round the other way round, so a machine that
        // drifts faster or slower over minutes favours none of them.
        let mut order = ["limit", "pipeline", "peer"];
        if round % 2 == 0 {
            order.reverse();
        }
        let mut r = BTreeMap::new();
        for what in order {
            match (what, &peer) {
                ("peer", Ok(p)) => r.extend(p.run(frames, cores)),
                ("peer", Err(why)) => println!("  peer skipped: {why}"),
                _ => r.extend(child(what, full, settings.as_deref())),
            }
        }
        settings.get_or_insert_with(|| format!("{}:{}:{}", r["sessions"], r["threads"], r["spinning"]));
        results.push(r);
    }
    let median = |key: &str| {
        let mut v: Vec<f64> = results.iter().filter_map(|r| r.get(key).copied()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() { None } else { Some(v[v.len() / 2]) }
    };
    let show = |v: Option<f64>| v.map(|x| format!("{x:8.1}")).unwrap_or_else(|| "       -".into());
    let rates = |key: &str| {
        results
            .iter()
            .map(|r| r.get(key).map(|x| format!("{x:.1}")).unwrap_or("-".into()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!(
        "video benchmark: vtest.avi, {frames} frames, {MODEL} on CPU, {cores} cores, {rounds} round(s){}",
        if full { "" } else { " (smoke run)" }
    );
    println!("  frames/s, median of the rounds (each round's in brackets)");
    println!("  bare decode alone     {}   [{}]", show(median("decode")), rates("decode"));
    println!("  bare inference alone  {}   [{}]", show(median("inference")), rates("inference"));
    println!("  limit (one loop)      {}   [{}]", show(median("limit")), rates("limit"));
    println!("  qorovul pipeline      {}   [{}]", show(median("pipeline")), rates("pipeline"));
    println!("  peer inference alone  {}   [{}]", show(median("peer_inference")), rates("peer_inference"));
    println!("  peer loop             {}   [{}]", show(median("peer_loop")), rates("peer_loop"));
    println!(
        "  CPU ms per frame (all threads): bare inference {}, limit {}, pipeline {}",
        show(median("inference_cpu_ms")),
        show(median("limit_cpu_ms")),
        show(median("pipeline_cpu_ms"))
    );
    let dropped: f64 = results.iter().filter_map(|r| r.get("dropped")).sum();
    let analysed: f64 = results.iter().filter_map(|r| r.get("analysed")).sum();
    println!("  pipeline: {analysed} frames analysed, {dropped} dropped, motion gate off");
    // Each round's own ratios (its runs were minutes apart at most), and their median.
    let ratio = |num: &str, den: &str| {
        let mut v: Vec<f64> = results.iter().filter_map(|r| Some(r.get(num)? / r.get(den)?)).collect();
        let each = v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ");
        v.sort_by(f64::total_cmp);
        if v.is_empty() { None } else { Some((v[v.len() / 2], each)) }
    };
    if let Some((m, each)) = ratio("pipeline", "limit") {
        println!(
            "  pipeline / limit: median of the rounds {m:.3} [{each}]; of the medians {:.3}   (target >= 0.95: {})",
            median("pipeline").unwrap() / median("limit").unwrap(),
            if m >= 0.95 { "met" } else { "NOT met" }
        );
    }
    if let Some((m, each)) = ratio("pipeline", "peer_loop") {
        let (p, q) = (median("pipeline").unwrap(), median("peer_loop").unwrap());
        println!(
            "  pipeline / peer loop: median of the rounds {m:.3} [{each}]; of the medians {:.3}   (median {})",
            p / q,
            if p > q { "ahead" } else { "NOT ahead" }
        );
    }
}

/// Runs this benchmark again as `role` and reads the `RESULT key=value ...` line it prints;
/// its other lines are passed through.
fn child(role: &str, full: bool, settings: Option<&str>) -> BTreeMap<String, f64> {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    cmd.env(ROLE, role);
    if full {
        cmd.arg("--bench");
    }
    if let Some(s) = settings {
        cmd.env(SETTINGS, s);
    }
    let out = cmd.output().expect("running the benchmark's child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{role} run failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut result = BTreeMap::new();
    for line in stdout.lines() {
        match line.strip_prefix("RESULT ") {
            Some(kv) => result.extend(parse_result(kv)),
            None => println!("  {line}"),
        }
    }
    result
}

fn parse_result(kv: &str) -> BTreeMap<String, f64> {
    kv.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

// ---- limit: the bare tools (support/bare_video.rs) ----------------------------------------

fn limit(frames: usize, sweep_frames: usize) {
    let env = bare_video::environment();
    let chosen = std::env::var(SETTINGS).ok().and_then(|s| {
        let v: Vec<f64> = s.split(':').filter_map(|x| x.parse().ok()).collect();
        let [sessions, threads, spinning] = v[..] else { return None };
        Some(OrtSettings { sessions: sessions as usize, threads: threads as usize, spinning: spinning > 0.0 })
    });
    // Decode alone with each stock conversion; the limit uses the faster.
    let size = Bare::input_size();
    let (conversion, tried) = bare_video::fastest_conversion(VTEST, size, frames);
    for (c, fps) in &tried {
        println!("bare decode alone, {}: {fps:.1} frames/s", c.name());
    }
    let decode_fps = tried.iter().map(|t| t.1).fold(0.0, f64::max);
    let best = chosen.unwrap_or_else(|| bare_video::sweep(&env, VTEST, conversion, sweep_frames));
    let mut bares = bare_video::sessions(&env, best);
    let (_, decoded) = bare_video::decode_alone(VTEST, size, conversion, frames);
    let alone = bare_video::inference_alone(&mut bares, &decoded);
    drop(decoded);

    let looped = one_loop(&mut bares, VTEST, conversion, frames);
    println!(
        "limit: GStreamer {}; ONNX Runtime {best}, graph optimisation all, detections output only",
        conversion.name()
    );
    println!(
        "RESULT decode={decode_fps:.2} inference={:.2} limit={:.2} sessions={} threads={} spinning={} \
         inference_cpu_ms={:.2} limit_cpu_ms={:.2}",
        alone.per_sec(),
        looped.per_sec(),
        best.sessions,
        best.threads,
        best.spinning as u8,
        alone.cpu_ms_per_frame(),
        looped.cpu_ms_per_frame()
    );
}

// ---- pipeline: qorovul's camera path ----------------------------------------------------

fn pipeline(frames: usize) {
    let cfg = PipelineConfig::parse(
        "site = \"bench\"\n[motion]\nenabled = false\n[[rules.object_detected]]\nclasses = [\"person\"]\n",
        "bench config",
    )
    .unwrap();
    let (alerts_tx, _alerts) = crossbeam_channel::unbounded();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("bench", VTEST);
    cam.realtime = false;
    path.add_camera(cam).unwrap();
    let mut analysed = 0;
    let mut rate = Rate::default();
    for ev in events.iter() {
        match ev {
            PathEvent::Analysed { .. } => {
                analysed += 1;
                rate.tick();
                if analysed >= frames {
                    break;
                }
            }
            PathEvent::StreamDone(_) => break,
            _ => {}
        }
    }
    let dropped = metrics::global().value("qv_frames_dropped_total", &[("source", "bench")]);
    path.shutdown();
    println!(
        "RESULT pipeline={:.2} analysed={analysed} dropped={dropped} pipeline_cpu_ms={:.2}",
        rate.per_sec(),
        rate.cpu_ms_per_frame()
    );
}

// ---- peer: a plain integrator's Python loop ----------------------------------------------

struct Peer {
    python: std::path::PathBuf,
}

impl Peer {
    /// The peer's pinned virtualenv (made once, from PyPI), or why there is none.
    fn prepare() -> Result<Self, String> {
        let root = env!("CARGO_MANIFEST_DIR");
        let out = Command::new("bash")
            .arg(format!("{root}/models/pypi/venv.sh"))
            .args(["video-peer-ort-1.31.1-cv-4.12.0.88", "--only-binary=:all:"])
            .args(["onnxruntime==1.31.1", "opencv-python-headless==4.12.0.88", "numpy==2.2.6"])
            .output()
            .map_err(|e| format!("no bash: {e}"))?;
        if !out.status.success() {
            return Err(format!("no Python virtualenv: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let venv = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Self { python: format!("{venv}/bin/python").into() })
    }

    fn run(&self, frames: usize, threads: usize) -> BTreeMap<String, f64> {
        let entry = Manifest::builtin().get(MODEL).expect("centernet").clone();
        let (_, output) = entry.detector_tensors().expect("detector tensors");
        let out = Command::new(&self.python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/video_peer.py"))
            .arg(entry.cached_path())
            .arg(&output.name)
            .arg(VTEST)
            .arg(frames.to_string())
            .arg(threads.to_string())
            .output()
            .expect("running the peer");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "peer failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().find_map(|l| l.strip_prefix("peer ")).expect("the peer's result line");
        println!("  peer: {line}");
        parse_result(line)
            .into_iter()
            .filter_map(|(k, v)| Some((format!("peer_{}", k.strip_suffix("_fps")?), v)))
            .collect()
    }
}
