//! The 102 desk as a specification, driven by the test's clock: a call's records become one
//! `call_received` episode (begin, an update per new record, end when closed), triaged by
//! the lexicons, placed and verified by the cameras that see it, given the nearest free
//! units; bad records are refused by field and counted. No model (embeddings off), no
//! socket, no thread.

use super::place::CameraView;
use super::*;
use chrono::{DateTime, Duration, Utc};
use pipeline::alert::{Alert, GeoPoint, Phase, Severity, SourceKind};
use serde_json::{Value, json};

/// The square camera: looks east, 60° wide, 80 m deep.
const CAM: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

fn at(secs: i64) -> DateTime<Utc> {
    "2026-11-22T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(secs)
}

fn point(east: f64, north: f64) -> Value {
    let p = pipeline::geo::offset_m(CAM, east, north);
    json!({"lat": p.lat, "lon": p.lon, "uncertainty_m": 20})
}

fn desk() -> CallDesk {
    let cfg = CallsConfig { enabled: true, embeddings: false, ..Default::default() };
    let views = vec![CameraView {
        id: "square".into(),
        name: "Square".into(),
        location: CAM,
        heading_deg: 90.0,
        fov_deg: 60.0,
        range_m: 80.0,
    }];
    CallDesk::new(&cfg, "t", views).unwrap()
}

fn record(id: &str, start: DateTime<Utc>, location: Value, narrative: &str) -> Vec<u8> {
    json!({"call_id": id, "start_ts": start, "caller": {"number": "+998901234567"}, "location": location,
           "narrative": narrative})
    .to_string()
    .into_bytes()
}

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(pipeline::alert::JSON_SCHEMA).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn valid(schema: &jsonschema::Validator, a: &Alert) {
    let v = serde_json::to_value(a).unwrap();
    let errors: Vec<String> = schema.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{} invalid: {errors:?}", a.kind);
}

fn rejected(reason: &str) -> u64 {
    pipeline::metrics::global().value("qv_feed_rejected_total", &[("feed", "calls"), ("reason", reason)])
}

#[test]
fn a_call_is_one_episode_begun_updated_and_ended_with_its_triage_and_masked_number() {
    let (mut d, schema, mut out) = (desk(), schema(), Vec::new());
    let o = d.call_record(
        &record("c-1", at(0), point(200.0, 0.0), "Ikki kishi pichoq bilan urishyapti, biri yaralangan"),
        at(1),
        &mut out,
    );
    assert_eq!((o.result, o.id.as_deref()), ("accepted", Some("c-1")), "{o:?}");
    let [begin] = &out[..] else { panic!("one alert per record: {out:?}") };
    let begin = begin.clone();
    valid(&schema, &begin);
    assert_eq!((begin.kind.as_str(), begin.phase), ("call_received", Phase::Begin));
    assert_eq!((begin.source.kind, begin.source.id.as_str()), (SourceKind::Call, "102"));
    assert_eq!(begin.correlation.call.as_deref(), Some("c-1"));
    assert!(begin.correlation.place.is_some(), "placed at its coordinates");
    assert_eq!(begin.attributes["caller_number"], "+998901234567", "whole in the alert, for its pii key");
    let public = pipeline::personal::public(&begin);
    assert_eq!(public.attributes["caller_number"], "+9*********67", "masked in its public form");
    assert!(!public.to_json().contains("901234567"), "the full number only in the whole alert");
    assert!(begin.attributes["triage"]["life_threatening"].as_bool().unwrap(), "{}", begin.attributes["triage"]);
    assert_eq!(begin.severity, severity_of(begin.attributes["priority"].as_u64().unwrap() as u8));
    assert!(begin.severity >= Severity::High, "a knife and a wound: {:?}", begin.severity);

    // The call-taker's own classification comes as an update: same episode, their word wins.
    let update = json!({"call_id": "c-1", "start_ts": at(0), "update_ts": at(30),
                        "call_taker": {"incident_type": "assault_injury", "priority": 1}});
    out.clear();
    assert_eq!(d.call_record(update.to_string().as_bytes(), at(31), &mut out).result, "updated");
    assert_eq!(d.call_record(update.to_string().as_bytes(), at(32), &mut out).result, "duplicate");
    let [upd] = &out[..] else { panic!("a duplicate raises nothing: {out:?}") };
    valid(&schema, upd);
    assert_eq!((upd.phase, upd.episode), (Phase::Update, begin.episode));
    assert_eq!((upd.attributes["triage"]["source"].as_str(), upd.severity), (Some("call_taker"), Severity::Critical));

    let closed = json!({"call_id": "c-1", "start_ts": at(0), "update_ts": at(600), "status": "closed"});
    out.clear();
    d.call_record(closed.to_string().as_bytes(), at(601), &mut out);
    let [end] = &out[..] else { panic!("{out:?}") };
    valid(&schema, end);
    assert_eq!((end.phase, end.episode), (Phase::End, begin.episode));
}

#[test]
fn a_call_is_verified_by_the_camera_that_sees_it_and_given_the_nearest_free_units() {
    let (mut d, mut out) = (desk(), Vec::new());
    // The camera raised an alert a minute before the call.
    let mut seen = Alert::minimal("t", SourceKind::Camera, "square", "zone_intrusion");
    seen.event_ts = at(-60);
    d.observe(&seen);
    for (unit, ts, east, status) in [
        ("P-near", at(0), 400.0, "available"),
        ("P-busy", at(0), 210.0, "busy"),
        ("P-stale", at(-600), 200.0, "available"),
        ("P-far", at(0), 3000.0, "available"),
    ] {
        let p = pipeline::geo::offset_m(CAM, east, 0.0);
        let body = json!({"unit": unit, "ts": ts, "lat": p.lat, "lon": p.lon, "status": status});
        assert_eq!(d.unit_report(body.to_string().as_bytes(), at(0)).result, "accepted", "{unit}");
    }
    d.call_record(&record("near", at(0), point(200.0, 0.0), "Ikki kishi urishyapti"), at(0), &mut out);
    let v = out[0].attributes["verification"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0]["camera"].as_str(), v[0]["distance_m"].as_f64()), (Some("square"), Some(120.0)));
    assert_eq!(v[0]["alerts"][0]["id"], seen.id.to_string(), "the camera's recent alert is attached");
    let units: Vec<&str> =
        out[0].attributes["units"].as_array().unwrap().iter().map(|u| u["unit"].as_str().unwrap()).collect();
    assert_eq!(units, ["P-near", "P-far"], "busy and stale units are not suggested");

    d.call_record(&record("far", at(5), point(2000.0, 0.0), "Ikki kishi urishyapti"), at(5), &mut out);
    assert_eq!(out[1].attributes["verification"], json!([]), "2 km away: no camera sees it");
}

#[test]
fn bad_records_are_refused_naming_the_field_counted_and_raise_nothing() {
    let (mut d, mut out) = (desk(), Vec::new());
    let before = (rejected("not_json"), rejected("schema"));
    let o = d.call_record(b"{\"call_id\": ", at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].starts_with("not JSON"), "{o:?}");
    let o = d.call_record(json!({"start_ts": at(0)}).to_string().as_bytes(), at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].contains("call_id"), "{o:?}");
    let o = d.call_record(&record("c-lat", at(0), json!({"lat": 95.0, "lon": 69.0}), "help"), at(0), &mut out);
    assert!(o.result == "refused" && o.notes[0].starts_with("location.lat:"), "{o:?}");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(rejected("not_json"), before.0 + 1);
    assert!(rejected("schema") >= before.1 + 2, "both schema refusals counted");

    // Taken but said: an address the gazetteer does not know leaves the call unplaced.
    let o = d.call_record(&record("c-nowhere", at(0), json!({"address": "Nowhere 1"}), "Yong'in!"), at(0), &mut out);
    assert_eq!(o.result, "accepted");
    assert!(o.notes.iter().any(|n| n.contains("place unknown")), "{o:?}");
    assert!(out[0].correlation.place.is_none() && out[0].attributes["units"] == json!([]));
}

#[test]
fn a_refused_record_is_logged_by_its_field_and_the_caller_s_data_only_told_the_sender() {
    let (mut d, mut out) = (desk(), Vec::new());
    let long_number = "+998 90 123 45 67 / 998 91 765 43 21 home";
    let bad = [
        json!({"call_id": "c-n", "start_ts": at(0), "caller": {"number": long_number}, "location": point(0.0, 0.0)}),
        json!({"call_id": "c-a", "start_ts": at(0), "location": {"address": ["Amir Temur 15, kv. 3"]}}),
        json!({"call_id": "c-t", "start_ts": at(0), "location": point(0.0, 0.0), "narrative": {"Ali Valiyev": "fire"}}),
    ];
    let (notes, logs) = crate::test_logs::logs_of(|| {
        bad.iter().map(|r| d.call_record(r.to_string().as_bytes(), at(0), &mut out).notes.join(" ")).collect::<Vec<_>>()
    });
    assert!(notes[0].contains("998 90 123") && notes[1].contains("Amir Temur"), "the sender is told: {notes:?}");
    for clear in ["998 90 123", "765 43 21", "Amir Temur", "Ali Valiyev"] {
        assert!(!logs.contains(clear), "{clear} logged:\n{logs}");
    }
    for field in ["caller.number", "location.address", "narrative"] {
        assert!(logs.contains(field), "{field} not in:\n{logs}");
    }
}

fn noted(feed: &str, note: &str) -> u64 {
    pipeline::metrics::global().value("qv_feed_noted_total", &[("feed", feed), ("note", note)])
}

/// Issue 17: a call's time is bounded by the node's clock. The alarm queue orders calls of
/// one severity by their first event time, so a call dated 2019 would be first in it; it is
/// taken (the call may be real) but said, and dated at its receipt, after the genuine call
/// received before it. A call from an hour ahead is refused naming the field; one a few
/// seconds ahead (clock skew) is taken, dated no later than its receipt.
#[test]
fn a_call_dated_far_back_is_said_and_queued_at_receipt_and_one_from_the_future_is_refused() {
    let (mut d, mut out) = (desk(), Vec::new());
    let fire = "Uy yonyapti, ichida bolalar bor";
    let o = d.call_record(&record("genuine", at(-20), point(200.0, 0.0), fire), at(0), &mut out);
    assert_eq!((o.result, o.notes.len()), ("accepted", 0), "{o:?}");
    assert_eq!(out[0].event_ts, at(-20), "a genuine call is dated by its own time");

    let before = noted("calls", "dated_past");
    let old: DateTime<Utc> = "2019-01-01T00:00:00Z".parse().unwrap();
    let o = d.call_record(&record("old", old, point(200.0, 0.0), fire), at(5), &mut out);
    assert_eq!(o.result, "accepted", "{o:?}");
    assert!(o.notes.iter().any(|n| n.starts_with("start_ts: 2019-01-01 00:00:00 UTC is ")), "{o:?}");
    assert_eq!(noted("calls", "dated_past"), before + 1);
    assert_eq!(out[1].event_ts, at(5), "dated at its receipt, not 2019");
    assert!(out[1].event_ts > out[0].event_ts, "the genuine call stays ahead of it in the queue");
    assert_eq!(out[1].attributes["notes"][0], o.notes[0].as_str(), "the alert says it too");

    let before = rejected("future");
    let o = d.call_record(&record("ahead", at(3600), point(200.0, 0.0), fire), at(10), &mut out);
    assert_eq!(o.result, "refused");
    assert!(o.notes[0].starts_with("start_ts: ") && o.notes[0].contains("3590 s ahead"), "{o:?}");
    assert_eq!(rejected("future"), before + 1);
    assert_eq!(out.len(), 2, "a refused call raises nothing");
    let o = d.call_record(&record("skewed", at(15), point(200.0, 0.0), fire), at(10), &mut out);
    assert_eq!((o.result, o.notes.len()), ("accepted", 0), "{o:?}");
    assert_eq!(out[2].event_ts, at(10), "5 s of skew: dated at its receipt, never after");
}

/// A unit's fix older than `stale_secs` is kept but said; a fresh one says nothing.
#[test]
fn a_stale_unit_fix_is_said() {
    let mut d = desk();
    let body = |ts: DateTime<Utc>| json!({"unit": "P1", "ts": ts, "lat": 41.3, "lon": 69.2, "status": "available"});
    let before = noted("units", "stale");
    let o = d.unit_report(body(at(-3600)).to_string().as_bytes(), at(0));
    assert_eq!((o.result, o.id.as_deref()), ("accepted", Some("P1")));
    assert!(o.notes[0].starts_with("ts: fix time ") && o.notes[0].contains("3600 s before"), "{o:?}");
    assert_eq!(noted("units", "stale"), before + 1);
    let o = d.unit_report(body(at(-1)).to_string().as_bytes(), at(0));
    assert_eq!((o.result, o.notes.len()), ("accepted", 0), "{o:?}");
}

#[test]
fn the_desk_runs_without_a_model_a_socket_or_a_thread() {
    crate::isolation::run_alone("calls::tests::every_desk_test_in_isolation");
}

#[test]
#[ignore = "run by the_desk_runs_without_a_model_a_socket_or_a_thread, alone in a child process"]
fn every_desk_test_in_isolation() {
    crate::isolation::without_threads_or_sockets(|| {
        a_call_is_one_episode_begun_updated_and_ended_with_its_triage_and_masked_number();
        a_call_is_verified_by_the_camera_that_sees_it_and_given_the_nearest_free_units();
        bad_records_are_refused_naming_the_field_counted_and_raise_nothing();
        a_call_dated_far_back_is_said_and_queued_at_receipt_and_one_from_the_future_is_refused();
        a_stale_unit_fix_is_said();
    });
}
