//! The X-ray threat detector on another scanner: bags of the independent generator
//! (`models/xray/independent/`, written apart from the training generator) from a seed no
//! evaluation used, at the operating point (the manifest's threshold). Bag-level detection
//! per class and false alarms per threat-free bag are asserted at floors 0.1 below EVAL.md's
//! figures. Then the acceptance command runs on the threat-free bags as a site's own scans,
//! with the training generator's threats projected into them; its false alarms must be the
//! ones counted here, and its exit status must follow its own table.

use super::support::{Proc, model_lock, venv_python};
use operators::detect::{BBox, Manifest};
use operators::xray::acceptance::{read_pair, yolo_labels};
use operators::xray::threats::ThreatDetector;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BAGS: usize = 100;
/// Seed 1 is EVAL.md's; seed 2 is used here only.
const SEED: u32 = 2;
const CLASSES: [&str; 4] = ["knife", "gun", "ammunition", "dense_organic"];
/// EVAL.md, independent generator, bag-level detection at the operating point (knife 0.000,
/// gun 0.639, ammunition 0.114, dense organic 0.000), minus 0.1 and not below 0: a floor of 0
/// cannot fail, and says only that this model finds no knife and no dense organic block there.
const MIN_DETECTION: [f64; 4] = [0.0, 0.539, 0.014, 0.0];
/// EVAL.md, independent generator, false alarms per threat-free bag (0.03), plus 0.1.
const MAX_FALSE_ALARMS: f64 = 0.13;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `script ARGS` in the pinned virtualenv, in two processes splitting `--start`.
fn generate(script: &str, args: &[&str], count: usize, out: &Path) {
    let half = count / 2;
    let python = venv_python();
    let children: Vec<_> = [(0, half), (half, count - half)]
        .into_iter()
        .map(|(start, n)| {
            Command::new(&python)
                .arg(root().join(script))
                .args(args)
                .args(["--start", &start.to_string(), "--count", &n.to_string(), "--out"])
                .arg(out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python runs")
        })
        .collect();
    for c in children {
        let c = c.wait_with_output().expect("python runs");
        assert!(c.status.success(), "{script}: {}", String::from_utf8_lossy(&c.stderr));
    }
}

#[test]
fn independent_bags_at_the_operating_point_then_the_acceptance_command() {
    let _guard = model_lock();
    let tmp = std::env::temp_dir().join(format!("qv-xray-accept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (bags, site, library) = (tmp.join("bags"), tmp.join("site"), tmp.join("library"));
    std::fs::create_dir_all(&site).unwrap();
    generate("models/xray/independent/bags.py", &["--seed", &SEED.to_string()], BAGS, &bags);

    let mut det = ThreatDetector::load(&Manifest::builtin(), 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(det.labels(), CLASSES);
    let (mut holding, mut detected) = ([0usize; 4], [0usize; 4]);
    let (mut clean, mut false_alarms) = (0usize, 0usize);
    for i in 0..BAGS {
        let id = format!("ind_{SEED}_{i:05}");
        let scan = read_pair(&bags, &id).unwrap();
        let truth =
            yolo_labels(&std::fs::read_to_string(bags.join(format!("{id}.txt"))).unwrap(), scan.width, scan.height)
                .unwrap();
        let found = det.detect_scaled(&scan.low, &scan.high, scan.width, scan.height, scan.top).unwrap();
        if truth.is_empty() {
            clean += 1;
            false_alarms += found.len();
            for ch in ["low", "high"] {
                std::fs::copy(bags.join(format!("{id}_{ch}.png")), site.join(format!("site{i:03}_{ch}.png"))).unwrap();
            }
        }
        for c in 0..4 {
            let boxes: Vec<&BBox> = truth.iter().filter(|(k, _)| *k as usize == c).map(|(_, b)| b).collect();
            if !boxes.is_empty() {
                holding[c] += 1;
                detected[c] += usize::from(
                    found.iter().any(|f| f.class as usize == c && boxes.iter().any(|b| f.bbox.iou(b) >= 0.5)),
                );
            }
        }
    }
    let fa_per_bag = false_alarms as f64 / clean.max(1) as f64;
    println!("independent generator, seed {SEED}, {BAGS} bags, score >= {}:", det.threshold());
    for c in 0..4 {
        let share = detected[c] as f64 / holding[c].max(1) as f64;
        println!(
            "  {:<14} {:>3} bags, bag-level detection {share:.3} (floor {})",
            CLASSES[c], holding[c], MIN_DETECTION[c]
        );
    }
    println!(
        "  {clean} threat-free bags: {false_alarms} false alarms, {fa_per_bag:.3} per bag (ceiling {MAX_FALSE_ALARMS})"
    );
    assert!(
        clean >= 20 && holding.iter().all(|&n| n >= 10),
        "the generator made {clean} clean bags, {holding:?} per class"
    );
    for c in 0..4 {
        let share = detected[c] as f64 / holding[c] as f64;
        assert!(share >= MIN_DETECTION[c], "{}: bag-level detection {share:.3} below {}", CLASSES[c], MIN_DETECTION[c]);
    }
    assert!(fa_per_bag <= MAX_FALSE_ALARMS, "{fa_per_bag:.3} false alarms per threat-free bag");

    // The acceptance command, on the threat-free bags as the site's scans, with threats of
    // the training generator made at the independent scanner's pixel size (1.3 mm).
    generate(
        "models/xray/synth.py",
        &["--kind", "threat", "--config", "wide", "--seed", "9", "--pixel-mm", "1.3"],
        24,
        &library,
    );
    let args = ["models", "accept-xray", "--scans", site.to_str().unwrap(), "--threats", library.to_str().unwrap()];
    let (status, out, err) = Proc::run(&args, Duration::from_secs(300));
    let status = status.expect("accept-xray finished");
    println!("{out}\n{err}");
    let fa_line = out.lines().find(|l| l.starts_with("false alarms per threat-free bag")).expect("a false-alarm line");
    assert!(
        fa_line.contains(&format!("({false_alarms} in {clean} bags)")),
        "the command counted other false alarms: {fa_line}"
    );
    let detection: Vec<f64> = CLASSES
        .iter()
        .map(|c| {
            let row = out
                .lines()
                .find(|l| l.split_whitespace().next() == Some(c))
                .unwrap_or_else(|| panic!("no row for {c}"));
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells[1], clean.to_string(), "{c}: one projection per site scan");
            cells[3].parse().unwrap()
        })
        .collect();
    let meets = detection.iter().all(|&d| d >= 0.9) && fa_per_bag <= 0.1;
    assert_eq!(status.success(), meets, "exit status against the table: {detection:?}, {fa_per_bag}");
    let sha = Manifest::builtin().entry("xray_threats").unwrap().sha256.clone();
    if meets {
        assert!(out.contains(&format!("threats_accepted = \"{sha}\"")), "{out}");
    } else {
        assert!(err.contains("not accepted"), "{err}");
    }

    // Bad input is refused by name: a library without every class, and a broken scan.
    let one = tmp.join("one-threat");
    std::fs::create_dir_all(&one).unwrap();
    for f in std::fs::read_dir(&library).unwrap().filter_map(Result::ok) {
        if f.file_name().to_string_lossy().starts_with("threat_wide_9_00000") {
            std::fs::copy(f.path(), one.join(f.file_name())).unwrap();
        }
    }
    let (status, _, err) = Proc::run(
        &["models", "accept-xray", "--scans", site.to_str().unwrap(), "--threats", one.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(!status.unwrap().success() && err.contains("the threat library has no gun"), "{err}");
    std::fs::write(site.join("broken_low.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::copy(
        site.join(std::fs::read_dir(&site).unwrap().next().unwrap().unwrap().file_name()),
        site.join("broken_high.png"),
    )
    .unwrap();
    let (status, _, err) = Proc::run(&args, Duration::from_secs(60));
    assert!(!status.unwrap().success() && err.contains("broken_low.png"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}
