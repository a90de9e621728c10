//! Video benchmark on vtest.avi, in one process:
//!   (a) decode only — GStreamer decode + scale/convert to the model's input;
//!   (b) inference only — the detector on frames decoded beforehand;
//!   (c) the full pipeline — camera → slot → executor → tracker → rules.
//! Prints frames/s of each, frames analysed and dropped, and c / min(a, b): the share of
//! the slower stage's own speed the assembled pipeline keeps (target ≥ 0.95).
//!
//! `cargo bench --bench video` runs the whole file; without `--bench` (as `cargo test
//! --bench video` runs it in CI) it is a smoke run on a short slice.

use edge::camera_path::{CameraPath, PathEvent};
use operators::detect::{Detection, Detector, DetectorConfig, Manifest};
use pipeline::clock::SystemClock;
use pipeline::frame::Frame;
use pipeline::metrics::{self, Metric};
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, spawn_camera};
use qorovul::config::PipelineConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let limit: u64 = if full { 795 } else { 60 };
    let manifest = Manifest::builtin();
    let cfg = DetectorConfig::default();
    let mut detector = Detector::load(&cfg, &manifest).expect("run `qorovul models fetch` first");
    let provider = detector.provider().as_str();

    // Each rate is steady state: from the first frame out to the last, so start-up
    // (pipeline negotiation, the model's first run) counts in none of them.
    // (a) decode only; the frames are kept for (b).
    let (frames, a) = decode(detector.input_size(), limit);

    // (b) inference only, on the frames decoded above.
    let mut out: Vec<Vec<Detection>> = Vec::new();
    let mut rate = Rate::default();
    for f in &frames {
        detector.detect(&[&f.model_input], &[(f.full_width, f.full_height)], &mut out).unwrap();
        rate.tick();
    }
    let b = rate.per_sec();
    let n = frames.len() as u64;
    drop(frames);
    drop(detector);

    // (c) the full pipeline.
    let (c, analysed, dropped) = full_pipeline(limit);

    println!();
    println!(
        "video benchmark: vtest.avi, {} frames, provider {provider}, {} ORT threads{}",
        n,
        cfg.threads,
        if full { "" } else { " (smoke run)" }
    );
    println!("  (a) decode only      {a:8.1} frames/s");
    println!("  (b) inference only   {b:8.1} frames/s");
    println!("  (c) full pipeline    {c:8.1} frames/s   analysed {analysed}, dropped {dropped}");
    let ratio = c / a.min(b);
    println!("  c / min(a, b) = {ratio:.3}   (target >= 0.95: {})", if ratio >= 0.95 { "met" } else { "NOT met" });
}

/// Frames per second between the first and the last tick.
#[derive(Default)]
struct Rate {
    first: Option<Instant>,
    last: Option<Instant>,
    ticks: u64,
}

impl Rate {
    fn tick(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.ticks += 1;
    }
    fn per_sec(&self) -> f64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) if self.ticks > 1 => (self.ticks - 1) as f64 / l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Decodes up to `limit` frames of vtest.avi as fast as GStreamer can; (frames, frames/s).
fn decode(model_size: (u32, u32), limit: u64) -> (Vec<Arc<Frame>>, f64) {
    let slot =
        Arc::new(Slot::new(8, FullPolicy::Block, Arc::new(Wakeup::default()), Metric::default(), Metric::default()));
    let mut cam = CameraConfig::new("bench-decode", VTEST);
    cam.realtime = false;
    let (tx, _events) = crossbeam_channel::unbounded();
    let handle = spawn_camera(cam, model_size, slot.clone(), tx, Arc::new(SystemClock)).unwrap();
    let mut frames = Vec::new();
    let mut rate = Rate::default();
    while (frames.len() as u64) < limit {
        let Some(f) = slot.pop_timeout(Duration::from_secs(30)) else { break };
        rate.tick();
        frames.push(f);
    }
    handle.stop();
    (frames, rate.per_sec())
}

/// Runs the assembled camera path on up to `limit` frames; (frames/s, analysed, dropped).
fn full_pipeline(limit: u64) -> (f64, u64, u64) {
    let cfg =
        PipelineConfig::parse("site = \"bench\"\n[[rules.object_detected]]\nclasses = [\"person\"]\n", "bench config")
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
                if analysed >= limit {
                    break;
                }
            }
            PathEvent::StreamDone(_) => break,
            _ => {}
        }
    }
    let dropped = metrics::global().value("qv_frames_dropped_total", &[("source", "bench")]);
    path.shutdown();
    (rate.per_sec(), analysed, dropped)
}
