//! Plates on the camera path: the gate-lane clip (`qorovul::demo::clips::GateClip`, a real car
//! photo carrying a plate rendered by code) through detect → track → plate reads → votes:
//! the car's track gets its plate as a `plate_read` episode and, listed, a
//! `plate_watchlist` one; both end with the track, and carry the plate as correlation key.

use crate::support::{assert_valid_alert, model_lock};
use edge::camera_path::{CameraPath, PathEvent};
use pipeline::alert::{Alert, Phase};
use pipeline::sources::camera::CameraConfig;
use qorovul::config::PipelineConfig;
use qorovul::demo::clips::GateClip;
use std::time::Duration;

#[test]
fn the_gate_cars_plate_is_read_voted_and_matched_against_the_watch_list() {
    let _turn = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-gate-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip_path = dir.join("gate.avi");
    let clip = GateClip::standard();
    clip.write(&clip_path).unwrap();
    // Listed with one OCR confusion (B read as 8): the watch list still hits.
    let cfg = PipelineConfig::parse(
        r#"
site = "it"
[detector]
threads = 2
[plates]
enabled = true
watch_list = [{ plate = "01 A 777 8C", reason = "stolen (test)" }]
"#,
        "test",
    )
    .unwrap();
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("gate", &clip_path.display().to_string());
    cam.realtime = false;
    cam.on_full = Some(pipeline::slot::FullPolicy::Block);
    path.add_camera(cam).unwrap();
    while !matches!(events.recv_timeout(Duration::from_secs(120)).expect("the clip plays"), PathEvent::StreamDone(_)) {}
    path.shutdown();
    let alerts: Vec<Alert> = alerts_rx.try_iter().collect();
    for a in &alerts {
        assert_valid_alert(&serde_json::to_value(a).unwrap());
        println!("{} {:?} plate={:?} {:?}", a.kind, a.phase, a.correlation.plate, a.attributes);
    }
    let of =
        |kind: &str, phase: Phase| alerts.iter().filter(|a| a.kind == kind && a.phase == phase).collect::<Vec<_>>();
    let read = of("plate_read", Phase::Begin);
    assert_eq!(read.len(), 1, "one car, one plate episode");
    assert_eq!(read[0].correlation.plate.as_deref(), Some("01A777BC"));
    assert!(matches!(read[0].objects[0].class.as_str(), "car" | "truck" | "bus"), "{:?}", read[0].objects);
    let hit = of("plate_watchlist", Phase::Begin);
    assert_eq!(hit.len(), 1, "the listed plate hits despite the 8/B confusion");
    assert_eq!(hit[0].attributes["reason"], "stolen (test)");
    assert_eq!(of("plate_read", Phase::End).len(), 1, "ends with the track");
    assert_eq!(of("plate_watchlist", Phase::End).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
