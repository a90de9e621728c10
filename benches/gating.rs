//! Motion-gating benchmark: the whole camera path with and without the motion gate, on
//!   (1) vtest.avi — people walking all the time;
//!   (2) the static-lobby clip (`qorovul::demo::clips`, made from vtest.avi by code): walking
//!       people 20% of the time, and a man standing still in a zone for 60 s who must
//!       raise loitering with the gate as without it.
//! Prints detector calls per 1,000 frames, frames/s, and the time to the first zone alert
//! (event time into the clip, and wall time from the camera's start), and the ratio of
//! detector calls gated / ungated (target on the static clip: ≤ 1/3, no zone alert lost).
//!
//! `cargo bench --bench gating` runs the full clips; without `--bench` (`cargo test
//! --bench gating`, as CI runs it) it is a smoke run: shorter slices and a 20 s dwell.

use edge::camera_path::{CameraPath, PathEvent};
use operators::detect::manifest::cache_dir;
use pipeline::alert::{Alert, Phase};
use pipeline::sources::camera::CameraConfig;
use qorovul::config::PipelineConfig;
use qorovul::demo::clips::{StaticClip, VTEST};
use std::time::{Duration, Instant};

#[path = "support/bare_video.rs"]
mod bare_video;

struct Run {
    frames: u64,
    detector_frames: u64,
    fps: f64,
    /// (event seconds into the clip, wall seconds from start) of the first zone alert.
    first_alert: Option<(f64, f64)>,
    zone_alerts: usize,
}

/// Set in the child that measures a clip's limit: `FILE,FRAMES`.
const LIMIT: &str = "QV_GATING_LIMIT";

fn main() {
    if let Ok(arg) = std::env::var(LIMIT) {
        let (file, frames) = arg.rsplit_once(',').unwrap();
        return limit(file, frames.parse().unwrap());
    }
    let full = std::env::args().any(|a| a == "--bench");
    let clip = StaticClip::standard();
    let clip_path = cache_dir().join("clips").join("static-lobby-v1.avi");
    std::fs::create_dir_all(clip_path.parent().unwrap()).unwrap();
    let made = Instant::now();
    clip.write(&clip_path).expect("writing the static clip");
    eprintln!("static clip ready at {} ({:.1} s)", clip_path.display(), made.elapsed().as_secs_f64());

    // vtest: the line and zone of the end-to-end scene test.
    let vtest_frames = if full { 795 } else { 120 };
    let vtest_scene = r#"
[[scenes.cam.zones]]
name = "east_road"
points = [[0.78125, 0.45139], [1.0, 0.45139], [1.0, 0.72917], [0.78125, 0.72917]]
[[scenes.cam.lines]]
name = "east_walk"
a = [0.78125, 0.45139]
b = [0.78125, 0.60764]
[[scenes.cam.rules]]
kind = "line_crossing"
line = "east_walk"
classes = ["person"]
direction = "both"
[[scenes.cam.rules]]
kind = "zone_intrusion"
zone = "east_road"
classes = ["person"]
inertia_secs = 0.5
"#;
    // The static clip: a zone round the still man's feet; loitering after `dwell` s.
    let [x1, _, x2, y2] = clip.still_box;
    let dwell = if full { 45.0 } else { 20.0 };
    let static_frames = if full { 1200 } else { ((clip.still_secs.0 + dwell + 5.0) * 10.0) as u64 };
    let (zx1, zx2, zy1, zy2) = (x1 - 0.05, x2 + 0.05, y2 - 0.06, (y2 + 0.06).min(1.0));
    let static_scene = format!(
        r#"
[[scenes.cam.zones]]
name = "lobby"
points = [[{zx1}, {zy1}], [{zx2}, {zy1}], [{zx2}, {zy2}], [{zx1}, {zy2}]]
[[scenes.cam.rules]]
kind = "loitering"
zone = "lobby"
classes = ["person"]
dwell_secs = {dwell}
"#
    );

    println!();
    println!(
        "motion-gating benchmark{}: static clip {:.0} s, motion {:.0}% of the time, still man {:.0}–{:.0} s",
        if full { "" } else { " (smoke run)" },
        clip.secs,
        clip.motion_share() * 100.0,
        clip.still_secs.0,
        clip.still_secs.1
    );
    println!(
        "  {:<26} {:>6} {:>16} {:>9} {:>22} {:>11}",
        "clip, gate", "frames", "detector/1000 fr", "frames/s", "first zone alert", "zone alerts"
    );
    for (name, uri, frames, scene) in [
        ("vtest.avi", VTEST.to_string(), vtest_frames, vtest_scene.to_string()),
        ("static lobby", clip_path.display().to_string(), static_frames, static_scene),
    ] {
        let mut runs = vec![];
        for gated in [false, true] {
            let r = run(&uri, frames, &scene, gated);
            let first =
                r.first_alert.map(|(e, w)| format!("{e:6.1} s (wall {w:5.1} s)")).unwrap_or_else(|| "none".into());
            println!(
                "  {:<26} {:>6} {:>16.0} {:>9.1} {:>22} {:>11}",
                format!("{name}, {}", if gated { "gated" } else { "not gated" }),
                r.frames,
                1000.0 * r.detector_frames as f64 / r.frames.max(1) as f64,
                r.fps,
                first,
                r.zone_alerts
            );
            runs.push(r);
        }
        let (off, on) = (&runs[0], &runs[1]);
        let (limit, settings) = limit_child(&uri, frames);
        println!(
            "  {name}: limit {limit:.1} frames/s (bare GStreamer decode + bare ONNX Runtime, every frame, in one loop; \
             {settings}, the fastest of a sweep); not gated {:.2}× the limit, gated {:.2}×",
            off.fps / limit,
            on.fps / limit
        );
        let calls = |r: &Run| r.detector_frames as f64 / r.frames.max(1) as f64;
        let ratio = calls(on) / calls(off).max(1e-9);
        println!(
            "  {name}: detector calls gated / not gated = {ratio:.3} ({:.1}× fewer); frames/s ×{:.2}; zone alerts {} vs {}{}",
            1.0 / ratio.max(1e-9),
            on.fps / off.fps.max(1e-9),
            on.zone_alerts,
            off.zone_alerts,
            if name == "static lobby" {
                let met = ratio <= 1.0 / 3.0 && on.zone_alerts >= off.zone_alerts && on.zone_alerts > 0;
                format!("   (target ≥ 3× fewer, no zone alert lost: {})", if met { "met" } else { "NOT met" })
            } else {
                String::new()
            }
        );
    }
}

fn run(uri: &str, frames: u64, scene: &str, gated: bool) -> Run {
    let text = format!(
        "site = \"bench\"\n[motion]\nenabled = {gated}\n[tracker]\nnew_track_score = 0.4\nhigh_score = 0.4\n{scene}"
    );
    let cfg = PipelineConfig::parse(&text, "bench config").unwrap();
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded::<Alert>();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("cam", uri);
    cam.realtime = false;
    cam.on_full = Some(pipeline::slot::FullPolicy::Block);
    let start = Instant::now();
    path.add_camera(cam).unwrap();
    let (mut n, mut detected) = (0u64, 0u64);
    let (mut t0, mut first_frame, mut last_frame) = (None, None, None);
    let mut first_alert = None;
    let mut zone_alerts = 0;
    let is_zone = |a: &Alert| a.phase == Phase::Begin && a.kind != "object_detected" && a.kind != "camera_tamper";
    loop {
        match events.recv_timeout(Duration::from_secs(120)).expect("frames keep coming") {
            PathEvent::Analysed { event_ts, detected: d, .. } => {
                let now = Instant::now();
                t0.get_or_insert(event_ts);
                first_frame.get_or_insert(now);
                last_frame = Some(now);
                n += 1;
                detected += d as u64;
                for a in alerts_rx.try_iter() {
                    if is_zone(&a) {
                        zone_alerts += 1;
                        if first_alert.is_none() {
                            let e = (a.event_ts - t0.unwrap()).num_milliseconds() as f64 / 1000.0;
                            first_alert = Some((e, start.elapsed().as_secs_f64()));
                        }
                    }
                }
                if n >= frames {
                    break;
                }
            }
            PathEvent::StreamDone(_) => break,
            _ => {}
        }
    }
    path.remove_camera("cam").unwrap();
    path.shutdown();
    zone_alerts += alerts_rx.try_iter().filter(is_zone).count();
    let secs = match (first_frame, last_frame) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Run {
        frames: n,
        detector_frames: detected,
        fps: (n.saturating_sub(1)) as f64 / secs.max(1e-9),
        first_alert,
        zone_alerts,
    }
}

/// Runs this binary as the limit's child on `file`; (frames/s, its ONNX Runtime settings).
fn limit_child(file: &str, frames: u64) -> (f64, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(LIMIT, format!("{file},{frames}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "limit child: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("the limit child's RESULT line");
    let (fps, settings) = line.split_once(' ').unwrap();
    (fps.parse().unwrap(), settings.to_string())
}

/// The limit: the bare tools in one loop on every frame of `file` (support/bare_video.rs).
fn limit(file: &str, frames: u64) {
    let env = bare_video::environment();
    let size = bare_video::Bare::input_size();
    let (conversion, _) = bare_video::fastest_conversion(file, size, frames as usize);
    let best = bare_video::sweep(&env, file, conversion, 40);
    let fps = bare_video::one_loop(&mut bare_video::sessions(&env, best), file, conversion, frames as usize).per_sec();
    println!("RESULT {fps} GStreamer {}, ONNX Runtime {best}", conversion.name());
}
