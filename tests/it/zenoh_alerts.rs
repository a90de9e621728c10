//! Must show 5: a zenoh subscriber in another process (`qorovul listen`) receives the
//! camera path's alerts, over an explicit loopback endpoint with multicast scouting off.

use crate::support::{Proc, VTEST, assert_valid_alert, free_port, model_lock, wait_line};
use pipeline::bus::{self, BusConfig};
use pipeline::sources::camera::CameraConfig;
use qorovul::camera_path::CameraPath;
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
    let path = CameraPath::start(&cfg, alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("cam", VTEST);
    cam.realtime = false;
    path.add_camera(cam).unwrap();
    let mut frames = 0;
    while frames < 150 {
        if let qorovul::camera_path::PathEvent::Analysed { .. } = events.recv_timeout(Duration::from_secs(60)).unwrap()
        {
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
