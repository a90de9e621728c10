//! The alert fabric across processes: a router, two edge nodes and a control room, with the
//! router killed and restarted, then an edge node and the control room killed with SIGKILL
//! and restarted. Every alert an edge appended to its outbox is stored exactly once in the
//! control room.

use crate::support::{Proc, free_port};
use control_room::store::Store;
use edge::outbox::Outbox;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use uuid::Uuid;
use zenoh::Wait;

const WAIT: Duration = Duration::from_secs(60);

/// Polls `what` until it holds (state written by another process has no event to wait on).
pub fn until(desc: &str, mut what: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !what() {
        assert!(Instant::now() < deadline, "timed out waiting for {desc}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stored_from(store: &Path, node: &str) -> usize {
    Store::open_reader(store).and_then(|s| s.alert_ids_from(node)).map(|v| v.len()).unwrap_or(0)
}

fn silent_alerts(store: &Path, node: &str) -> usize {
    let Ok(s) = Store::open_reader(store) else { return 0 };
    let key = format!("/sensor/{node}/node_silent");
    s.alerts_between(None, i64::MIN, i64::MAX, |k| k.ends_with(&key), 10_000).map(|v| v.len()).unwrap_or(0)
}

fn outbox_depth(dir: &Path) -> u64 {
    // A read next to the running edge (WAL allows it); the edge is the only writer.
    Outbox::open(&dir.join("outbox.sqlite")).and_then(|o| o.depth()).map(|(l, b)| l + b).unwrap_or(0)
}

/// Sends SIGINT and waits for a clean exit, returning stderr lines read meanwhile.
fn interrupt(p: &mut Proc, stop_line: &str) -> String {
    unsafe { libc::kill(p.child.id() as i32, libc::SIGINT) };
    let line = p.wait_stderr(stop_line, WAIT).expect("stopped cleanly");
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    line
}

pub struct Site {
    pub dir: PathBuf,
    pub endpoint: String,
}

impl Site {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("qorovul-fabric-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, endpoint: format!("tcp/127.0.0.1:{}", free_port()) }
    }

    pub fn router(&self) -> Proc {
        let p = Proc::qorovul(&["router", "--listen", &self.endpoint]);
        p.wait_stderr("router listening on", WAIT).unwrap();
        p
    }

    /// Writes a config: `site` and `node`, a client of the router, then `tables`.
    pub fn config(&self, site: &str, node: &str, tables: &str) -> String {
        let path = self.dir.join(format!("{node}.toml"));
        let text = format!(
            "site = \"{site}\"\nnode = \"{node}\"\n[bus]\nmode = \"client\"\nconnect = [\"{}\"]\n{tables}",
            self.endpoint
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    pub fn edge(&self, n: u32) -> Proc {
        let data = self.dir.join(format!("edge-{n}"));
        let cfg = self.config(
            &format!("post-{n}"),
            &format!("edge-{n}"),
            &format!(
                "[edge]\ndata_dir = \"{}\"\nheartbeat_secs = 0.5\nack_timeout_secs = 1\ntest_signal_secs = 0.02\n",
                data.display()
            ),
        );
        let p = Proc::qorovul(&["edge", "--config", &cfg]);
        p.wait_stderr("running; outbox in", WAIT).unwrap();
        p
    }

    fn edge_dir(&self, n: u32) -> PathBuf {
        self.dir.join(format!("edge-{n}"))
    }

    /// The control room's config: its store under this site's folder, then `web` (the
    /// `[web]` table's lines).
    pub fn control_room_config(&self, web: &str) -> String {
        let data = self.dir.join("control-room");
        self.config(
            "hq",
            "cr-1",
            &format!(
                "[control_room]\ndata_dir = \"{}\"\nheartbeat_secs = 0.5\nsilent_after_secs = 2\n[web]\n{web}\n",
                data.display()
            ),
        )
    }

    fn control_room(&self) -> (Proc, PathBuf) {
        let cfg = self.control_room_config("listen = \"127.0.0.1:0\"");
        let p = Proc::qorovul(&["control-room", "--config", &cfg]);
        p.wait_stderr("control room cr-1 running", WAIT).unwrap();
        (p, self.dir.join("control-room").join("control-room.sqlite"))
    }
}

#[test]
fn every_alert_is_stored_exactly_once_through_a_router_outage_and_crashes_of_both_sides() {
    let site = Site::new("exactly-once");
    let mut router = site.router();
    let (mut room, store) = site.control_room();
    let mut edge1 = site.edge(1);
    let mut edge2 = site.edge(2);
    until("alerts from both edges", || stored_from(&store, "edge-1") >= 50 && stored_from(&store, "edge-2") >= 50);

    // Router down: the edges keep appending, nothing is acknowledged, and the control room
    // turns their silence into alerts.
    router.child.kill().unwrap();
    router.child.wait().unwrap();
    let outage = Instant::now();
    until("both edges reported silent", || {
        silent_alerts(&store, "edge-1") >= 1 && silent_alerts(&store, "edge-2") >= 1
    });
    until("a backlog at both edges", || outbox_depth(&site.edge_dir(1)) >= 50 && outbox_depth(&site.edge_dir(2)) >= 50);
    let before = (stored_from(&store, "edge-1"), stored_from(&store, "edge-2"));
    eprintln!("router down for {:?}", outage.elapsed());
    router = site.router();
    until("the backlog delivered", || {
        stored_from(&store, "edge-1") >= before.0 + 100 && stored_from(&store, "edge-2") >= before.1 + 100
    });
    until("silence ended", || silent_alerts(&store, "edge-1") >= 2 && silent_alerts(&store, "edge-2") >= 2);

    // An edge dies without any shutdown step, and comes back on the same outbox.
    edge1.child.kill().unwrap();
    edge1.child.wait().unwrap();
    let before = stored_from(&store, "edge-1");
    edge1 = site.edge(1);
    until("alerts from the restarted edge", || stored_from(&store, "edge-1") >= before + 50);

    // The control room dies too, and comes back on the same store.
    room.child.kill().unwrap();
    room.child.wait().unwrap();
    let before = (stored_from(&store, "edge-1"), stored_from(&store, "edge-2"));
    (room, _) = site.control_room();
    until("alerts after the control room's restart", || {
        stored_from(&store, "edge-1") >= before.0 + 50 && stored_from(&store, "edge-2") >= before.1 + 50
    });

    // Stop the edges cleanly: they drain their outboxes, then the control room stops.
    for e in [&mut edge1, &mut edge2] {
        let line = interrupt(e, "edge stopped");
        assert!(line.contains(" 0 alerts left"), "{line}");
    }
    interrupt(&mut room, "control room stopped");
    drop(router);

    let reader = Store::open_reader(&store).unwrap();
    for n in [1, 2] {
        let node = format!("edge-{n}");
        let published = Outbox::open(&site.edge_dir(n).join("outbox.sqlite")).unwrap().ledger(0).unwrap();
        let stored = reader.alert_ids_from(&node).unwrap();
        let published_set: HashSet<Uuid> = published.iter().copied().collect();
        let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
        assert_eq!(stored.len(), stored_set.len(), "{node}: an alert stored twice");
        assert_eq!(published.len(), stored.len(), "{node}: counts differ");
        assert_eq!(published_set, stored_set, "{node}: ids differ");
        eprintln!("{node}: {} alerts published, {} stored, the same ids", published.len(), stored.len());
    }
}

/// Bad input on the bus reaches the control room: each refused message is parked in the
/// dead-letter store with its reason, counted in the heartbeat, and logged; the messages
/// after it are stored as usual (a newer MINOR with its unknown fields kept).
#[test]
fn bad_messages_are_dead_lettered_with_a_reason_and_the_next_is_stored() {
    use pipeline::alert::{Alert, SCHEMA_VERSION};
    use pipeline::bus::{self, BusConfig};
    let site = Site::new("bad-input");
    let _router = site.router();
    let (mut room, store) = site.control_room();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bus_cfg = BusConfig { mode: "client".into(), connect: vec![site.endpoint.clone()], ..Default::default() };
    let session = rt.block_on(bus::open(&bus_cfg)).unwrap();
    // A node puts alerts whole on their pii key; that is what the control room takes in.
    let key = "qv/it-bad/pii/alert/camera/gate/object_detected";
    assert!(bus::wait_for_subscriber(&session, key, WAIT).unwrap());
    let beats = session.declare_subscriber("qv/hq/health/cr-1").wait().unwrap();

    let alert =
        |version: &str| Alert { schema_version: version.into(), ..crate::support::test_alert("it-bad", "gate") };
    let good = alert(SCHEMA_VERSION);
    let mut newer_minor: serde_json::Value = serde_json::to_value(alert("1.9")).unwrap();
    newer_minor["lane"] = "3".into();
    let mut missing: serde_json::Value = serde_json::to_value(alert(SCHEMA_VERSION)).unwrap();
    missing.as_object_mut().unwrap().remove("severity");
    let newer_major = alert("2.0");
    let put = |payload: Vec<u8>| {
        rt.block_on(async { session.put(key, payload).congestion_control(zenoh::qos::CongestionControl::Block).await })
            .unwrap()
    };
    put(b"this is not json".to_vec());
    put(missing.to_string().into_bytes());
    put(newer_major.to_json().into_bytes());
    put(vec![b'x'; 10 * 1024 * 1024]);
    put(newer_minor.to_string().into_bytes());
    put(good.to_json().into_bytes());

    for reason in ["not JSON at line 1", "missing field `severity`", "newer MAJOR", "exceeds the 1048576-byte limit"] {
        room.wait_stderr(reason, WAIT).expect(reason);
    }
    // The control room's heartbeat counts them.
    let deadline = Instant::now() + WAIT;
    loop {
        let sample =
            beats.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap().expect("a heartbeat");
        let hb: pipeline::health::Heartbeat = serde_json::from_slice(&sample.payload().to_bytes()).unwrap();
        if hb.dead_letters == 4 {
            break;
        }
    }
    until("the good alert stored", || {
        Store::open_reader(&store).unwrap().alerts_between(None, i64::MIN, i64::MAX, |_| true, 10).unwrap().len() == 2
    });
    interrupt(&mut room, "control room stopped");

    let s = Store::open_reader(&store).unwrap();
    let reasons: Vec<String> = s.dead_letters().unwrap().into_iter().map(|(_, reason, _)| reason).collect();
    assert_eq!(reasons, ["not_json", "invalid", "newer_major", "too_large"]);
    let stored = s.alerts_between(None, i64::MIN, i64::MAX, |_| true, 10).unwrap();
    let minor =
        stored.iter().find(|(_, json)| json.contains(newer_minor["id"].as_str().unwrap())).expect("minor stored");
    let minor: serde_json::Value = serde_json::from_str(&minor.1).unwrap();
    assert_eq!(minor["lane"], "3", "a newer MINOR's unknown field is kept");
    assert!(stored.iter().any(|(_, json)| json.contains(&good.id.to_string())), "the good alert after them is stored");
}
