//! The control room (store, fusion, dashboard) is killed with SIGKILL while an edge streams
//! alerts in. After the restart, every alert it had acknowledged to the edge is in the
//! dashboard's API, and the stream carries on.

use crate::fabric::{Site, until};
use crate::support::{Proc, free_port};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;
use zenoh::Wait;

/// One HTTP/1.1 exchange on a fresh connection: `(status, headers, body)`.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status");
    (status, head.to_string(), body.to_string())
}

/// Starts the control room with its dashboard on `web_port`; at its first start it also
/// returns the password of the administrator it creates.
fn control_room(site: &Site, web_port: u16, first: bool) -> (Proc, Option<String>) {
    let cfg = site.control_room_config(&format!("listen = \"127.0.0.1:{web_port}\""));
    let p = Proc::qorovul(&["control-room", "--config", &cfg]);
    let wait = Duration::from_secs(60);
    let password = first.then(|| {
        let line = p.wait_stderr("user \"admin\" created with password", wait).unwrap();
        line.split("password ").nth(1).unwrap().split(' ').next().unwrap().to_string()
    });
    p.wait_stderr("control room cr-1 running", wait).unwrap();
    (p, password)
}

#[test]
fn no_alert_acknowledged_to_an_edge_is_missing_after_the_control_room_is_killed() {
    let site = Site::new("dashboard-crash");
    let _router = site.router();
    let web = free_port();
    let (mut room, password) = control_room(&site, web, true);
    let password = password.unwrap();

    // Watch the acknowledgements the control room sends the edge, as the edge sees them.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let cfg =
        pipeline::bus::BusConfig { mode: "client".into(), connect: vec![site.endpoint.clone()], ..Default::default() };
    let session = rt.block_on(pipeline::bus::open(&cfg)).unwrap();
    let acked: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let sink = acked.clone();
    let _acks = session
        .declare_subscriber(pipeline::keys::ack("post-1", "edge-1"))
        .callback(move |s| {
            if let Some(ids) = pipeline::keys::decode_ack(&s.payload().to_bytes()) {
                sink.lock().unwrap().extend(ids);
            }
        })
        .wait()
        .unwrap();
    let _edge = site.edge(1);
    until("200 alerts acknowledged", || acked.lock().unwrap().len() >= 200);

    room.child.kill().unwrap(); // SIGKILL: no shutdown step at all
    room.child.wait().unwrap();
    let before: HashSet<Uuid> = acked.lock().unwrap().clone();
    eprintln!("killed the control room after {} acknowledged alerts", before.len());

    let (_room, _) = control_room(&site, web, false);
    let login = format!(r#"{{"username":"admin","password":"{password}"}}"#);
    let (status, head, _) = http(web, "POST", "/api/v1/login", &[("Content-Type", "application/json")], &login);
    assert_eq!(status, 200, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let listed = |cookie: &str| -> HashSet<Uuid> {
        let mut ids = HashSet::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/api/v1/alerts?site=post-1&limit=10000{cursor}");
            let (status, _, body) = http(web, "GET", &path, &[("Cookie", cookie)], "");
            assert_eq!(status, 200, "{body}");
            let page: serde_json::Value = serde_json::from_str(&body).unwrap();
            ids.extend(
                page["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return ids,
            }
        }
    };
    let after_restart = listed(&cookie);
    let missing: Vec<&Uuid> = before.difference(&after_restart).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged alerts missing after the restart: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // And the stream carries on into the restarted control room.
    until("new alerts after the restart", || acked.lock().unwrap().len() >= before.len() + 50);
    let later = listed(&cookie);
    assert!(later.len() > after_restart.len(), "{} then {}", after_restart.len(), later.len());
    eprintln!("{} acknowledged before the kill, all {} listed after the restart", before.len(), after_restart.len());
}
