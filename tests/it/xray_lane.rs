//! The X-ray lane end to end: scans made by the repo's generator (`models/xray/synth.py`)
//! arrive by HTTP multipart upload and through a drop folder; each comes out as alerts
//! (findings, a per-scan summary) with the render stored as evidence; a bad upload is
//! answered with its reason and the next scan still flows. kV scans go through the threat
//! detector on the node's inference executor, and without one still publish their materials.

use super::support::{
    assert_valid_alert, credentials, free_port, model_lock, post_json_reply, threads_named, venv_python,
};
use edge::analysers::Analysers;
use edge::executor::{Executor, THREAD_NAME};
use edge::feeds::Feeds;
use edge::xray_lane::{XrayJob, XrayLane};
use operators::detect::Manifest;
use operators::xray::threats::ThreatDetector;
use pipeline::alert::{Alert, Phase};
use pipeline::metrics;
use pipeline::scans::ScanInput;
use qorovul::config::PipelineConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the generator in the pinned virtualenv; returns the folder and the scan ids.
pub(super) fn generate(out: &Path, kind: &str, scenario: Option<&str>, width: u32, height: u32) -> Vec<String> {
    let mut cmd = Command::new(venv_python());
    cmd.arg(root().join("models/xray/synth.py"))
        .args(["--kind", kind, "--config", "test", "--seed", "5", "--count", "1", "--out"])
        .arg(out)
        .args(["--width", &width.to_string(), "--height", &height.to_string()]);
    if let Some(s) = scenario {
        cmd.args(["--scenario", s]);
    }
    let r = cmd.output().expect("python runs");
    assert!(r.status.success(), "synth.py: {}", String::from_utf8_lossy(&r.stderr));
    let mut ids: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix("_low.png").map(str::to_string))
        .collect();
    ids.sort();
    ids
}

pub(super) fn meta(id: &str, scanner: &str, container: Option<&str>) -> Value {
    json!({"scan_id": id, "event_ts": chrono::Utc::now(), "post": "yallama", "lane": "1", "scanner_id": scanner,
           "bit_depth": 16, "container": container, "plate": "01A777BC"})
}

fn multipart(meta: &Value, low: &[u8], high: &[u8]) -> (String, Vec<u8>) {
    let b = "qv-boundary-7";
    let mut body = Vec::new();
    for (name, ctype, bytes) in [
        ("meta", "application/json", meta.to_string().into_bytes()),
        ("low", "image/png", low.to_vec()),
        ("high", "image/png", high.to_vec()),
    ] {
        body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {ctype}\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn post(addr: std::net::SocketAddr, token: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
    post_json_reply(addr, "/v1/scans", ctype, Some(token), body)
}

/// The alerts of one scan, up to and including its `xray_scan` summary's end.
fn scan_alerts(rx: &crossbeam_channel::Receiver<Alert>) -> Vec<Alert> {
    let mut out = Vec::new();
    loop {
        let a = rx.recv_timeout(Duration::from_secs(120)).expect("the scan's alerts");
        assert_valid_alert(&serde_json::to_value(&a).unwrap());
        let last = a.kind == "xray_scan" && a.phase == Phase::End;
        out.push(a);
        if last {
            return out;
        }
    }
}

#[test]
fn scans_by_upload_and_drop_folder_become_alerts_and_a_bad_upload_is_refused_with_its_reason() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-xray-lane-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (gen_cargo, drop_dir) = (dir.join("gen-cargo"), dir.join("drop"));
    let cargo_id = generate(&gen_cargo, "cargo", Some("textiles_dense_block"), 1600, 500).remove(0);
    // The MeV scanner's own identity: scans of lane1-mev only.
    let (creds, who) = credentials(&dir, &[("lane1-mev", &[pipeline::feed::FeedKind::Scans], &["lane1-mev"])]);
    let token = who["lane1-mev"].token.as_str();
    let cfg = PipelineConfig::parse(
        &format!(
            r#"site = "t"
[bus]
listen = ["tcp/127.0.0.1:{}"]
[[xray.scanners]]
id = "lane1-mev"
type = "mev"
air_level = 0.9
dark_level = 0.002
[[xray.scanners]]
id = "hall-kv"
type = "kv"
dark_level = 0.002
[xray_lane]
enabled = true
threats = false
drop_folder = {:?}
poll_ms = 100
[feeds]
http_listen = "127.0.0.1:0"
credentials = {:?}
"#,
            free_port(),
            drop_dir.display().to_string(),
            creds.display().to_string()
        ),
        "test",
    )
    .unwrap();
    let evidence = std::sync::Arc::new(edge::evidence_store::EvidenceStore::open(&dir.join("evidence")).unwrap());
    let (tx, rx) = crossbeam_channel::unbounded();
    let lane = XrayLane::start(&cfg.xray_lane, &cfg.xray, &cfg.site, tx.clone(), Some(evidence.clone()), None)
        .unwrap()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(pipeline::bus::open(&cfg.bus)).unwrap();
    let feeds = Feeds::start(&cfg.feed_thread(), &session, rt.handle(), tx, Some(&lane)).unwrap().unwrap();
    let addr = feeds.http_addr.unwrap();
    let low = std::fs::read(gen_cargo.join(format!("{cargo_id}_low.png"))).unwrap();
    let high = std::fs::read(gen_cargo.join(format!("{cargo_id}_high.png"))).unwrap();

    // A truncated image: refused with the file and the reason; nothing is published.
    let (ctype, body) = multipart(&meta("bad-1", "lane1-mev", None), &low[..low.len() / 3], &high);
    let (status, reply) = post(addr, token, &ctype, &body);
    assert_eq!(status, 400, "{reply}");
    assert!(reply["notes"][0].as_str().unwrap().contains("bad-1_low.png"), "{reply}");
    // Metadata naming another scanner: not this identity's to speak for.
    let (ctype, body) = multipart(&meta("bad-2", "lane9", None), &low, &high);
    let (status, reply) = post(addr, token, &ctype, &body);
    assert_eq!(status, 403);
    assert!(reply["notes"][0].as_str().unwrap().contains("may not speak for \"lane9\""), "{reply}");

    // The good cargo scan by upload: the dense block is a finding, with the render as evidence.
    let (ctype, body) = multipart(&meta("up-1", "lane1-mev", Some("MSCU1234565")), &low, &high);
    let (status, reply) = post(addr, token, &ctype, &body);
    assert_eq!(status, 202, "{reply}");
    let alerts = scan_alerts(&rx);
    let kinds: Vec<&str> = alerts.iter().filter(|a| a.phase == Phase::Begin).map(|a| a.kind.as_str()).collect();
    assert!(kinds.iter().any(|k| matches!(*k, "xray_anomaly" | "xray_dense_region")), "{kinds:?}");
    for a in &alerts {
        assert_eq!(a.correlation.container.as_deref(), Some("MSCU1234565"));
        let hash = pipeline::evidence::evidence_hash(&a.evidence[0]).unwrap();
        assert!(evidence.size(hash).unwrap().is_some(), "the render is in the evidence store");
        assert!(a.provenance.contains_key("config_sha256"), "{:?}", a.provenance);
    }

    // The same scan through the drop folder: images first, the metadata last.
    std::fs::create_dir_all(&drop_dir).unwrap();
    std::fs::write(drop_dir.join("dr-1_low.png"), &low).unwrap();
    std::fs::write(drop_dir.join("dr-1_high.png"), &high).unwrap();
    std::fs::write(drop_dir.join("dr-1.json"), meta("dr-1", "lane1-mev", Some("TGHU7654321")).to_string()).unwrap();
    let alerts = scan_alerts(&rx);
    assert_eq!(alerts[0].attributes["scan_id"], "dr-1");
    assert!(drop_dir.join("done/dr-1.json").exists());
    assert!(rx.try_recv().is_err(), "refused scans published nothing");

    drop(feeds);
    lane.stop();
    rt.block_on(async { session.close().await }).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config with the kV scanner and the lane's threat detector on.
fn kv_config() -> PipelineConfig {
    let text = r#"site = "t"
[detector]
threads = 1
[[xray.scanners]]
id = "hall-kv"
type = "kv"
dark_level = 0.002
[xray_lane]
enabled = true
threats = true
"#;
    PipelineConfig::parse(text, "test").unwrap()
}

/// One generated baggage scan's two images.
fn baggage(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let id = generate(dir, "baggage", None, 640, 480).remove(0);
    let read = |e: &str| std::fs::read(dir.join(format!("{id}_{e}.png"))).unwrap();
    (read("low"), read("high"))
}

/// Hands a scan to the lane and waits for what became of it.
fn submit(lane: &XrayLane, id: &str, (low, high): &(Vec<u8>, Vec<u8>)) -> Result<String, String> {
    let meta = serde_json::from_value(meta(id, "hall-kv", None)).unwrap();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let input = ScanInput { meta, low: low.clone(), high: high.clone() };
    lane.sender().send(XrayJob { input, reply: Some(reply) }).unwrap();
    answer.blocking_recv().expect("the lane answers")
}

#[test]
fn a_node_without_cameras_runs_the_threat_detector_on_an_inference_executor_of_its_own() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-xray-threats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scan = baggage(&dir);
    let (tx, rx) = crossbeam_channel::unbounded();
    let cfg = kv_config();
    let lanes = Analysers::start(&cfg.camera_path(), &cfg.xray_lane, &cfg.xray, tx, None, false).unwrap();
    assert!(lanes.cameras().is_none());
    assert_eq!(threads_named(THREAD_NAME), 1, "the node has one inference executor");
    // Only the executor's thread counts scans its threat detector ran on.
    let ran = || metrics::global().value("qv_detector_scans_total", &[("source", "hall-kv")]);
    let before = ran();

    let summary = submit(lanes.xray().unwrap(), "bag-1", &scan).unwrap();
    assert!(summary.contains(" threats"), "{summary}");
    let alerts = scan_alerts(&rx);
    assert_eq!(ran(), before + 1);
    let scan_summary = alerts.iter().find(|a| a.kind == "xray_scan").unwrap();
    assert!(scan_summary.attributes["threats"].is_u64(), "{:?}", scan_summary.attributes);
    assert!(!scan_summary.attributes.contains_key("threats_error"));
    for a in alerts.iter().filter(|a| a.kind == "xray_threat") {
        assert!(a.provenance["model"].as_str().unwrap().starts_with("xray_threats sha256:"), "{:?}", a.provenance);
    }
    println!("baggage scan: {summary}");
    lanes.stop();
    assert_eq!(threads_named(THREAD_NAME), 0, "the executor stopped with the lanes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_its_executor_gone_a_kv_scan_still_publishes_its_materials_and_says_why_it_has_no_threats() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-xray-no-exec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scan = baggage(&dir);
    let cfg = kv_config();
    let detector = ThreatDetector::load(&Manifest::builtin(), 1).unwrap();
    let executor = Executor::spawn(None, Some(detector), Default::default());
    let queue = executor.scans().unwrap();
    executor.stop();
    let (tx, rx) = crossbeam_channel::unbounded();
    let lane = XrayLane::start(&cfg.xray_lane, &cfg.xray, &cfg.site, tx, None, Some(queue)).unwrap().unwrap();
    let failed = || metrics::global().value("qv_scans_threats_failed_total", &[("scanner", "hall-kv")]);
    let before = failed();

    let summary = submit(&lane, "bag-2", &scan).unwrap();
    assert!(summary.contains("threats not looked for"), "{summary}");
    assert_eq!(failed(), before + 1, "counted");
    let alerts = scan_alerts(&rx);
    let scan_summary = alerts.iter().find(|a| a.kind == "xray_scan").unwrap();
    let why = scan_summary.attributes["threats_error"].as_str().unwrap();
    assert!(why.contains("inference executor has stopped"), "{why}");
    let histogram = scan_summary.attributes["histogram_px"].as_array().unwrap();
    assert!(histogram.iter().skip(1).any(|n| n.as_u64() > Some(0)), "the materials were classified: {histogram:?}");
    lane.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn threat_findings_are_advisory_until_the_site_accepts_the_running_model() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-xray-advisory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scan = baggage(&dir);
    let detector = ThreatDetector::load(&Manifest::builtin(), 1).unwrap();
    let executor = Executor::spawn(None, Some(detector), Default::default());
    let sha = Manifest::builtin().entry(operators::xray::threats::MODEL).unwrap().sha256.clone();
    // the same scan through a lane of each kind: not accepted, accepted another model, accepted this one
    let run = |accepted: Option<&str>| {
        let mut cfg = kv_config();
        cfg.xray_lane.threats_accepted = accepted.map(String::from);
        let (tx, rx) = crossbeam_channel::unbounded();
        let lane = XrayLane::start(&cfg.xray_lane, &cfg.xray, &cfg.site, tx, None, executor.scans()).unwrap().unwrap();
        let summary = submit(&lane, "bag-3", &scan).unwrap();
        let alerts = scan_alerts(&rx);
        lane.stop();
        (summary, alerts)
    };
    let (_, accepted) = run(Some(&sha));
    let alarms: Vec<&Alert> = accepted.iter().filter(|a| a.kind == "xray_threat" && a.phase == Phase::Begin).collect();
    assert!(!alarms.is_empty(), "the detector finds something on this scan, so the comparison means something");
    for a in &alarms {
        assert_eq!(a.provenance["threat_alarms"], "accepted", "{:?}", a.provenance);
        assert!(a.provenance["model"].as_str().unwrap().ends_with(&sha));
        assert!(a.provenance["threshold"].as_f64().unwrap() > 0.0, "{:?}", a.provenance);
        assert!(a.confidence as f64 >= a.provenance["threshold"].as_f64().unwrap() - 1e-6);
    }
    let accepted_summary = accepted.iter().find(|a| a.kind == "xray_scan").unwrap();
    assert_eq!(accepted_summary.attributes["threat_classes"].as_array().unwrap().len(), alarms.len());

    for other in [None, Some("0".repeat(64))] {
        let (said, advisory) = run(other.as_deref());
        assert!(said.contains("(advisory)"), "{said}");
        assert!(advisory.iter().all(|a| a.kind != "xray_threat"), "no threat alarm while the model is not accepted");
        let summary = advisory.iter().find(|a| a.kind == "xray_scan" && a.phase == Phase::Begin).unwrap();
        assert_eq!(summary.attributes["threat_classes"], json!([]), "the lane decision gets no threat");
        let listed = summary.attributes["advisory_threats"].as_array().unwrap();
        assert_eq!(listed.len(), alarms.len(), "every finding is recorded");
        // drawn on the scan: one box per finding, said to be advisory
        assert_eq!(summary.objects.len(), alarms.len());
        assert!(summary.objects.iter().all(|o| o.class.ends_with("(advisory)") && o.bbox.is_some()));
        assert_eq!(summary.provenance["threat_alarms"], "advisory");
    }
    executor.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
