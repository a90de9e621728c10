//! Must show (issue 18): personal data only where it may go.
//!
//! A real `qorovul demo` runs on the production transport: a `qorovul router` with the
//! shipped `configs/router.toml` (mutual TLS, access rules), the demo's one session connecting
//! with the control room's certificate. It produces plate reads, containers, 102 calls,
//! declarations and lane decisions; one more camera has a password in its RTSP URI and no
//! server behind it, so it reconnects and is logged. While it runs:
//! (a) an integrator (its own certificate) subscribed to `qv/**`, and asking every
//!     queryable (history, CAP), receives none of the clear values, but their masked forms;
//! (b) the control room's certificate receives every one of them whole on `qv/demo/pii/**`;
//! (c) every dashboard GET route and the WebSocket show a viewer none of them; an operator's
//!     reveals show them, with one audit entry each;
//! (d) no log line of the run holds a plate or the camera password.
//!
//! The clear values are not written here: they are read from what (b) receives, so the test
//! follows the demo's data, and it fails if a kind of personal data stops being produced.

use crate::acl_tls::{ca, start_router};
use crate::support::{Proc, free_port, model_lock};
use crossbeam_channel::Receiver;
use pipeline::personal::{alert_fields, mask, mask_text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenoh::Wait;

const PASSWORD: &str = "s3cret-cam-pw";
const REASON: &str = "checking the truck at lane 1 against its declaration";

/// Every line a child printed, kept whole, from both streams.
struct Output {
    rx: [Receiver<String>; 2],
    lines: Vec<String>,
}

impl Output {
    fn drain(&mut self) {
        for rx in &self.rx {
            self.lines.extend(rx.try_iter());
        }
    }

    /// The first line holding `needle`, waiting up to `t` for it.
    fn wait(&mut self, needle: &str, t: Duration) -> String {
        let deadline = Instant::now() + t;
        loop {
            self.drain();
            if let Some(l) = self.lines.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(Instant::now() < deadline, "no line with {needle:?}:\n{}", self.lines.join("\n"));
            let _ = self.rx[1].recv_timeout(Duration::from_millis(200)).map(|l| self.lines.push(l));
        }
    }
}

/// `(key, payload)` of every sample a subscriber received.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn collect(session: &zenoh::Session, key: &str) -> (Seen, zenoh::pubsub::Subscriber<()>) {
    let seen: Seen = Arc::default();
    let into = seen.clone();
    let sub = session
        .declare_subscriber(key)
        .callback(move |s| {
            let payload = String::from_utf8_lossy(&s.payload().to_bytes()).into_owned();
            into.lock().unwrap().push((s.key_expr().to_string(), payload));
        })
        .wait()
        .unwrap();
    (seen, sub)
}

/// The personal values whole on the pii keys, by kind: each alert's `alert_fields`, the
/// decision records' importer, the call records' caller.
fn clear_values(pii: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |kind: &str, v: &Value| {
        let mut strings = vec![];
        strings_in(v, &mut strings);
        out.entry(kind.to_string()).or_default().extend(strings.into_iter().filter(|s| s.chars().count() >= 4));
    };
    for (key, payload) in pii {
        let Ok(v) = serde_json::from_str::<Value>(payload) else { continue };
        if key.contains("/pii/alert/") {
            for field in alert_fields() {
                if let Some(x) = v.pointer(&field) {
                    add(field.rsplit('/').next().unwrap(), x);
                }
            }
        } else if key.contains("/pii/lane/") {
            add("importer_name", &v["inputs"]["declaration"]["importer_name"]);
            add("importer_tin", &v["inputs"]["declaration"]["importer_tin"]);
        } else if key.ends_with("/pii/feed/calls") {
            add("caller_number", &v["caller"]["number"]);
            add("narrative", &v["narrative"]);
        }
    }
    out
}

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

/// A value as it appears inside JSON text.
fn in_json(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

/// The first clear value found in `text`, if any.
fn leak<'a>(text: &str, clear: &'a BTreeMap<String, BTreeSet<String>>) -> Option<(&'a str, &'a str)> {
    clear
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
        .find(|(_, v)| text.contains(&in_json(v)))
}

/// The masked form of a clear value of `kind`, as `pipeline::personal` writes it.
fn masked(kind: &str, v: &str) -> String {
    if pipeline::personal::TEXT_ATTRIBUTES.contains(&kind) { mask_text(v) } else { mask(v) }
}

/// One HTTP/1.1 request; returns the status, the `Set-Cookie` session value and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&Value>,
) -> (u16, Option<String>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(c) = cookie {
        head.push_str(&format!("Cookie: qv_session={c}\r\n"));
    }
    if let Some(t) = csrf {
        head.push_str(&format!("x-csrf-token: {t}\r\n"));
    }
    s.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let session = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().strip_prefix("qv_session=").and_then(|v| v.split(';').next()))
        .map(str::to_string);
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    (status, session, if chunked { dechunk(body) } else { body.to_string() })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Signs in; returns the session cookie and the CSRF token.
fn login(addr: SocketAddr, user: &str, password: &str) -> (String, String) {
    let body = serde_json::json!({ "username": user, "password": password });
    let (status, cookie, reply) = http(addr, "POST", "/api/v1/login", None, None, Some(&body));
    assert_eq!(status, 200, "login as {user}: {reply}");
    let csrf = serde_json::from_str::<Value>(&reply).unwrap()["csrf_token"].as_str().unwrap_or_default().to_string();
    (cookie.expect("a session cookie"), csrf)
}

/// The demo's config: configs/demo.toml on the router, in `dir`, with one more camera whose
/// URI holds a password (and a closed port behind it).
fn demo_config(dir: &std::path::Path, pki: &crate::acl_tls::Ca, port: u16) -> std::path::PathBuf {
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut cfg: toml::Table = toml::from_str(include_str!("../../configs/demo.toml")).unwrap();
    let bus = pki.client("control-room", port);
    cfg.insert("bus".into(), toml::Value::try_from(bus).unwrap());
    let path = |p: &str| toml::Value::String(dir.join(p).display().to_string());
    let set = |cfg: &mut toml::Table, section: &str, key: &str, v: toml::Value| {
        cfg.entry(section).or_insert_with(|| toml::Table::new().into()).as_table_mut().unwrap().insert(key.into(), v);
    };
    set(&mut cfg, "edge", "data_dir", path("edge"));
    set(&mut cfg, "control_room", "data_dir", path("control-room"));
    set(&mut cfg, "customs", "history", path("customs-history.sqlite"));
    set(&mut cfg, "customs", "policy", toml::Value::String(format!("{repo}/configs/customs.toml")));
    set(&mut cfg, "xray_lane", "drop_folder", path("xray-drop"));
    set(&mut cfg, "web", "listen", "127.0.0.1:0".into());
    set(&mut cfg, "feeds", "http_listen", "127.0.0.1:0".into());
    let closed = free_port();
    let camera: toml::Table = toml::from_str(&format!(
        "id = \"door-cam\"\nname = \"Door camera\"\nuri = \"rtsp://viewer:{PASSWORD}@127.0.0.1:{closed}/stream\"\n"
    ))
    .unwrap();
    cfg.get_mut("camera").unwrap().as_array_mut().unwrap().push(camera.into());
    let file = dir.join("demo.toml");
    std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
    file
}

#[test]
fn personal_data_reaches_only_the_pii_keys_and_roles_with_the_right_and_never_a_log() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qorovul-it-pii-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = ca("pii", &["control-room", "integrator"]);
    let port = free_port();
    let mut router = start_router(&pki, port);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let integrator = rt.block_on(pipeline::bus::open(&pki.client("integrator", port))).unwrap();
    let room = rt.block_on(pipeline::bus::open(&pki.client("control-room", port))).unwrap();
    let (public, _p) = collect(&integrator, "qv/**");
    let (pii, _q) = collect(&room, "qv/demo/pii/**");

    let config = demo_config(&dir, &pki, port);
    let mut demo = Proc::qorovul(&["demo", "--config", config.to_str().unwrap(), "--duration", "900"]);
    let mut out = Output { rx: [demo.stdout.clone(), demo.stderr.clone()], lines: vec![] };
    let line = out.wait("dashboard            http://", Duration::from_secs(300));
    let addr: SocketAddr = line.split("http://").nth(1).unwrap().trim_end_matches('/').parse().unwrap();
    let password = |out: &mut Output, user: &str| {
        let l = out.wait(&format!("user {user:<15} password "), Duration::from_secs(5));
        l.split("password ").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
    };
    let (viewer, operator, admin) =
        (password(&mut out, "viewer"), password(&mut out, "operator"), password(&mut out, "admin"));

    // Until every kind of personal data has gone by whole, a lane decision included.
    let kinds = [
        "plate",
        "container",
        "vehicle",
        "caller_number",
        "narrative",
        "address",
        "importer_tin",
        "importer_name",
        "reasons",
    ];
    let deadline = Instant::now() + Duration::from_secs(420);
    let clear = loop {
        let clear = clear_values(&pii.lock().unwrap());
        let missing: Vec<&str> = kinds.iter().copied().filter(|k| !clear.contains_key(*k)).collect();
        let public_keys = public.lock().unwrap();
        let seen = |part: &str| public_keys.iter().any(|(k, _)| k.contains(part));
        // a baggage scan's summary too, for (c)'s check that its threats rang no alarm
        if missing.is_empty() && seen("/incident/") && seen("/alert/xray/hall-kv/xray_scan") {
            break clear;
        }
        drop(public_keys);
        out.drain();
        // A process that died says so at once (zenoh's TLS link can kill one: zenoh#2557).
        for (name, p) in [("the demo", &mut demo), ("the router", &mut router)] {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{name} exited ({status}) before {missing:?} went by\n{}", out.lines.join("\n"));
            }
        }
        assert!(Instant::now() < deadline, "never whole on pii: {missing:?}\n{}", out.lines.join("\n"));
        std::thread::sleep(Duration::from_millis(500));
    };

    // (a) The integrator: the live keys, the history, and the CAP document of each incident.
    let ask = |selector: &str| -> Vec<(String, String)> {
        let replies = integrator
            .get(selector)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .timeout(Duration::from_secs(20))
            .wait()
            .unwrap();
        let mut got = vec![];
        while let Ok(r) = replies.recv() {
            if let Ok(s) = r.result() {
                got.push((s.key_expr().to_string(), String::from_utf8_lossy(&s.payload().to_bytes()).into_owned()));
            }
        }
        got
    };
    let history = ask("qv/demo/alert/**?limit=10000");
    assert!(history.len() > 10, "the history answers the integrator: {}", history.len());
    assert!(ask("qv/demo/pii/**").is_empty(), "the router drops pii replies to the integrator");
    let incidents: BTreeSet<String> = public
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("/incident/"))
        .map(|(k, _)| k.rsplit('/').next().unwrap().to_string())
        .collect();
    let caps: Vec<(String, String)> =
        incidents.iter().take(20).flat_map(|id| ask(&format!("qv/demo/cap/{id}"))).collect();
    assert!(!caps.is_empty(), "CAP documents reach the integrator");
    let mut seen: Vec<(String, String)> = public.lock().unwrap().clone();
    seen.extend(history);
    seen.extend(caps);
    for (key, payload) in &seen {
        assert!(!key.contains("/pii/"), "the integrator received {key}");
        if let Some((kind, v)) = leak(payload, &clear) {
            panic!("the integrator received the {kind} {v:?} on {key}: {payload}");
        }
    }
    let all_public: String = seen.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join("\n");
    for kind in ["plate", "container", "vehicle", "narrative", "address", "importer_tin", "reasons"] {
        let forms: Vec<String> = clear[kind].iter().map(|v| in_json(&masked(kind, v))).collect();
        assert!(forms.iter().any(|m| all_public.contains(m)), "no masked {kind} ({forms:?}) reached the integrator");
    }

    // (b) Every kind whole on pii, to the control room's certificate (checked by the loop
    // above); and each plate the integrator saw masked is there whole.
    assert!(pii.lock().unwrap().iter().all(|(k, _)| k.starts_with("qv/demo/pii/")));

    // (c) The dashboard as a viewer: every GET route, and the WebSocket.
    let (viewer_cookie, _) = login(addr, "viewer", &viewer);
    let get = |path: &str, cookie: &str| http(addr, "GET", path, Some(cookie), None, None);
    let (_, _, alerts) = get("/api/v1/alerts?limit=500", &viewer_cookie);
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    let alerts = alerts["items"].as_array().unwrap().clone();
    let of_kind = |kind: &str| {
        alerts.iter().find(|a| a["kind"] == kind).unwrap_or_else(|| panic!("no {kind} alert"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (read, decision, call) = (of_kind("plate_read"), of_kind("lane_decision"), of_kind("call_received"));
    // The demo's site has not accepted the X-ray threat model: its baggage scans ring no
    // threat alarm; what the detector found is advisory, on the scan's summary.
    assert!(alerts.iter().any(|a| a["kind"] == "xray_scan" && a["source"]["id"] == "hall-kv"), "a baggage scan");
    assert!(alerts.iter().all(|a| a["kind"] != "xray_threat"), "an X-ray threat alarm in the demo's queue");
    let (_, _, list) = get("/api/v1/incidents?limit=500", &viewer_cookie);
    let incident = serde_json::from_str::<Value>(&list).unwrap()["items"][0]["id"].as_str().unwrap().to_string();
    let sha =
        alerts.iter().find_map(|a| a["evidence"][0].as_str()).unwrap_or("0").trim_start_matches("sha256:").to_string();
    let mut walked = 0;
    for (method, route, _) in control_room::web::policy::RULES {
        if *method != "GET" || *route == "/api/v1/ws" {
            continue;
        }
        let path = route
            .replace("/incidents/{id}", &format!("/incidents/{incident}"))
            .replace("/alerts/{id}", &format!("/alerts/{read}"))
            .replace("{sha256}", &sha)
            .replace("{file}", "app.js");
        let (status, _, body) = get(&path, &viewer_cookie);
        walked += 1;
        if let Some((kind, v)) = leak(&body, &clear) {
            panic!("GET {path} ({status}) showed a viewer the {kind} {v:?}");
        }
    }
    assert!(walked >= 15, "{walked} GET routes walked");
    for id in [&read, &decision, &call] {
        let (status, _, body) = get(&format!("/api/v1/alerts/{id}"), &viewer_cookie);
        assert!(status == 200 && body.contains("**"), "a viewer sees the alert masked: {body}");
    }
    let ws = rt.block_on(async {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/api/v1/ws").into_client_request().unwrap();
        req.headers_mut().insert("cookie", format!("qv_session={viewer_cookie}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut got = vec![];
        // Until a new alert has been pushed (the gate clip loops, calls and trucks keep coming).
        let until = tokio::time::Instant::now() + Duration::from_secs(180);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(until, ws.next()).await {
            let text = m.into_text().map(|t| t.to_string()).unwrap_or_default();
            let done = text.contains("\"type\":\"alert\"") && text.contains("**");
            got.push(text);
            if done {
                break;
            }
        }
        got
    });
    assert!(ws.iter().any(|m| m.contains("\"type\":\"alert\"")), "no alert pushed to the viewer: {ws:?}");
    for m in &ws {
        if let Some((kind, v)) = leak(m, &clear) {
            panic!("the WebSocket showed a viewer the {kind} {v:?}: {m}");
        }
    }

    // (c) An operator reveals, with a reason: the clear values, one audit entry each.
    let (cookie, csrf) = login(addr, "operator", &operator);
    let reason = serde_json::json!({ "reason": REASON });
    let (status, _, _) =
        http(addr, "POST", &format!("/api/v1/alerts/{read}/reveal"), Some(&viewer_cookie), None, Some(&reason));
    assert_eq!(status, 403, "a viewer may not reveal");
    let mut revealed = String::new();
    for id in [&read, &decision, &call] {
        let (status, _, body) =
            http(addr, "POST", &format!("/api/v1/alerts/{id}/reveal"), Some(&cookie), Some(&csrf), Some(&reason));
        assert_eq!(status, 200, "{body}");
        revealed.push_str(&body);
    }
    for kind in ["plate", "vehicle", "importer_tin", "reasons", "narrative"] {
        assert!(clear[kind].iter().any(|v| revealed.contains(&in_json(v))), "no {kind} revealed: {revealed}");
    }
    let (admin_cookie, _) = login(addr, "admin", &admin);
    let (_, _, audit) = get("/api/v1/audit?limit=1000", &admin_cookie);
    let reveals = serde_json::from_str::<Value>(&audit).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "reveal_personal")
        .map(|e| e["target"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    let mut expected: Vec<String> = [&read, &decision, &call].iter().map(|id| format!("alert/{id}")).collect();
    let mut reveals_sorted = reveals.clone();
    reveals_sorted.sort();
    expected.sort();
    assert_eq!(reveals_sorted, expected, "one audit entry per reveal: {audit}");
    if let Some((kind, v)) = leak(&audit, &clear) {
        panic!("the audit log holds the {kind} {v:?}");
    }

    // (d) The run's log: no plate, no container, no camera password; the camera was logged.
    drop(demo);
    out.drain();
    assert!(out.lines.iter().any(|l| l.contains("door-cam")), "the password camera was never logged");
    let plates: Vec<&String> = ["plate", "container", "vehicle"].iter().flat_map(|k| &clear[*k]).collect();
    for l in &out.lines {
        assert!(!l.contains(PASSWORD), "a log line holds the camera password: {l}");
        if let Some(p) = plates.iter().find(|p| l.contains(p.as_str())) {
            panic!("a log line holds {p:?}: {l}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
