//! The plate reader on rendered plates. The models come from `qorovul models fetch` (the
//! project's test command runs it first); without them these tests fail and say so.

use super::ocr::{PlateRead, PlateReader, PlateReaderConfig, best_plate};
use super::render::{Degradation, FACES, Renderer, random_plate};
use super::vote::PlateVotes;
use super::{Unread, WatchList, normalise};
use crate::detect::manifest::Manifest;
use opencv::core::{self, Mat, Point, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use pipeline::rng::SplitMix64;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// One reader for all tests (loading takes a while), one test at a time on it, one
/// ONNX Runtime thread.
fn reader() -> MutexGuard<'static, PlateReader> {
    static READER: OnceLock<Result<Mutex<PlateReader>, String>> = OnceLock::new();
    let r = READER.get_or_init(|| {
        let cfg = PlateReaderConfig { threads: 1, ..Default::default() };
        PlateReader::load(&cfg, &Manifest::builtin()).map(Mutex::new)
    });
    match r {
        Ok(m) => m.lock().unwrap_or_else(|e| e.into_inner()),
        Err(e) => panic!("the plate reader cannot load its models: {e}"),
    }
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What a read says the plate's characters are: the plate, else the letters and digits of
/// the line with the most of them (so a near miss counts its right characters), else nothing.
fn read_chars(reads: &Result<Vec<PlateRead>, Unread>) -> String {
    let Ok(reads) = reads else { return String::new() };
    if let Ok(best) = best_plate(reads.clone()) {
        return best.plate.map(|p| p.text).unwrap_or_default();
    }
    reads
        .iter()
        .map(|r| r.text.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
        .max_by_key(String::len)
        .unwrap_or_default()
}

#[test]
fn reads_rendered_plates_over_all_faces_and_degradations() {
    const PLATES: usize = 200;
    let mut renderer = Renderer::new().unwrap();
    let mut reader = reader();
    let mut rng = SplitMix64::new(2025);
    let (mut chars, mut char_errors, mut whole) = (0, 0, 0);
    let mut per_face = [(0, 0); FACES.len()];
    let mut reading = Duration::ZERO;
    let mut misses = Vec::new();
    for i in 0..PLATES {
        let scene = renderer.random_scene(&mut rng).unwrap();
        let t = Instant::now();
        let reads = reader.read(&scene.image);
        reading += t.elapsed();
        let got = read_chars(&reads);
        let truth = &scene.plate.text;
        chars += truth.len();
        char_errors += edit_distance(truth, &got);
        let right = got == *truth;
        whole += usize::from(right);
        per_face[scene.face].0 += usize::from(right);
        per_face[scene.face].1 += 1;
        if !right {
            let d = scene.degradation;
            misses.push(format!(
                "#{i} {truth} read {got:?} ({}; text {:.0} px, yaw {:.0}°, pitch {:.0}°, roll {:.0}°, blur {:.1})",
                FACES[scene.face].name, d.text_height, d.yaw, d.pitch, d.roll, d.blur_sigma
            ));
        }
    }
    let char_pct = 100.0 * (1.0 - char_errors as f64 / chars as f64);
    let plate_pct = 100.0 * whole as f64 / PLATES as f64;
    let rate = PLATES as f64 / reading.as_secs_f64();
    println!(
        "plates: {PLATES} rendered (seed 2025), characters {char_pct:.2} % right ({char_errors} edits in {chars}), \
         whole plates {plate_pct:.1} % ({whole}), {rate:.1} plates/s (1 ORT thread, {:.0} ms each)",
        1000.0 * reading.as_secs_f64() / PLATES as f64
    );
    for (face, (right, n)) in FACES.iter().zip(per_face) {
        println!("  {:<28} {right}/{n}", face.name);
    }
    for m in &misses {
        println!("  missed {m}");
    }
    assert!(per_face.iter().all(|&(_, n)| n > 0), "every face was drawn: {per_face:?}");
    assert!(char_pct >= 99.0, "characters {char_pct:.2} % < 99 %");
    assert!(plate_pct >= 95.0, "whole plates {plate_pct:.1} % < 95 %");
}

#[test]
fn a_plate_read_with_an_ocr_confusion_still_hits_the_watch_list() {
    // Every character here has a look-alike of the other kind: 8/B, 0/O, 1/I.
    let listed = "80 O 108 BI";
    let list = WatchList::new([(listed, "stolen")]).unwrap();
    let plate = normalise(listed).unwrap();
    let mut renderer = Renderer::new().unwrap();
    let mut reader = reader();
    let mut rng = SplitMix64::new(11);
    for (face, f) in FACES.iter().enumerate() {
        let d = Degradation { yaw: 8.0, roll: -4.0, blur_sigma: 0.6, noise_sigma: 4.0, ..Degradation::none(32.0) };
        let scene = renderer.scene(&plate, face, &d, &mut rng).unwrap();
        let read = reader.read_plate(&scene.image).unwrap_or_else(|e| panic!("{}: unread: {e}", f.name));
        let got = read.plate.as_ref().unwrap();
        let hit = list.find(got).unwrap_or_else(|| panic!("{}: read {got:?}, no hit", f.name));
        assert_eq!(hit.listed, listed);
    }
    // The reader's text with one letter/digit confusion put back in: undone by position.
    for confused in ["8O O 108 BI", "80 0 108 BI", "80 O I08 BI", "80 O 108 81", "80 O 1O8 BI"] {
        let hit = list.find(&normalise(confused).unwrap());
        assert_eq!(hit.map(|h| h.confusions), Some(0), "{confused}");
    }
    // A same-kind confusion (3 for 8) is tolerated once, not twice.
    assert_eq!(list.find(&normalise("80 O 103 BI").unwrap()).map(|h| h.confusions), Some(1));
    assert_eq!(list.find(&normalise("80 O 103 BP").unwrap()), None);
    assert_eq!(WatchList::new([]).unwrap().find(&plate), None, "an empty list matches nothing");
}

#[test]
fn three_frames_with_one_misread_vote_the_right_plate() {
    let mut renderer = Renderer::new().unwrap();
    let mut reader = reader();
    let mut rng = SplitMix64::new(3);
    let plate = random_plate(&mut rng);
    let mut votes = PlateVotes::new();
    for frame in 0..3 {
        let d = Degradation::random(&mut rng);
        let scene = renderer.scene(&plate, frame % FACES.len(), &d, &mut rng).unwrap();
        let mut read = reader.read_plate(&scene.image).unwrap_or_else(|e| panic!("frame {frame}: {e}"));
        if frame == 1 {
            // The middle frame misreads one digit as a look-alike, and is sure of it.
            let mut text: Vec<char> = plate.text.chars().collect();
            let k = text.iter().rposition(char::is_ascii_digit).unwrap();
            text[k] = if text[k] == '8' { '3' } else { '8' };
            let misread: String = text.into_iter().collect();
            read.plate = normalise(&misread);
            assert!(read.plate.as_ref().is_ok_and(|p| *p != plate), "{misread}");
            read.char_confidence = [0.99; 8];
        }
        votes.add(&read);
    }
    let voted = votes.best().unwrap();
    assert_eq!((voted.plate.clone(), voted.reads), (plate, 3));
    assert!(voted.support >= 2 && voted.agreement > 0.8, "{voted:?}");
}

#[test]
fn bad_images_are_unread_with_a_reason_never_a_panic() {
    let mut reader = reader();
    let empty = Mat::default();
    assert!(matches!(reader.read(&empty), Err(Unread::Image(why)) if why.contains("empty")));
    let tiny = Mat::new_rows_cols_with_default(1, 1, core::CV_8UC3, Scalar::all(255.0)).unwrap();
    assert!(matches!(reader.read(&tiny), Err(Unread::Image(why)) if why.contains("1×1")));
    let float = Mat::new_rows_cols_with_default(64, 64, core::CV_32FC3, Scalar::all(0.5)).unwrap();
    assert!(matches!(reader.read(&float), Err(Unread::Image(why)) if why.contains("8-bit")));
    let two = Mat::new_rows_cols_with_default(64, 64, core::CV_8UC2, Scalar::all(0.0)).unwrap();
    assert!(matches!(reader.read(&two), Err(Unread::Image(why)) if why.contains("2 channels")));
    let grey = Mat::new_rows_cols_with_default(240, 320, core::CV_8UC3, Scalar::all(128.0)).unwrap();
    assert_eq!(reader.read(&grey), Err(Unread::NoText));

    // Noise: whatever the detector makes of it, no plate comes out.
    let mut rng = SplitMix64::new(1);
    let mut noise = Mat::new_rows_cols_with_default(240, 320, core::CV_8UC3, Scalar::all(0.0)).unwrap();
    for b in noise.data_bytes_mut().unwrap() {
        *b = rng.below(256) as u8;
    }
    let r = reader.read_plate(&noise);
    assert!(r.is_err(), "noise read as {r:?}");

    // Text that is not a plate is read, and said not to be one.
    let mut sign = Mat::new_rows_cols_with_default(160, 640, core::CV_8UC3, Scalar::all(235.0)).unwrap();
    imgproc::put_text(
        &mut sign,
        "HELLO WORLD 42",
        Point::new(30, 100),
        imgproc::FONT_HERSHEY_DUPLEX,
        1.6,
        Scalar::all(20.0),
        3,
        imgproc::LINE_AA,
        false,
    )
    .unwrap();
    let lines = reader.read(&sign).expect("the sign's text is found");
    assert!(lines.iter().all(|l| l.plate.is_err()), "{lines:?}");
    let reason = reader.read_plate(&sign).unwrap_err();
    assert!(matches!(reason, Unread::Length(_) | Unread::NoFormat(_) | Unread::Region(_)), "{reason:?}");
    assert!(!reason.to_string().is_empty());

    // A grey (one-channel) picture of a plate reads like a colour one.
    let plate = normalise("25 Z 552 LS").unwrap();
    let mut renderer = Renderer::new().unwrap();
    let scene = renderer.scene(&plate, 0, &Degradation::none(36.0), &mut SplitMix64::new(4)).unwrap();
    let mut grey_plate = Mat::default();
    imgproc::cvt_color(&scene.image, &mut grey_plate, imgproc::COLOR_BGR2GRAY, 0).unwrap();
    let read = reader.read_plate(&grey_plate).unwrap();
    assert_eq!(read.plate, Ok(plate));
    let [x1, y1, x2, y2] = read.bbox();
    let (sx1, sx2) = (scene.quad[0].x.min(scene.quad[3].x), scene.quad[1].x.max(scene.quad[2].x));
    assert!(x1 >= sx1 - 10.0 && x2 <= sx2 + 10.0 && y1 < y2, "{:?} vs {:?}", read.quad, scene.quad);
}

#[test]
fn missing_models_and_bad_settings_are_named() {
    let manifest = Manifest::builtin();
    let cfg = PlateReaderConfig { det_model_path: Some("/nonexistent/det.onnx".into()), ..Default::default() };
    let e = PlateReader::load(&cfg, &manifest).err().unwrap();
    assert!(e.contains("/nonexistent/det.onnx") && e.contains("qorovul models fetch"), "{e}");
    let e = PlateReader::load(&PlateReaderConfig { det_model: "centernet".into(), ..Default::default() }, &manifest)
        .err()
        .unwrap();
    assert!(e.contains("det_model") && e.contains("text_det"), "{e}");
    let e = PlateReaderConfig { rec_model: "nope".into(), ..Default::default() }.validate(&manifest).unwrap_err();
    assert!(e.starts_with("rec_model") && e.contains("ppocr_rec"), "{e}");
    let e = PlateReaderConfig { unclip_ratio: 9.0, ..Default::default() }.validate(&manifest).unwrap_err();
    assert!(e.starts_with("unclip_ratio"), "{e}");
    let e = PlateReaderConfig { threads: 0, ..Default::default() }.validate(&manifest).unwrap_err();
    assert!(e.starts_with("threads"), "{e}");
    // A detector given as the recogniser: it has no character list.
    let det = manifest.get("ppocr_det").unwrap().cached_path();
    assert!(det.exists(), "{} missing: run `qorovul models fetch`", det.display());
    let e = PlateReader::load_files(&det, &det, &PlateReaderConfig::default()).err().unwrap();
    assert!(e.contains("character"), "{e}");
}
