//! The dashboard in a real browser: `tests/browser/dashboard.mjs` drives Debian's Chromium
//! (headless, through npm's playwright-core; both set up by `scripts/browser.sh`) against a
//! control room and its dashboard served here on a real zenoh session. The script asks for
//! alerts (published here on zenoh) and for checks of the server's side (the store, here),
//! one line each way. Its screenshots go to `target/test-artifacts/dashboard/`.

use crate::support::{free_port, test_alert};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use dashboard::auth::Role;
use dashboard::control_room::{ControlRoom, ControlRoomConfig};
use dashboard::web::{Dashboard, WebConfig, seed_users};
use dashboard::web_store::DashboardStore;
use dashboard::workflow::{Resolution, State};
use operators::fusion::FusionConfig;
use pipeline::alert::Severity;
use pipeline::bus::{self, BusConfig};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The operator's note: HTML that would run script if the page ever parsed it.
const NOTE: &str = r#"Checked <img src=x onerror="window.__qvXss=1;alert('img')"><script>window.__qvXss=2;alert('script')</script> & <b data-qv-injected>bold</b>"#;

/// A whole run: Chromium starts, two users sign in, an incident is worked from new to resolved.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest quiet spell of the script (each of its waits is at most 30 s).
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn an_operator_works_a_live_incident_in_the_browser_and_a_viewer_cannot_resolve_it() {
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
    let (assignee, _) = password(Role::Supervisor);

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
        .env("QV_ASSIGNEE", &assignee)
        .env("QV_NOTE", NOTE)
        .env("QV_ARTIFACTS", &artifacts);
    let mut script = Script::spawn(node);

    let store = web.store.clone();
    let mut incident: Option<String> = None;
    let mut alerts_sent = 0;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let line = script.next_line(deadline);
        println!("browser: {line}");
        let mut words = line.split_whitespace();
        match (words.next().unwrap_or(""), words.next(), words.next()) {
            ("PASS", ..) => break,
            ("FAIL", ..) => script.fail(&line),
            ("INCIDENT", Some(id), _) => incident = Some(id.to_string()),
            ("READY", Some("alert"), _) => {
                // The first is the one worked; the second fills the queue for the language check.
                let mut alert = test_alert(site, if alerts_sent == 0 { "gate" } else { "yard" });
                alert.kind = "zone_intrusion".into();
                alert.severity = if alerts_sent == 0 { Severity::High } else { Severity::Critical };
                rt.block_on(bus::publish_alert(&session, &alert)).unwrap();
                alerts_sent += 1;
                script.answer(&format!("ALERT {}", alert.id));
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
    assert!(shots >= 10, "only {shots} screenshots in {}", artifacts.display());
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
        "language" => {
            let (user, _) = store.user_with_hash(operator).unwrap().unwrap();
            assert_eq!(Some(user.language.as_str()), arg, "the operator's language is kept on the server");
        }
        _ => panic!("the script asked to check {what:?}, which this test does not know"),
    }
}

/// `NODE_PATH` and `CHROMIUM` from scripts/browser.sh, which installs them on first use.
fn browser_env() -> Vec<(String, String)> {
    let out = Command::new("bash").arg(Path::new(REPO).join("scripts/browser.sh")).output().expect("bash");
    assert!(out.status.success(), "scripts/browser.sh: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let vars: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| ["NODE_PATH", "CHROMIUM"].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(vars.len(), 2, "scripts/browser.sh printed:\n{stdout}");
    vars
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
