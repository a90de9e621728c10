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

/// A lane device's alert that happened at `at(t)`.
fn alert(kind: SourceKind, device: &str, what: &str, t: i64) -> Alert {
    let mut a = Alert::minimal("t", kind, device, what);
    a.event_ts = at(t);
    a.ingest_ts = at(t);
    a
}

fn plate_read(plate: &str, t: i64) -> Alert {
    let mut a = alert(SourceKind::Camera, "gate-cam", "plate_read", t);
    a.correlation.plate = Some(plate.into());
    a
}

fn scan(id: &str, plate: Option<&str>, container: Option<&str>, findings: &[&str], t: i64) -> Alert {
    let mut a = alert(SourceKind::Xray, "mev-1", "xray_scan", t);
    a.correlation.plate = plate.map(String::from);
    a.correlation.container = container.map(String::from);
    let list: Vec<Value> = findings.iter().map(|k| json!({"kind": k, "severity": "high"})).collect();
    a.attributes = json!({"scan_id": id, "finding_list": list, "threat_classes": [], "declaration_checked": true})
        .as_object()
        .unwrap()
        .clone();
    a
}

fn reading(result: &str, t: i64) -> Alert {
    let mut a = alert(SourceKind::Sensor, "rpm-1", "radiation_reading", t);
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
    d.observe(&reading("clean", 10), at(10), &mut out);
    d.observe(&plate_read("O1A123BC", 12), at(12), &mut out);
    assert!(out.decisions.is_empty() && d.waiting() == 1, "the scan is still missing");
    d.observe(&scan("S-1", None, Some("CSQU3054383"), &[], 20), at(20), &mut out);
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
    d.observe(&plate_read("01A124BC", 1), at(1), &mut out);
    d.observe(&scan("S-2", Some("01A124BC"), Some("MSCU1234566"), &["xray_anomaly"], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
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
    d.observe(&plate_read("01A555BC", 1), at(1), &mut out);
    d.observe(&scan("S-3", Some("01A555BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
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
    d.observe(&plate_read("01A555BC", 1), at(1), &mut out);
    d.observe(&scan("S-3", Some("01A555BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
    let entry = json!({"lane": LANE, "plates": ["01 A 555 BC"], "declaration_id": "D-4", "officer": "k.aliyev"});
    let o = d.identity(entry.to_string().as_bytes(), at(20), &mut out, "k.aliyev");
    assert_eq!(o.result, "accepted", "{o:?}");
    let r = &out.decisions[0];
    assert_eq!(r.inputs.declaration.as_ref().unwrap().id, "D-4");
    assert!(r.inputs.identity.manual && r.inputs.identity.issues.is_empty(), "{:?}", r.inputs.identity);
    let bad = d.identity(
        json!({"lane": "nope", "plates": ["01A555BC"]}).to_string().as_bytes(),
        at(21),
        &mut out,
        "k.aliyev",
    );
    assert!(bad.result == "refused" && bad.notes[0].contains("lane"), "{bad:?}");
}

#[test]
fn a_scan_with_no_declaration_is_manual_review_after_the_wait() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.observe(&scan("S-5", Some("01A777BC"), Some("TCLU7002003"), &[], 0), at(0), &mut out);
    d.observe(&reading("clean", 10), at(10), &mut out);
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
    d.observe(&plate_read("01A126BC", 1), at(1), &mut out);
    d.observe(&scan("S-9", Some("01A126BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
    let r = &out.decisions[0];
    assert_ne!(r.decision.corridor, Corridor::Green);
    assert!(r.decision.reasons.iter().any(|x| x.rule == "declaration_note"), "{:?}", r.decision.reasons);
}

#[test]
fn a_decided_vehicle_s_later_reads_are_it_leaving() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.declaration(&declaration("D-10", "01A127BC", None, "620342", 5000.0), at(0), &mut out);
    d.observe(&plate_read("01A127BC", 1), at(1), &mut out);
    d.observe(&scan("S-10", Some("01A127BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
    assert_eq!(out.decisions.len(), 1);
    d.observe(&plate_read("01A127BC", 20), at(20), &mut out);
    assert_eq!(d.waiting(), 0, "still in view, leaving");
    d.tick(at(50), &mut out);
    d.observe(&plate_read("01A127BC", 50), at(50), &mut out);
    assert_eq!(d.waiting(), 1, "after linger_secs it is a new arrival");
}

/// The declaration body with `field` set to `value`.
fn with(body: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v[field] = value;
    v.to_string().into_bytes()
}

fn refused_by(feed: &str, reason: &str) -> u64 {
    metrics::global().value("qv_feed_rejected_total", &[("feed", feed), ("reason", reason)])
}

#[test]
fn a_2019_declaration_is_refused_on_the_lane_and_taken_by_the_import_route() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    let tin = "309000001"; // a new importer: nothing in its history
    let old = with(&declaration("D-2019", "01A128BC", None, "620342", 10.0), "importer_tin", json!(tin));
    let old = with(&old, "submitted", json!("2019-01-01T00:00:00Z"));

    // On the lane feed it would make the new importer look years old: refused, by field.
    let before = rejected("submitted_old");
    let o = d.declaration(&old, at(0), &mut out);
    assert_eq!(o.result, "refused", "{o:?}");
    assert!(o.notes[0].starts_with("submitted: 2019-01-01T00:00:00Z is 2882 days old"), "{o:?}");
    assert!(o.notes[0].contains("POST /v1/declarations/import"), "{o:?}");
    assert_eq!(rejected("submitted_old"), before + 1);
    let nothing = d.history().importer(tin).unwrap();
    assert_eq!((nothing.first_seen, nothing.declarations), (None, 0), "the history is untouched");
    // Nor from the future, on either route.
    let ahead = with(&old, "submitted", json!(at(SUBMITTED_AHEAD_SECS + 1)));
    let o = d.declaration(&ahead, at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].contains("301 s ahead"), "{o:?}");
    let before = refused_by("declaration_imports", "submitted_future");
    assert_eq!(d.import_declaration(&ahead, at(0), "customs-sync").result, "refused");
    assert_eq!(refused_by("declaration_imports", "submitted_future"), before + 1);
    // Just inside the tolerance is taken (the customs system's clock runs a little ahead).
    let close = with(&declaration("D-61", "01A161BC", None, "620342", 10.0), "submitted", json!(at(60)));
    assert_eq!(d.declaration(&close, at(0), &mut out).result, "accepted");

    // The import route takes it: history only, audited with who imported it.
    let o = d.import_declaration(&old, at(0), "customs-sync");
    assert_eq!(o.result, "recorded", "{o:?}");
    let h = d.history().importer(tin).unwrap();
    assert_eq!(h.first_seen, Some("2019-01-01T00:00:00Z".parse().unwrap()));
    assert_eq!(h.declarations, 1);
    let audit = d.history().imported("D-2019").unwrap().expect("an audit row");
    assert_eq!((audit.by.as_str(), audit.at), ("customs-sync", at(0)));
    let checked =
        crate::risk::parse_declaration(&old, &crate::risk::RiskConfig::load(&config(60.0).policy).unwrap().hs);
    assert_eq!(audit.content_sha256, checked.unwrap().declaration.content_sha256());
    assert!(!d.read_open().by_id.contains_key("D-2019"), "never held open for a lane");
    // Sent again as it was (an archive re-run): a duplicate, no second audit row.
    assert_eq!(d.import_declaration(&old, at(3), "customs-sync").result, "duplicate");
    assert_eq!(d.history().imported("D-2019").unwrap().unwrap().at, at(0));
    // Once: an import adds, it does not amend; and an imported id is not a lane's.
    let before = refused_by("declaration_imports", "known");
    let o = d.import_declaration(&with(&old, "origin", json!("CN")), at(1), "customs-sync");
    assert!(o.result == "refused" && o.notes[0].contains("already recorded"), "{o:?}");
    assert_eq!(refused_by("declaration_imports", "known"), before + 1);
    let fresh = with(&old, "submitted", json!(at(-60)));
    let o = d.declaration(&fresh, at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].contains("imported as history"), "{o:?}");
    assert_eq!(d.import_declaration(&old, at(2), " ").result, "refused", "an import names its sender");
}

#[test]
fn another_importer_s_declaration_id_is_refused_and_the_owner_s_amendment_taken() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    let owner = declaration("D-40", "01A140BC", None, "620342", 5000.0);
    assert_eq!(d.declaration(&owner, at(0), &mut out).result, "accepted");

    let squatter = with(&owner, "importer_tin", json!("309999999"));
    let before = rejected("id_taken");
    let o = d.declaration(&squatter, at(1), &mut out);
    assert_eq!(o.result, "refused", "{o:?}");
    assert_eq!(o.notes, ["id: \"D-40\" belongs to another importer"], "the owner's TIN is not told");
    assert_eq!(rejected("id_taken"), before + 1);
    let o = d.import_declaration(&with(&squatter, "submitted", json!("2020-01-01T00:00:00Z")), at(1), "customs-sync");
    assert!(o.result == "refused" && o.notes[0].contains("belongs to another importer"), "{o:?}");
    assert_eq!(d.history().importer("309999999").unwrap().declarations, 0);

    // The owner amending its undecided declaration is taken, as before.
    let amended = declaration("D-40", "01A140BC", None, "620342", 5200.0);
    assert_eq!(d.declaration(&amended, at(2), &mut out).result, "updated");
    assert_eq!(d.history().importer("301234567").unwrap().amendments, 1);
    let open = d.read_open();
    assert_eq!(open.by_id["D-40"].checked.declaration.goods[0].net_kg, 5200.0);
}

#[test]
fn a_second_inspection_is_an_amendment_both_kept_and_counted_once() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.declaration(&declaration("D-50", "01A150BC", None, "620342", 5000.0), at(0), &mut out);
    let result = |found: bool, officer: Option<&str>| {
        let mut v = json!({"declaration_id": "D-50", "ts": at(600), "found": found});
        if let Some(o) = officer {
            v["officer"] = json!(o);
        }
        v.to_string().into_bytes()
    };
    let o = d.inspection(&result(false, None), at(600), "k.aliyev");
    assert_eq!((o.result, o.notes.len()), ("accepted", 0), "{o:?}");
    // Someone writing in another officer's name is refused, naming the field.
    let before = refused_by("inspections", "officer");
    let o = d.inspection(&result(true, Some("k.aliyev")), at(700), "anvar.r");
    assert!(o.result == "refused" && o.notes[0].starts_with("officer: \"k.aliyev\""), "{o:?}");
    assert_eq!(refused_by("inspections", "officer"), before + 1);
    // A later result by its own officer amends, and keeps the first.
    let o = d.inspection(&result(true, Some("anvar.r")), at(700), "anvar.r");
    assert_eq!(o.result, "amended", "{o:?}");
    assert!(o.notes[0].contains("amends 1 earlier result"), "{o:?}");
    let kept = d.history().inspections("D-50").unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!((kept[0].result.found, kept[0].recorded_by.as_deref()), (false, Some("k.aliyev")));
    assert_eq!((kept[1].result.found, kept[1].recorded_by.as_deref()), (true, Some("anvar.r")));
    assert_eq!(kept[1].result.officer.as_deref(), Some("anvar.r"));
    assert_eq!(kept[1].recorded_at, Some(at(700)));
    // The importer counts one inspection, the latest result.
    let h = d.history().importer("301234567").unwrap();
    assert_eq!((h.inspections, h.hits), (1, 1));
}

#[test]
fn an_officer_s_entry_is_made_in_the_officer_s_own_name() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    // Two declarations name the plate: the vehicle waits for an officer's word.
    for id in ["D-60", "D-62"] {
        d.declaration(&declaration(id, "01A160BC", None, "620342", 5000.0), at(0), &mut out);
    }
    d.observe(&scan("S-60", Some("01A160BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
    let entry = |officer: Option<&str>| {
        let mut v = json!({"lane": LANE, "plates": ["01 A 160 BC"], "declaration_id": "D-60"});
        if let Some(o) = officer {
            v["officer"] = json!(o);
        }
        v.to_string().into_bytes()
    };
    let before = refused_by("identity", "officer");
    let o = d.identity(&entry(Some("k.aliyev")), at(20), &mut out, "gate-tablet-2");
    assert!(o.result == "refused" && o.notes[0].contains("not the authenticated sender"), "{o:?}");
    assert_eq!(refused_by("identity", "officer"), before + 1);
    assert!(out.decisions.is_empty() && d.waiting() == 1, "the forged entry had no effect");

    let o = d.identity(&entry(None), at(21), &mut out, "k.aliyev");
    assert_eq!(o.result, "accepted", "{o:?}");
    let r = &out.decisions[0];
    assert!(r.inputs.identity.manual && r.inputs.identity.issues.is_empty(), "{:?}", r.inputs.identity);
    assert_eq!(r.inputs.declaration.as_ref().unwrap().id, "D-60");
    assert_eq!(r.inputs.identity.officer.as_deref(), Some("k.aliyev"), "the record names the officer");
}

#[test]
fn the_desk_logs_no_plate_container_tin_reason_or_officer() {
    let ((), logs) = crate::test_logs::logs_of(|| {
        let mut d = desk();
        let mut out = DeskOutput::default();
        // Refusals quote the record back to the sender, and only to the sender.
        let o = d.declaration(&declaration("D-70", "XQ9999ZZ", None, "620342", 100.0), at(0), &mut out);
        assert!(o.result == "refused" && o.notes[0].contains("XQ9999ZZ"), "{o:?}");
        let o = d.declaration(&declaration("D-71", "01A171BC", Some("CSQU3054384"), "620342", 100.0), at(0), &mut out);
        assert!(o.result == "refused" && o.notes[0].contains("CSQU3054384"), "{o:?}");
        let forged = json!({"lane": LANE, "plates": ["01A171BC"], "officer": "k.aliyev"});
        let o = d.identity(forged.to_string().as_bytes(), at(1), &mut out, "anvar.r");
        assert!(o.result == "refused" && o.notes[0].contains("k.aliyev"), "{o:?}");
        // A read that is no plate, a manual entry, a decision and an inspection.
        d.observe(&plate_read("ZQ#999ZZ", 2), at(2), &mut out);
        let o = d.declaration(&declaration("D-72", "01A172BC", Some("CSQU3054383"), "620342", 8000.0), at(3), &mut out);
        assert_eq!(o.result, "accepted", "{o:?}");
        let entry = json!({"lane": LANE, "plates": ["01 A 172 BC"], "containers": ["CSQU3054383"]});
        assert_eq!(d.identity(entry.to_string().as_bytes(), at(4), &mut out, "k.aliyev").result, "accepted");
        d.observe(&scan("S-72", Some("01A172BC"), Some("CSQU3054383"), &[], 5), at(5), &mut out);
        d.observe(&reading("clean", 6), at(6), &mut out);
        assert_eq!((out.decisions.len(), d.waiting()), (1, 0));
        assert!(out.decisions[0].vehicle.contains("01A172BC"), "the record names the vehicle");
        let result = json!({"declaration_id": "D-72", "ts": at(600), "found": false});
        assert_eq!(d.inspection(result.to_string().as_bytes(), at(600), "anvar.r").result, "accepted");
    });
    for clear in
        ["XQ9999ZZ", "01A171BC", "01A172BC", "01 A 172 BC", "CSQU305438", "ZQ99", "301234567", "k.aliyev", "anvar.r"]
    {
        assert!(!logs.contains(clear), "{clear} logged:\n{logs}");
    }
    // What the log does say: the refusals by reason and id, the lane, masked identities, the decision.
    for said in ["reason=\"plate\"", "D-70", "reason=\"container\"", "reason=\"officer\"", "plate=ZQ****ZZ", "01****BC"]
    {
        assert!(logs.contains(said), "{said} not in:\n{logs}");
    }
    assert!(logs.contains("lane decision") && logs.contains("vehicle=01****BC"), "{logs}");
    assert!(logs.contains("officer=k.****ev") && logs.contains("officer=a*****r"), "{logs}");
}

fn lane_refused(input: &str, reason: &str) -> u64 {
    metrics::global().value("qv_lane_inputs_refused_total", &[("lane", LANE), ("input", input), ("reason", reason)])
}

#[test]
fn a_clean_scan_replayed_for_a_later_truck_is_refused_and_a_fresh_scan_taken() {
    let mut d = desk();
    let mut out = DeskOutput::default();
    d.declaration(&declaration("D-30", "01A130BC", None, "620342", 5000.0), at(0), &mut out);
    d.observe(&plate_read("01A130BC", 1), at(1), &mut out);
    let clean = scan("S-30", Some("01A130BC"), None, &[], 5);
    d.observe(&clean, at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
    assert_eq!(out.decisions.len(), 1);

    // Five minutes later, a truck carrying something else.
    d.declaration(&declaration("D-31", "01A131BC", None, "620342", 5000.0), at(300), &mut out);
    d.observe(&plate_read("01A131BC", 300), at(300), &mut out);
    let (replayed, stale) = (lane_refused("xray", "replayed"), lane_refused("xray", "stale"));
    // The same alert again; the same scan re-sent with a fresh alert id and event time,
    // naming the later truck; and an unseen scan id dated before the truck arrived.
    d.observe(&clean, at(305), &mut out);
    let mut again = scan("S-30", Some("01A131BC"), None, &[], 305);
    again.attributes = clean.attributes.clone();
    d.observe(&again, at(305), &mut out);
    d.observe(&scan("S-30b", Some("01A131BC"), None, &[], 5), at(305), &mut out);
    assert_eq!(lane_refused("xray", "replayed"), replayed + 2);
    assert_eq!(lane_refused("xray", "stale"), stale + 1);
    d.observe(&reading("clean", 316), at(316), &mut out);
    assert_eq!(out.decisions.len(), 1, "the later truck still waits for its own scan");

    // Its own scan is taken and decides it.
    d.observe(&scan("S-31", Some("01A131BC"), None, &["xray_anomaly"], 320), at(320), &mut out);
    assert_eq!(out.decisions.len(), 2);
    let r = &out.decisions[1];
    assert_eq!(r.inputs.declaration.as_ref().unwrap().id, "D-31");
    assert_eq!(r.inputs.xray.as_ref().unwrap().scan_id, "S-31");
    assert_eq!(r.decision.corridor, Corridor::Red);
}

#[test]
fn a_lane_decision_records_its_keyed_draw_and_replays_identical_without_the_secret() {
    let policy = crate::risk::RiskConfig::load(&config(60.0).policy).unwrap();
    let rate = policy.random_rate(policy.lane(LANE).unwrap());
    let mut d = desk();
    // One id this post draws, one it does not (only the post, holding the secret, can tell).
    let ids: Vec<String> = (0..).map(|i| format!("R-{i}")).take(2000).collect();
    let drawn = ids.iter().find(|id| d.history().random_draw(id) < rate).unwrap().clone();
    let not = ids.iter().find(|id| d.history().random_draw(id) >= rate).unwrap().clone();
    let mut out = DeskOutput::default();
    for (k, id) in [&drawn, &not].into_iter().enumerate() {
        let t = 100 * k as i64;
        let plate = format!("01A{:03}BC", 700 + k);
        d.declaration(&declaration(id, &plate, None, "620342", 5000.0), at(t), &mut out);
        d.observe(&plate_read(&plate, t + 1), at(t + 1), &mut out);
        d.observe(&scan(&format!("S-R{k}"), Some(&plate), None, &[], t + 5), at(t + 5), &mut out);
        d.observe(&reading("clean", t + 16), at(t + 16), &mut out);
    }
    assert_eq!(out.decisions.len(), 2);
    for (r, id, random) in [(&out.decisions[0], &drawn, true), (&out.decisions[1], &not, false)] {
        assert_eq!(r.inputs.random_draw, Some(d.history().random_draw(id)), "the draw is in the record");
        assert_eq!(r.decision.random, random);
        // The record as published, replayed with the policy alone.
        let back: crate::risk::DecisionRecord = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
        let replay = crate::risk::replay(&back, &policy);
        assert!(replay.identical, "{:?}", replay.differences);
    }
    assert_eq!(out.decisions[0].decision.corridor, Corridor::Red);
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
    d.observe(&plate_read("01A129BC", 2), at(2), &mut out);
    d.observe(&scan("S-20", Some("01A129BC"), None, &[], 5), at(5), &mut out);
    d.observe(&reading("clean", 16), at(16), &mut out);
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
    d.observe(&plate_read("01A129BC", 100), at(100), &mut out);
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
        a_decided_vehicle_s_later_reads_are_it_leaving();
        a_decided_declaration_posted_again_is_refused_and_not_held_open();
        a_2019_declaration_is_refused_on_the_lane_and_taken_by_the_import_route();
        another_importer_s_declaration_id_is_refused_and_the_owner_s_amendment_taken();
        a_second_inspection_is_an_amendment_both_kept_and_counted_once();
        an_officer_s_entry_is_made_in_the_officer_s_own_name();
        a_clean_scan_replayed_for_a_later_truck_is_refused_and_a_fresh_scan_taken();
        a_lane_decision_records_its_keyed_draw_and_replays_identical_without_the_secret();
    });
}
