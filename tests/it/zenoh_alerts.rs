//! Must show 5: a zenoh subscriber in another process (`qorovul listen`) receives the
//! camera path's alerts, over an explicit loopback endpoint with multicast scouting off.

use crate::support::{Proc, VTEST, assert_valid_alert, free_port, model_lock, test_alert, wait_line};
use edge::camera_path::CameraPath;
use pipeline::bus::{self, BusConfig};
use pipeline::sources::camera::CameraConfig;
use qorovul::config::PipelineConfig;
use std::time::Duration;

#[test]
fn a_subscriber_in_another_process_receives_every_alert() {
    let _turn = model_lock();
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bus_cfg = BusConfig { listen: vec![endpoint.clone()], ..Default::default() };
    assert!(!bus_cfg.multicast_scouting);
    let session = rt.block_on(bus::open(&bus_cfg)).unwrap();

    let listener = Proc::qorovul(&["listen", "--connect", &endpoint, "--key", "qv/it-zenoh/alert/**"]);
    listener.wait_stderr("listening on", Duration::from_secs(20)).unwrap();
    // Synchronise on zenoh's own matching status, not on time.
    let key = "qv/it-zenoh/alert/camera/cam/object_detected";
    assert!(bus::wait_for_subscriber(&session, key, Duration::from_secs(20)).unwrap(), "subscriber never matched");

    let cfg = PipelineConfig::parse(
        "site = \"it-zenoh\"\n[detector]\nthreads = 2\n[[rules.object_detected]]\nclasses = [\"person\"]\n",
        "test",
    )
    .unwrap();
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("cam", VTEST);
    cam.realtime = false;
    path.add_camera(cam).unwrap();
    let mut frames = 0;
    while frames < 150 {
        if let edge::camera_path::PathEvent::Analysed { .. } = events.recv_timeout(Duration::from_secs(60)).unwrap() {
            frames += 1;
        }
    }
    path.shutdown();
    let sent: Vec<_> = alerts_rx.try_iter().collect();
    assert!(sent.len() >= 2, "150 frames of vtest raise alerts");
    for a in &sent {
        rt.block_on(bus::publish_alert(&session, a)).unwrap();
    }
    for a in &sent {
        let line = wait_line(&listener.stdout, &a.id.to_string(), Duration::from_secs(20))
            .expect("alert received by the other process");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_valid_alert(&json);
        assert_eq!(json["kind"], a.kind.as_str());
    }
    println!("{} alerts published and received by `qorovul listen`", sent.len());
}

/// Bad messages on the bus are refused one by one with a reason; good ones around them
/// still get through (the contract's rules, exercised through `qorovul listen`).
#[test]
fn bad_messages_on_the_bus_are_refused_with_a_reason_and_the_next_is_processed() {
    use pipeline::alert::{Alert, SCHEMA_VERSION};
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let session = rt.block_on(bus::open(&BusConfig { listen: vec![endpoint.clone()], ..Default::default() })).unwrap();
    let listener = Proc::qorovul(&["listen", "--connect", &endpoint, "--key", "qv/it-bad/**"]);
    listener.wait_stderr("listening on", Duration::from_secs(20)).unwrap();
    let key = "qv/it-bad/alert/camera/gate/object_detected";
    assert!(bus::wait_for_subscriber(&session, key, Duration::from_secs(20)).unwrap());

    let alert = |version: &str| Alert { schema_version: version.into(), ..test_alert("it-bad", "gate") };
    let good = alert(SCHEMA_VERSION);
    let mut newer_minor: serde_json::Value = serde_json::to_value(alert("1.9")).unwrap();
    newer_minor["lane"] = "3".into();
    let mut missing: serde_json::Value = serde_json::to_value(alert(SCHEMA_VERSION)).unwrap();
    missing.as_object_mut().unwrap().remove("severity");
    let newer_major = serde_json::to_string(&alert("2.0")).unwrap();
    let big = vec![b'x'; 10 * 1024 * 1024];
    let put = |payload: Vec<u8>| {
        rt.block_on(async { session.put(key, payload).congestion_control(zenoh::qos::CongestionControl::Block).await })
            .unwrap()
    };
    put(b"this is not json".to_vec());
    put(missing.to_string().into_bytes());
    put(newer_major.into_bytes());
    put(big);
    put(newer_minor.to_string().into_bytes());
    put(good.to_json().into_bytes());

    for reason in ["not JSON at line 1", "missing field `severity`", "newer MAJOR", "exceeds the 1048576-byte limit"] {
        wait_line(&listener.stderr, reason, Duration::from_secs(20)).expect(reason);
    }
    let minor_line = wait_line(&listener.stdout, newer_minor["id"].as_str().unwrap(), Duration::from_secs(20)).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&minor_line).unwrap();
    assert_eq!(kept["lane"], "3", "a newer MINOR's unknown field is kept");
    let good_line = wait_line(&listener.stdout, &good.id.to_string(), Duration::from_secs(20)).unwrap();
    assert_valid_alert(&serde_json::from_str(&good_line).unwrap());
}

/// The scaled shape: an edge publisher and a subscriber, each a client of a
/// `qorovul router` process, never connected to each other.
#[test]
fn alerts_cross_a_router_process() {
    use pipeline::alert::Alert;
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let router = Proc::qorovul(&["router", "--listen", &endpoint]);
    router.wait_stderr("router listening on", Duration::from_secs(20)).unwrap();
    let listener = Proc::qorovul(&["listen", "--mode", "client", "--connect", &endpoint, "--key", "qv/it-router/**"]);
    listener.wait_stderr("listening on", Duration::from_secs(20)).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let edge = BusConfig { mode: "client".into(), connect: vec![endpoint], ..Default::default() };
    let session = rt.block_on(bus::open(&edge)).unwrap();
    let key = "qv/it-router/alert/camera/gate/object_detected";
    assert!(
        bus::wait_for_subscriber(&session, key, Duration::from_secs(20)).unwrap(),
        "subscription reaches the edge via the router"
    );
    let sent: Vec<Alert> = (0..20).map(|_| test_alert("it-router", "gate")).collect();
    for a in &sent {
        rt.block_on(bus::publish_alert(&session, a)).unwrap();
    }
    for a in &sent {
        wait_line(&listener.stdout, &a.id.to_string(), Duration::from_secs(20)).expect("alert crossed the router");
    }
}
