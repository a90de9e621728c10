//! The assembled camera path: alert episodes and the contract, cameras added and removed
//! while it runs, and X-ray scans served by its inference executor between camera turns.

use crate::support::{VTEST, assert_valid_alert, model_lock, threads_named};
use crossbeam_channel::Receiver;
use edge::camera_path::{CameraPath, PathEvent};
use edge::executor::THREAD_NAME;
use operators::detect::Manifest;
use operators::xray::threats::ThreatDetector;
use pipeline::alert::{Alert, Phase};
use pipeline::metrics;
use pipeline::sources::camera::CameraConfig;
use qorovul::config::PipelineConfig;
use std::collections::HashMap;
use std::time::Duration;

const CONFIG: &str = r#"
site = "it"
[detector]
threads = 2
[[rules.object_detected]]
classes = ["person"]
min_score = 0.4
min_duration_secs = 1.0
"#;

fn offline_camera(id: &str) -> CameraConfig {
    let mut c = CameraConfig::new(id, VTEST);
    c.realtime = false;
    c
}

/// Waits for `n` analysed frames of `source`, failing after `timeout`.
fn wait_analysed(events: &Receiver<PathEvent>, source: &str, n: usize, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events.recv_timeout(left) {
            Ok(PathEvent::Analysed { source: s, .. }) if &*s == source => got += 1,
            Ok(_) => {}
            Err(e) => panic!("{got}/{n} frames of {source} analysed: {e}"),
        }
    }
}

#[test]
fn every_alert_validates_and_each_person_is_one_episode() {
    let _turn = model_lock();
    let cfg = PipelineConfig::parse(CONFIG, "test").unwrap();
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    path.add_camera(offline_camera("cam")).unwrap();
    wait_analysed(&events, "cam", 200, Duration::from_secs(120));
    path.remove_camera("cam").unwrap();
    path.shutdown();

    let alerts: Vec<Alert> = alerts_rx.try_iter().collect();
    let mut begins_per_track: HashMap<u64, usize> = HashMap::new();
    let mut episodes: HashMap<uuid::Uuid, Vec<Phase>> = HashMap::new();
    for a in &alerts {
        let json = serde_json::to_value(a).unwrap();
        assert_valid_alert(&json);
        assert_eq!(a.key_expr(), format!("qv/it/alert/camera/cam/{}", a.kind));
        episodes.entry(a.episode).or_default().push(a.phase);
        assert_eq!(a.provenance["rule"], "object_detected/1");
        if a.kind == "object_detected" && a.phase == Phase::Begin {
            *begins_per_track.entry(a.objects[0].track_id.unwrap()).or_default() += 1;
        }
    }
    let begins: usize = begins_per_track.values().sum();
    println!("200 frames: {} alerts, {begins} person episodes", alerts.len());
    assert!(begins >= 3, "vtest shows several people within 20 s; got {begins} episodes");
    assert!(begins_per_track.values().all(|&n| n == 1), "one person (track) is one episode: {begins_per_track:?}");
    for (ep, phases) in &episodes {
        assert_eq!(phases, &vec![Phase::Begin, Phase::End], "episode {ep} must begin once and end once");
    }
}

#[test]
fn cameras_are_added_and_removed_while_running() {
    let _turn = model_lock();
    let cfg = PipelineConfig::parse(CONFIG, "test").unwrap();
    let (alerts_tx, _alerts) = crossbeam_channel::unbounded();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    path.add_camera(offline_camera("a")).unwrap();
    path.add_camera(offline_camera("b")).unwrap();
    wait_analysed(&events, "a", 5, Duration::from_secs(60));
    wait_analysed(&events, "b", 5, Duration::from_secs(60));

    assert!(path.add_camera(offline_camera("a")).unwrap_err().contains("already running"));
    path.remove_camera("b").unwrap();
    assert!(path.remove_camera("b").unwrap_err().contains("no camera \"b\""));

    // After b's stream is done, a keeps flowing and b sends nothing more.
    let mut b_done = false;
    let mut a_after = 0;
    while a_after < 20 {
        match events.recv_timeout(Duration::from_secs(60)).expect("frames keep flowing") {
            PathEvent::StreamDone(id) if &*id == "b" => b_done = true,
            PathEvent::Analysed { source, .. } if &*source == "a" && b_done => a_after += 1,
            PathEvent::Analysed { source, .. } if &*source == "b" => assert!(!b_done, "b analysed after its end"),
            _ => {}
        }
    }
    let states = path.camera_states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].0, "a");
    path.shutdown();
}

#[test]
fn one_executor_serves_a_scan_while_a_camera_keeps_it_busy() {
    let _turn = model_lock();
    let cfg = PipelineConfig::parse(CONFIG, "test").unwrap();
    let (alerts_tx, _alerts) = crossbeam_channel::unbounded();
    let threats = ThreatDetector::load(&Manifest::builtin(), 1).unwrap();
    let path = CameraPath::start_serving(&cfg.camera_path(), alerts_tx, None, Some(threats)).unwrap();
    let events = path.observe();
    // Offline, the camera is decoded as fast as the executor takes its frames: there is
    // always a frame waiting when the scan arrives.
    path.add_camera(offline_camera("cam")).unwrap();
    wait_analysed(&events, "cam", 5, Duration::from_secs(60));

    let camera_frames = || metrics::global().value("qv_frames_analysed_total", &[("source", "cam")]);
    let scans = || metrics::global().value("qv_detector_scans_total", &[("source", "it-kv")]);
    let (scans_before, camera_before) = (scans(), camera_frames());
    // Air with a dense block, 320 × 240.
    let (w, h) = (320, 240);
    let (mut low, mut high) = (vec![65535u16; w * h], vec![65535u16; w * h]);
    for i in (80..160).flat_map(|y| (100..220).map(move |x| y * w + x)) {
        (low[i], high[i]) = (6000, 14000);
    }
    let reply = path.scans().expect("started with the threat detector").detect("it-kv", low, high, w, h).unwrap();
    assert_eq!(reply.served_by, THREAD_NAME, "the detector ran on the inference thread");
    assert_eq!(threads_named(THREAD_NAME), 1, "cameras and scans share one executor");
    assert_eq!(scans(), scans_before + 1);

    // The camera kept being served, before the scan's turn and after it.
    wait_analysed(&events, "cam", 5, Duration::from_secs(60));
    assert!(camera_frames() > camera_before);
    path.remove_camera("cam").unwrap();
    path.shutdown();
}
