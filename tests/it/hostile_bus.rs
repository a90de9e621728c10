//! Attacks on the bus and on time, against real processes: a `qorovul router` and a
//! `qorovul control-room` on loopback, and this process putting on the bus as a node would.
//! Each attack is paired with the rightful message, which is taken and has its effect.
//!
//! - A node whose own clock says 2100 publishes an alert: two other alerts of its site still
//!   fuse into one incident, nothing closes, and the 2100 alert is fused at the time the
//!   control room received it, marked `time_mark: "future"` (an honest node's is not).
//! - A heartbeat on one node's key that speaks for another is refused; the node's own is taken.
//! - An alert put on another source's key is dead-lettered; on its own key it is fused.
//!
//! Forged acknowledgements: the router's rules (tests/it/acl_tls.rs) and the edge's uplink
//! (`edge::uplink` tests) stop them.

use crate::fabric::Site;
use crate::support::{Proc, test_alert};
use control_room::fusion::{Change, IncidentUpdate, TimeMark};
use pipeline::alert::{Alert, GeoPoint, Severity, SourceKind};
use pipeline::bus::{self, BusConfig};
use pipeline::health::Heartbeat;
use pipeline::keys;
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const WAIT: Duration = Duration::from_secs(60);
/// A square in Tashkent; the camera looks at it.
const P: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

/// A router and a control room (node `cr-1`) fusing a call within 300 m and 120 s of a camera
/// alert, and a client session of this process on the same router, subscribed to every
/// site's incidents.
struct Bus {
    _router: Proc,
    room: Proc,
    session: zenoh::Session,
    incidents: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
    _rt: tokio::runtime::Runtime,
}

fn start(test: &str) -> Bus {
    let site = Site::new(test);
    let router = site.router();
    let data = site.dir.join("control-room");
    let cfg = site.config(
        "hq",
        "cr-1",
        &format!(
            "[control_room]\ndata_dir = \"{}\"\nheartbeat_secs = 0.5\nsilent_after_secs = 600\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\
             [fusion]\nallowed_lateness_secs = 60\nclose_after_secs = 600\n\
             [[fusion.rules]]\ntype = \"near\"\nname = \"call_near_camera\"\nradius_m = 300\nwindow_secs = 120\n",
            data.display()
        ),
    );
    let room = Proc::qorovul(&["control-room", "--config", &cfg]);
    room.wait_stderr("control room cr-1 running", WAIT).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bus_cfg = BusConfig { mode: "client".into(), connect: vec![site.endpoint.clone()], ..Default::default() };
    let session = rt.block_on(bus::open(&bus_cfg)).unwrap();
    let incidents = session.declare_subscriber(keys::incidents("*")).wait().unwrap();
    let warm_up = test_alert("warm-up", "gate");
    assert!(bus::wait_for_subscriber(&session, &warm_up.pii_key_expr(), WAIT).unwrap(), "the control room subscribes");
    // Until one incident of a warm-up alert comes back, the control room may not know this
    // subscriber yet; after one has, it routes every later update here.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(std::time::Instant::now() < deadline, "no incident ever came back from the control room");
        publish(&session, &test_alert("warm-up", "gate"), "edge-warm-up");
        if let Ok(Some(_)) = incidents.recv_timeout(Duration::from_millis(500)) {
            break;
        }
    }
    Bus { _router: router, room, session, incidents, _rt: rt }
}

/// `p` moved `north_m` metres north (small distances).
fn north(p: GeoPoint, north_m: f64) -> GeoPoint {
    GeoPoint { lat: p.lat + north_m / 111_195.0, lon: p.lon }
}

/// Puts `alert` on its own (pii) key as edge node `node` would (with the node's attachment).
fn publish(session: &zenoh::Session, alert: &Alert, node: &str) {
    session
        .put(alert.pii_key_expr(), alert.to_json())
        .congestion_control(CongestionControl::Block)
        .attachment(keys::node_attachment(node))
        .wait()
        .unwrap();
}

/// At `site`: a camera alert 30 s ago, then `odd` (from another node, 5 km away), then a 102
/// call 150 m from the camera 10 s ago. Returns every incident update of the site up to the
/// first that holds the call (updates are published in the order the alerts were fused).
fn camera_odd_call(bus: &Bus, site: &str, odd: &Alert) -> (Vec<IncidentUpdate>, Alert, Alert) {
    let now = chrono::Utc::now();
    let mut camera = test_alert(site, "gate");
    camera.kind = "zone_intrusion".into();
    camera.severity = Severity::High;
    camera.event_ts = now - chrono::TimeDelta::seconds(30);
    camera.correlation.place = Some(P);
    let mut call = test_alert(site, "line-102");
    call.source.kind = SourceKind::Call;
    call.kind = "call_received".into();
    call.event_ts = now - chrono::TimeDelta::seconds(10);
    call.correlation.call = Some(format!("102-{site}"));
    call.correlation.place = Some(north(P, 150.0));

    publish(&bus.session, &camera, "edge-gate");
    publish(&bus.session, odd, "edge-odd");
    publish(&bus.session, &call, "edge-102");

    let mut updates = Vec::new();
    loop {
        let sample =
            bus.incidents.recv_timeout(WAIT).unwrap().unwrap_or_else(|| panic!("{site}: no update holds the call"));
        let u: IncidentUpdate = serde_json::from_slice(&sample.payload().to_bytes()).unwrap();
        if u.incident.site != site {
            continue; // the warm-up's
        }
        let holds_call = u.incident.members.iter().any(|m| m.alert_id == call.id);
        updates.push(u);
        if holds_call {
            return (updates, camera, call);
        }
    }
}

/// Another node's alert, far from the camera, so only its time could matter.
fn odd_alert(site: &str, event_ts: chrono::DateTime<chrono::Utc>) -> Alert {
    let mut a = test_alert(site, "cam-9");
    a.kind = "zone_intrusion".into();
    a.event_ts = event_ts;
    a.correlation.place = Some(north(P, 5000.0));
    a
}

#[test]
fn a_node_whose_clock_says_2100_cannot_close_incidents_or_stop_two_alerts_fusing() {
    let bus = start("clock-2100");
    let year_2100 = chrono::DateTime::from_timestamp(4_102_444_800, 0).unwrap();
    let honest_time = chrono::Utc::now() - chrono::TimeDelta::seconds(20);
    for (site, stated) in [("post-honest", honest_time), ("post-2100", year_2100)] {
        let odd = odd_alert(site, stated);
        // The control room keeps its received time to the microsecond.
        let before = chrono::Utc::now() - chrono::TimeDelta::milliseconds(1);
        let (updates, camera, call) = camera_odd_call(&bus, site, &odd);
        let after = chrono::Utc::now();

        assert!(updates.iter().all(|u| u.change != Change::Closed), "{site}: something closed: {updates:#?}");
        let last = updates.last().unwrap();
        let members: Vec<_> = last.incident.members.iter().map(|m| m.alert_id).collect();
        assert_eq!(members, [camera.id, call.id], "{site}: the camera and the call are one incident");
        assert_eq!(last.change, Change::Updated);
        assert!(last.incident.members.iter().all(|m| !m.late), "{site}: nothing late");

        let odd_member =
            updates.iter().flat_map(|u| &u.incident.members).find(|m| m.alert_id == odd.id).expect("odd fused");
        if stated == year_2100 {
            assert_eq!(odd_member.time_mark, Some(TimeMark::Future), "{site}");
            assert_eq!(odd_member.stated_event_ts, Some(year_2100), "{site}: what the node said is kept");
            let fused_at = odd_member.event_ts;
            assert!(before <= fused_at && fused_at <= after, "{site}: fused at the time received, not {fused_at}");
        } else {
            assert_eq!((odd_member.time_mark, odd_member.event_ts), (None, stated), "{site}: taken as stated");
        }
    }
    let warned = bus.room.wait_stderr("event_ts 2100-01-01T00:00:00+00:00 is more than 5 s ahead of", WAIT).unwrap();
    assert!(warned.contains("from node edge-odd"), "{warned}");
}

#[test]
fn a_heartbeat_speaking_for_another_node_is_refused_and_the_nodes_own_is_taken() {
    let bus = start("forged-heartbeat");
    let (attacker, victim) = (keys::health("post1", "edge-attacker"), keys::health("post1", "edge-victim"));
    assert!(bus::wait_for_subscriber(&bus.session, &victim, WAIT).unwrap(), "the control room subscribes");
    let beat = |node: &str| serde_json::to_vec(&Heartbeat::new("post1", node, "edge", Duration::from_secs(5))).unwrap();
    let put = |key: &str, payload: Vec<u8>| {
        bus.session.put(key, payload).congestion_control(CongestionControl::Block).wait().unwrap()
    };
    // On its own key, a heartbeat that keeps edge-victim "alive"; then edge-victim's own.
    put(&attacker, beat("edge-victim"));
    put(&victim, beat("edge-victim"));

    let refused = bus.room.wait_stderr(&format!("heartbeat on {attacker}"), WAIT).unwrap();
    assert!(refused.contains("refused") && refused.contains("\"edge-victim\""), "{refused}");
    // Heard once, on its own key: had the forged one been taken, it would have been heard there first.
    let heard = bus.room.wait_stderr("node edge-victim of site post1 heard", WAIT).unwrap();
    assert!(heard.contains(&format!("heard on {victim}")), "{heard}");
}

#[test]
fn an_alert_on_another_sources_key_is_dead_lettered_and_on_its_own_is_fused() {
    let bus = start("key-mismatch");
    let alert = test_alert("post1", "gate");
    let forged_key = keys::pii_of(&keys::alert("post1", "camera", "other-cam", &alert.kind));
    assert!(bus::wait_for_subscriber(&bus.session, &forged_key, WAIT).unwrap(), "the control room subscribes");
    bus.session.put(&forged_key, alert.to_json()).congestion_control(CongestionControl::Block).wait().unwrap();
    publish(&bus.session, &alert, "edge-1");

    let dead = bus.room.wait_stderr(&format!("dead letter from {forged_key}"), WAIT).unwrap();
    assert!(dead.contains(&format!("the alert's own key is {}", alert.pii_key_expr())), "{dead}");
    loop {
        let sample = bus.incidents.recv_timeout(WAIT).unwrap().expect("the rightful alert makes an incident");
        let u: IncidentUpdate = serde_json::from_slice(&sample.payload().to_bytes()).unwrap();
        if u.incident.site == "post1" {
            assert_eq!(u.change, Change::Created);
            assert_eq!(u.incident.members.iter().map(|m| m.alert_id).collect::<Vec<_>>(), [alert.id]);
            break;
        }
    }
}
