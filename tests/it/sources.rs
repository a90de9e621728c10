//! Camera source behaviour that needs no model: looping files keep one timeline.

use gstreamer::prelude::*;
use pipeline::clock::SystemClock;
use pipeline::frame::EventTimeSource;
use pipeline::metrics::Metric;
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, spawn_camera};
use std::sync::Arc;
use std::time::Duration;

/// Writes a short H.264 MP4 with GStreamer: `frames` frames at 10 fps.
pub fn make_clip(path: &std::path::Path, frames: u32) {
    gstreamer::init().unwrap();
    let p = gstreamer::parse::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,width=320,height=240,framerate=10/1 ! x264enc ! mp4mux ! filesink location={}",
        path.display()
    ))
    .unwrap();
    p.set_state(gstreamer::State::Playing).unwrap();
    let msg = p.bus().unwrap().timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(30),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    assert!(matches!(msg.map(|m| m.type_()), Some(gstreamer::MessageType::Eos)));
    p.set_state(gstreamer::State::Null).unwrap();
}

#[test]
fn a_looping_file_continues_its_timeline_across_the_loop() {
    let dir = std::env::temp_dir().join(format!("qorovul-it-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("ten.mp4");
    make_clip(&clip, 10);

    let slot =
        Arc::new(Slot::new(2, FullPolicy::Block, Arc::new(Wakeup::default()), Metric::default(), Metric::default()));
    let mut cam = CameraConfig::new("loop", clip.to_str().unwrap());
    cam.looping = true;
    cam.realtime = false;
    let (tx, _events) = crossbeam_channel::unbounded();
    let handle = spawn_camera(cam, (64, 48), slot.clone(), tx, Arc::new(SystemClock)).unwrap();

    let mut frames = Vec::new();
    while frames.len() < 35 {
        frames.push(slot.pop_timeout(Duration::from_secs(10)).expect("a looping file never ends"));
    }
    handle.stop();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.seq, i as u64, "sequence numbers run on across loops");
        assert_eq!(f.event_time_source, EventTimeSource::FilePosition);
        assert_eq!((f.model_input.width, f.model_input.height), (64, 48), "scaled in GStreamer");
        assert_eq!((f.full_width, f.full_height), (320, 240), "full resolution kept");
    }
    // 10 fps: every step is 100 ms of event time, the loop boundaries included.
    for w in frames.windows(2) {
        let step = (w[1].event_ts - w[0].event_ts).num_milliseconds();
        assert!((90..=110).contains(&step), "frame {} → {}: {step} ms", w[0].seq, w[1].seq);
    }
}
