//! Must show 4: bad input gets a clear error naming the cause; nothing hangs or panics.
//! Each case runs the real thing: GStreamer on a bad file, ONNX Runtime on a bad model,
//! the `qorovul` binary on a bad config.

use crate::support::{Proc, free_port};
use operators::detect::{Detector, DetectorConfig, Manifest};
use pipeline::clock::SystemClock;
use pipeline::metrics::Metric;
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, ReconnectConfig, spawn_camera};
use pipeline::sources::{SourceEvent, SourceState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qorovul-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a camera on `uri` until it reaches a state `done` accepts; returns that state.
fn camera_until(uri: &str, done: fn(&SourceState) -> bool) -> SourceState {
    let slot = Arc::new(Slot::new(
        2,
        FullPolicy::DropOldest,
        Arc::new(Wakeup::default()),
        Metric::default(),
        Metric::default(),
    ));
    let (tx, rx) = crossbeam_channel::unbounded::<SourceEvent>();
    let mut cam = CameraConfig::new(BAD, uri);
    cam.reconnect = ReconnectConfig { initial_secs: 0.2, max_secs: 0.5 };
    let handle = spawn_camera(cam, (64, 64), slot, tx, Arc::new(SystemClock)).unwrap();
    let state = loop {
        let ev = rx.recv_timeout(Duration::from_secs(30)).expect("the camera reports within 30 s");
        if done(&ev.state) {
            break ev.state;
        }
    };
    handle.stop(); // must not hang either
    state
}

/// The camera id used by `camera_until`.
const BAD: &str = "bad";

fn failed_with(uri: &str) -> String {
    match camera_until(uri, |s| matches!(s, SourceState::Failed { .. } | SourceState::Playing)) {
        SourceState::Failed { error } => error,
        other => panic!("{uri}: expected Failed, got {other:?}"),
    }
}

#[test]
fn a_missing_file_fails_naming_the_file_and_is_counted() {
    let errors = pipeline::metrics::global().metric("qv_source_errors_total", &[("source", BAD)]);
    let before = errors.get();
    let err = failed_with("/nonexistent/qorovul/missing.mp4");
    assert!(err.contains("missing.mp4") || err.to_lowercase().contains("not found"), "{err}");
    assert!(errors.get() > before, "source errors are counted in metrics");
}

#[test]
fn a_non_video_file_fails_naming_the_type_problem() {
    let dir = temp_dir("notvideo");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "this is a text file, not a video\n".repeat(200)).unwrap();
    let err = failed_with(text.to_str().unwrap());
    assert!(err.contains("text file"), "{err}");

    // Bytes no type finder recognises (xorshift noise, generated here).
    let blob = dir.join("blob.mp4");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&blob, noise).unwrap();
    let err = failed_with(blob.to_str().unwrap());
    assert!(err.to_lowercase().contains("type"), "{err}");
}

#[test]
fn a_truncated_mp4_fails_without_hanging() {
    use gstreamer::prelude::*;
    gstreamer::init().unwrap();
    let f = temp_dir("trunc").join("cut.mp4");
    // A real H.264 MP4 made by GStreamer, then cut before its index (moov) is written.
    let p = gstreamer::parse::launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240 ! x264enc ! mp4mux ! filesink location={}",
        f.display()
    ))
    .unwrap();
    p.set_state(gstreamer::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(30),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    assert!(matches!(msg.map(|m| m.type_()), Some(gstreamer::MessageType::Eos)));
    p.set_state(gstreamer::State::Null).unwrap();
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = failed_with(f.to_str().unwrap());
    assert!(!err.is_empty());
    println!("truncated mp4: {err}");
}

#[test]
fn an_unreachable_rtsp_url_is_retried_with_the_reason() {
    let port = free_port();
    let state =
        camera_until(&format!("rtsp://127.0.0.1:{port}/cam"), |s| matches!(s, SourceState::Reconnecting { .. }));
    let SourceState::Reconnecting { attempt, error, retry_in_secs } = state else { unreachable!() };
    assert_eq!(attempt, 1);
    assert!(retry_in_secs > 0.0);
    assert!(error.to_lowercase().contains("could not") || error.to_lowercase().contains("refused"), "{error}");
}

#[test]
fn the_cli_reports_bad_sources_and_exits() {
    let (status, _, err) = Proc::run(&["analyze", "/nonexistent/clip.mp4"], Duration::from_secs(60));
    let status = status.expect("analyze exits by itself");
    assert_eq!(status.code(), Some(1), "an error exit, not a panic (101): {err}");
    assert!(err.contains("error: /nonexistent/clip.mp4"), "{err}");

    let port = free_port();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let (status, _, err) = Proc::run(&["analyze", &url, "--retries", "1"], Duration::from_secs(60));
    assert_eq!(status.expect("gives up by itself").code(), Some(1), "{err}");
    assert!(err.contains(&format!("error: {url}")) && err.contains("gave up after 2 attempts"), "{err}");
}

#[test]
fn a_config_typo_names_file_line_and_field() {
    let f = temp_dir("cfg").join("post.toml");
    std::fs::write(
        &f,
        "site = \"post-1\"\n\n[[camera]]\nid = \"gate\"\nuri = \"rtsp://127.0.0.1:1/x\"\nstal_secs = 3\n",
    )
    .unwrap();
    let (status, _, err) = Proc::run(&["check-config", f.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(status.unwrap().code(), Some(1), "{status:?}: {err}");
    assert!(err.contains("post.toml") && err.contains("line 6") && err.contains("stal_secs"), "{err}");

    std::fs::write(&f, "site = \"post-1\"\n[[camera]]\nid = \"gate\"\nuri = \"rtsp://127.0.0.1:1/x\"\n").unwrap();
    let (status, out, err) = Proc::run(&["check-config", f.to_str().unwrap()], Duration::from_secs(30));
    assert!(status.unwrap().success(), "{status:?}\nstdout: {out}\nstderr: {err}");
    assert!(out.contains("ok"), "{out}");
}

/// Scene settings a user gets wrong are refused by `check-config`
/// with the camera, the item and what is wrong; nothing starts with them.
#[test]
fn bad_scene_settings_are_refused_naming_camera_item_and_problem() {
    let f = temp_dir("scene").join("post.toml");
    let base = "site = \"post-1\"\n[[camera]]\nid = \"gate\"\nuri = \"rtsp://127.0.0.1:1/x\"\n";
    let cases = [
        // A bow tie: the edges cross.
        (
            "[[scenes.gate.zones]]\nname = \"yard\"\npoints = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n",
            &["scenes.gate", "zones[0]", "yard", "cross"][..],
        ),
        (
            "[[scenes.gate.zones]]\nname = \"yard\"\npoints = [[0.1, 0.1], [1.4, 0.1], [0.9, 0.9]]\n",
            &["scenes.gate", "zones[0]", "yard", "outside"][..],
        ),
        // Four tie points on one image line: no homography.
        (
            "[scenes.gate.ground]\ntie_points = [{ image = [0.1, 0.5], lat = 41.0, lon = 69.0 }, { image = [0.3, 0.5], lat = 41.0001, lon = 69.0 }, { image = [0.6, 0.5], lat = 41.0002, lon = 69.0001 }, { image = [0.9, 0.5], lat = 41.0003, lon = 69.0002 }]\n",
            &["scenes.gate", "ground"][..],
        ),
        (
            "[[scenes.gate.zones]]\nname = \"yard\"\npoints = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\n[[scenes.gate.rules]]\nkind = \"loitering\"\nzone = \"yrd\"\nclasses = [\"person\"]\ndwell_secs = 30\n",
            &["scenes.gate", "rules[0]", "yrd"][..],
        ),
        ("[motion]\nmin_changed = 3\n", &["motion.min_changed"][..]),
        ("[rules.tamper]\ndefocus_ratio = -1\n", &["rules.tamper.defocus_ratio"][..]),
    ];
    for (extra, words) in cases {
        std::fs::write(&f, format!("{base}{extra}")).unwrap();
        let (status, _, err) = Proc::run(&["check-config", f.to_str().unwrap()], Duration::from_secs(30));
        assert_eq!(status.unwrap().code(), Some(1), "accepted:\n{extra}\n{err}");
        for w in words {
            assert!(err.contains(w), "error for\n{extra}\ndoes not say {w:?}: {err}");
        }
    }
}

/// A minimal ONNX model (one Identity node) with the given input/output names and shape,
/// encoded by hand: the test makes its own bad model instead of shipping one.
fn identity_onnx(input: &str, output: &str, shape: &[i64]) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn int(field: u32, v: i64, out: &mut Vec<u8>) {
        varint((field << 3) as u64, out); // wire type 0: varint
        varint(v as u64, out);
    }
    fn bytes(field: u32, b: &[u8], out: &mut Vec<u8>) {
        varint(((field << 3) | 2) as u64, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    let value_info = |name: &str| {
        let mut dims = Vec::new();
        for &d in shape {
            let mut dim = Vec::new();
            int(1, d, &mut dim); // Dimension.dim_value
            bytes(1, &dim, &mut dims); // TensorShapeProto.dim
        }
        let mut tensor = Vec::new();
        int(1, 1, &mut tensor); // elem_type FLOAT
        bytes(2, &dims, &mut tensor); // shape
        let mut ty = Vec::new();
        bytes(1, &tensor, &mut ty); // TypeProto.tensor_type
        let mut vi = Vec::new();
        bytes(1, name.as_bytes(), &mut vi);
        bytes(2, &ty, &mut vi);
        vi
    };
    let mut node = Vec::new();
    bytes(1, input.as_bytes(), &mut node);
    bytes(2, output.as_bytes(), &mut node);
    bytes(4, b"Identity", &mut node);
    let mut graph = Vec::new();
    bytes(1, &node, &mut graph);
    bytes(2, b"wrong_shapes", &mut graph);
    bytes(11, &value_info(input), &mut graph);
    bytes(12, &value_info(output), &mut graph);
    let mut opset = Vec::new();
    int(2, 13, &mut opset);
    let mut model = Vec::new();
    int(1, 7, &mut model); // ir_version
    bytes(7, &graph, &mut model);
    bytes(8, &opset, &mut model);
    model
}

#[test]
fn a_model_with_wrong_tensor_shapes_is_refused_naming_the_tensor() {
    let manifest = Manifest::builtin();
    let entry = manifest.get("centernet").unwrap().clone();
    let dir = temp_dir("model");
    let cfg = DetectorConfig { threads: 1, ..DetectorConfig::default() };

    let f = dir.join("wrong-shape.onnx");
    std::fs::write(
        &f,
        identity_onnx(&entry.input.as_ref().unwrap().name, &entry.output.as_ref().unwrap().name, &[1, 3, 224, 224]),
    )
    .unwrap();
    let err = Detector::load_file(&f, entry.clone(), &cfg).err().expect("refused");
    assert!(err.contains("wrong-shape.onnx") && err.contains(&entry.input.as_ref().unwrap().name), "{err}");
    assert!(err.contains("[1, 3, 224, 224]") && err.contains("[1, 512, 512, 3]"), "{err}");

    let f = dir.join("wrong-names.onnx");
    std::fs::write(&f, identity_onnx("x", "y", &[1, 512, 512, 3])).unwrap();
    let err = Detector::load_file(&f, entry.clone(), &cfg).err().expect("refused");
    assert!(err.contains("has no input named") && err.contains("[\"x\"]"), "{err}");

    let f = dir.join("garbage.onnx");
    std::fs::write(&f, b"not a model at all").unwrap();
    let err = Detector::load_file(&f, entry, &cfg).err().expect("refused");
    assert!(err.contains("garbage.onnx") && err.contains("not a loadable ONNX model"), "{err}");
}
