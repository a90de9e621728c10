//! The customs lane end to end: a declaration posted over HTTP, a cargo scan made by the
//! repo's generator analysed by the real X-ray lane against that declaration (found by its
//! container), the gate camera's plate read and the portal's reading put on zenoh as
//! their nodes would; the desk publishes the decision on `qv/{site}/pii/lane/{lane}/decision`
//! and a `lane_decision` alert; `qorovul replay-decision` makes the decision again from
//! the published record, identical under the same policy, and names the difference under
//! a changed rule. Bad declarations are refused over HTTP with the field named.

use super::support::{Proc, assert_valid_alert, credentials, free_port, model_lock, post_json_reply};
use super::xray_lane::{generate, meta};
use edge::feeds::Feeds;
use edge::xray_lane::{XrayJob, XrayLane};
use pipeline::alert::{Alert, Phase, Severity, SourceKind};
use pipeline::scans::ScanInput;
use qorovul::config::PipelineConfig;
use serde_json::{Value, json};
use std::time::Duration;
use zenoh::Wait;

const LANE: &str = "post1-cargo1";

#[test]
fn a_truck_s_declaration_scan_plate_and_portal_make_a_published_decision_that_replays() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-customs-lane-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let generated = dir.join("gen");
    let scan_id = generate(&generated, "cargo", Some("textiles_dense_block"), 1600, 500).remove(0);
    let truth: Value =
        serde_json::from_slice(&std::fs::read(generated.join(format!("{scan_id}.json"))).unwrap()).unwrap();
    let declared_kg = truth["declared"]["declared_kg"].as_f64().unwrap();
    let history = dir.join("history.sqlite");
    let (creds, who) = credentials(&dir, &[("customs-system", &[pipeline::feed::FeedKind::Declarations], &["*"])]);
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
[xray_lane]
enabled = true
threats = false
[feeds]
http_listen = "127.0.0.1:0"
credentials = {:?}
[customs]
enabled = true
history = {:?}
wait_secs = 600
[[customs.lane]]
id = "{LANE}"
cameras = ["gate-1"]
scanners = ["lane1-mev"]
portals = ["rpm-1"]
"#,
            free_port(),
            creds.display().to_string(),
            history.display().to_string()
        ),
        "test",
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(pipeline::bus::open(&cfg.bus)).unwrap();
    let decisions = session.declare_subscriber(format!("qv/t/pii/lane/{LANE}/decision")).wait().unwrap();
    // The node's outbox → zenoh, as the edge's publisher does; alerts kept for the asserts.
    let (tx, rx) = crossbeam_channel::unbounded::<Alert>();
    let (seen_tx, seen) = crossbeam_channel::unbounded::<Alert>();
    let publisher = {
        let session = session.clone();
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            for a in rx {
                handle.block_on(pipeline::bus::publish_alert(&session, &a)).unwrap();
                let _ = seen_tx.send(a);
            }
        })
    };
    let lane = XrayLane::start(&cfg.xray_lane, &cfg.xray, &cfg.site, tx.clone(), None, None).unwrap().unwrap();
    let feeds = Feeds::start(&cfg.feed_thread(), &session, rt.handle(), tx.clone(), Some(&lane)).unwrap().unwrap();
    let addr = feeds.http_addr.unwrap();
    let token = who["customs-system"].token.as_str();
    let post = |body: Value| {
        post_json_reply(addr, "/v1/declarations", "application/json", Some(token), body.to_string().as_bytes())
    };
    let declaration = |id: &str, kg: f64| {
        json!({"id": id, "importer_tin": "301234567", "importer_name": "Toshkent To'qimachilik MChJ",
               "submitted": chrono::Utc::now(), "origin": "TR", "route": ["TR", "IR", "TM"],
               "plates": ["01 A 777 BC"], "containers": ["MSCU 123456 6"],
               "goods": [{"hs_code": "520812", "description": "cotton woven fabric", "net_kg": kg, "value_usd": kg * 3.9}]})
    };

    // Refused, with the field and the value named; nothing is held open.
    let (status, reply) = post(declaration("CD-0", -5.0));
    assert_eq!(status, 400, "{reply}");
    assert!(reply["notes"][0].as_str().unwrap().contains("goods[0].net_kg"), "{reply}");
    let (status, reply) = post(json!({"id": "CD-x", "importer_tin": "301234567"}));
    assert_eq!(status, 400, "{reply}");
    assert!(reply["notes"][0].as_str().unwrap().contains("submitted"), "{reply}");
    let (status, reply) = post(declaration("CD-1", declared_kg));
    assert_eq!((status, reply["result"].as_str()), (202, Some("accepted")), "{reply}");

    // The scan names only its container: the X-ray lane finds the declaration by it.
    let read = |e: &str| std::fs::read(generated.join(format!("{scan_id}_{e}.png"))).unwrap();
    let meta = serde_json::from_value(meta("lane-scan-1", "lane1-mev", Some("MSCU1234566"))).unwrap();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let input = ScanInput { meta, low: read("low"), high: read("high") };
    lane.sender().send(XrayJob { input, reply: Some(reply) }).unwrap();
    answer.blocking_recv().unwrap().expect("the scan is analysed");
    // The gate camera's read and the portal's reading, from their nodes.
    let mut plate = Alert::minimal("t", SourceKind::Camera, "gate-1", "plate_read");
    plate.correlation.plate = Some("01A777BC".into());
    let mut portal = Alert::minimal("t", SourceKind::Sensor, "rpm-1", "radiation_reading");
    portal.attributes = json!({"result": "clean", "gamma": {"max_nsigma": 0.8}}).as_object().unwrap().clone();
    for a in [plate, portal] {
        rt.block_on(pipeline::bus::publish_alert(&session, &a)).unwrap();
    }

    let sample =
        decisions.recv_timeout(Duration::from_secs(60)).expect("a decision on the lane's key").expect("a sample");
    let record: Value = serde_json::from_slice(&sample.payload().to_bytes()).unwrap();
    let decision = &record["decision"];
    assert_eq!(decision["corridor"], "red", "{decision:#}");
    assert_eq!(decision["reasons"][0]["rule"], "xray_finding", "{decision:#}");
    let first = decision["reasons"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("dense block") && first.contains("cotton"), "{decision:#}");
    assert_eq!(record["inputs"]["declaration"]["id"], "CD-1");
    assert_eq!(record["inputs"]["identity"]["plates"], json!(["01A777BC"]));
    // Analysed against the declaration: the hidden block is undeclared weight as well.
    let findings = record["inputs"]["xray"]["findings"].to_string();
    assert!(findings.contains("xray_anomaly") && findings.contains("xray_weight_mismatch"), "{findings}");
    assert!(record["versions"]["models"]["xray.calibration_sha256"].is_string(), "{:#}", record["versions"]);

    // Its alert: high, on the lane's own source, valid against the contract.
    let alert = std::iter::from_fn(|| seen.recv_timeout(Duration::from_secs(30)).ok())
        .find(|a| a.kind == "lane_decision")
        .expect("a lane_decision alert");
    assert_valid_alert(&serde_json::to_value(&alert).unwrap());
    assert_eq!((alert.severity, alert.source.kind, alert.phase), (Severity::High, SourceKind::Lane, Phase::Begin));
    assert_eq!(alert.attributes["decision_id"], record["id"]);

    // Posted again, the decided declaration is refused: no second pass through the lane.
    let (status, reply) = post(declaration("CD-1", declared_kg));
    assert_eq!((status, reply["result"].as_str()), (400, Some("refused")), "{reply}");
    let note = reply["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with("id: \"CD-1\" was decided at") && note.contains(record["id"].as_str().unwrap()),
        "{reply}"
    );

    feeds.stop();
    lane.stop();
    drop(tx);
    publisher.join().unwrap();

    // Replayed from the record as published, under the same policy: identical.
    let file = dir.join("record.json");
    std::fs::write(&file, sample.payload().to_bytes()).unwrap();
    let (status, out, err) =
        Proc::run(&["replay-decision", "--record", file.to_str().unwrap()], Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");
    assert!(out.contains("identical"), "{out}");
    // From the lane's history by id, too.
    let id = record["id"].as_str().unwrap();
    let args = ["replay-decision", "--id", id, "--history", history.to_str().unwrap()];
    let (status, out, err) = Proc::run(&args, Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{out}\n{err}");

    // With a changed rule (X-ray findings only yellow), the difference is reported.
    let policy = std::fs::read_to_string("configs/customs.toml").unwrap();
    let red_list: Vec<&str> = policy.lines().filter(|l| l.trim_start().starts_with("\"xray_")).collect();
    let changed = policy
        .lines()
        .filter(|l| !red_list.contains(l))
        .map(|l| {
            if l.starts_with("yellow_findings") {
                format!(
                    "yellow_findings = [{}]",
                    red_list.iter().map(|r| r.split('#').next().unwrap().trim()).collect::<String>()
                )
            } else {
                l.into()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(changed, policy);
    let changed_file = dir.join("customs-changed.toml");
    std::fs::write(&changed_file, changed).unwrap();
    let args = ["replay-decision", "--record", file.to_str().unwrap(), "--policy", changed_file.to_str().unwrap()];
    let (status, out, err) = Proc::run(&args, Duration::from_secs(60));
    assert!(status.is_some_and(|s| !s.success()), "a differing replay fails: {out}\n{err}");
    assert!(out.contains("rules_sha256") && out.contains("corridor"), "{out}");

    rt.block_on(async { session.close().await }).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
