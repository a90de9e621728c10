//! The dashboard in a real browser: `tests/browser/dashboard.mjs` drives Debian's Chromium
//! (headless, through npm's playwright-core; both set up by `scripts/browser.sh`) against a
//! control room and its dashboard served here on a real zenoh session. The script asks for
//! alerts (published here on zenoh) and for checks of the server's side (the store, here),
//! one line each way. Its screenshots go to `target/test-artifacts/dashboard/`.
//!
//! Evidence images are PNGs made here (an uncompressed encoder below: no image crate is a
//! dependency) and written where the control room keeps fetched evidence
//! (`<data_dir>/evidence/<sha256>`), so the alerts that name them need no edge node.

use crate::support::{free_port, test_alert};
use control_room::auth::Role;
use control_room::fusion::FusionConfig;
use control_room::store::dashboard::{DashboardStore, IncidentQuery, Sites};
use control_room::web::{Dashboard, WebConfig, seed_users};
use control_room::workflow::{Resolution, State};
use control_room::{ControlRoom, ControlRoomConfig};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use pipeline::alert::{Alert, AlertObject, GeoPoint, Severity, SourceKind};
use pipeline::bus::{self, BusConfig};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[path = "../browser/env.rs"]
mod browser;
use browser::browser_env;

/// The operator's note: HTML that would run script if the page ever parsed it.
const NOTE: &str = r#"Checked <img src=x onerror="window.__qvXss=1;alert('img')"><script>window.__qvXss=2;alert('script')</script> & <b data-qv-injected>bold</b>"#;

/// The supervisor's reason for muting the camera.
const MUTE_REASON: &str = "Lens cleaning at the dock — back in two hours";

/// The camera with a snapshot, muted and unmuted later, and the X-ray lane with a finding.
const CAMERA: &str = "dock";
const XRAY_LANE: &str = "lane-3";

/// A whole run: Chromium starts, three users sign in, an incident is worked from new to
/// resolved, two evidence images are looked at, a source is muted and unmuted.
const RUN_TIMEOUT: Duration = Duration::from_secs(420);
/// Longest wait for the control room to store an alert and tell the live feed.
const STORE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest quiet spell of the script (each of its waits is at most 30 s).
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn an_operator_works_a_live_incident_in_the_browser_and_a_viewer_cannot_resolve_it() {
    // Also: evidence with its boxes (camera and X-ray), and a supervisor muting a source.
    let browser_env = browser_env();
    let site = "it-ui";
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let session = rt.block_on(bus::open(&BusConfig { listen: vec![endpoint], ..Default::default() })).unwrap();
    let dir = std::env::temp_dir().join(format!("qorovul-ui-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let room_cfg = ControlRoomConfig { data_dir: dir.clone(), ..Default::default() };
    let room = ControlRoom::start(session.clone(), site, "cr-ui", &room_cfg, FusionConfig::default()).unwrap();
    // Secure cookies over plain http: Chromium counts http://127.0.0.1 as a secure context.
    let web_cfg = WebConfig { listen: "127.0.0.1:0".into(), secure_cookies: true, ..Default::default() };
    let web = rt
        .block_on(Dashboard::start(session.clone(), &room, site, "cr-ui", &web_cfg, &room_cfg.response_targets_secs))
        .unwrap();
    let users = seed_users(web.store.as_ref(), &[site.to_string()]).unwrap();
    let password =
        |role: Role| users.iter().find(|(_, r, _)| *r == role).map(|(u, _, p)| (u.clone(), p.clone())).unwrap();
    let (operator, operator_pw) = password(Role::Operator);
    let (viewer, viewer_pw) = password(Role::Viewer);
    let (supervisor, supervisor_pw) = password(Role::Supervisor);
    let assignee = supervisor.clone();
    let evidence_dir = room_cfg.data_dir.join("evidence");
    std::fs::create_dir_all(&evidence_dir).unwrap();

    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    let mut node = Command::new("node");
    node.arg(Path::new(REPO).join("tests/browser/dashboard.mjs"))
        .envs(browser_env)
        .env("QV_BASE_URL", format!("http://{}", web.server.addr))
        .env("QV_OPERATOR_USER", &operator)
        .env("QV_OPERATOR_PASSWORD", &operator_pw)
        .env("QV_VIEWER_USER", &viewer)
        .env("QV_VIEWER_PASSWORD", &viewer_pw)
        .env("QV_SUPERVISOR_USER", &supervisor)
        .env("QV_SUPERVISOR_PASSWORD", &supervisor_pw)
        .env("QV_ASSIGNEE", &assignee)
        .env("QV_NOTE", NOTE)
        .env("QV_MUTE_REASON", MUTE_REASON)
        .env("QV_MUTED_SOURCE", format!("{site}/camera/{CAMERA}"))
        .env("QV_XRAY_SOURCE", format!("{site}/xray/{XRAY_LANE}"))
        .env("QV_ARTIFACTS", &artifacts);
    let mut script = Script::spawn(node);

    let store = web.store.clone();
    let mut incident: Option<String> = None;
    let mut alerts_sent = 0;
    // The incidents there were when the muted camera's alert was stored.
    let mut incidents_when_muted: Option<BTreeSet<String>> = None;
    // The camera's first alert after it was unmuted.
    let mut after_unmute: Option<String> = None;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let line = script.next_line(deadline);
        println!("browser: {line}");
        let mut words = line.split_whitespace();
        match (words.next().unwrap_or(""), words.next(), words.next()) {
            ("PASS", ..) => break,
            ("FAIL", ..) => script.fail(&line),
            ("INCIDENT", Some(id), _) => incident = Some(id.to_string()),
            ("READY", Some("alert"), None) => {
                // The first is the one worked; the second fills the queue for the language check.
                let mut alert = test_alert(site, if alerts_sent == 0 { "gate" } else { "yard" });
                alert.kind = "zone_intrusion".into();
                alert.severity = if alerts_sent == 0 { Severity::High } else { Severity::Critical };
                rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
                alerts_sent += 1;
                script.answer(&format!("ALERT {}", alert.id));
            }
            ("READY", Some("alert"), Some(what @ ("evidence-camera" | "evidence-xray"))) => {
                let (shot, mut alert) = if what == "evidence-camera" {
                    (Shot::camera(), camera_alert(site))
                } else {
                    let mut a = Alert::minimal(site, SourceKind::Xray, XRAY_LANE, "xray_threat");
                    a.source.name = "X-ray lane 3".into();
                    a.severity = Severity::Critical;
                    a.confidence = 0.87;
                    (Shot::xray(), a)
                };
                shot.attach(&mut alert, &evidence_dir);
                rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
                let [x1, y1, x2, y2] = shot.bbox;
                script.answer(&format!(
                    "ALERT {} {} {x1},{y1},{x2},{y2} {}x{}",
                    alert.id, shot.class, shot.width, shot.height
                ));
            }
            ("READY", Some("alert"), Some("muted")) => {
                // Stored (the control room counted it) but no incident: none new, none grown.
                let before = incident_ids(store.as_ref());
                let stored = room.stats.stored.load(Ordering::Relaxed);
                let mut feed = room.live.subscribe();
                let alert = camera_alert(site);
                rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
                let until = Instant::now() + STORE_TIMEOUT;
                if let Err(e) = rt.block_on(feed_alert(&mut feed, &alert.id.to_string(), until)) {
                    script.fail(&format!("the muted camera's alert: {e}"));
                }
                drop(feed);
                assert!(room.stats.stored.load(Ordering::Relaxed) > stored, "the control room did not count the alert");
                assert!(store.alert(alert.id).unwrap().is_some(), "the muted camera's alert is not stored");
                let after = incident_ids(store.as_ref());
                assert_eq!(after, before, "the muted camera's alert {} raised an incident", alert.id);
                assert_eq!(incidents_holding(store.as_ref(), &alert.id.to_string()), Vec::<String>::new());
                incidents_when_muted = Some(before);
                script.answer(&format!("ALERT {}", alert.id));
            }
            ("READY", Some("alert"), Some("camera")) => {
                let alert = camera_alert(site);
                rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
                after_unmute = Some(alert.id.to_string());
                script.answer(&format!("ALERT {}", alert.id));
            }
            ("CHECK", Some(what @ ("muted" | "unmuted")), Some(source)) => {
                check_source(store.as_ref(), source, (what == "muted").then_some(supervisor.as_str()));
                script.answer("OK");
            }
            ("CHECK", Some("silenced"), Some(alert_id)) => {
                // The browser has seen the next alert's row: the muted one was processed before
                // it, so by now it would have an incident if it were going to.
                let before =
                    incidents_when_muted.take().unwrap_or_else(|| script.fail("CHECK silenced before the muted alert"));
                let after = incident_ids(store.as_ref());
                let new: Vec<String> = after.difference(&before).cloned().collect();
                assert!(before.is_subset(&after));
                let next =
                    after_unmute.as_deref().unwrap_or_else(|| script.fail("CHECK silenced before the next alert"));
                assert_eq!(incidents_holding(store.as_ref(), next), new, "the one new incident is the next alert's");
                assert_eq!(
                    incidents_holding(store.as_ref(), alert_id),
                    Vec::<String>::new(),
                    "the muted alert joined an incident"
                );
                assert!(store.alert(alert_id.parse().unwrap()).unwrap().is_some(), "the muted alert is not stored");
                script.answer("OK");
            }
            ("CHECK", Some(what), arg) => {
                let id = incident.as_deref().unwrap_or_else(|| script.fail("CHECK before INCIDENT"));
                check(store.as_ref(), id, what, arg, &operator);
                script.answer("OK");
            }
            ("STEP", ..) => {}
            _ => script.fail(&format!("unexpected line {line:?}")),
        }
    }
    let status = script.wait(deadline);
    assert!(status.success(), "the script printed PASS but exited {status}\n{}", script.stderr());

    // The end state, from the server's side: resolved as a false alarm by the operator.
    let id = incident.expect("the script named its incident");
    let wf = store.incident(&id).unwrap().unwrap().summary.workflow.unwrap();
    assert_eq!((wf.state, wf.resolution), (State::Resolved, Some(Resolution::FalseAlarm)));
    let shots = std::fs::read_dir(&artifacts).unwrap().filter_map(Result::ok).count();
    assert!(shots >= 22, "only {shots} screenshots in {}", artifacts.display());
    println!("screenshots: {}", artifacts.display());

    rt.block_on(web.stop());
    room.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the store must hold when the browser says it did `what`.
fn check(store: &dyn DashboardStore, id: &str, what: &str, arg: Option<&str>, operator: &str) {
    let detail = store.incident(id).unwrap().unwrap_or_else(|| panic!("incident {id} not in the store"));
    let wf = detail.summary.workflow.clone().expect("a workflow");
    let actions: Vec<&str> = detail.timeline.iter().map(|e| e.action.as_str()).collect();
    match what {
        "acknowledged" => {
            assert_eq!(wf.state, State::Acknowledged, "{wf:?}");
            assert!(wf.acknowledged_at.is_some());
            let e = detail.timeline.iter().find(|e| e.action == "acknowledge").expect("acknowledge in the timeline");
            assert_eq!(e.actor, operator);
        }
        "assigned" => {
            assert_eq!(wf.state, State::Assigned, "{wf:?}");
            assert_eq!(wf.assignee.as_deref(), arg);
        }
        "note" => {
            let note = detail.timeline.iter().find(|e| e.action == "note").expect("the note in the timeline");
            assert_eq!(note.detail["text"], NOTE, "the note is stored exactly as typed");
            assert_eq!(wf.state, State::Assigned);
        }
        "unresolved" => {
            // The viewer's attempt changed nothing and left no trace.
            assert_eq!(wf.state, State::Assigned, "{wf:?}");
            assert_eq!(wf.resolution, None);
            assert!(!actions.contains(&"resolve"), "{actions:?}");
        }
        "resolved" => {
            assert_eq!(wf.state, State::Resolved, "{wf:?}");
            assert_eq!(wf.resolution.map(|r| r.as_str()), arg);
            assert!(wf.resolved_at.is_some());
            assert_eq!(actions, ["acknowledge", "assign", "note", "resolve"]);
        }
        "hold" => {
            let hold = detail.legal_hold.as_ref().expect("a legal hold on the incident");
            assert_eq!((Some(hold.held_by.as_str()), hold.reason.as_str()), (arg, "prosecutor request 2026/114"));
            assert!(actions.contains(&"legal_hold"), "{actions:?}");
        }
        "language" => {
            let (user, _) = store.user_with_hash(operator).unwrap().unwrap();
            assert_eq!(Some(user.language.as_str()), arg, "the operator's language is kept on the server");
        }
        _ => panic!("the script asked to check {what:?}, which this test does not know"),
    }
}

/// An alert of the camera that gets muted: a zone intrusion at a known place.
fn camera_alert(site: &str) -> Alert {
    let mut a = Alert::minimal(site, SourceKind::Camera, CAMERA, "zone_intrusion");
    a.source.name = "Dock camera".into();
    a.source.location = Some(GeoPoint { lat: 41.2995, lon: 69.2401 });
    a.severity = Severity::High;
    a.confidence = 0.93;
    a
}

/// Waits for the live feed's `{"type":"alert"}` message of `alert_id`. The control room sends
/// it once the alert's batch is stored and its incidents saved, so what the store says after
/// it is final for that alert.
async fn feed_alert(
    feed: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<control_room::live::FeedEvent>>,
    alert_id: &str,
    deadline: Instant,
) -> Result<(), String> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, feed.recv()).await {
            Err(_) => return Err(format!("no live message for alert {alert_id} within {STORE_TIMEOUT:?}")),
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) => return Err("the live feed closed".into()),
            Ok(Ok(event)) => {
                let v: serde_json::Value = serde_json::from_str(&event.json).unwrap_or_default();
                if v["type"] == "alert" && v["alert"]["id"] == alert_id {
                    return Ok(());
                }
            }
        }
    }
}

/// The ids of every incident in the store, open or not.
fn incident_ids(store: &dyn DashboardStore) -> BTreeSet<String> {
    let q = IncidentQuery { open_only: false, limit: 10_000, ..Default::default() };
    store.incidents(&q, &Sites::All).unwrap().items.into_iter().map(|s| s.id).collect()
}

/// The incidents that have `alert_id` among their members.
fn incidents_holding(store: &dyn DashboardStore, alert_id: &str) -> Vec<String> {
    incident_ids(store)
        .into_iter()
        .filter(|id| {
            let detail = store.incident(id).unwrap().unwrap();
            let members = detail.incident["incident"]["members"].as_array().cloned().unwrap_or_default();
            members.iter().any(|m| m["alert_id"] == alert_id)
        })
        .collect()
}

/// The source `site/kind/id` on the server: muted by `muted_by` with [`MUTE_REASON`] for
/// about two hours (the duration picked in the browser), or not muted; and the audit entry.
fn check_source(store: &dyn DashboardStore, key: &str, muted_by: Option<&str>) {
    let sources = store.sources(&Sites::All).unwrap();
    let src = sources
        .iter()
        .find(|s| format!("{}/{}/{}", s.site, s.kind, s.id) == key)
        .unwrap_or_else(|| panic!("source {key} not in the store: {sources:?}"));
    let target = format!("source/{key}");
    let audit = store.audit_entries(None, 50).unwrap();
    let entry = |action: &str| {
        audit.iter().filter(|e| e.action == action && e.target.as_deref() == Some(&target)).max_by_key(|e| e.seq)
    };
    match muted_by {
        Some(by) => {
            let m = src.muted.as_ref().unwrap_or_else(|| panic!("{key} is not muted: {src:?}"));
            assert_eq!((m.by.as_str(), m.reason.as_str()), (by, MUTE_REASON), "{m:?}");
            let left = m.until - chrono::Utc::now();
            assert!(
                left > chrono::TimeDelta::minutes(110) && left <= chrono::TimeDelta::minutes(120),
                "muted until {} ({left} from now), not the two hours picked",
                m.until
            );
            let e = entry("mute").unwrap_or_else(|| panic!("no mute entry for {target} in the audit log: {audit:?}"));
            assert_eq!(e.actor, by);
            assert_eq!(e.site.as_deref(), Some(src.site.as_str()));
            assert_eq!(e.detail["reason"], MUTE_REASON, "{e:?}");
        }
        None => {
            assert!(src.muted.is_none(), "{key} is still muted: {src:?}");
            let mute = entry("mute").expect("the mute entry");
            let unmute = entry("unmute").unwrap_or_else(|| panic!("no unmute entry for {target}: {audit:?}"));
            assert!(unmute.seq > mute.seq, "the unmute entry is older than the mute");
        }
    }
}

/// An evidence image with one box in it.
struct Shot {
    png: Vec<u8>,
    width: u32,
    height: u32,
    class: &'static str,
    score: f32,
    /// `[x1, y1, x2, y2]`, normalised.
    bbox: [f32; 4],
}

impl Shot {
    /// A dusk scene with an orange figure where the box is.
    fn camera() -> Shot {
        let (width, height, bbox) = (320, 240, [0.25, 0.3, 0.45, 0.9]);
        let png = png_rgb(width, height, |x, y| {
            let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
            if inside(bbox, u, v, 0.02) {
                [235, 130, 40]
            } else if v > 0.55 {
                [60, (70.0 + 40.0 * u) as u8, 60] // ground
            } else {
                [(40.0 + 60.0 * v) as u8, (60.0 + 60.0 * v) as u8, (120.0 + 80.0 * v) as u8] // sky
            }
        });
        Shot { png, width, height, class: "person", score: 0.93, bbox }
    }

    /// A pale X-ray of a bag with a dark blade where the box is.
    fn xray() -> Shot {
        let (width, height, bbox) = (400, 300, [0.55, 0.35, 0.8, 0.55]);
        let png = png_rgb(width, height, |x, y| {
            let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
            if inside(bbox, u, v, 0.03) {
                [30, 30, 90]
            } else if inside([0.15, 0.2, 0.9, 0.8], u, v, 0.0) {
                [200, 160, 100] // the bag
            } else {
                [235, 240, 245]
            }
        });
        Shot { png, width, height, class: "knife", score: 0.87, bbox }
    }

    /// Writes the image where the control room keeps evidence and names it in `alert`, with
    /// its box as the alert's object.
    fn attach(&self, alert: &mut Alert, evidence_dir: &Path) {
        let sha: String = Sha256::digest(&self.png).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(evidence_dir.join(&sha), &self.png).unwrap();
        alert.evidence = vec![sha];
        alert.objects = vec![AlertObject {
            class: self.class.into(),
            track_id: None,
            score: self.score,
            bbox: Some(self.bbox),
            ground: None,
            speed_mps: None,
        }];
    }
}

/// Whether normalised `(u, v)` lies in `b` shrunk by `margin` on each side.
fn inside(b: [f32; 4], u: f32, v: f32, margin: f32) -> bool {
    u >= b[0] + margin && u <= b[2] - margin && v >= b[1] + margin && v <= b[3] - margin
}

/// A PNG of 8-bit RGB pixels: unfiltered rows, zlib with stored (uncompressed) blocks.
fn png_rgb(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend(pixel(x, y));
        }
    }
    let mut zlib = vec![0x78, 0x01]; // deflate, 32 KiB window, no dictionary; (0x7801 % 31 == 0)
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len())); // BFINAL, BTYPE 00 (stored)
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend(adler32(&raw).to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter method, not interlaced
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &zlib[..]), (b"IEND", &[][..])] {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// `target/test-artifacts/dashboard`, beside the profile directories of this build.
fn artifacts_dir() -> PathBuf {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_qorovul")).parent().unwrap();
    profile_dir.parent().unwrap().join("test-artifacts/dashboard")
}

/// The browser script: its stdin to answer on, its output lines on channels; killed when
/// dropped.
struct Script {
    child: Child,
    stdin: ChildStdin,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

impl Script {
    fn spawn(mut cmd: Command) -> Script {
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting node");
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = crossbeam_channel::unbounded();
            std::thread::spawn(move || BufReader::new(r).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
            rx
        };
        let stdin = child.stdin.take().unwrap();
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Script { child, stdin, stdout, stderr, stderr_seen: Vec::new() }
    }

    /// The next stdout line, failing on exit or silence.
    fn next_line(&mut self, deadline: Instant) -> String {
        let wait = deadline.saturating_duration_since(Instant::now()).min(LINE_TIMEOUT);
        match self.stdout.recv_timeout(wait) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => self.fail(&format!("no line from the script for {wait:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait(deadline);
                self.fail(&format!("the script exited ({status}) without PASS"))
            }
        }
    }

    fn answer(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|_| self.stdin.flush()).expect("answering the script");
    }

    /// Its exit status once it exits (killed at the deadline); its stderr is kept meanwhile.
    fn wait(&mut self, deadline: Instant) -> std::process::ExitStatus {
        loop {
            // Its stderr closes when it exits: a wait on a condition, not a sleep.
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now()).min(LINE_TIMEOUT)) {
                Ok(line) => self.stderr_seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.child.wait().unwrap(),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return self.child.wait().unwrap();
                }
            }
        }
    }

    fn stderr(&mut self) -> String {
        self.stderr_seen.extend(self.stderr.try_iter());
        self.stderr_seen.join("\n")
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let rest: Vec<String> = self.stdout.try_iter().collect();
        let stderr = self.stderr();
        panic!("browser test failed: {why}\n{}\nstderr:\n{stderr}", rest.join("\n"))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
