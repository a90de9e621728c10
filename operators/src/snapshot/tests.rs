//! Snapshot tests: the stored copy is redacted, annotated and named by its hash; the
//! original is sealed (`pipeline::evidence::seal`, tested there) and opens, unaltered.

use super::*;
use crate::redact::tests::{
    OPENCV_DATA, is_blurred, load_source, marked, mean_abs_diff, overlaps, shared_redactor, sharpness, video_frames,
};
use opencv::core::{CV_8UC3, Mat, Rect, Scalar, Vec3b};
use opencv::prelude::*;
use pipeline::evidence::{SealKey, open_sealed};
use std::path::PathBuf;

fn hex_sha256(bytes: &[u8]) -> String {
    pipeline::hash::sha256_hex(bytes)
}

fn decode(jpeg: &[u8]) -> Mat {
    let buf = opencv::core::Vector::<u8>::from_slice(jpeg);
    let m = opencv::imgcodecs::imdecode(&buf, opencv::imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!m.empty(), "not a decodable JPEG");
    m
}

fn key() -> SealKey {
    SealKey::from_bytes(&[7u8; 32]).unwrap()
}

// ---------------------------------------------------------------- the snapshot

#[test]
fn the_stored_copy_is_redacted_annotated_and_named_by_its_hash_and_the_original_is_sealed() {
    let image = marked().image.into_iter().find(|i| i.source == "vtest.avi#600").unwrap();
    let frame = load_source(&image.source);
    let (w, h) = (frame.cols() as f32, frame.rows() as f32);
    let norm = |b: &[f32; 4]| [b[0] / w, b[1] / h, b[2] / w, b[3] / h];
    // The alert is about two of the six people; the others are only blurred.
    let zone = [[0.02, 0.60], [0.30, 0.62], [0.28, 0.95], [0.03, 0.93]];
    let key = key();
    let mut redactor = shared_redactor();
    let evidence = Snapshot::new(&frame)
        .object(norm(&image.persons[0]), "person", Some(17))
        .object(norm(&image.persons[1]), "person", Some(23))
        .persons(&image.persons[2..])
        .zone(&zone)
        .line([0.40, 0.30], [0.55, 0.38])
        .caption("cam-3 2026-01-05T10:00:00Z zone_intrusion")
        .jpeg_quality(85)
        .build(&mut redactor, &key)
        .unwrap();
    println!(
        "snapshot of a 768×576 frame: {:.1} ms (redaction {:.1} + {:.1} ms), stored {} bytes, sealed {} bytes",
        evidence.build_ms,
        evidence.redaction.detect_ms,
        evidence.redaction.blur_ms,
        evidence.jpeg.len(),
        evidence.sealed_original.len()
    );

    // QV_TEST_DUMP=DIR keeps the stored copy for a person to look at.
    if let Some(dir) = std::env::var_os("QV_TEST_DUMP") {
        std::fs::write(PathBuf::from(dir).join("snapshot-vtest-600.jpg"), &evidence.jpeg).unwrap();
    }
    // Named by content.
    assert_eq!(evidence.sha256, hex_sha256(&evidence.jpeg));
    assert_eq!(evidence.sealed_sha256, hex_sha256(&evidence.sealed_original));
    assert!(evidence.jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    assert_eq!(evidence.redaction.heads, 6, "all six person boxes get the head rule");

    // Every marked face and head is blurred in the stored copy, and no face is found there.
    let stored = decode(&evidence.jpeg);
    assert_eq!((stored.cols(), stored.rows()), (frame.cols(), frame.rows()));
    for m in &image.regions {
        let (ok, ratio, change) = is_blurred(&frame, &stored, m.rect());
        assert!(ok, "{} not blurred in the stored JPEG (sharpness ×{ratio:.3}, change {change:.1})", m.note);
    }
    for f in redactor.detector_mut().detect(&stored).unwrap() {
        let hit = image.regions.iter().find(|m| overlaps(&f.bbox, &m.bbox));
        assert!(
            hit.is_none(),
            "a face {:?} ({:.2}) is found in the stored copy over {}",
            f.bbox,
            f.score,
            hit.unwrap().note
        );
    }

    // The annotations are there: the zone is tinted, the object outlined.
    let mut redacted_only = frame.try_clone().unwrap();
    redactor.redact(&mut redacted_only, &image.persons).unwrap();
    let inside_zone = Rect::new(60, 420, 80, 60);
    assert!(mean_abs_diff(&redacted_only, &stored, inside_zone) > 15.0, "zone fill missing");
    let [x1, y1, _, y2] = image.persons[0].map(|v| v as i32);
    let edge = Rect::new(x1 - 4, y1 + 10, 4, y2 - y1 - 20);
    assert!(mean_abs_diff(&redacted_only, &stored, edge) > 30.0, "object outline missing");

    // The original opens with the key, is the unredacted frame, and its faces are sharp.
    let original = open_sealed(&key, &evidence.sealed_original).unwrap();
    assert_eq!(hex_sha256(&original), evidence.original_sha256);
    let original = decode(&original);
    let whole = Rect::new(0, 0, frame.cols(), frame.rows());
    assert!(mean_abs_diff(&frame, &original, whole) < 3.0, "the sealed original is not the frame");
    for m in image.regions.iter().filter(|m| !m.is_tiny()) {
        let ratio = sharpness(&original, m.rect()) / sharpness(&frame, m.rect());
        assert!(ratio > 0.5, "{} is blurred in the sealed original (×{ratio:.2})", m.note);
    }
}

#[test]
fn sealing_the_same_frame_twice_uses_different_nonces_but_the_stored_copy_is_the_same() {
    let frame = load_source("messi5.jpg");
    let key = key();
    let mut redactor = shared_redactor();
    let a =
        Snapshot::new(&frame).object([0.1, 0.15, 0.85, 0.98], "person", Some(1)).build(&mut redactor, &key).unwrap();
    let b =
        Snapshot::new(&frame).object([0.1, 0.15, 0.85, 0.98], "person", Some(1)).build(&mut redactor, &key).unwrap();
    assert_eq!(a.sha256, b.sha256, "the stored copy is deterministic");
    assert_eq!(a.original_sha256, b.original_sha256);
    assert_ne!(a.sealed_original, b.sealed_original, "each seal needs a fresh nonce");
    assert_eq!(open_sealed(&key, &a.sealed_original).unwrap(), open_sealed(&key, &b.sealed_original).unwrap());
}

#[test]
fn bad_snapshot_inputs_are_refused_by_name() {
    let key = key();
    let mut redactor = shared_redactor();
    let frame = Mat::new_rows_cols_with_default(48, 64, CV_8UC3, Scalar::all(90.0)).unwrap();
    let empty = Mat::default();
    let cases: Vec<(Snapshot, &str)> = vec![
        (Snapshot::new(&empty), "frame: image is empty"),
        (Snapshot::new(&frame).object([0.1, f32::NAN, 0.2, 0.3], "person", None), "object 0 (person)"),
        (Snapshot::new(&frame).object([0.5, 0.5, 0.2, 0.3], "car", None), "object 0 (car)"),
        (Snapshot::new(&frame).zone(&[[0.0, 0.0], [1.0, 1.0]]), "zone 0: 2 points"),
        (Snapshot::new(&frame).zone(&[[0.0, 0.0], [1.0, 1.0], [f32::INFINITY, 0.0]]), "zone 0: point"),
        (Snapshot::new(&frame).line([0.0, 0.0], [f32::NAN, 1.0]), "line 0"),
        (Snapshot::new(&frame).jpeg_quality(0), "jpeg_quality: 0"),
        (Snapshot::new(&frame).original_quality(101), "original_quality: 101"),
    ];
    for (snapshot, expect) in cases {
        let err = snapshot.build(&mut redactor, &key).unwrap_err();
        assert!(err.starts_with(expect), "expected {expect:?}, got {err:?}");
    }
    // Tolerated: points and boxes a little outside the frame are clamped, a one-pixel frame works.
    let tiny = Mat::new_rows_cols_with_default(1, 1, CV_8UC3, Scalar::all(10.0)).unwrap();
    let ok = Snapshot::new(&tiny)
        .object([-0.1, -0.1, 1.2, 1.1], "person", Some(1))
        .zone(&[[-1.0, 0.0], [2.0, 0.0], [0.5, 3.0]])
        .caption("kamera-1 — ёлка")
        .build(&mut redactor, &key)
        .unwrap();
    assert_eq!((decode(&ok.jpeg).cols(), decode(&ok.jpeg).rows()), (1, 1));
}

#[test]
fn drawing_does_not_touch_pixels_outside_the_annotations() {
    // A flat frame, no faces: only the outline, the label and the zone change pixels.
    let frame = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(128.0)).unwrap();
    let mut redactor = shared_redactor();
    let ev = Snapshot::new(&frame).object([0.5, 0.5, 0.7, 0.9], "car", Some(4)).build(&mut redactor, &key()).unwrap();
    assert!(ev.redaction.faces.is_empty() && ev.redaction.regions.is_empty());
    let stored = decode(&ev.jpeg);
    assert!(mean_abs_diff(&frame, &stored, Rect::new(0, 0, 120, 100)) < 1.0);
    // The 1-px outline sits just left of the box (x = 159); JPEG smears it a little.
    let px = *stored.at_2d::<Vec3b>(180, 159).unwrap();
    assert!(px[0] as i32 > px[2] as i32 + 60, "the car outline (blue) at the box's left edge, got {px:?}");
}

// ---------------------------------------------------------------- the clip

#[test]
fn a_clip_is_redacted_frame_by_frame_and_its_originals_sealed() {
    let image = marked().image.into_iter().find(|i| i.source == "vtest.avi#600").unwrap();
    let video = std::path::Path::new(OPENCV_DATA).join("vtest.avi");
    // Frames 598–602; people move a pixel or two a frame, so frame 600's boxes serve all.
    let frames = video_frames(&video, 598, 5).unwrap();
    let clip_frames: Vec<ClipFrame> = frames.iter().map(|f| ClipFrame { frame: f, persons: &image.persons }).collect();
    let key = key();
    let mut redactor = shared_redactor();
    let clip = build_clip(&clip_frames, &mut redactor, &key, 80).unwrap();
    assert_eq!(clip.sha256, hex_sha256(&clip.mjpeg));
    assert_eq!(clip.frame_offsets.len(), 5);
    assert!(clip.faces >= 5, "faces found over 5 frames: {}", clip.faces);
    let segment = |i: usize| {
        let end = clip.frame_offsets.get(i + 1).copied().unwrap_or(clip.mjpeg.len());
        decode(&clip.mjpeg[clip.frame_offsets[i]..end])
    };
    let middle = segment(2);
    for m in &image.regions {
        let (ok, ratio, change) = is_blurred(&frames[2], &middle, m.rect());
        assert!(ok, "{} not blurred in the clip (×{ratio:.3}, {change:.1})", m.note);
    }
    let original = open_sealed(&key, &clip.sealed_original).unwrap();
    assert_eq!(hex_sha256(&original), clip.original_sha256);
    assert_eq!(original.windows(2).filter(|w| w == &[0xFF, 0xD8]).count(), 5, "five JPEGs sealed");

    let small = Mat::new_rows_cols_with_default(10, 10, CV_8UC3, Scalar::all(0.0)).unwrap();
    let mixed = [clip_frames[0], ClipFrame { frame: &small, persons: &[] }];
    let err = build_clip(&mixed, &mut redactor, &key, 80).unwrap_err();
    assert!(err.starts_with("clip frame 1: 10×10, frame 0 is 768×576"), "{err}");
    assert!(build_clip(&[], &mut redactor, &key, 80).unwrap_err().contains("0 frames"));
    assert!(build_clip(&clip_frames[..1], &mut redactor, &key, 0).unwrap_err().contains("quality 0"));
}
