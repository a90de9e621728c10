//! The 102 desk and the sensor feed end to end: records posted over HTTP, put on zenoh and
//! replayed from a file reach the feed thread; calls are triaged with the embedding model,
//! placed (camera verification), given the nearest units; bad input is answered with its
//! reason and counted while good records keep flowing.

use super::support::{assert_valid_alert, credentials, free_port, model_lock, post_json_reply};
use crossbeam_channel::Receiver;
use edge::feeds::{Fed, Feeds};
use pipeline::alert::{Alert, Phase, SourceKind};
use pipeline::feed::FeedKind;
use qorovul::config::PipelineConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// The square camera looks east, 60° wide, 80 m deep.
const CAM: (f64, f64) = (41.3111, 69.2797);

fn offset(east: f64, north: f64) -> (f64, f64) {
    let m = 6_371_008.8 * std::f64::consts::PI / 180.0;
    (CAM.0 + north / m, CAM.1 + east / (m * CAM.0.to_radians().cos()))
}

fn config(port: u16, replay: Option<&std::path::Path>, creds: &std::path::Path) -> PipelineConfig {
    let replay = replay
        .map(|p| format!("[[feeds.replay]]\nfile = {:?}\nkind = \"calls\"\n", p.display().to_string()))
        .unwrap_or_default();
    PipelineConfig::parse(
        &format!(
            r#"
site = "t"
[bus]
listen = ["tcp/127.0.0.1:{port}"]
[[camera]]
id = "square"
name = "Square"
uri = "file:///nonexistent.avi"
location = {{ lat = {}, lon = {} }}
view = {{ heading_deg = 90, fov_deg = 60, range_m = 80 }}
[calls]
enabled = true
[[calls.place.places]]
name = "Chilonzor 9-kvartal"
aliases = ["Чилонзор 9-квартал"]
lat = 41.2856
lon = 69.2044
[feeds]
http_listen = "127.0.0.1:0"
credentials = {creds:?}
{replay}
[[sensors.radiation_portal]]
id = "rpm1"
name = "Lane 1"
gamma_sensor = "rpm1-gamma"
occupancy_sensor = "rpm1-occ"
"#,
            CAM.0,
            CAM.1,
            creds = creds.display().to_string()
        ),
        "test",
    )
    .unwrap()
}

/// A JSON POST by the call-handling system; the status and the JSON reply.
fn post(addr: std::net::SocketAddr, token: &str, path: &str, body: &[u8]) -> (u16, Value) {
    post_json_reply(addr, path, "application/json", Some(token), body)
}

fn next_alert(rx: &Receiver<Alert>) -> Alert {
    let a = rx.recv_timeout(Duration::from_secs(60)).expect("an alert from the feed thread");
    assert_valid_alert(&serde_json::to_value(&a).unwrap());
    a
}

fn call(id: &str, at: Value, narrative: &str) -> Vec<u8> {
    json!({"call_id": id, "start_ts": chrono::Utc::now(), "caller": {"number": "+998901234567"},
           "location": at, "narrative": narrative})
    .to_string()
    .into_bytes()
}

fn point(east: f64, north: f64) -> Value {
    let (lat, lon) = offset(east, north);
    json!({"lat": lat, "lon": lon, "uncertainty_m": 20})
}

fn rejected(feed: &str, reason: &str) -> u64 {
    pipeline::metrics::global().value("qv_feed_rejected_total", &[("feed", feed), ("reason", reason)])
}

#[test]
fn calls_are_triaged_placed_and_given_units_and_bad_input_is_refused_while_the_feed_flows() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replay = dir.join("calls.jsonl");
    // Line 2 is broken; lines 1 and 3 must still be taken.
    std::fs::write(
        &replay,
        format!(
            "{}\n{{\"call_id\": \"r-2\", \n{}\n",
            String::from_utf8(call("r-1", json!({"address": "Чилонзор 9-квартал, 4-уй"}), "Уйда ёнғин, тутун кўп"))
                .unwrap(),
            String::from_utf8(call("r-3", point(0.0, 5000.0), "There is a fight outside the shop")).unwrap(),
        ),
    )
    .unwrap();
    let all = [FeedKind::Calls, FeedKind::Units, FeedKind::Telemetry];
    let (creds, who) = credentials(&dir, &[("call-centre", &all, &["*"])]);
    let token = who["call-centre"].token.as_str();
    let cfg = config(free_port(), Some(&replay), &creds);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(pipeline::bus::open(&cfg.bus)).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let feeds = Feeds::start(&cfg.feed_thread(), &session, rt.handle(), tx, None).unwrap().expect("calls are enabled");
    let addr = feeds.http_addr.unwrap();

    // The replayed file: two calls, the broken line refused.
    let r1 = next_alert(&rx);
    assert_eq!(r1.attributes["call_id"], "r-1");
    assert_eq!(r1.attributes["incident_type"], "fire", "{:?}", r1.attributes["triage"]);
    assert!((r1.correlation.place.unwrap().lat - 41.2856).abs() < 1e-9, "placed by the gazetteer, Cyrillic address");
    let r3 = next_alert(&rx);
    assert_eq!(r3.attributes["call_id"], "r-3");
    assert_eq!(rejected("calls", "not_json"), 1);

    // The camera raised alerts a minute ago; they verify a call 120 m beyond its view.
    let mut seen = Alert::minimal("t", SourceKind::Camera, "square", "zone_intrusion");
    seen.event_ts = chrono::Utc::now() - chrono::Duration::seconds(60);
    feeds.sender().send(Fed::CameraAlert(Box::new(seen.clone()))).unwrap();
    // Units: one near and available, one nearer but busy, one nearer but stale, one far.
    let now = chrono::Utc::now();
    let stale = now - chrono::Duration::seconds(600);
    for (unit, ts, east, status) in [
        ("P-near", now, 400.0, "available"),
        ("P-busy", now, 210.0, "busy"),
        ("P-stale", stale, 200.0, "available"),
        ("P-far", now, 3000.0, "available"),
    ] {
        let (lat, lon) = offset(east, 0.0);
        let body = json!({"unit": unit, "ts": ts, "lat": lat, "lon": lon, "status": status}).to_string();
        assert_eq!(post(addr, token, "/v1/units", body.as_bytes()).0, 202, "{unit}");
    }

    let (status, reply) = post(
        addr,
        token,
        "/v1/calls",
        &call("c-near", point(200.0, 0.0), "Ikki kishi pichoq bilan urishyapti, biri yaralangan, qon ketyapti"),
    );
    assert_eq!((status, reply["result"].as_str()), (202, Some("accepted")), "{reply}");
    let near = next_alert(&rx);
    assert_eq!((near.kind.as_str(), near.phase), ("call_received", Phase::Begin));
    assert_eq!(near.correlation.call.as_deref(), Some("c-near"));
    let v = near.attributes["verification"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["camera"], "square");
    assert_eq!(v[0]["distance_m"], 120.0);
    assert_eq!(v[0]["alerts"][0]["id"], seen.id.to_string(), "the camera's recent alert is attached");
    let units: Vec<&str> =
        near.attributes["units"].as_array().unwrap().iter().map(|u| u["unit"].as_str().unwrap()).collect();
    assert_eq!(units, ["P-near", "P-far"], "busy and stale units are not suggested");
    // Whole in the alert (it travels whole only on its pii key), masked in its public form.
    assert_eq!(near.attributes["caller_number"], "+998901234567");
    assert_eq!(pipeline::personal::public(&near).attributes["caller_number"], "+9*********67");
    assert!(near.attributes["triage"]["life_threatening"].as_bool().unwrap(), "{}", near.attributes["triage"]);

    post(addr, token, "/v1/calls", &call("c-far", point(2000.0, 0.0), "Ikki kishi pichoq bilan urishyapti"));
    let far = next_alert(&rx);
    assert_eq!(far.attributes["verification"], json!([]), "2 km away: no camera sees it");

    // An update merges into the call (same episode); a redelivery changes nothing.
    let update = json!({"call_id": "c-near", "start_ts": near.event_ts, "update_ts": chrono::Utc::now(),
                        "call_taker": {"incident_type": "assault_injury", "priority": 1}})
    .to_string();
    assert_eq!(post(addr, token, "/v1/calls", update.as_bytes()).1["result"], "updated");
    assert_eq!(post(addr, token, "/v1/calls", update.as_bytes()).1["result"], "duplicate");
    let upd = next_alert(&rx);
    assert_eq!((upd.phase, upd.episode), (Phase::Update, near.episode));
    assert_eq!(upd.attributes["triage"]["source"], "call_taker");

    // Bad input: each answered with what is wrong, counted, and nothing else lost.
    let (s, r) = post(addr, token, "/v1/calls", b"{\"call_id\": ");
    assert_eq!(s, 400);
    assert!(r["notes"][0].as_str().unwrap().starts_with("not JSON"), "{r}");
    let (s, r) = post(addr, token, "/v1/calls", json!({"start_ts": chrono::Utc::now()}).to_string().as_bytes());
    assert_eq!(s, 400);
    assert!(r["notes"][0].as_str().unwrap().contains("call_id"), "{r}");
    let (s, r) = post(addr, token, "/v1/calls", &call("c-lat", json!({"lat": 95.0, "lon": 69.0}), "help"));
    assert_eq!(s, 400);
    assert!(r["notes"][0].as_str().unwrap().starts_with("location.lat:"), "{r}");
    let (lat, lon) = offset(0.0, 0.0);
    let future = json!({"unit": "P-near", "ts": chrono::Utc::now() + chrono::Duration::hours(1), "lat": lat, "lon": lon, "status": "available"});
    let (s, r) = post(addr, token, "/v1/units", future.to_string().as_bytes());
    assert_eq!(s, 400);
    assert!(r["notes"][0].as_str().unwrap().contains("ahead of this node's clock"), "{r}");
    assert_eq!(rejected("units", "future"), 1);

    // Accepted but flagged: an empty narrative, another script, a 5 MB narrative.
    post(addr, token, "/v1/calls", &call("c-empty", point(0.0, 0.0), ""));
    let empty = next_alert(&rx);
    assert_eq!(empty.attributes["incident_type"], "unknown");
    assert!(empty.attributes["triage"]["needs_review"].as_bool().unwrap());
    post(addr, token, "/v1/calls", &call("c-han", point(0.0, 0.0), "有人在广场上打架"));
    let han = next_alert(&rx);
    assert_eq!(han.attributes["incident_type"], "unknown");
    assert!(
        han.attributes["triage"]["reasons"].to_string().to_lowercase().contains("script"),
        "{}",
        han.attributes["triage"]
    );
    let big = "Yordam bering, yong'in! ".repeat((5 << 20) / 24);
    let (s, r) = post(addr, token, "/v1/calls", &call("c-big", point(0.0, 0.0), &big));
    assert_eq!(s, 202, "{r}");
    assert!(r["notes"][0].as_str().unwrap().starts_with("narrative:"), "{r}");
    let big_alert = next_alert(&rx);
    assert_eq!(big_alert.attributes["incident_type"], "fire");

    // Telemetry flows through the same thread; a bad reading is refused with its field.
    let reading = json!({"sensor": "rpm1-gamma", "kind": "gamma_cps", "value": 180.0, "unit": "cps", "event_ts": chrono::Utc::now()});
    assert_eq!(post(addr, token, "/v1/telemetry", reading.to_string().as_bytes()).0, 202);
    let (s, r) = post(addr, token, "/v1/telemetry", br#"{"sensor": "rpm1-gamma", "kind": "gamma_cps", "value": 1}"#);
    assert_eq!(s, 400, "{r}");

    // The zenoh route: a record put on the feed key becomes a call like the others.
    who["call-centre"].put(
        &session,
        &pipeline::keys::calls_feed("t"),
        call("z-1", point(10.0, 0.0), "Fire in the kiosk"),
    );
    let z = next_alert(&rx);
    assert_eq!(z.attributes["call_id"], "z-1");
    assert!(rx.try_recv().is_err(), "no alert for a refused or duplicate record");
    drop(feeds);
    rt.block_on(async { session.close().await }).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
