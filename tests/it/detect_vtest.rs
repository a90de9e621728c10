//! Must show 2: on vtest.avi, at the manifest's threshold, persons are detected in at
//! least 95% of frames — through the real GStreamer decode and the real CenterNet model,
//! two frames side by side as an edge node runs them, in order and with the detections
//! one frame at a time gives.

use crate::support::{VTEST, model_lock};
use operators::detect::{Detection, Detector, DetectorConfig, Manifest};
use pipeline::clock::SystemClock;
use pipeline::metrics::Metric;
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::SourceState;
use pipeline::sources::camera::{CameraConfig, spawn_camera};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// The share of frames that must show at least one person.
const MIN_PERSON_FRAME_SHARE: f64 = 0.95;

/// Frames compared with one-at-a-time detection, to show frames run side by side come back
/// in order with the same detections.
const COMPARED_FRAMES: u64 = 60;

#[test]
fn persons_are_detected_in_95_percent_of_vtest_frames() {
    let _turn = model_lock();
    let manifest = Manifest::builtin();
    // Two frames side by side (a session each, one thread), as an edge node runs them on 2 cores.
    let cfg = DetectorConfig { threads: 2, frames_in_parallel: 2, ..DetectorConfig::default() };
    let mut detector = Detector::load(&cfg, &manifest).expect("run `qorovul models fetch` first");
    let one_at_a_time = DetectorConfig { frames_in_parallel: 1, ..cfg.clone() };
    let mut reference = Detector::load(&one_at_a_time, &manifest).unwrap();
    assert_eq!(detector.threshold(), manifest.get("centernet").unwrap().output.as_ref().unwrap().score_threshold);
    assert!(detector.idle() >= 2, "two runners take frames at once");
    let person = detector.labels().iter().position(|l| *l == "person").unwrap() as u32;

    // Offline analysis: the slot blocks instead of dropping, so every frame is seen.
    let slot =
        Arc::new(Slot::new(4, FullPolicy::Block, Arc::new(Wakeup::default()), Metric::default(), Metric::default()));
    let mut cam = CameraConfig::new("vtest", VTEST);
    cam.realtime = false;
    let (events_tx, events) = crossbeam_channel::unbounded();
    let handle = spawn_camera(cam, detector.input_size(), slot.clone(), events_tx, Arc::new(SystemClock)).unwrap();

    let (mut frames, mut with_person) = (0u64, 0u64);
    let mut in_flight = VecDeque::new();
    let mut ended = false;
    let mut expected: Vec<Vec<Detection>> = Vec::new();
    loop {
        // Keep every runner fed; collect the oldest when none is idle or the file ended.
        if !ended && detector.idle() > 0 {
            match slot.pop_timeout(Duration::from_secs(30)) {
                Some(frame) => {
                    assert_eq!((frame.full_width, frame.full_height), (768, 576), "full-resolution frame kept");
                    let size = (frame.full_width, frame.full_height);
                    detector.submit(vec![frame.model_input.clone()], vec![size]).unwrap();
                    in_flight.push_back(frame);
                    continue;
                }
                None => ended = true,
            }
        }
        let Some(frame) = in_flight.pop_front() else { break };
        let found = detector.collect().unwrap().remove(0);
        assert_eq!(frame.seq, frames, "frames come back in order, none lost");
        if frame.seq < COMPARED_FRAMES {
            let size = (frame.full_width, frame.full_height);
            reference.detect(&[&frame.model_input], &[size], &mut expected).unwrap();
            assert_same(&found, &expected[0], frame.seq);
        }
        frames += 1;
        if found.iter().any(|d| d.class_id == person && d.score >= detector.threshold()) {
            with_person += 1;
        }
    }
    assert!(slot.is_finished(), "the file ended; no frame took 30 s");
    assert!(detector.collect().is_err(), "nothing left to collect");
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

/// The same detections, to float rounding (one thread or two may sum in another order).
fn assert_same(found: &[Detection], expected: &[Detection], seq: u64) {
    assert_eq!(found.len(), expected.len(), "frame {seq}: {found:?} against {expected:?}");
    for (f, e) in found.iter().zip(expected) {
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-2;
        let boxes =
            [f.bbox.x1, f.bbox.y1, f.bbox.x2, f.bbox.y2].into_iter().zip([e.bbox.x1, e.bbox.y1, e.bbox.x2, e.bbox.y2]);
        assert!(
            f.class_id == e.class_id
                && (f.score - e.score).abs() <= 1e-4
                && boxes.into_iter().all(|(a, b)| close(a, b)),
            "frame {seq}: {f:?} against {e:?}"
        );
    }
}
