use super::*;
use chrono::{DateTime, Duration, Utc};
use pipeline::alert::{
    Alert, AlertObject, AlertSource, ClockState, Correlation, GeoPoint, Phase, SCHEMA_VERSION as ALERT_SCHEMA_VERSION,
    Severity, SourceKind, new_id,
};
use pipeline::geo::haversine_m;
use uuid::Uuid;

const SITE: &str = "city-centre";
/// A camera's ground point in Tashkent.
const P: GeoPoint = GeoPoint { lat: 41.311081, lon: 69.240562 };

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

/// `p` moved `north_m` metres north (small distances).
fn north(p: GeoPoint, north_m: f64) -> GeoPoint {
    GeoPoint { lat: p.lat + north_m / 111_195.0, lon: p.lon }
}

fn base(kind: &str, source_kind: SourceKind, source_id: &str, t: i64) -> Alert {
    Alert {
        schema_version: ALERT_SCHEMA_VERSION.into(),
        id: new_id(),
        episode: new_id(),
        event_ts: at(t),
        ingest_ts: at(t),
        clock: ClockState::Synced,
        site: SITE.into(),
        source: AlertSource { kind: source_kind, id: source_id.into(), name: source_id.into(), location: None },
        kind: kind.into(),
        phase: Phase::Begin,
        severity: Severity::Medium,
        confidence: 0.9,
        objects: vec![],
        evidence: vec![],
        attributes: Default::default(),
        correlation: Correlation::default(),
        provenance: Default::default(),
    }
}

/// A camera alert whose object's foot point is `ground`.
fn camera(cam: &str, kind: &str, t: i64, ground: GeoPoint) -> Alert {
    let mut a = base(kind, SourceKind::Camera, cam, t);
    a.source.location = Some(north(ground, 40.0));
    a.objects.push(AlertObject {
        class: "person".into(),
        track_id: Some(7),
        score: 0.8,
        bbox: None,
        ground: Some(ground),
        speed_mps: None,
    });
    a
}

/// A 102 call record placed at `place`.
fn call(call_id: &str, t: i64, place: GeoPoint) -> Alert {
    let mut a = base("call_received", SourceKind::Call, "feed-102", t);
    a.correlation.call = Some(call_id.into());
    a.correlation.place = Some(place);
    a
}

/// The deployment's correlation key in these tests.
fn correlation_key() -> pipeline::personal::CorrelationKey {
    pipeline::personal::CorrelationKey::from_bytes([3; 32])
}

/// A plate read at a lane camera, sealed as its node would send it.
fn plate(cam: &str, plate: &str, t: i64) -> Alert {
    let mut a = base("plate_watchlist", SourceKind::Camera, cam, t);
    a.correlation.plate = Some(plate.into());
    correlation_key().seal(&mut a);
    a
}

fn near_rule(radius_m: f64, window_secs: u64) -> RuleConfig {
    RuleConfig::Near(NearRule { name: "near".into(), radius_m, window_secs, kinds: vec![] })
}

fn engine(rules: Vec<RuleConfig>) -> Engine {
    Engine::new(FusionConfig { rules, ..Default::default() }).expect("valid config")
}

fn run(e: &mut Engine, alerts: &[Alert]) -> Vec<IncidentUpdate> {
    alerts.iter().flat_map(|a| e.ingest(a)).collect()
}

fn open(e: &Engine) -> Vec<Incident> {
    e.open_incidents().cloned().collect()
}

fn holding<'a>(incidents: &'a [Incident], alert: &Alert) -> &'a Incident {
    incidents.iter().find(|i| i.members.iter().any(|m| m.alert_id == alert.id)).expect("alert is in an open incident")
}

fn member<'a>(inc: &'a Incident, alert: &Alert) -> &'a Member {
    inc.members.iter().find(|m| m.alert_id == alert.id).expect("alert is a member")
}

#[test]
fn haversine_matches_known_distances() {
    let d = haversine_m(P, north(P, 150.0));
    assert!((d - 150.0).abs() < 0.5, "{d}");
    // One degree of longitude on the equator.
    let eq = haversine_m(GeoPoint { lat: 0.0, lon: 0.0 }, GeoPoint { lat: 0.0, lon: 1.0 });
    assert!((eq - 111_195.0).abs() < 5.0, "{eq}");
}

#[test]
fn camera_and_call_150_m_40_s_apart_are_one_incident() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    let cam = camera("cam-1", "zone_intrusion", 0, P);
    let call = call("102-0001", 40, north(P, 150.0));
    let first = e.ingest(&cam);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].change, Change::Created);
    let second = e.ingest(&call);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].change, Change::Updated);
    assert_eq!(second[0].incident.id, first[0].incident.id);

    let incidents = open(&e);
    assert_eq!(incidents.len(), 1);
    let inc = &incidents[0];
    assert_eq!(inc.members.len(), 2);
    assert_eq!(member(inc, &cam).rule, None);
    assert_eq!(member(inc, &call).rule.as_deref(), Some("near"));
    assert_eq!((inc.first_event_ts, inc.last_event_ts), (at(0), at(40)));
    assert_eq!(inc.place, Some(P), "the camera's ground point, not its mounting position");
    assert_eq!(inc.keys.call, vec!["102-0001".to_string()]);
    assert_eq!(inc.source_kinds, vec![SourceKind::Camera, SourceKind::Call]);
    assert_eq!(inc.key_expr(), format!("qv/{SITE}/incident/{}", inc.id));
}

#[test]
fn one_km_apart_stay_two_incidents() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    run(&mut e, &[camera("cam-1", "zone_intrusion", 0, P), call("102-0002", 40, north(P, 1000.0))]);
    assert_eq!(open(&e).len(), 2);
}

#[test]
fn two_hundred_seconds_apart_stay_two_incidents() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    run(&mut e, &[camera("cam-1", "zone_intrusion", 0, P), call("102-0003", 200, north(P, 150.0))]);
    assert_eq!(open(&e).len(), 2);
}

#[test]
fn near_kinds_filter_excludes_other_kinds() {
    let rule = RuleConfig::Near(NearRule {
        name: "call_near_intrusion".into(),
        radius_m: 300.0,
        window_secs: 120,
        kinds: vec!["zone_intrusion".into(), "call_received".into()],
    });
    let mut e = engine(vec![rule]);
    run(&mut e, &[camera("cam-1", "video_loss", 0, P), call("102-0004", 40, north(P, 150.0))]);
    assert_eq!(open(&e).len(), 2, "video_loss is not a kind of this rule");
}

/// `same_plate`: alerts of one plate within 15 minutes.
fn same_plate_rule() -> RuleConfig {
    RuleConfig::SameKey(SameKeyRule {
        name: "same_plate".into(),
        key: CorrelationKey::Plate,
        window_secs: 900,
        kinds: vec![],
    })
}

#[test]
fn same_plate_ten_minutes_apart_joins() {
    let mut e = engine(vec![same_plate_rule()]);
    let a = plate("lane-1", "01A123BC", 0);
    let b = plate("lane-4", "01A123BC", 600);
    let other = plate("lane-4", "10Z999ZZ", 610);
    let late_for_window = plate("lane-2", "01A123BC", 600 + 901);
    run(&mut e, &[a.clone(), b.clone(), other.clone(), late_for_window.clone()]);
    let incidents = open(&e);
    assert_eq!(incidents.len(), 3, "{incidents:#?}");
    let inc = holding(&incidents, &a);
    assert_eq!(holding(&incidents, &b).id, inc.id);
    assert_ne!(holding(&incidents, &other).id, inc.id);
    assert_ne!(holding(&incidents, &late_for_window).id, inc.id, "901 s after the span is outside 900 s");
    assert_eq!(member(inc, &b).rule.as_deref(), Some("same_plate"));
    assert_eq!(inc.keys.plate, vec!["01****BC".to_string()], "shown masked");
    assert_eq!(inc.keys.plate_key, vec![correlation_key().hash("plate", "01A123BC")]);
}

/// Must show (issue 18): a plate read and a lane decision of one vehicle join through the
/// keyed hash alone. Both reach fusion in their public form, so no plate is there to join on;
/// another vehicle, and the same plate sealed under another deployment's key, stay apart.
#[test]
fn a_plate_read_and_a_lane_decision_of_one_vehicle_join_through_the_keyed_hash_alone() {
    let mut e = engine(vec![same_plate_rule()]);
    let lane = |plate: &str, t: i64, key: &pipeline::personal::CorrelationKey| {
        let mut a = base("lane_decision", SourceKind::Lane, "post1-cargo1", t);
        a.correlation.plate = Some(plate.into());
        a.attributes.insert("vehicle".into(), plate.into());
        key.seal(&mut a);
        pipeline::personal::public(&a)
    };
    let read = pipeline::personal::public(&plate("gate-lane", "01 A 777 BC", 0));
    let decision = lane("01A777BC", 40, &correlation_key());
    let other = lane("01A778BC", 50, &correlation_key());
    let foreign = lane("01A777BC", 60, &pipeline::personal::CorrelationKey::from_bytes([4; 32]));
    for a in [&read, &decision, &other, &foreign] {
        assert!(a.correlation.plate.as_deref().is_some_and(|p| p.contains("**")), "public forms only: {a:?}");
    }
    run(&mut e, &[read.clone(), decision.clone(), other.clone(), foreign.clone()]);
    let incidents = open(&e);
    let inc = holding(&incidents, &read);
    assert_eq!(holding(&incidents, &decision).id, inc.id, "{incidents:#?}");
    assert_eq!(member(inc, &decision).rule.as_deref(), Some("same_plate"));
    assert_ne!(holding(&incidents, &other).id, inc.id);
    assert_ne!(holding(&incidents, &foreign).id, inc.id, "a key from another deployment joins nothing");
    assert_eq!(inc.keys.plate_key, vec![correlation_key().hash("plate", "01A777BC")]);
    assert!(!serde_json::to_string(inc).unwrap().contains("01A777BC"));
}

fn intrusion_count_rule() -> RuleConfig {
    RuleConfig::EventCount(EventCountRule {
        name: "repeated_intrusion".into(),
        kinds: vec!["zone_intrusion".into()],
        group_by: GroupBy::SourceId,
        count: 5,
        timespan_secs: 60,
        incident_kind: "repeated_intrusion".into(),
        severity: Severity::High,
    })
}

/// Intrusions at places far apart, so only the count rule can group them.
fn intrusions(cam: &str, times: &[i64]) -> Vec<Alert> {
    times.iter().enumerate().map(|(i, &t)| camera(cam, "zone_intrusion", t, north(P, 1000.0 * i as f64))).collect()
}

#[test]
fn five_intrusions_from_one_camera_within_60_s_raise_an_incident() {
    let mut e = engine(vec![intrusion_count_rule()]);
    let alerts = intrusions("cam-7", &[0, 10, 20, 30, 50]);
    let updates = run(&mut e, &alerts[..4]);
    assert!(updates.iter().all(|u| u.incident.rule.is_none()), "four are not enough: {updates:#?}");
    let updates = e.ingest(&alerts[4]);
    let raised: Vec<_> = updates.iter().filter(|u| u.incident.rule.as_deref() == Some("repeated_intrusion")).collect();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].change, Change::Created);
    let inc = &raised[0].incident;
    assert_eq!(inc.kind, "repeated_intrusion");
    assert_eq!(inc.severity, Severity::High);
    assert_eq!(inc.members.len(), 5);
    assert!(inc.members.iter().all(|m| m.rule.as_deref() == Some("repeated_intrusion")));
    assert_eq!((inc.first_event_ts, inc.last_event_ts), (at(0), at(50)));

    // A sixth within the timespan joins it rather than counting towards a new one.
    let sixth = camera("cam-7", "zone_intrusion", 100, north(P, 9000.0));
    let updates = e.ingest(&sixth);
    let joined = updates.iter().find(|u| u.incident.id == inc.id).expect("the count incident is updated");
    assert_eq!(joined.change, Change::Updated);
    assert_eq!(joined.incident.members.len(), 6);

    // One more than 60 s after the incident's span does not join it; it waits for a new count.
    let updates = e.ingest(&camera("cam-7", "zone_intrusion", 161, north(P, 20_000.0)));
    assert!(updates.iter().all(|u| u.incident.id != inc.id), "{updates:#?}");
}

#[test]
fn four_intrusions_or_five_too_spread_raise_nothing() {
    let mut e = engine(vec![intrusion_count_rule()]);
    run(&mut e, &intrusions("cam-7", &[0, 10, 20, 30]));
    // Five of another camera, and five of this one spread over 61 s.
    run(&mut e, &intrusions("cam-8", &[0, 10, 20, 30]));
    run(&mut e, &intrusions("cam-9", &[0, 15, 30, 45, 61]));
    assert!(e.open_incidents().all(|i| i.rule.is_none()), "no count incident");
    assert_eq!(e.open_incidents().count(), 13);
}

#[test]
fn count_window_is_found_for_alerts_arriving_out_of_order() {
    let mut e = engine(vec![intrusion_count_rule()]);
    // Event times 0..40 delivered newest first: the fifth to arrive completes the window.
    let updates = run(&mut e, &intrusions("cam-7", &[40, 30, 20, 10, 0]));
    let raised: Vec<_> = updates.iter().filter(|u| u.incident.rule.is_some()).collect();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].incident.first_event_ts, at(0));
    assert_eq!(raised[0].incident.members.iter().filter(|m| m.late).count(), 0, "within allowed lateness");
}

#[test]
fn severity_is_the_worst_member_raised_for_corroboration() {
    let mut cam = camera("cam-1", "zone_intrusion", 0, P);
    cam.severity = Severity::Medium;
    let mut c = call("102-0005", 30, north(P, 100.0));
    c.severity = Severity::High;

    // Two source kinds (camera + call): max(medium, high) raised one level.
    let mut e = engine(vec![near_rule(300.0, 120)]);
    run(&mut e, &[cam.clone(), c.clone()]);
    assert_eq!(open(&e)[0].severity, Severity::Critical);

    // Escalation off: just the worst member.
    let cfg = FusionConfig { escalate_at_source_kinds: 0, rules: vec![near_rule(300.0, 120)], ..Default::default() };
    let mut e = Engine::new(cfg).unwrap();
    run(&mut e, &[cam.clone(), c]);
    assert_eq!(open(&e)[0].severity, Severity::High);

    // Two cameras are one source kind: no escalation.
    let mut other = camera("cam-2", "zone_intrusion", 20, north(P, 50.0));
    other.severity = Severity::Low;
    let mut e = engine(vec![near_rule(300.0, 120)]);
    run(&mut e, &[cam, other]);
    let inc = &open(&e)[0];
    assert_eq!(inc.members.len(), 2);
    assert_eq!(inc.severity, Severity::Medium);

    // Capped at critical.
    let mut a = camera("cam-1", "zone_intrusion", 0, P);
    a.severity = Severity::Critical;
    let mut e = engine(vec![near_rule(300.0, 120)]);
    run(&mut e, &[a, call("102-0006", 10, P)]);
    assert_eq!(open(&e)[0].severity, Severity::Critical);
}

#[test]
fn an_alert_linking_two_incidents_merges_them_into_the_older() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    let a = camera("cam-1", "zone_intrusion", 0, P);
    let b = camera("cam-2", "zone_intrusion", 5, north(P, 500.0));
    let bridge = call("102-0007", 10, north(P, 250.0));
    let created: Vec<Uuid> = run(&mut e, &[a.clone(), b.clone()]).iter().map(|u| u.incident.id).collect();
    assert_eq!(created.len(), 2);
    let updates = e.ingest(&bridge);
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert_eq!(updates[0].change, Change::Updated);
    assert_eq!(updates[0].incident.id, created[0], "the older id survives");
    assert_eq!(updates[0].incident.members.len(), 3);
    assert_eq!(updates[1].change, Change::Closed);
    assert_eq!(updates[1].incident.id, created[1]);
    assert!(updates[1].incident.closed);
    assert_eq!(updates[1].incident.merged_into, Some(created[0]));
    let incidents = open(&e);
    assert_eq!(incidents.len(), 1);
    // The merged members stay indexed: b's next episode message joins the survivor.
    let mut b_end = camera("cam-2", "zone_intrusion", 900, north(P, 500.0));
    b_end.episode = b.episode;
    b_end.phase = Phase::End;
    let updates = e.ingest(&b_end);
    assert_eq!(updates[0].incident.id, created[0]);
    assert_eq!(member(&updates[0].incident, &b_end).rule.as_deref(), Some("episode"));
}

#[test]
fn episode_messages_join_their_begin_and_duplicates_are_ignored() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    let begin = camera("cam-1", "loitering", 0, P);
    let mut end = camera("cam-1", "loitering", 1200, P);
    end.episode = begin.episode;
    end.phase = Phase::End;
    run(&mut e, &[begin.clone(), end]);
    assert_eq!(open(&e).len(), 1, "20 minutes apart but one episode");
    assert!(e.ingest(&begin).is_empty(), "a redelivered alert id changes nothing");
    assert_eq!(open(&e)[0].members.len(), 2);
}

#[test]
fn hour_long_outage_backlog_fuses_with_its_own_event_time_and_is_late() {
    let cfg = FusionConfig { close_after_secs: 7200, rules: vec![near_rule(300.0, 120)], ..Default::default() };
    let mut e = Engine::new(cfg).unwrap();
    // During the camera uplink outage, 102 calls still reach the control room.
    let call_a = call("102-0100", 600, north(P, 150.0));
    let call_b = call("102-0101", 1800, north(P, 150.0));
    // The camera reconnects: its live alert overtakes the backlog.
    let live = camera("cam-1", "zone_intrusion", 3650, P);
    run(&mut e, &[call_a.clone(), call_b.clone(), live.clone()]);
    assert_eq!(e.watermark(SITE), Some(at(3590)));

    // Then the outbox drains an hour of backlog, one intrusion every 5 minutes.
    let backlog: Vec<Alert> = (0..12).map(|k| camera("cam-1", "zone_intrusion", 30 + 300 * k, P)).collect();
    let updates = run(&mut e, &backlog);
    assert!(updates.iter().all(|u| u.change != Change::Closed), "nothing closes: {updates:#?}");

    let incidents = open(&e);
    for a in &backlog {
        let inc = holding(&incidents, a);
        assert!(member(inc, a).late, "backlog alert at {} is late", a.event_ts);
        assert_ne!(inc.id, holding(&incidents, &live).id, "backlog must not fuse with today's live alert");
    }
    // 630 s joins the call at 600 s, not the newer call at 1800 s; 1830 s joins the 1800 s call.
    let inc_a = holding(&incidents, &call_a);
    let inc_b = holding(&incidents, &call_b);
    assert_ne!(inc_a.id, inc_b.id);
    assert_eq!(holding(&incidents, &backlog[2]).id, inc_a.id);
    assert_eq!(holding(&incidents, &backlog[6]).id, inc_b.id);
    assert_eq!((inc_a.first_event_ts, inc_a.last_event_ts), (at(600), at(630)));
    assert!(!member(inc_a, &call_a).late, "the call arrived on time");
    assert_eq!(member(inc_a, &backlog[2]).rule.as_deref(), Some("near"));
    // The other ten stand alone at their own event time.
    for k in [0, 1, 3, 4, 5, 7, 8, 9, 10, 11] {
        let inc = holding(&incidents, &backlog[k]);
        assert_eq!(inc.members.len(), 1, "backlog[{k}]");
        assert_eq!(inc.first_event_ts, backlog[k].event_ts);
    }
    assert_eq!(holding(&incidents, &live).members.len(), 1);
    assert_eq!(incidents.len(), 2 + 1 + 10);
    // The watermark only moves forward.
    assert_eq!(e.watermark(SITE), Some(at(3590)));
}

#[test]
fn incidents_close_after_retention_and_are_forgotten() {
    let cfg = FusionConfig {
        allowed_lateness_secs: 60,
        close_after_secs: 600,
        rules: vec![near_rule(300.0, 120)],
        ..Default::default()
    };
    let mut e = Engine::new(cfg).unwrap();
    let first = camera("cam-1", "zone_intrusion", 0, P);
    let created = e.ingest(&first)[0].incident.id;
    // Watermark 0 + 660 - 60 = 600; horizon 0: last event time 0 is not below it yet.
    let updates = e.ingest(&camera("cam-9", "zone_intrusion", 660, north(P, 5000.0)));
    assert!(updates.iter().all(|u| u.change != Change::Closed));
    // One second more and the first incident closes.
    let updates = e.ingest(&camera("cam-9", "zone_intrusion", 661, north(P, 5000.0)));
    let closed: Vec<_> = updates.iter().filter(|u| u.change == Change::Closed).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].incident.id, created);
    assert!(closed[0].incident.closed);
    assert_eq!(closed[0].incident.merged_into, None);
    assert_eq!(e.open_incidents().count(), 1);
    // Forgotten: a redelivery of its alert opens a new incident, then closes it at once.
    let again = e.ingest(&first);
    assert_eq!(again.iter().map(|u| u.change).collect::<Vec<_>>(), vec![Change::Created, Change::Closed]);
    assert!(again[1].incident.members[0].late);
}

#[test]
fn ignored_kinds_make_no_incidents() {
    let mut e = engine(vec![near_rule(300.0, 120)]);
    let mut signal = camera("cam-a", "test_signal", 0, GeoPoint { lat: 41.3, lon: 69.2 });
    signal.source.kind = SourceKind::Sensor;
    assert!(run(&mut e, &[signal]).is_empty());
    assert_eq!(open(&e).len(), 0);
}

#[test]
fn replaying_the_same_alerts_gives_identical_incidents() {
    let rules = vec![
        near_rule(300.0, 120),
        RuleConfig::SameKey(SameKeyRule {
            name: "same_call".into(),
            key: CorrelationKey::Call,
            window_secs: 900,
            kinds: vec![],
        }),
        intrusion_count_rule(),
    ];
    let mut alerts = vec![camera("cam-1", "zone_intrusion", 100, P), call("102-0200", 120, north(P, 150.0))];
    alerts.extend(intrusions("cam-7", &[0, 5, 10, 15, 20, 25]));
    alerts.push(call("102-0200", 700, north(P, 3000.0)));
    alerts.push(camera("cam-2", "zone_intrusion", 110, north(P, 250.0)));
    alerts.push(camera("cam-3", "zone_intrusion", 5000, P));
    let replay = |alerts: &[Alert]| {
        let mut e = engine(rules.clone());
        alerts.iter().flat_map(|a| e.ingest(a)).map(|u| u.to_json()).collect::<Vec<_>>()
    };
    let (first, second) = (replay(&alerts), replay(&alerts));
    assert!(first.len() > alerts.len(), "the sequence exercises joins, counts and closes");
    assert_eq!(first, second);
    // Ids derive from the first member, not from the run.
    let id = |json: &str| serde_json::from_str::<IncidentUpdate>(json).unwrap().incident.id;
    assert_eq!(id(&first[0]), id(&second[0]));
    assert_eq!(id(&first[0]).get_version_num(), 8);
}

#[test]
fn incident_messages_validate_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the incident schema compiles");
    let mut e = engine(vec![near_rule(300.0, 120), intrusion_count_rule()]);
    let mut alerts = vec![camera("cam-1", "zone_intrusion", 0, P), call("102-0300", 40, north(P, 150.0))];
    alerts.push(plate("lane-1", "01A123BC", 50));
    alerts.extend(intrusions("cam-7", &[0, 10, 20, 30, 50]));
    let mut sensor = base("radiation_alarm", SourceKind::Sensor, "rpm-1", 4000);
    sensor.source.location = None;
    alerts.push(sensor);
    let updates = run(&mut e, &alerts);
    assert!(updates.iter().any(|u| u.change == Change::Closed));
    assert!(updates.iter().any(|u| u.incident.rule.is_some()));
    assert!(updates.iter().any(|u| u.incident.place.is_none()));
    for u in &updates {
        let json: serde_json::Value = serde_json::from_str(&u.to_json()).unwrap();
        assert_eq!(json["schema_version"], "1.2");
        let errors: Vec<String> =
            validator.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "incident does not validate: {errors:?}\n{json}");
        let back: IncidentUpdate = serde_json::from_value(json).unwrap();
        assert_eq!(&back, u);
    }
    // The schema is not vacuous.
    let mut bad: serde_json::Value = serde_json::from_str(&updates[0].to_json()).unwrap();
    bad["incident"]["severity"] = "urgent".into();
    assert!(!validator.is_valid(&bad));
    bad["incident"]["severity"] = "high".into();
    bad["incident"]["id"] = new_id().to_string().into();
    assert!(!validator.is_valid(&bad), "incident ids are UUIDv8");
}

#[test]
fn config_parses_from_toml_and_refuses_bad_fields_by_name() {
    let cfg: FusionConfig = toml::from_str(
        r#"
        allowed_lateness_secs = 30
        [[rules]]
        type = "near"
        name = "call_near_intrusion"
        radius_m = 300
        window_secs = 120
        kinds = ["zone_intrusion", "call_received"]
        [[rules]]
        type = "same_key"
        name = "same_plate"
        key = "plate"
        window_secs = 900
        [[rules]]
        type = "event_count"
        name = "repeated_intrusion"
        kinds = ["zone_intrusion"]
        group_by = "source.id"
        count = 5
        timespan_secs = 60
        incident_kind = "repeated_intrusion"
        severity = "high"
        "#,
    )
    .expect("parses");
    assert_eq!(cfg.allowed_lateness_secs, 30);
    assert_eq!(cfg.close_after_secs, 3600);
    assert_eq!(cfg.rules.len(), 3);
    assert!(matches!(&cfg.rules[2], RuleConfig::EventCount(r) if r.group_by == GroupBy::SourceId));
    cfg.validate().expect("valid");

    let unknown = "[[rules]]\ntype = \"near\"\nname = \"n\"\nradius_m = 300\nwindow_secs = 120\nradius = 5\n";
    assert!(toml::from_str::<FusionConfig>(unknown).unwrap_err().to_string().contains("radius"));
    assert!(toml::from_str::<FusionConfig>("lateness = 3").is_err());

    let with = |rule: RuleConfig| FusionConfig { rules: vec![rule], ..Default::default() }.validate().unwrap_err();
    assert!(with(near_rule(0.0, 120)).starts_with("rules[0].radius_m"), "{}", with(near_rule(0.0, 120)));
    assert!(with(near_rule(f64::NAN, 120)).starts_with("rules[0].radius_m"));
    assert!(with(near_rule(300.0, 0)).starts_with("rules[0].window_secs"));
    assert!(with(near_rule(300.0, 7200)).starts_with("rules[0].window_secs"), "longer than close_after_secs");
    let mut count = intrusion_count_rule();
    if let RuleConfig::EventCount(r) = &mut count {
        r.count = 1;
    }
    assert!(with(count).starts_with("rules[0].count"));
    let mut kind = intrusion_count_rule();
    if let RuleConfig::EventCount(r) = &mut kind {
        r.incident_kind = "Repeated".into();
    }
    assert!(with(kind).starts_with("rules[0].incident_kind"));
    let bad_kinds =
        RuleConfig::Near(NearRule { name: "n".into(), radius_m: 1.0, window_secs: 1, kinds: vec!["".into()] });
    assert!(with(bad_kinds).starts_with("rules[0].kinds[0]"));
    let reserved = RuleConfig::Near(NearRule { name: "episode".into(), radius_m: 1.0, window_secs: 1, kinds: vec![] });
    assert!(with(reserved).starts_with("rules[0].name"));
    let dup = FusionConfig { rules: vec![near_rule(1.0, 1), near_rule(2.0, 2)], ..Default::default() };
    assert!(dup.validate().unwrap_err().starts_with("rules[1].name"));
    let zero = FusionConfig { close_after_secs: 0, ..Default::default() };
    assert!(zero.validate().unwrap_err().starts_with("close_after_secs"));
    assert!(Engine::new(zero).is_err(), "the engine refuses a bad config at start-up");
}

// ---- Randomised streams: the indexed engine must behave exactly like the linear scan it replaced.

/// xorshift64*: the generator [`mixed_stream_gives_the_recorded_updates`] was recorded with.
/// Not `pipeline::rng`: another generator makes another stream, and the recorded updates
/// (the linear-scan engine's, from before the indexes) could not be made again.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    fn uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.next(), self.next())
    }
}

/// `p` moved by `north_m` and `east_m` metres, clamped and wrapped into WGS 84 ranges.
fn offset(p: GeoPoint, north_m: f64, east_m: f64) -> GeoPoint {
    let lat = (p.lat + north_m / 111_195.0).clamp(-90.0, 90.0);
    let lon = p.lon + east_m / (111_195.0 * lat.to_radians().cos().max(0.01));
    GeoPoint { lat, lon: (lon + 180.0).rem_euclid(360.0) - 180.0 }
}

/// Every kind of rule, with kinds filters that leave some incidents unlinkable by some rules.
fn mixed_config() -> FusionConfig {
    let near = |name: &str, radius_m, window_secs, kinds: &[&str]| {
        RuleConfig::Near(NearRule {
            name: name.into(),
            radius_m,
            window_secs,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        })
    };
    let same = |name: &str, key, window_secs, kinds: &[&str]| {
        RuleConfig::SameKey(SameKeyRule {
            name: name.into(),
            key,
            window_secs,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        })
    };
    let count = |name: &str, kind: &str, group_by, count, timespan_secs| {
        RuleConfig::EventCount(EventCountRule {
            name: name.into(),
            kinds: vec![kind.into()],
            group_by,
            count,
            timespan_secs,
            incident_kind: format!("{name}_incident"),
            severity: Severity::High,
        })
    };
    FusionConfig {
        allowed_lateness_secs: 60,
        close_after_secs: 900,
        escalate_at_source_kinds: 2,
        ignore_kinds: vec!["test_signal".into()],
        rules: vec![
            near("near_call", 300.0, 120, &["zone_intrusion", "call_received", "loitering"]),
            same("same_plate", CorrelationKey::Plate, 900, &[]),
            near("near_tight", 40.0, 30, &[]),
            count("repeat_cam", "zone_intrusion", GroupBy::SourceId, 3, 60),
            same("same_call", CorrelationKey::Call, 600, &["call_received", "zone_intrusion"]),
            count("plate_twice", "plate_watchlist", GroupBy::Plate, 2, 120),
        ],
        ..Default::default()
    }
}

/// A deterministic stream with everything fusion handles: places clustered so `near` links and
/// merges (also across ±180° longitude and near the poles), shared plates and call ids, episodes,
/// redeliveries, late backlog, jumps in event time that close incidents, two sites.
fn mixed_stream(seed: u64, n: usize) -> Vec<Alert> {
    let centres = [
        P,
        GeoPoint { lat: 41.3125, lon: 69.2420 },
        GeoPoint { lat: 0.0005, lon: 179.9998 },
        GeoPoint { lat: 0.0003, lon: -179.9997 },
        GeoPoint { lat: 89.9993, lon: 45.0 },
        GeoPoint { lat: -89.9996, lon: -120.0 },
        GeoPoint { lat: -33.86, lon: 151.21 },
    ];
    let kinds = [
        ("zone_intrusion", SourceKind::Camera),
        ("call_received", SourceKind::Call),
        ("plate_watchlist", SourceKind::Camera),
        ("loitering", SourceKind::Camera),
        ("radiation_alarm", SourceKind::Sensor),
        ("test_signal", SourceKind::Sensor),
    ];
    let severities = [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
    let mut rng = Rng::new(seed);
    let mut clock_ms: i64 = 0;
    let mut alerts: Vec<Alert> = Vec::with_capacity(n);
    while alerts.len() < n {
        if !alerts.is_empty() && rng.chance(0.03) {
            let again = alerts[rng.below(alerts.len() as u64) as usize].clone();
            alerts.push(again);
            continue;
        }
        clock_ms += rng.below(12_000) as i64;
        if rng.chance(0.01) {
            clock_ms += 700_000 + rng.below(800_000) as i64;
        }
        let mut t_ms = clock_ms;
        if rng.chance(0.06) {
            t_ms -= rng.below(1_500_000) as i64;
        }
        let &(kind, source_kind) = rng.pick(&kinds);
        let source_id = match source_kind {
            SourceKind::Call => "feed-102".to_string(),
            SourceKind::Sensor => format!("rpm-{}", rng.below(3)),
            _ => format!("cam-{}", rng.below(6)),
        };
        let mut a = base(kind, source_kind, &source_id, 0);
        a.id = rng.uuid();
        a.event_ts = t0() + Duration::milliseconds(t_ms);
        a.ingest_ts = a.event_ts;
        a.severity = *rng.pick(&severities);
        if rng.chance(0.1) {
            a.site = "port".into();
        }
        if rng.chance(0.25) {
            let back = rng.below(30.min(alerts.len() as u64).max(1)) as usize;
            if let Some(prev) = alerts.len().checked_sub(1 + back).map(|i| &alerts[i]) {
                a.episode = prev.episode;
                a.phase = if rng.chance(0.5) { Phase::Update } else { Phase::End };
            }
        }
        if a.phase == Phase::Begin {
            a.episode = rng.uuid();
        }
        if !rng.chance(0.1) {
            let spread = *rng.pick(&[30.0, 300.0, 3000.0]);
            let c = *rng.pick(&centres);
            let p = offset(c, (rng.unit() * 2.0 - 1.0) * spread, (rng.unit() * 2.0 - 1.0) * spread);
            match rng.below(3) {
                0 => a.correlation.place = Some(p),
                1 => a.source.location = Some(p),
                _ => a.objects.push(AlertObject {
                    class: "person".into(),
                    track_id: None,
                    score: 0.5,
                    bbox: None,
                    ground: Some(p),
                    speed_mps: None,
                }),
            }
        }
        if kind == "plate_watchlist" || rng.chance(0.15) {
            a.correlation.plate = Some(format!("01A{:03}BC", rng.below(8)));
            correlation_key().seal(&mut a);
        }
        if kind == "call_received" || rng.chance(0.05) {
            a.correlation.call = Some(format!("102-{:04}", rng.below(6)));
        }
        alerts.push(a);
    }
    alerts
}

fn sha256_hex(lines: &[String]) -> String {
    pipeline::hash::sha256_hex(lines.iter().map(|l| format!("{l}\n")).collect::<String>())
}

/// The updates for a fixed mixed stream, as produced by the linear-scan engine before the
/// indexes were added (recorded once; a change here is a change of observable behaviour;
/// re-recorded for incident schema 1.1, whose only difference here is the version string).
#[test]
fn mixed_stream_gives_the_recorded_updates() {
    let alerts = mixed_stream(1, 4000);
    let mut e = Engine::new(mixed_config()).unwrap();
    let per_alert: Vec<Vec<IncidentUpdate>> = alerts.iter().map(|a| e.ingest(a)).collect();
    // Retention closes in creation order, which is not always the order the incidents expired in.
    let closes_out_of_expiry_order = per_alert.iter().any(|us| {
        let ends: Vec<_> = us
            .iter()
            .filter(|u| u.change == Change::Closed && u.incident.merged_into.is_none())
            .map(|u| u.incident.last_event_ts)
            .collect();
        ends.windows(2).any(|w| w[0] > w[1])
    });
    let updates: Vec<IncidentUpdate> = per_alert.into_iter().flatten().collect();
    // The stream exercises what the indexes must reproduce.
    let merged = updates.iter().filter(|u| u.incident.merged_into.is_some()).count();
    let counted = updates.iter().filter(|u| u.incident.rule.is_some() && u.change == Change::Created).count();
    let retired = updates.iter().filter(|u| u.change == Change::Closed && u.incident.merged_into.is_none()).count();
    let late = updates.iter().filter(|u| u.incident.members.iter().any(|m| m.late)).count();
    let joined_by = |rule: &str| {
        updates.iter().filter(|u| u.incident.members.iter().any(|m| m.rule.as_deref() == Some(rule))).count()
    };
    let summary = (
        updates.len(),
        merged,
        counted,
        retired,
        late > 0,
        closes_out_of_expiry_order,
        ["episode", "near_call", "near_tight", "same_plate", "same_call", "repeat_cam", "plate_twice"]
            .map(|r| joined_by(r) > 0),
    );
    let json: Vec<String> = updates.iter().map(IncidentUpdate::to_json).collect();
    eprintln!("summary {summary:?} digest {}", sha256_hex(&json));
    assert_eq!(summary, (5077, 339, 77, 1323, true, true, [true; 7]));
    // Re-recorded for incident 1.2 (masked plates beside their keyed hashes): the summary, so
    // every join, is what it was.
    assert_eq!(sha256_hex(&json), "1d79ab7d6cf8d5669c34675dd68cf230535756b7ef01165f0db66f1b404ffab2");
}

/// The indexes only narrow the search: on random streams with every kind of rule, the engine
/// gives exactly the updates of one that scans every open incident (as fusion did before).
#[test]
fn indexed_engine_matches_a_scan_of_every_open_incident() {
    for seed in 1..=12 {
        let mut cfg = mixed_config();
        if seed % 3 == 0 {
            // Radii from centimetres to beyond the clusters' spread, and a shorter retention.
            for rule in &mut cfg.rules {
                if let RuleConfig::Near(n) = rule {
                    n.radius_m = if n.radius_m > 100.0 { 5000.0 } else { 0.05 };
                }
            }
            cfg.close_after_secs = 900;
            cfg.allowed_lateness_secs = 0;
        }
        let alerts = mixed_stream(seed, 3000);
        let mut indexed = Engine::new(cfg.clone()).unwrap();
        let mut scanning = Engine::new(cfg).unwrap().scanning();
        for (i, a) in alerts.iter().enumerate() {
            let (got, want) = (indexed.ingest(a), scanning.ingest(a));
            assert!(got == want, "seed {seed}, alert {i}:\n{got:#?}\nwant\n{want:#?}");
        }
        assert_eq!(open(&indexed), open(&scanning), "seed {seed}");
    }
}

/// The `near` grid never misses a point within the radius: checked against every pair on
/// random points, clustered so many pairs are close, also across ±180° and at the poles.
#[test]
fn near_grid_finds_every_point_within_the_radius() {
    let mut rng = Rng::new(42);
    let spots = [
        GeoPoint { lat: 41.3, lon: 69.2 },
        GeoPoint { lat: 0.0, lon: 180.0 },
        GeoPoint { lat: 65.0, lon: -180.0 },
        GeoPoint { lat: 90.0, lon: 0.0 },
        GeoPoint { lat: -89.99, lon: 179.0 },
        GeoPoint { lat: 0.0, lon: 0.0 },
    ];
    for radius_m in [0.01, 5.0, 50.0, 300.0, 5_000.0, 800_000.0, 9_000_000.0] {
        let point = |rng: &mut Rng| {
            if rng.chance(0.2) {
                // Uniform on the sphere.
                GeoPoint { lat: (rng.unit() * 2.0 - 1.0).asin().to_degrees(), lon: rng.unit() * 360.0 - 180.0 }
            } else {
                let c = *rng.pick(&spots);
                let spread = 3.0 * radius_m;
                offset(c, (rng.unit() * 2.0 - 1.0) * spread, (rng.unit() * 2.0 - 1.0) * spread)
            }
        };
        let stored: Vec<GeoPoint> = (0..1500).map(|_| point(&mut rng)).collect();
        let mut grid = index::Grid::new(radius_m);
        for (seq, p) in stored.iter().enumerate() {
            grid.insert(grid.cell(*p), seq as u64);
        }
        let (mut within, mut offered) = (0usize, 0usize);
        let mut found = Vec::new();
        for _ in 0..1500 {
            let q = point(&mut rng);
            found.clear();
            grid.candidates(q, &mut found);
            offered += found.len();
            for (seq, p) in stored.iter().enumerate() {
                if haversine_m(q, *p) <= radius_m {
                    within += 1;
                    assert!(found.contains(&(seq as u64)), "r {radius_m} m: {p:?} within of {q:?} not offered");
                }
            }
        }
        assert!(within > 1500, "r {radius_m} m: the points exercise close pairs ({within})");
        if radius_m <= 5_000.0 {
            assert!(offered < 20 * within, "r {radius_m} m: the grid narrows the search ({offered} for {within})");
        }
    }
}

/// Throughput with many open incidents: 200,000 alerts at distinct places a few seconds apart,
/// each its own incident. `cargo test -p qorovul-control-room --release fusion -- --ignored --nocapture`;
/// `FUSION_BENCH_ALERTS` sets the count.
#[test]
#[ignore]
fn throughput_with_many_open_incidents() {
    let n: usize = std::env::var("FUSION_BENCH_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let mut rng = Rng::new(7);
    let alerts: Vec<Alert> = (0..n)
        .map(|i| {
            let place =
                GeoPoint { lat: 41.0 + (i % 1000) as f64 * 0.001, lon: 69.0 + (i / 1000 % 1000) as f64 * 0.001 };
            let mut a = camera("cam-1", "zone_intrusion", 0, place);
            a.id = rng.uuid();
            a.episode = rng.uuid();
            a.event_ts = t0() + Duration::microseconds(10 * i as i64);
            a
        })
        .collect();
    let mut e = engine(vec![near_rule(50.0, 120)]);
    let start = std::time::Instant::now();
    let mut updates = 0usize;
    for a in &alerts {
        updates += e.ingest(a).len();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(updates, n, "each alert opens its own incident");
    assert_eq!(e.open_incidents().count(), n);
    println!("fusion: {n} alerts, {n} open incidents: {secs:.3} s, {:.0} alerts/s", n as f64 / secs);
}

// ---- Event time bounded by the control room's clock (issue 17).

/// 2100-01-01T00:00:00Z: what a node whose clock is set to 2100 states.
fn year_2100() -> DateTime<Utc> {
    DateTime::from_timestamp(4_102_444_800, 0).unwrap()
}

fn bounded_engine() -> Engine {
    let cfg = FusionConfig {
        allowed_lateness_secs: 60,
        close_after_secs: 600,
        rules: vec![near_rule(300.0, 120)],
        ..Default::default()
    };
    Engine::new(cfg).unwrap()
}

/// A camera alert at 0 s, then `odd` (received at 10 s), then a 102 call at 40 s, 150 m from
/// the camera, each received when stated; returns the updates and the engine.
fn camera_odd_call(odd: &Alert, trust_stated: bool) -> (Vec<IncidentUpdate>, Engine, Alert, Alert) {
    let mut e = bounded_engine();
    let cam = camera("cam-1", "zone_intrusion", 0, P);
    let call = call("102-0900", 40, north(P, 150.0));
    let mut updates = e.ingest_at(&cam, at(0));
    updates.extend(if trust_stated { e.ingest(odd) } else { e.ingest_at(odd, at(10)) });
    updates.extend(e.ingest_at(&call, at(40)));
    (updates, e, cam, call)
}

#[test]
fn a_node_with_its_clock_in_2100_cannot_close_incidents_or_stop_two_alerts_fusing() {
    // Far from the camera, so it joins nothing: only its time could matter.
    let mut from_2100 = camera("cam-9", "zone_intrusion", 0, north(P, 5000.0));
    from_2100.event_ts = year_2100();
    let (updates, e, cam, call) = camera_odd_call(&from_2100, false);

    assert!(updates.iter().all(|u| u.change != Change::Closed), "nothing closes: {updates:#?}");
    let incidents = open(&e);
    assert_eq!(incidents.len(), 2);
    let inc = holding(&incidents, &cam);
    assert_eq!(holding(&incidents, &call).id, inc.id, "the camera and the call still fuse");
    assert_eq!(member(inc, &call).rule.as_deref(), Some("near"));
    assert!(!member(inc, &call).late);
    assert_eq!(e.watermark(SITE), Some(at(40 - 60)), "the watermark follows the control room's clock");
    let odd = member(holding(&incidents, &from_2100), &from_2100);
    assert_eq!(odd.time_mark, Some(TimeMark::Future));
    assert_eq!((odd.event_ts, odd.stated_event_ts), (at(10), Some(year_2100())), "fused at the time received");

    // The marks are optional fields the incident schema allows, and round-trip.
    let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let marked = updates.iter().find(|u| u.incident.members.iter().any(|m| m.time_mark.is_some())).unwrap();
    let json: serde_json::Value = serde_json::from_str(&marked.to_json()).unwrap();
    assert_eq!(json["incident"]["members"][0]["time_mark"], "future");
    assert!(validator.is_valid(&json), "{json}");
    assert_eq!(&serde_json::from_value::<IncidentUpdate>(json).unwrap(), marked);
    // Unmarked members serialise as before: no new keys.
    assert!(!inc.members.iter().any(|m| serde_json::to_string(m).unwrap().contains("time_mark")));

    // Replay (the same alerts at the same received times, as the store keeps them) gives
    // the same updates.
    let mut replaying = bounded_engine();
    let replayed: Vec<String> = [(&cam, at(0)), (&from_2100, at(10)), (&call, at(40))]
        .iter()
        .flat_map(|(a, received)| replaying.ingest_at(a, *received))
        .map(|u| u.to_json())
        .collect();
    assert_eq!(replayed, updates.iter().map(IncidentUpdate::to_json).collect::<Vec<_>>());

    // Taken at its word (as before the bound), the same alert closes the camera's incident
    // and makes the call late, alone: what the bound prevents.
    let (trusted, e, cam, call) = camera_odd_call(&from_2100, true);
    let closes = |id: Uuid| {
        trusted.iter().any(|u| u.change == Change::Closed && u.incident.members.iter().any(|m| m.alert_id == id))
    };
    assert!(closes(cam.id) && closes(call.id), "{trusted:#?}");
    let call_member = trusted.iter().flat_map(|u| &u.incident.members).find(|m| m.alert_id == call.id).unwrap();
    assert!(call_member.late && call_member.rule.is_none(), "the call fused with nothing");
    assert_eq!(open(&e).len(), 1, "only the 2100 alert's own incident is left");
}

#[test]
fn a_rightful_node_on_time_fuses_the_same_way_unmarked() {
    let honest = camera("cam-9", "zone_intrusion", 10, north(P, 5000.0));
    let (updates, e, cam, call) = camera_odd_call(&honest, false);
    assert!(updates.iter().all(|u| u.change != Change::Closed));
    let incidents = open(&e);
    assert_eq!(holding(&incidents, &call).id, holding(&incidents, &cam).id);
    let m = member(holding(&incidents, &honest), &honest);
    assert_eq!((m.event_ts, m.time_mark, m.stated_event_ts), (at(10), None, None));
}

#[test]
fn stated_time_is_taken_within_the_tolerance_and_marked_beyond_it() {
    let cfg = FusionConfig::default();
    assert_eq!((cfg.max_future_secs, cfg.max_past_secs), (5, 86_400));
    let r = at(1000);
    assert_eq!(cfg.bound(at(1005), r), (at(1005), None), "5 s ahead: a clock a little fast");
    assert_eq!(cfg.bound(at(1006), r), (r, Some(TimeMark::Future)));
    assert_eq!(cfg.bound(year_2100(), r), (r, Some(TimeMark::Future)));
    assert_eq!(cfg.bound(at(1000 - 86_400), r), (at(1000 - 86_400), None), "a day-old backlog");
    let old = at(1000 - 86_401);
    assert_eq!(cfg.bound(old, r), (old, Some(TimeMark::Past)), "kept at its time, marked");
    let epoch = DateTime::from_timestamp(0, 0).unwrap();
    assert_eq!(cfg.bound(epoch, r), (epoch, Some(TimeMark::Past)));
    // Extremes saturate rather than overflow.
    let huge = FusionConfig { max_future_secs: u64::MAX, max_past_secs: u64::MAX, ..Default::default() };
    assert_eq!(huge.bound(year_2100(), r), (year_2100(), None));
    assert_eq!(huge.bound_us(i64::MAX, 0), (i64::MAX, None));
    assert_eq!(cfg.bound_us(i64::MIN, i64::MAX), (i64::MIN, Some(TimeMark::Past)));
    assert_eq!(cfg.bound_us(i64::MAX, i64::MAX - 1), (i64::MAX, None));

    // A far-past alert is fused at its stated time and marked; it moves nothing forward.
    let mut e = bounded_engine();
    e.ingest_at(&camera("cam-1", "zone_intrusion", 0, P), at(0));
    let mut ancient = camera("cam-2", "zone_intrusion", 0, north(P, 5000.0));
    ancient.event_ts = epoch;
    let updates = e.ingest_at(&ancient, at(5));
    let m = member(&updates[0].incident, &ancient);
    assert_eq!((m.event_ts, m.time_mark, m.late), (epoch, Some(TimeMark::Past), true));
    assert_eq!(e.watermark(SITE), Some(at(-60)));
    assert!(e.open_incidents().any(|i| i.members.iter().any(|m| m.event_ts == at(0))), "the camera's stays open");
}

#[test]
fn time_bounds_parse_from_toml_and_zero_past_is_refused() {
    let cfg: FusionConfig = toml::from_str("max_future_secs = 2\nmax_past_secs = 3600\n").unwrap();
    assert_eq!((cfg.max_future_secs, cfg.max_past_secs), (2, 3600));
    let zero = FusionConfig { max_past_secs: 0, ..Default::default() };
    assert!(zero.validate().unwrap_err().starts_with("max_past_secs"), "{:?}", zero.validate());
}
