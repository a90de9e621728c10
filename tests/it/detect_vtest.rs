//! Must show 2: on vtest.avi, at the manifest's threshold, persons are detected in at
//! least 95% of frames — through the real GStreamer decode and the real CenterNet model.

use crate::support::{VTEST, model_lock};
use operators::detect::{Detection, Detector, DetectorConfig, Manifest};
use pipeline::clock::SystemClock;
use pipeline::metrics::Metric;
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::SourceState;
use pipeline::sources::camera::{CameraConfig, spawn_camera};
use std::sync::Arc;
use std::time::Duration;

/// The share of frames that must show at least one person.
const MIN_PERSON_FRAME_SHARE: f64 = 0.95;

#[test]
fn persons_are_detected_in_95_percent_of_vtest_frames() {
    let _turn = model_lock();
    let manifest = Manifest::builtin();
    let cfg = DetectorConfig { threads: 2, ..DetectorConfig::default() };
    let mut detector = Detector::load(&cfg, &manifest).expect("run `qorovul models fetch` first");
    assert_eq!(detector.threshold(), manifest.get("centernet").unwrap().output.as_ref().unwrap().score_threshold);
    let person = detector.labels().iter().position(|l| *l == "person").unwrap() as u32;

    // Offline analysis: the slot blocks instead of dropping, so every frame is seen.
    let slot =
        Arc::new(Slot::new(4, FullPolicy::Block, Arc::new(Wakeup::default()), Metric::default(), Metric::default()));
    let mut cam = CameraConfig::new("vtest", VTEST);
    cam.realtime = false;
    let (events_tx, events) = crossbeam_channel::unbounded();
    let handle = spawn_camera(cam, detector.input_size(), slot.clone(), events_tx, Arc::new(SystemClock)).unwrap();

    let (mut frames, mut with_person) = (0u64, 0u64);
    let mut out: Vec<Vec<Detection>> = Vec::new();
    while let Some(frame) = slot.pop_timeout(Duration::from_secs(30)) {
        assert_eq!((frame.full_width, frame.full_height), (768, 576), "full-resolution frame kept");
        assert_eq!(frame.seq, frames, "frames arrive in order, none lost");
        detector.detect(&[&frame.model_input], &[(frame.full_width, frame.full_height)], &mut out).unwrap();
        frames += 1;
        if out[0].iter().any(|d| d.class_id == person && d.score >= detector.threshold()) {
            with_person += 1;
        }
    }
    assert!(slot.is_finished(), "the file ended; no frame took 30 s");
    let states: Vec<SourceState> = events.try_iter().map(|e| e.state).collect();
    assert_eq!(states.last(), Some(&SourceState::Ended), "{states:?}");
    drop(handle);
    let share = with_person as f64 / frames as f64;
    println!(
        "vtest.avi: {with_person}/{frames} frames with a person (share {share:.3}, need {MIN_PERSON_FRAME_SHARE})"
    );
    assert!(frames >= 790, "vtest.avi has ~795 frames, decoded {frames}");
    assert!(share >= MIN_PERSON_FRAME_SHARE, "persons in {share:.3} of frames");
}
