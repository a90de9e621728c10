//! The doors attacked as an outsider would. Each attack is paired with the same request from
//! the rightful side, which is taken, so a door that refuses everything fails too.

use crate::support::{Proc, free_port, model_lock, post_json_reply};
use crate::xray_lane::{generate, meta};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use zenoh::Wait;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_plain_tcp_bus_endpoint_off_loopback_is_refused_at_start_and_on_loopback_it_runs() {
    // Listening on every interface binds, but sends nothing off this machine, even if the
    // check were missing; `connect` off loopback is checked in `pipeline::bus` alone.
    let port = free_port();
    let open = format!("tcp/0.0.0.0:{port}");
    let (status, _, err) = Proc::run(&["router", "--listen", &open], T);
    let status = status.expect("the router exits by itself");
    assert!(!status.success(), "{err}");
    assert!(err.contains(&format!("listen: {open:?}: plain tcp/ is for this machine only")), "{err}");

    let dir = std::env::temp_dir().join(format!("qv-hostile-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("router.toml");
    std::fs::write(&file, format!("[bus]\nmode = \"router\"\nlisten = [\"{open}\"]\n")).unwrap();
    let (status, _, err) = Proc::run(&["router", "--config", file.to_str().unwrap()], T);
    assert!(!status.expect("the router exits by itself").success(), "{err}");
    assert!(err.contains(&format!("bus.listen: {open:?}: plain tcp/ is for this machine only")), "{err}");

    let loopback = format!("tcp/127.0.0.1:{port}");
    std::fs::write(&file, format!("[bus]\nmode = \"router\"\nlisten = [\"{loopback}\"]\n")).unwrap();
    let router = Proc::qorovul(&["router", "--config", file.to_str().unwrap()]);
    router.wait_stderr(&format!("router listening on {loopback}"), T).unwrap();
    drop(router);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_feed_port_off_loopback_is_refused_at_start_and_on_loopback_it_is_taken() {
    // Bearer tokens must not cross the network in clear: off this machine, a TLS proxy.
    let dir = std::env::temp_dir().join(format!("qv-hostile-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("edge.toml");
    for (listen, taken) in [("0.0.0.0:8102", false), ("192.168.1.10:8102", false), ("127.0.0.1:8102", true)] {
        std::fs::write(&file, format!("site = \"t\"\n[feeds]\nhttp_listen = \"{listen}\"\n")).unwrap();
        let (status, out, err) = Proc::run(&["check-config", file.to_str().unwrap()], T);
        assert_eq!(status.expect("check-config exits").success(), taken, "{listen}: {out}\n{err}");
        if !taken {
            assert!(
                err.contains(&format!("feeds.http_listen: {listen:?}: plain HTTP is for this machine only")),
                "{err}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `qorovul credentials ARGS`: its stdout, after checking it succeeded.
fn credentials(args: &[&str]) -> String {
    let mut all = vec!["credentials"];
    all.extend_from_slice(args);
    let (status, out, err) = Proc::run(&all, T);
    assert!(status.is_some_and(|s| s.success()), "qorovul {all:?}: {out}\n{err}");
    out.trim().to_string()
}

/// `qorovul credentials issue` of a bearer token for `name`.
fn issue(file: &Path, name: &str, kind: &str, routes: &str, sources: &str) -> String {
    let f = file.to_str().unwrap();
    credentials(&["issue", "--file", f, "--name", name, "--kind", kind, "--routes", routes, "--sources", sources])
}

fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    post_json_reply(addr, path, "application/json", token, body.to_string().as_bytes())
}

fn note(reply: &Value) -> &str {
    reply["notes"][0].as_str().unwrap_or_default()
}

fn declaration(id: &str, tin: &str, plate: &str, submitted: chrono::DateTime<chrono::Utc>) -> Value {
    json!({"id": id, "importer_tin": tin, "importer_name": "Test MChJ", "submitted": submitted, "origin": "TR",
           "route": ["TR", "IR", "TM"], "plates": [plate], "containers": [],
           "goods": [{"hs_code": "520812", "description": "cotton woven fabric", "net_kg": 1000.0, "value_usd": 3900.0}]})
}

fn multipart(meta: &Value, low: &[u8], high: &[u8]) -> (String, Vec<u8>) {
    let b = "qv-hostile-boundary";
    let mut body = Vec::new();
    for (name, bytes) in [("meta", meta.to_string().into_bytes()), ("low", low.to_vec()), ("high", high.to_vec())] {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

/// A child's log, kept whole: waiting for one line does not lose the others.
struct Log<'a> {
    rx: &'a crossbeam_channel::Receiver<String>,
    seen: Vec<String>,
}

impl Log<'_> {
    /// The first line, seen before or arriving within 60 s, holding every one of `needles`.
    fn wait(&mut self, needles: &[&str]) -> String {
        let has = |l: &String| needles.iter().all(|n| l.contains(n));
        if let Some(l) = self.seen.iter().find(|l| has(l)) {
            return l.clone();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while let Ok(l) = self.rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            self.seen.push(l.clone());
            if has(&l) {
                return l;
            }
        }
        panic!("no log line with {needles:?}; saw:\n{}", self.seen.join("\n"));
    }
}

/// A real `qorovul edge` with calls, units, sensors, an X-ray lane and a customs lane behind
/// its feed doors; credentials made with the real `qorovul credentials`. Every attack is
/// refused with its status and reason, and the same request from the rightful identity is
/// taken and has its effect.
#[test]
fn every_feed_door_refuses_outsiders_other_identities_and_old_credentials_and_takes_the_rightful_sender() {
    let _models = model_lock();
    let dir = std::env::temp_dir().join(format!("qv-hostile-doors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials.toml");
    let f = file.to_str().unwrap();
    let calls = issue(&file, "call-centre", "integration", "calls", "*");
    let fleet = issue(&file, "fleet", "integration", "units", "*");
    let portal = issue(&file, "portal-gw", "device", "telemetry", "rpm-1-gamma,rpm-1-occ");
    let mev = issue(&file, "lane1-mev", "device", "scans", "lane1-mev");
    let customs = issue(&file, "customs-system", "integration", "declarations", "*");
    let archive = issue(&file, "customs-archive", "integration", "declaration_imports", "*");
    let key_file = dir.join("call-centre-bus.key");
    let bus_issue = ["issue", "--file", f, "--name", "call-centre-bus", "--kind", "integration", "--routes", "calls"];
    credentials(&[&bus_issue[..], &["--key-out", key_file.to_str().unwrap()]].concat());
    // The control room's issuer key; the post trusts its public half.
    let issuer_key = dir.join("issuer.key");
    let public = credentials(&["issuer-key", "--key-out", issuer_key.to_str().unwrap()]);
    credentials(&["trust-issuer", "--file", f, "--name", "control-room", "--public-key", &public]);
    let officer = |site: &str, lanes: &str| {
        let k = issuer_key.to_str().unwrap();
        credentials(&[
            "officer",
            "--issuer-key",
            k,
            "--name",
            "a.karimov",
            "--site",
            site,
            "--lanes",
            lanes,
            "--hours",
            "1",
        ])
    };
    let (officer_here, officer_there, officer_other_lane) =
        (officer("t", "post1-cargo1"), officer("post2", "post1-cargo1"), officer("t", "post1-cargo2"));
    let listed = credentials(&["list", "--file", f]);
    assert!(listed.contains("lane1-mev (Device, live): routes scans; sources lane1-mev"), "{listed}");
    assert!(!listed.contains(&mev) && !std::fs::read_to_string(&file).unwrap().contains(&mev), "tokens are not stored");

    let port = free_port();
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            r#"site = "t"
node = "post1"
[bus]
listen = ["tcp/127.0.0.1:{port}"]
[edge]
data_dir = {data:?}
[calls]
enabled = true
[[sensors.radiation_portal]]
id = "rpm-1"
name = "Lane 1"
gamma_sensor = "rpm-1-gamma"
occupancy_sensor = "rpm-1-occ"
warmup_secs = 5
[[xray.scanners]]
id = "lane1-mev"
type = "mev"
air_level = 0.9
dark_level = 0.002
[[xray.scanners]]
id = "hall-kv"
type = "kv"
dark_level = 0.002
[xray_lane]
enabled = true
threats = false
[feeds]
http_listen = "127.0.0.1:0"
credentials = {f:?}
[customs]
enabled = true
history = {history:?}
wait_secs = 3
[[customs.lane]]
id = "post1-cargo1"
scanners = ["lane1-mev"]
portals = ["rpm-1"]
"#,
            data = dir.join("edge").display().to_string(),
            history = dir.join("history.sqlite").display().to_string(),
        ),
    )
    .unwrap();
    let edge = Proc::qorovul(&["edge", "--config", config.to_str().unwrap()]);
    let mut log = Log { rx: &edge.stderr, seen: vec![] };
    let line = log.wait(&["feeds: POST http://"]);
    let addr: SocketAddr = line.split("http://").nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    // The node's alerts, as a subscriber on its bus sees them.
    let bus = pipeline::bus::BusConfig { connect: vec![format!("tcp/127.0.0.1:{port}")], ..Default::default() };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(pipeline::bus::open(&bus)).unwrap();
    let alerts = session.declare_subscriber("qv/t/**").wait().unwrap();
    let alarm_key = "qv/t/alert/sensor/rpm-1/radiation_alarm";
    assert!(pipeline::bus::wait_for_subscriber(&session, alarm_key, T).is_ok());

    let now = chrono::Utc::now();
    let call = json!({"call_id": "h-1", "start_ts": now, "caller": {"number": "+998901234567"},
                      "location": {"lat": 41.3111, "lon": 69.2797, "uncertainty_m": 20}, "narrative": "Yong'in, tutun"});
    let reading = |sensor: &str, value: f64, at: chrono::DateTime<chrono::Utc>| {
        let kind = if sensor.ends_with("occ") { "occupancy" } else { "gamma_cps" };
        json!({"sensor": sensor, "kind": kind, "value": value, "unit": if kind == "occupancy" { "" } else { "cps" }, "event_ts": at})
    };
    let unit = json!({"unit": "P-1", "ts": now, "lat": 41.31, "lon": 69.28, "status": "available"});
    let past = chrono::DateTime::parse_from_rfc3339("2019-03-01T09:00:00Z").unwrap().to_utc();
    let entry =
        |declaration: &str| json!({"lane": "post1-cargo1", "plates": ["01 B 222 CD"], "declaration_id": declaration});
    let inspection = |found: bool| json!({"declaration_id": "H-D1", "ts": chrono::Utc::now(), "found": found});
    let every_route = [
        "/v1/calls",
        "/v1/units",
        "/v1/telemetry",
        "/v1/declarations",
        "/v1/declarations/import",
        "/v1/inspections",
        "/v1/lanes/identity",
        "/v1/scans",
    ];
    // No credential, on every route, also as the two content types a web page can send
    // across origins without asking: refused before the body is read.
    for path in every_route {
        for ctype in ["application/json", "text/plain", "multipart/form-data; boundary=x"] {
            let (s, r) = post_json_reply(addr, path, ctype, None, b"{\"call_id\": \"x\"}");
            assert_eq!(s, 401, "{path} {ctype}: {r}");
            assert!(note(&r).contains("no Authorization header"), "{path}: {r}");
        }
    }
    // A real token, but as text/plain: still not a feed record.
    let (s, r) = post_json_reply(addr, "/v1/calls", "text/plain", Some(&calls), call.to_string().as_bytes());
    assert_eq!(s, 415, "{r}");
    // Another identity's credential on every route: 403 naming the route; the rightful
    // sender's same request: taken (scans below, with their images).
    let rightful: [(&str, Value, &str); 7] = [
        ("/v1/calls", call.clone(), &calls),
        ("/v1/units", unit, &fleet),
        ("/v1/telemetry", reading("rpm-1-gamma", 100.0, now - chrono::Duration::seconds(30)), &portal),
        ("/v1/declarations", declaration("H-D1", "301234567", "01 A 777 BC", now), &customs),
        ("/v1/declarations/import", declaration("H-2019", "309999999", "01 C 333 EF", past), &archive),
        ("/v1/lanes/identity", entry("H-D2"), &officer_here),
        ("/v1/inspections", inspection(false), &officer_here),
    ];
    for path in every_route {
        let other = if path == "/v1/calls" { customs.as_str() } else { calls.as_str() };
        let (s, r) = post(addr, path, Some(other), &json!({}));
        assert_eq!(s, 403, "{path}: {r}");
        assert!(note(&r).contains("may not post"), "{path}: {r}");
    }
    // (H-D2 first: the officer's entry names it.)
    let (s, r) = post(addr, "/v1/declarations", Some(&customs), &declaration("H-D2", "301234567", "01 B 222 CD", now));
    assert_eq!(s, 202, "{r}");
    for (path, body, token) in &rightful {
        let (s, r) = post(addr, path, Some(token), body);
        assert_eq!(s, 202, "{path}: {r}");
        assert_ne!(r["result"], "refused", "{path}: {r}");
    }
    // Logged with the officer named masked (no personal data in logs).
    log.wait(&["manual lane identity", "a.*****ov"]);
    // Scoped to its sources: the portal gateway speaks for its own sensors only.
    let (s, r) = post(addr, "/v1/telemetry", Some(&portal), &reading("rpm-2-gamma", 100.0, now));
    assert_eq!(s, 403, "{r}");
    assert!(note(&r).starts_with("sensor: \"portal-gw\" may not speak for \"rpm-2-gamma\""), "{r}");

    // A forged scan for another scanner: refused as soon as its metadata names it; the
    // scanner's own scan is analysed (and joins H-D1's truck by its plate).
    let generated = dir.join("gen");
    let scan = generate(&generated, "cargo", Some("textiles_dense_block"), 800, 250).remove(0);
    let read = |e: &str| std::fs::read(generated.join(format!("{scan}_{e}.png"))).unwrap();
    let upload = |m: &Value| {
        let (ctype, body) = multipart(m, &read("low"), &read("high"));
        post_json_reply(addr, "/v1/scans", &ctype, Some(&mev), &body)
    };
    let (s, r) = upload(&meta("forged-1", "hall-kv", None));
    assert_eq!(s, 403, "{r}");
    let (s, r) = upload(&meta("own-1", "lane1-mev", Some("MSCU1234566")));
    assert_eq!(s, 202, "{r}");
    // H-D1's truck is decided (its portal reading never comes: decided after wait_secs).
    log.wait(&["lane decision", "01****BC"]);
    // Re-posting the decided declaration does not re-open it.
    let (s, r) = post(addr, "/v1/declarations", Some(&customs), &declaration("H-D1", "301234567", "01 A 777 BC", now));
    assert_eq!(s, 400, "{r}");
    assert!(note(&r).contains("was decided"), "{r}");
    // The same clean scan again for a later truck: analysed by the lane, refused by the desk.
    let (s, _) = upload(&meta("own-1", "lane1-mev", Some("MSCU1234566")));
    assert_eq!(s, 202);
    log.wait(&["lane input refused", "replayed"]);

    // The 2019 declaration: not on the lane feed (the import route took it above); the lane's
    // integration may not import.
    let (s, r) =
        post(addr, "/v1/declarations", Some(&customs), &declaration("H-2019b", "309999999", "01 C 333 EF", past));
    assert_eq!(s, 400, "{r}");
    assert!(note(&r).contains("/v1/declarations/import"), "{r}");
    let (s, r) = post(
        addr,
        "/v1/declarations/import",
        Some(&customs),
        &declaration("H-2019b", "309999999", "01 C 333 EF", past),
    );
    assert_eq!(s, 403, "{r}");
    // Another importer's declaration id: refused; its own importer's amendment was taken.
    let (s, r) = post(addr, "/v1/declarations", Some(&customs), &declaration("H-D2", "308888888", "01 B 222 CD", now));
    assert_eq!(s, 400, "{r}");
    assert!(note(&r).contains("another importer"), "{r}");
    // An inspection result again: an amendment that keeps the first, not an overwrite.
    let (s, r) = post(addr, "/v1/inspections", Some(&officer_here), &inspection(true));
    assert_eq!((s, r["result"].as_str()), (202, Some("amended")), "{r}");
    assert!(note(&r).contains("which are kept"), "{r}");

    // Officers: an officer token from another site or for another lane is refused, and so is
    // an entry in another officer's name; the officer's own was taken above.
    let (s, r) = post(addr, "/v1/lanes/identity", Some(&officer_there), &entry("H-D2"));
    assert_eq!(s, 403, "{r}");
    assert!(note(&r).contains("is for site \"post2\""), "{r}");
    let (s, r) = post(addr, "/v1/lanes/identity", Some(&officer_other_lane), &entry("H-D2"));
    assert_eq!(s, 403, "{r}");
    let mut forged = entry("H-D2");
    forged["officer"] = json!("b.someone-else");
    let (s, r) = post(addr, "/v1/lanes/identity", Some(&officer_here), &forged);
    assert_eq!(s, 400, "an entry in another officer's name: {r}");
    assert!(note(&r).starts_with("officer: \"b.someone-else\""), "{r}");

    // The portal cannot be blinded: a sample stamped 4 s ahead is refused, and the genuine
    // detector's source still alarms. Background, then a vehicle with a source, all stamped
    // before now (the node takes past samples in order).
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(20);
    let at = |secs: f64| t0 + chrono::Duration::milliseconds((secs * 1000.0) as i64);
    let send = |body: Value| assert_eq!(post(addr, "/v1/telemetry", Some(&portal), &body).0, 202);
    send(reading("rpm-1-occ", 0.0, at(0.0)));
    for i in 0..100 {
        send(reading("rpm-1-gamma", 100.0, at(i as f64 * 0.1)));
    }
    let (s, r) = post(
        addr,
        "/v1/telemetry",
        Some(&portal),
        &reading("rpm-1-gamma", 100.0, chrono::Utc::now() + chrono::Duration::seconds(4)),
    );
    assert_eq!(s, 400, "{r}");
    assert!(note(&r).contains("event_ts"), "{r}");
    send(reading("rpm-1-occ", 1.0, at(10.0)));
    for i in 1..=10 {
        send(reading("rpm-1-gamma", 400.0, at(10.0 + i as f64 * 0.1)));
    }
    send(reading("rpm-1-occ", 0.0, at(11.1)));

    // The zenoh feed keys: unsigned, or signed by a key this node does not know, refused;
    // the call centre's own signed record becomes a call (an alert; the feed puts are skipped).
    let key = pipeline::keys::calls_feed("t");
    assert!(pipeline::bus::wait_for_subscriber(&session, &key, T).unwrap(), "the node subscribes to {key}");
    let z = |id: &str| {
        let mut c = call.clone();
        c["call_id"] = json!(id);
        c.to_string().into_bytes()
    };
    session.put(&key, z("z-unsigned")).wait().unwrap();
    log.wait(&["not signed"]);
    let (stranger, _) = pipeline::credentials::new_signing_key().unwrap();
    let stranger = pipeline::credentials::signing_key(&stranger).unwrap();
    let body = z("z-forged");
    let sig = pipeline::credentials::sign_record(&key, &body, "call-centre-bus", &stranger, chrono::Utc::now());
    session.put(&key, body).attachment(sig).wait().unwrap();
    log.wait(&["not signed by a live key of \"call-centre-bus\""]);
    let own = pipeline::credentials::signing_key(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let body = z("z-own");
    let sig = pipeline::credentials::sign_record(&key, &body, "call-centre-bus", &own, chrono::Utc::now());
    session.put(&key, body.clone()).attachment(sig.clone()).wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = vec![];
    let has = |seen: &[(String, String)], k: &str, text: &str| {
        seen.iter().any(|(key, p)| key.contains(k) && p.contains(text))
    };
    while std::time::Instant::now() < deadline && !(has(&seen, "", "z-own") && has(&seen, "radiation_alarm", "")) {
        if let Ok(Some(s)) = alerts.recv_timeout(Duration::from_secs(1))
            && !s.key_expr().as_str().contains("/feed/")
        {
            seen.push((
                s.key_expr().as_str().to_string(),
                String::from_utf8_lossy(&s.payload().to_bytes()).into_owned(),
            ));
        }
    }
    assert!(has(&seen, "", "z-own"), "the signed call is taken");
    assert!(!has(&seen, "", "z-unsigned") && !has(&seen, "", "z-forged"), "{seen:?}");
    assert!(has(&seen, "radiation_alarm", "\"begin\""), "the genuine source alarms: {seen:?}");
    // The same signed record again: a replay.
    session.put(&key, body).attachment(sig).wait().unwrap();
    log.wait(&["was seen before"]);

    // Rotated out and revoked, by the real command, while the node runs: the old token is
    // refused on the next request, the new one is taken; a revoked identity is refused.
    let rotated = credentials(&["rotate", "--file", f, "--name", "call-centre", "--overlap-secs", "0"]);
    let mut c2 = call.clone();
    c2["call_id"] = json!("h-2");
    let (s, r) = post(addr, "/v1/calls", Some(&calls), &c2);
    assert_eq!(s, 401, "{r}");
    assert!(note(&r).contains("rotated out"), "{r}");
    assert_eq!(post(addr, "/v1/calls", Some(&rotated), &c2).0, 202);
    credentials(&["revoke", "--file", f, "--name", "call-centre"]);
    c2["call_id"] = json!("h-3");
    let (s, r) = post(addr, "/v1/calls", Some(&rotated), &c2);
    assert_eq!(s, 401, "{r}");
    assert!(note(&r).contains("revoked"), "{r}");
    assert_eq!(
        post(
            addr,
            "/v1/units",
            Some(&fleet),
            &json!({"unit": "P-1", "ts": chrono::Utc::now(), "lat": 41.31, "lon": 69.28, "status": "available"})
        )
        .0,
        202
    );

    drop(edge);
    rt.block_on(async { session.close().await }).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
