//! The lane desk as a specification: inputs in any order, decided at the last one or at
//! the wait, ambiguity left to an officer, bad input refused by field and never green. No
//! model, socket or thread: the desk is driven by the test's clock.

use super::*;
use crate::risk::selectivity::{Action, Corridor};
use chrono::{DateTime, Utc};
use pipeline::alert::{Alert, Severity, SourceKind};
use pipeline::metrics;
use serde_json::{Value, json};

const LANE: &str = "post1-cargo1";

fn config(wait_secs: f64) -> CustomsConfig {
    CustomsConfig {
        enabled: true,
        // The repository's policy (tests run in the crate's folder).
        policy: concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/customs.toml").into(),
        lanes: vec![LaneDevices {
            id: LANE.into(),
            cameras: vec!["gate-cam".into()],
            scanners: vec!["mev-1".into()],
            portals: vec!["rpm-1".into()],
            plate_country: Some("UZ".into()),
        }],
        wait_secs,
        linger_secs: 30.0,
        ..Default::default()
    }
}

fn desk() -> CustomsDesk {
    CustomsDesk::new(&config(60.0), "t", OpenDeclarations::shared()).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    "2026-11-22T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(secs)
}

fn declaration(id: &str, plate: &str, container: Option<&str>, hs: &str, kg: f64) -> Vec<u8> {
    json!({"id": id, "importer_tin": "301234567", "submitted": at(-3600), "origin": "TR", "route": ["TR", "IR", "TM"],
           "plates": [plate], "containers": container.into_iter().collect::<Vec<_>>(),
           "goods": [{"hs_code": hs, "description": "goods", "net_kg": kg, "value_usd": kg * 8.0}]})
    .to_string()
    .into_bytes()
}

fn plate_read(plate: &str) -> Alert {
    let mut a = Alert::minimal("t", SourceKind::Camera, "gate-cam", "plate_read");
    a.correlation.plate = Some(plate.into());
    a
}

fn scan(id: &str, plate: Option<&str>, container: Option<&str>, findings: &[&str]) -> Alert {
    let mut a = Alert::minimal("t", SourceKind::Xray, "mev-1", "xray_scan");
    a.correlation.plate = plate.map(String::from);
    a.correlation.container = container.map(String::from);
    let list: Vec<Value> = findings.iter().map(|k| json!({"kind": k, "severity": "high"})).collect();
    a.attributes = json!({"scan_id": id, "finding_list": list, "threat_classes": [], "declaration_checked": true})
        .as_object()
        .unwrap()
        .clone();
    a
}

fn reading(result: &str) -> Alert {
    let mut a = Alert::minimal("t", SourceKind::Sensor, "rpm-1", "radiation_reading");
    a.attributes = json!({"result": result, "gamma": {"max_nsigma": 1.5}}).as_object().unwrap().clone();
    a
}

fn rejected(reason: &str) -> u64 {
    metrics::global().value("qv_feed_rejected_total", &[("feed", "declarations"), ("reason", reason)])
}

#[test]
fn a_vehicle_is_assembled_from_inputs_in_any_order_and_decided_at_the_last() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    let o = d.declaration(&declaration("D-1", "01 A 123 BC", Some("CSQU 305438 3"), "620342", 8000.0), at(0), &mut out);
    assert_eq!(o.result, "accepted", "{o:?}");
    // The portal first (no identity), then the gate camera's read with an OCR confusion
    // (O for 0), then the scan naming only the container.
    d.observe(&reading("clean"), at(10), &mut out);
    d.observe(&plate_read("O1A123BC"), at(12), &mut out);
    assert!(out.decisions.is_empty() && d.waiting() == 1, "the scan is still missing");
    d.observe(&scan("S-1", None, Some("CSQU3054383"), &[]), at(20), &mut out);
    assert_eq!(out.decisions.len(), 1, "decided at the last input");
    assert_eq!(d.waiting(), 0);
    let r = &out.decisions[0];
    assert_eq!(r.inputs.declaration.as_ref().map(|x| x.id.as_str()), Some("D-1"));
    assert_eq!(r.inputs.identity.plates, ["01A123BC"]);
    assert_eq!(r.inputs.identity.containers, ["CSQU3054383"]);
    assert_eq!(r.inputs.xray.as_ref().unwrap().scan_id, "S-1");
    assert_eq!(r.inputs.radiation.as_ref().unwrap().portal, "rpm-1");
    assert!(r.inputs.identity.issues.is_empty(), "{:?}", r.inputs.identity.issues);
    // Stored for replay, and an alert on the lane's own source.
    assert_eq!(d.history().decision(&r.id).unwrap().as_ref(), Some(r));
    let a = out.alerts.iter().find(|a| a.kind == "lane_decision").expect("a decision alert");
    assert_eq!((a.source.kind, a.source.id.as_str()), (SourceKind::Lane, LANE));
    assert_eq!(a.attributes["decision_id"], r.id.as_str());
    assert_eq!(a.correlation.container.as_deref(), Some("CSQU3054383"));
}

#[test]
fn a_dense_block_in_declared_textiles_is_red_with_the_scan_first_and_a_high_alert() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.declaration(&declaration("D-2", "01A124BC", Some("MSCU1234566"), "620462", 7600.0), at(0), &mut out);
    d.observe(&plate_read("01A124BC"), at(1), &mut out);
    d.observe(&scan("S-2", Some("01A124BC"), Some("MSCU1234566"), &["xray_anomaly"]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    let r = &out.decisions[0];
    assert_eq!(r.decision.corridor, Corridor::Red, "{:?}", r.decision.reasons);
    assert_eq!(r.decision.reasons[0].rule, "xray_finding", "{:?}", r.decision.reasons);
    let a = out.alerts.iter().find(|a| a.kind == "lane_decision").unwrap();
    assert_eq!(a.severity, Severity::High);
    assert!(a.attributes["reasons"][0].as_str().unwrap().contains("dense block"), "{}", a.attributes["reasons"]);
}

#[test]
fn a_plate_matching_two_declarations_waits_for_an_officer_and_is_never_green() {
    // Left alone: decided at the wait, manual review naming both.
    let mut d = desk();
    let mut out = DeskOutput::default();
    for id in ["D-3", "D-4"] {
        d.declaration(&declaration(id, "01A555BC", None, "620342", 5000.0), at(0), &mut out);
    }
    d.observe(&plate_read("01A555BC"), at(1), &mut out);
    d.observe(&scan("S-3", Some("01A555BC"), None, &[]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    assert!(out.decisions.is_empty(), "an ambiguous vehicle is not decided on its own inputs");
    d.tick(at(60), &mut out);
    assert!(out.decisions.is_empty(), "wait_secs counts from its first input");
    d.tick(at(61), &mut out);
    let r = &out.decisions[0];
    assert_eq!((r.decision.corridor, r.decision.action), (Corridor::Yellow, Action::ManualReview));
    assert!(r.decision.reasons.iter().any(|x| x.text.contains("D-3 and D-4")), "{:?}", r.decision.reasons);

    // An officer's entry settles it: decided at once, against the declaration named.
    let mut d = desk();
    let mut out = DeskOutput::default();
    for id in ["D-3", "D-4"] {
        d.declaration(&declaration(id, "01A555BC", None, "620342", 5000.0), at(0), &mut out);
    }
    d.observe(&plate_read("01A555BC"), at(1), &mut out);
    d.observe(&scan("S-3", Some("01A555BC"), None, &[]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    let entry = json!({"lane": LANE, "plates": ["01 A 555 BC"], "declaration_id": "D-4", "officer": "k.aliyev"});
    let o = d.identity(entry.to_string().as_bytes(), at(20), &mut out);
    assert_eq!(o.result, "accepted", "{o:?}");
    let r = &out.decisions[0];
    assert_eq!(r.inputs.declaration.as_ref().unwrap().id, "D-4");
    assert!(r.inputs.identity.manual && r.inputs.identity.issues.is_empty(), "{:?}", r.inputs.identity);
    let bad = d.identity(json!({"lane": "nope", "plates": ["01A555BC"]}).to_string().as_bytes(), at(21), &mut out);
    assert!(bad.result == "refused" && bad.notes[0].contains("lane"), "{bad:?}");
}

#[test]
fn a_scan_with_no_declaration_is_manual_review_after_the_wait() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.observe(&scan("S-5", Some("01A777BC"), Some("TCLU7002003"), &[]), at(0), &mut out);
    d.observe(&reading("clean"), at(10), &mut out);
    d.tick(at(59), &mut out);
    assert!(out.decisions.is_empty(), "waits for a declaration or an officer");
    d.tick(at(60), &mut out);
    let r = &out.decisions[0];
    assert_eq!((r.decision.corridor, r.decision.action), (Corridor::Yellow, Action::ManualReview));
    assert_eq!(r.decision.reasons[0].rule, "identity");
    assert!(r.decision.reasons[0].text.contains("S-5"), "{:?}", r.decision.reasons[0]);
}

#[test]
fn bad_declarations_are_refused_naming_the_field_and_odd_ones_make_the_vehicle_yellow() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    let before = rejected("bad_weight");
    let o = d.declaration(&declaration("D-6", "01A126BC", None, "620342", -5.0), at(0), &mut out);
    assert_eq!(o.result, "refused");
    assert!(o.notes[0].contains("goods[0].net_kg") && o.notes[0].contains("-5"), "{o:?}");
    assert_eq!(rejected("bad_weight"), before + 1);
    // One wrong character in a container number fails its check digit.
    let o = d.declaration(&declaration("D-7", "01A126BC", Some("CSQU3054384"), "620342", 100.0), at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].starts_with("containers[0]"), "{o:?}");
    let o = d.declaration(&declaration("D-8", "not a plate", None, "620342", 100.0), at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].starts_with("plates[0]"), "{o:?}");
    // An HS code not in the table is taken, noted, and keeps the vehicle from green.
    let o = d.declaration(&declaration("D-9", "01A126BC", None, "999999", 100.0), at(0), &mut out);
    assert_eq!(o.result, "accepted");
    assert!(o.notes.iter().any(|n| n.contains("goods[0].hs_code")), "{o:?}");
    d.observe(&plate_read("01A126BC"), at(1), &mut out);
    d.observe(&scan("S-9", Some("01A126BC"), None, &[]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    let r = &out.decisions[0];
    assert_ne!(r.decision.corridor, Corridor::Green);
    assert!(r.decision.reasons.iter().any(|x| x.rule == "declaration_note"), "{:?}", r.decision.reasons);
}

#[test]
fn a_decided_vehicle_s_later_reads_are_it_leaving_and_old_declarations_are_history() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.declaration(&declaration("D-10", "01A127BC", None, "620342", 5000.0), at(0), &mut out);
    d.observe(&plate_read("01A127BC"), at(1), &mut out);
    d.observe(&scan("S-10", Some("01A127BC"), None, &[]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    assert_eq!(out.decisions.len(), 1);
    d.observe(&plate_read("01A127BC"), at(20), &mut out);
    assert_eq!(d.waiting(), 0, "still in view, leaving");
    d.tick(at(50), &mut out);
    d.observe(&plate_read("01A127BC"), at(50), &mut out);
    assert_eq!(d.waiting(), 1, "after linger_secs it is a new arrival");

    let mut old = serde_json::from_slice::<Value>(&declaration("D-11", "01A128BC", None, "620342", 10.0)).unwrap();
    old["submitted"] = json!(at(-86_400 * 100));
    let o = d.declaration(old.to_string().as_bytes(), at(60), &mut out);
    assert_eq!(o.result, "recorded", "{o:?}");
    assert!(!d.read_open().by_id.contains_key("D-11"));
    assert_eq!(d.history().importer("301234567").unwrap().declarations, 2);
}

#[test]
fn a_decided_declaration_posted_again_is_refused_and_not_held_open() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    let body = declaration("D-20", "01A129BC", None, "620342", 5000.0);
    assert_eq!(d.declaration(&body, at(0), &mut out).result, "accepted");
    // Before its decision the declaration may be amended.
    let amended = declaration("D-20", "01A129BC", None, "620342", 5100.0);
    assert_eq!(d.declaration(&amended, at(1), &mut out).result, "updated");
    d.observe(&plate_read("01A129BC"), at(2), &mut out);
    d.observe(&scan("S-20", Some("01A129BC"), None, &[]), at(5), &mut out);
    d.observe(&reading("clean"), at(16), &mut out);
    assert_eq!(out.decisions.len(), 1);
    let decided = out.decisions[0].clone();

    let before = rejected("decided");
    for (again, t) in [(&body, 40), (&amended, 41)] {
        let o = d.declaration(again, at(t), &mut out);
        assert_eq!(o.result, "refused", "{o:?}");
        let when = decided.decided_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(o.notes[0].starts_with(&format!("id: \"D-20\" was decided at {when}")), "{o:?}");
        assert!(o.notes[0].contains(&decided.id), "{o:?}");
    }
    assert_eq!(rejected("decided"), before + 2);
    assert!(!d.read_open().by_id.contains_key("D-20"), "not held open again");
    // The truck coming back is a new arrival with no declaration: never decided on the old one.
    d.tick(at(100), &mut out);
    d.observe(&plate_read("01A129BC"), at(100), &mut out);
    d.tick(at(200), &mut out);
    assert_eq!(out.decisions.len(), 2);
    assert!(out.decisions[1].inputs.declaration.is_none(), "{:?}", out.decisions[1].inputs.declaration);
    assert_eq!(d.history().decision_for("D-20").unwrap().as_ref(), Some(&decided));
}

#[test]
fn the_desk_runs_without_a_model_a_socket_or_a_thread() {
    crate::isolation::run_alone("customs::tests::every_desk_test_in_isolation");
}

#[test]
#[ignore = "run by the_desk_runs_without_a_model_a_socket_or_a_thread, alone in a child process"]
fn every_desk_test_in_isolation() {
    crate::isolation::without_threads_or_sockets(|| {
        a_vehicle_is_assembled_from_inputs_in_any_order_and_decided_at_the_last();
        a_dense_block_in_declared_textiles_is_red_with_the_scan_first_and_a_high_alert();
        a_plate_matching_two_declarations_waits_for_an_officer_and_is_never_green();
        a_scan_with_no_declaration_is_manual_review_after_the_wait();
        bad_declarations_are_refused_naming_the_field_and_odd_ones_make_the_vehicle_yellow();
        a_decided_vehicle_s_later_reads_are_it_leaving_and_old_declarations_are_history();
        a_decided_declaration_posted_again_is_refused_and_not_held_open();
    });
}
