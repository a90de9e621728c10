//! Must show 4 (tamper): covering, defocusing and shifting the view of a real clip
//! (vtest.avi, decoded by the camera source) each raise the matching `camera_tamper`
//! episode, and the untouched clip — people walking — raises none.

use super::AlertContext;
use super::object_detected::FrameFacts;
use super::tamper::{Tamper, TamperConfig};
use crate::motion::SmallGrey;
use opencv::core::{Mat, Rect, Scalar, Size, Vec3b};
use opencv::prelude::*;
use opencv::{core, imgproc};
use pipeline::alert::{Alert, AlertSource, Phase, SourceKind};
use pipeline::clock::SystemClock;
use pipeline::metrics::Metric;
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, spawn_camera};
use std::sync::Arc;
use std::time::Duration;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

/// What happens to the picture in a frame range (10 frames a second).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Edit {
    None,
    /// A hand over the lens: a dark, nearly flat picture with a little grain.
    Cover,
    /// Defocus: a strong Gaussian blur.
    Blur,
    /// The camera knocked sideways: the picture shifted by 12% of its width.
    Shift,
}

fn edit_for(frame: u64) -> Edit {
    match frame {
        100..160 => Edit::Cover,
        220..280 => Edit::Blur,
        340..420 => Edit::Shift,
        _ => Edit::None,
    }
}

fn apply(edit: Edit, rgb: &Mat, seq: u64) -> Mat {
    let mut out = Mat::default();
    match edit {
        Edit::None => out = rgb.clone(),
        Edit::Cover => {
            out = Mat::new_size_with_default(rgb.size().unwrap(), rgb.typ(), Scalar::all(18.0)).unwrap();
            // Light leaking round the edge of the hand, and sensor grain.
            imgproc::rectangle(&mut out, Rect::new(0, 0, 12, rgb.rows()), Scalar::all(40.0), -1, imgproc::LINE_8, 0)
                .unwrap();
            let mut noise = Mat::new_size_with_default(rgb.size().unwrap(), rgb.typ(), Scalar::all(0.0)).unwrap();
            core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(6.0 + (seq % 3) as f64)).unwrap();
            let mut sum = Mat::default();
            core::add_def(&out, &noise, &mut sum).unwrap();
            out = sum;
        }
        Edit::Blur => imgproc::gaussian_blur_def(rgb, &mut out, Size::new(0, 0), 6.0).unwrap(),
        Edit::Shift => {
            let dx = rgb.cols() as f64 * 0.12;
            let m = Mat::from_slice_2d(&[[1.0f64, 0.0, dx], [0.0, 1.0, 8.0]]).unwrap();
            imgproc::warp_affine(
                rgb,
                &mut out,
                &m,
                rgb.size().unwrap(),
                imgproc::INTER_LINEAR,
                core::BORDER_REPLICATE,
                Scalar::default(),
            )
            .unwrap();
        }
    }
    out
}

fn ctx() -> AlertContext {
    AlertContext {
        site: "test".into(),
        source: AlertSource { kind: SourceKind::Camera, id: "vtest".into(), name: "vtest".into(), location: None },
        provenance: Default::default(),
    }
}

#[test]
fn covering_defocusing_and_moving_the_view_of_vtest_raise_their_tamper_alerts() {
    let slot =
        Arc::new(Slot::new(4, FullPolicy::Block, Arc::new(Wakeup::default()), Metric::default(), Metric::default()));
    let mut cam = CameraConfig::new("vtest", VTEST);
    cam.realtime = false;
    let (events_tx, _events) = crossbeam_channel::unbounded();
    let _handle = spawn_camera(cam, (320, 240), slot.clone(), events_tx, Arc::new(SystemClock)).unwrap();

    let cfg = TamperConfig::default();
    let (min_secs, check_secs) = (cfg.min_secs, cfg.check_secs);
    let mut tamper = Tamper::new(cfg).unwrap();
    let ctx = ctx();
    let mut alerts: Vec<(u64, f64, Alert)> = vec![];
    let mut moved_frames = vec![];
    let mut t0 = None::<f64>;
    while let Some(frame) = slot.pop_timeout(Duration::from_secs(30)) {
        if frame.seq >= 480 {
            break;
        }
        let map = frame.model_input.map().unwrap();
        let (w, h) = (frame.model_input.width as i32, frame.model_input.height as i32);
        let rgb = Mat::new_rows_cols_with_bytes::<Vec3b>(h, w, &map.as_slice()[..(w * h * 3) as usize]).unwrap();
        let edited = apply(edit_for(frame.seq), &rgb.clone_pointee(), frame.seq);
        let grey = SmallGrey::of_mat(&edited, 160, imgproc::COLOR_RGB2GRAY).unwrap();
        let t = frame.t_secs();
        let start = *t0.get_or_insert(t);
        let f = FrameFacts {
            t_secs: t,
            event_ts: frame.event_ts,
            ingest_ts: frame.ingest_ts,
            clock: frame.clock,
            frame_w: 768.0,
            frame_h: 576.0,
        };
        let mut out = vec![];
        tamper.update(&ctx, &f, &grey, 0.0, &mut out).unwrap();
        if tamper.moved() {
            moved_frames.push(frame.seq);
        }
        for a in out {
            alerts.push((frame.seq, t - start, a));
        }
    }
    for (seq, t, a) in &alerts {
        println!("frame {seq} t={t:.1}s {:?} {} {:?}", a.phase, a.attributes["tamper"], a.attributes);
    }
    let episodes: Vec<(String, Phase, u64)> = alerts
        .iter()
        .map(|(seq, _, a)| (a.attributes["tamper"].as_str().unwrap().to_string(), a.phase, *seq))
        .collect();
    let kinds: Vec<(&str, Phase)> = episodes.iter().map(|(k, p, _)| (k.as_str(), *p)).collect();
    assert_eq!(
        kinds,
        vec![
            ("covered", Phase::Begin),
            ("covered", Phase::End),
            ("defocused", Phase::Begin),
            ("defocused", Phase::End),
            ("moved", Phase::Begin),
            ("moved", Phase::End),
        ],
        "exactly one episode per edit, in order, and none while people walk through the untouched view"
    );
    // Each begins `min_secs` after its edit starts and ends `min_secs` after it stops
    // (10 frames a second), give or take the measuring interval `check_secs` and a frame.
    let frames = (min_secs * 10.0).round() as u64;
    let slack = (check_secs * 10.0).round() as u64 + 1;
    let expect = [100 + frames, 160 + frames, 220 + frames, 280 + frames, 340 + frames, 420 + frames];
    for ((kind, phase, seq), want) in episodes.iter().zip(expect) {
        assert!(seq.abs_diff(want) <= slack, "{kind} {phase:?} at frame {seq}, expected frame {want} ± {slack}");
    }
    assert!(alerts.iter().all(|(_, _, a)| a.kind == "camera_tamper" && a.severity == pipeline::alert::Severity::High));
    // Zone rules pause exactly while the moved episode is open.
    assert_eq!(
        moved_frames.first().copied().map(|s| s.abs_diff(340 + frames) <= slack),
        Some(true),
        "{moved_frames:?}"
    );
}
