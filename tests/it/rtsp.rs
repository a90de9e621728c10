//! Must show 3: vtest.avi served by an RTSP server on 127.0.0.1 (another process) is
//! analysed through `rtsp://`; when the server is stopped and restarted, the camera
//! reconnects by itself, frames flow again, and the outage is a `video_loss` episode.

use crate::support::{Proc, VTEST, assert_valid_alert, free_port, model_lock};
use edge::camera_path::{CameraPath, PathEvent};
use pipeline::alert::{Alert, Phase};
use pipeline::frame::EventTimeSource;
use pipeline::sources::SourceState;
use pipeline::sources::camera::{CameraConfig, ReconnectConfig};
use qorovul::config::PipelineConfig;
use std::time::Duration;

fn serve(port: u16) -> Proc {
    let p = Proc::qorovul(&["serve-rtsp", VTEST, "--port", &port.to_string()]);
    p.wait_stderr("serving rtsp://", Duration::from_secs(20)).expect("RTSP server starts");
    p
}

/// Waits for the state `want` (by variant) of camera `id`, then `frames` analysed frames.
fn wait_for(
    events: &crossbeam_channel::Receiver<PathEvent>,
    want: fn(&SourceState) -> bool,
    frames: usize,
) -> Vec<EventTimeSource> {
    let mut reached = false;
    let mut times = Vec::new();
    while !reached || times.len() < frames {
        match events.recv_timeout(Duration::from_secs(30)).expect("camera events keep coming") {
            PathEvent::Source(ev) if want(&ev.state) => reached = true,
            PathEvent::Analysed { time, .. } if reached => times.push(time),
            _ => {}
        }
    }
    times
}

#[test]
fn rtsp_camera_reconnects_after_the_server_restarts() {
    let _turn = model_lock();
    let port = free_port();
    let mut server = serve(port);

    let cfg = PipelineConfig::parse("site = \"it\"\n[detector]\nthreads = 2\n", "test").unwrap();
    let (alerts_tx, alerts) = crossbeam_channel::unbounded::<Alert>();
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx).unwrap();
    let events = path.observe();
    let mut cam = CameraConfig::new("gate", &format!("rtsp://127.0.0.1:{port}/cam"));
    cam.stall_secs = 3.0;
    cam.reconnect = ReconnectConfig { initial_secs: 0.2, max_secs: 1.0 };
    path.add_camera(cam).unwrap();

    // The first RTCP sender report comes a couple of seconds in (60 frames = 6 s at 10 fps).
    let times = wait_for(&events, |s| *s == SourceState::Playing, 60);
    let first_ntp = times.iter().position(|t| *t == EventTimeSource::CameraNtp);
    println!("first connection: camera NTP time from frame {first_ntp:?} of {}", times.len());
    assert_eq!(times[0], EventTimeSource::NodeClock, "before any sender report, the node clock");
    let first_ntp = first_ntp.expect("once RTCP sender reports arrive, frames carry the camera's NTP time");
    assert!(times[first_ntp..].iter().all(|t| *t == EventTimeSource::CameraNtp), "{times:?}");

    // The server goes away: the camera is lost, and that is an alert.
    drop(server.child.kill());
    let _ = server.child.wait();
    wait_for(&events, |s| matches!(s, SourceState::Reconnecting { .. }), 0);
    let begin = alerts.recv_timeout(Duration::from_secs(10)).expect("video_loss begin");
    assert_eq!((begin.kind.as_str(), begin.phase), ("video_loss", Phase::Begin));

    // It comes back on the same port: the camera reconnects by itself.
    server = serve(port);
    wait_for(&events, |s| *s == SourceState::Playing, 10);
    let end = alerts.recv_timeout(Duration::from_secs(10)).expect("video_loss end");
    assert_eq!((end.kind.as_str(), end.phase, end.episode), ("video_loss", Phase::End, begin.episode));
    assert_eq!(begin.provenance["rule"], "video_loss/1");
    for a in [&begin, &end] {
        assert_valid_alert(&serde_json::to_value(a).unwrap());
    }
    path.shutdown();
    drop(server);
}
