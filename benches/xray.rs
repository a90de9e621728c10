//! X-ray benchmark: scans/s of the X-ray lane's analysis, and its peak memory,
//! on a 4000 × 2000 16-bit dual-energy cargo scan (MeV) and on a baggage scan (kV), both
//! made by the repo's generator (`models/xray/synth.py`, cached by its arguments and the
//! script's hash). For each:
//!   - the limit: OpenCV's `imdecode` of the scan's two PNGs alone, nothing else (the
//!     bare decoder; until issue 21 the limit was the lane's own `Scan::decode`, which is
//!     now printed beside it);
//!   - the lane's work: decode + materials + findings (MeV cargo) + the render, and for kV
//!     baggage the threat detector on the inference executor, as `edge/src/xray_lane.rs` does;
//!   - peak memory (VmHWM) of each, honestly apart: each phase runs in a child process of
//!     this binary (`QV_XRAY_BENCH_PHASE` picks it), which reports its VmHWM at its end.
//!
//! `cargo bench --bench xray` runs the full sizes; `cargo test --bench xray` (CI) a smoke
//! run: the same 4000 × 2000 scan, fewer iterations, in the test profile (workspace crates
//! unoptimised), so its figures only show that the code runs.

use edge::executor::{Executor, ScanQueue};
use opencv::core::Vector;
use opencv::imgcodecs;
use opencv::prelude::*;
use operators::detect::{DetectorConfig, Manifest};
use operators::xray::threats::ThreatDetector;
use operators::xray::{Analysis, Declaration, DeclaredGoods, Scan, ScanLimits, ScanMeta, ScannerType, XrayConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Selects a child's phase: `decode` or `full`.
const PHASE: &str = "QV_XRAY_BENCH_PHASE";
/// A child's scan (`{id}.json` and its two PNGs in a folder): `folder/id`.
const SCAN: &str = "QV_XRAY_BENCH_SCAN";
/// A child's run length: `min_iterations,min_seconds`.
const RUN: &str = "QV_XRAY_BENCH_RUN";
/// The line a child reports on.
const RESULT: &str = "QV_XRAY_RESULT ";

const CONFIG: &str = r#"
[[scanners]]
id = "lane1-mev"
type = "mev"
air_level = 0.9
dark_level = 0.002
[[scanners]]
id = "hall-kv"
type = "kv"
dark_level = 0.002
"#;

fn main() {
    if let Ok(phase) = std::env::var(PHASE) {
        return child(&phase);
    }
    let full = std::env::args().any(|a| a == "--bench");
    let run = if full { (5, 5.0) } else { (2, 0.0) };
    let build = if cfg!(debug_assertions) {
        "smoke run, test profile: workspace crates unoptimised"
    } else {
        "release profile"
    };
    println!("X-ray lane, {build}; each figure from its own child process:");
    let cargo = generate(&[
        "--kind",
        "cargo",
        "--config",
        "test",
        "--seed",
        "31",
        "--count",
        "1",
        "--scenario",
        "textiles_dense_block",
        "--width",
        "4000",
        "--height",
        "2000",
    ]);
    let baggage = generate(&["--kind", "baggage", "--config", "test", "--seed", "11", "--count", "1"]);
    let truth = read_truth(&cargo);
    assert_eq!(
        (truth["width"].as_u64(), truth["height"].as_u64(), truth["bits"].as_u64()),
        (Some(4000), Some(2000), Some(16))
    );
    for (scan, what) in [(&cargo, "cargo (MeV)"), (&baggage, "baggage (kV)")] {
        let t = read_truth(scan);
        let size = format!("{} × {} {}-bit", t["width"], t["height"], t["bits"]);
        let bare = run_child("bare", scan, run);
        let decode = run_child("decode", scan, run);
        let lane = run_child("full", scan, run);
        let rate = |r: &Value| r["scans"].as_f64().unwrap() / r["secs"].as_f64().unwrap();
        let (limit, checked, got) = (rate(&bare), rate(&decode), rate(&lane));
        let threats = match lane["provider"].as_str() {
            Some(p) => {
                format!(" + threat detector on the inference executor ({p}, {} ORT threads)", lane["ort_threads"])
            }
            None => " (no threat detector: it runs on kV scans, not on MeV cargo)".to_string(),
        };
        println!("{what} {size}:");
        println!(
            "    limit: OpenCV imdecode of the two PNGs alone (IMREAD_UNCHANGED, {} scans): {limit:.2} scans/s",
            bare["scans"]
        );
        println!(
            "    the lane's decode (imdecode + header probe, limits and checks, Scan::decode): {checked:.2} scans/s, {:.2}× the limit",
            checked / limit
        );
        println!(
            "    the lane: decode + materials + findings + render{threats}: {got:.2} scans/s ({} scans), {:.2}× the limit",
            lane["scans"],
            got / limit
        );
        let stages: Vec<String> = ["decode", "materials", "findings", "render", "threats"]
            .iter()
            .filter_map(|k| Some(format!("{k} {:.0}", lane["stages_ms"].get(k)?.as_f64()?)))
            .collect();
        println!("    per scan, ms: {}; {} findings, {} threats", stages.join(", "), lane["findings"], lane["threats"]);
        let (m0, m1) = (mib(&bare), mib(&lane));
        println!(
            "    peak memory (VmHWM): bare decode {m0:.0} MiB, full analysis {m1:.0} MiB: +{:.0} MiB, {:.2}×",
            m1 - m0,
            m1 / m0
        );
    }
}

fn mib(r: &Value) -> f64 {
    r["vmhwm_kib"].as_f64().unwrap() / 1024.0
}

/// Runs this binary as a child for one phase on one scan; its result line, parsed.
fn run_child(phase: &str, scan: &Path, (iterations, secs): (u32, f64)) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(PHASE, phase)
        .env(SCAN, scan)
        .env(RUN, format!("{iterations},{secs}"))
        .output()
        .expect("the benchmark runs itself as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {phase} on {}: {}\n{stdout}\n{}",
        scan.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT)).expect("the child reports");
    serde_json::from_str(line).unwrap()
}

/// The generator's scans for `args`, made once into a folder named by the arguments and the
/// script's hash; returns `folder/id` of the first.
fn generate(args: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("models/xray/synth.py");
    let mut h = Sha256::new();
    h.update(format!("{args:?}"));
    h.update(std::fs::read(&script).unwrap());
    let key: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join("qorovul-bench-xray").join(key);
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let venv = Command::new("bash").arg(root.join("models/pypi/onnx-venv.sh")).output().expect("bash runs");
        assert!(venv.status.success(), "onnx-venv.sh: {}", String::from_utf8_lossy(&venv.stderr));
        let python = PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim()).join("bin/python");
        let out = Command::new(python).arg(&script).args(args).arg("--out").arg(&dir).output().expect("python runs");
        assert!(out.status.success(), "synth.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(dir.join("done"), "").unwrap();
    }
    let mut ids: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.with_extension(""))
        .collect();
    ids.sort();
    ids.remove(0)
}

fn read_truth(scan: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(scan.with_extension("json")).unwrap()).unwrap()
}

/// One phase, in a child process: runs it, then reports its rate and its peak memory.
fn child(phase: &str) {
    let scan = PathBuf::from(std::env::var(SCAN).unwrap());
    let run = std::env::var(RUN).unwrap();
    let (iterations, secs) = run.split_once(',').unwrap();
    let (iterations, secs): (u32, f64) = (iterations.parse().unwrap(), secs.parse().unwrap());
    let truth = read_truth(&scan);
    let file = |e: &str| PathBuf::from(format!("{}_{e}.png", scan.display()));
    let (low, high) = (std::fs::read(file("low")).unwrap(), std::fs::read(file("high")).unwrap());
    let (meta, declaration) = (meta(&truth), declaration(&truth));
    let limits = ScanLimits::default();
    let decode = || Scan::decode(meta.clone(), ("low.png", &low), ("high.png", &high), &limits).unwrap();
    let mut report = json!({});
    let (scans, spent) = match phase {
        // The limit: OpenCV's PNG decoder alone on the two images, as an integrator would
        // call it, none of the lane's checks or copies.
        "bare" => repeat(iterations, secs, |_| {
            for png in [&low, &high] {
                black_box(imgcodecs::imdecode(&Vector::<u8>::from_slice(png), imgcodecs::IMREAD_UNCHANGED).unwrap());
            }
        }),
        "decode" => repeat(iterations, secs, |_| {
            black_box(decode());
        }),
        "full" => {
            let cfg: XrayConfig = toml::from_str(CONFIG).unwrap();
            let analysis = Analysis::from_config(&cfg, Path::new(".")).unwrap();
            let kv = meta.scanner_type == Some(ScannerType::Kv);
            let threads = DetectorConfig::default().threads;
            // The lane's threat detector runs on the inference executor; so does it here.
            let executor = kv.then(|| {
                let d = ThreatDetector::load(&Manifest::builtin(), threads).expect("run `qorovul models fetch`");
                Executor::spawn(None, Some(d), Default::default())
            });
            let queue: Option<ScanQueue> = executor.as_ref().and_then(Executor::scans);
            let mut stages: std::collections::BTreeMap<&str, f64> = Default::default();
            let (mut findings, mut threats, mut n) = (0, 0, 0);
            let r = repeat(iterations, secs, |timed| {
                if !timed {
                    stages.clear();
                }
                let t = Instant::now();
                let scan = decode();
                *stages.entry("decode").or_default() += ms(t);
                let r = analysis.analyse(&scan, declaration.as_ref()).unwrap();
                for (k, v) in &r.timings_ms {
                    *stages.entry(k).or_default() += v;
                }
                findings = r.findings.len();
                if let Some(q) = &queue {
                    let t = Instant::now();
                    let (w, h) = (scan.width() as usize, scan.height() as usize);
                    let reply = q.detect(&meta.scanner_id, u16s(&scan.low.mat), u16s(&scan.high.mat), w, h).unwrap();
                    *stages.entry("threats").or_default() += ms(t);
                    threats = reply.threats.len();
                }
                n += u32::from(timed);
                black_box(r);
            });
            // Per timed scan: the warm-up scan's times were cleared by the first timed one.
            let stages: serde_json::Map<String, Value> =
                stages.into_iter().map(|(k, v)| (k.to_string(), json!(v / n as f64))).collect();
            report = json!({"stages_ms": stages, "findings": findings, "threats": threats, "ort_threads": threads,
                            "provider": queue.as_ref().map(|q| q.provider().as_str())});
            drop(executor);
            r
        }
        _ => panic!("{PHASE}={phase}: bare, decode or full"),
    };
    report["scans"] = json!(scans);
    report["secs"] = json!(spent.as_secs_f64());
    report["vmhwm_kib"] = json!(vmhwm_kib());
    println!("{RESULT}{report}");
}

/// Runs `f(false)` once to warm up, then `f(true)` at least `iterations` times and for at
/// least `secs`; returns how many timed runs, and how long they took.
fn repeat(iterations: u32, secs: f64, mut f: impl FnMut(bool)) -> (u32, Duration) {
    f(false);
    let t0 = Instant::now();
    let mut n = 0;
    while n < iterations || t0.elapsed().as_secs_f64() < secs {
        f(true);
        n += 1;
    }
    (n, t0.elapsed())
}

/// The image as 16-bit samples, copied (as the lane hands them to the executor).
fn u16s(mat: &opencv::core::Mat) -> Vec<u16> {
    mat.data_typed::<u16>().unwrap().to_vec()
}

/// This process's peak resident memory (`VmHWM` in /proc/self/status), KiB.
fn vmhwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("Linux /proc/self/status has VmHWM");
    line.trim().trim_end_matches("kB").trim().parse().unwrap()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The scan's metadata as its scanner would send it (the generator's truth).
fn meta(t: &Value) -> ScanMeta {
    let mev = t["scanner"] == "mev";
    ScanMeta {
        post: "bench".into(),
        lane: "1".into(),
        scanner_id: if mev { "lane1-mev" } else { "hall-kv" }.into(),
        scanner_type: Some(if mev { ScannerType::Mev } else { ScannerType::Kv }),
        energies_kev: Some([t["energies_kev"]["low"].as_f64().unwrap(), t["energies_kev"]["high"].as_f64().unwrap()]),
        pixel_size_mm: t["pixel_mm"].as_f64(),
        bit_depth: t["bits"].as_u64().unwrap() as u8,
        container: mev.then(|| "MSCU1234565".into()),
        scan_id: t["id"].as_str().unwrap().into(),
        ..Default::default()
    }
}

/// The cargo's declaration as the generator's truth states it (baggage has none).
fn declaration(t: &Value) -> Option<Declaration> {
    let d = t.get("declared")?;
    Some(match d["hs_chapter"].as_u64() {
        None => Declaration { id: None, empty: true, goods: vec![] },
        Some(hs) => Declaration {
            id: None,
            empty: false,
            goods: vec![DeclaredGoods {
                hs_chapter: hs as u8,
                description: d["description"].as_str().unwrap_or_default().into(),
                kg: d["declared_kg"].as_f64().unwrap(),
            }],
        },
    })
}
