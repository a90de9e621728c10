//! The integrator guide's subscriber examples (docs/integrators.md) run against a real
//! zenoh session: the Rust one (`examples/integrator_subscribe.rs`) and the Python one
//! (`docs/examples/subscribe.py`, on PyPI's `eclipse-zenoh`, set up by
//! `scripts/python-zenoh.sh`). Each must print the history reply (from a real control
//! room's store), then exactly the alerts and the incident published, and refuse the alert
//! of a newer MAJOR. A plate read's plate reaches neither example in clear, from history or
//! live; both recognise its vehicle by the keyed hash.

use crate::support::{Proc, assert_valid_alert, free_port, test_alert};
use control_room::fusion::{Engine, FusionConfig};
use control_room::{ControlRoom, ControlRoomConfig};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use pipeline::alert::Alert;
use pipeline::bus::{self, BusConfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_rust_example_prints_alerts_and_incidents_and_refuses_a_newer_major() {
    let exe = rust_example();
    check_example("it-integ-rs", Command::new(exe));
}

#[test]
fn the_python_example_prints_alerts_and_incidents_and_refuses_a_newer_major() {
    let mut python = Command::new("python3");
    python.arg(Path::new(REPO).join("docs/examples/subscribe.py")).env("PYTHONPATH", python_zenoh());
    check_example("it-integ-py", python);
}

/// Serves the history query, publishes, and checks what `example` printed.
fn check_example(site: &str, mut example: Command) {
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let session = rt.block_on(bus::open(&BusConfig { listen: vec![endpoint.clone()], ..Default::default() })).unwrap();

    // The control room on the same session: its store answers the history query. Its
    // fusion ignores these alerts' kind, so the only incident on the bus is the test's own.
    let dir = std::env::temp_dir().join(format!("qorovul-integ-{site}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let room_cfg = ControlRoomConfig { data_dir: dir, ..Default::default() };
    let fusion = FusionConfig { ignore_kinds: vec!["object_detected".into()], ..Default::default() };
    let room = ControlRoom::start(session.clone(), site, "cr-integ", &room_cfg, fusion).unwrap();
    // Two stored alerts of one camera and kind share a key: the history query must not be
    // consolidated (zenoh's default would keep one reply per key).
    let stored: Vec<Alert> = [60, 30]
        .map(|minutes| {
            let mut a = plate_read(site);
            a.event_ts -= chrono::TimeDelta::minutes(minutes);
            a
        })
        .into();
    for a in &stored {
        rt.block_on(bus::publish_alert(&session, a)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while room.stats.stored.load(std::sync::atomic::Ordering::Relaxed) < stored.len() as u64 {
        assert!(Instant::now() < deadline, "the control room did not store the alerts");
        std::thread::sleep(Duration::from_millis(20));
    }

    let alerts = [plate_read(site), test_alert(site, "yard")];
    let newer_major = Alert { schema_version: "2.0".into(), ..test_alert(site, "gate") };
    let incident = Engine::new(FusionConfig::default()).unwrap().ingest(&alerts[0]).remove(0);

    let since = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
    example.args(["--connect", &endpoint, "--site", site, "--count", "3", "--history-since", &since]);
    let proc = spawn(example);
    proc.wait_stderr("subscribed", Duration::from_secs(60)).unwrap();
    // The live alerts go out once the history is answered, so it holds the stored ones alone.
    proc.wait_stderr("history: ", Duration::from_secs(30)).unwrap();
    for key in [alerts[0].key_expr(), incident.key_expr()] {
        assert!(bus::wait_for_subscriber(&session, &key, Duration::from_secs(20)).unwrap(), "{key} never matched");
    }

    // The 2.0 alert goes first: one subscription delivers in order, so it is refused before
    // the alerts after it are printed and the example exits.
    rt.block_on(async {
        bus::publish_alert(&session, &newer_major).await.unwrap();
        for a in &alerts {
            bus::publish_alert(&session, a).await.unwrap();
        }
        let put = session.put(incident.key_expr(), incident.to_json());
        put.congestion_control(zenoh::qos::CongestionControl::Block).await.unwrap();
    });

    // `--count 3`: it exits after the two alerts and the incident.
    let (stdout, stderr) = until_exit(proc, Duration::from_secs(30));
    let printed: Vec<(String, serde_json::Value)> = stdout
        .iter()
        .map(|line| {
            let (prefix, rest) = line.strip_prefix("history ").map_or(("", line.as_str()), |rest| ("history ", rest));
            let (key, json) = rest.split_once(' ').unwrap_or_else(|| panic!("not `<key> <json>`: {line}"));
            (format!("{prefix}{key}"), serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {line}")))
        })
        .collect();
    let mut got: Vec<(String, String)> = printed
        .iter()
        .map(|(key, json)| (key.clone(), json["id"].as_str().or(json["incident"]["id"].as_str()).unwrap_or("?").into()))
        .collect();
    let mut expected: Vec<(String, String)> =
        stored.iter().map(|a| (format!("history {}", a.key_expr()), a.id.to_string())).collect();
    expected.extend([
        (alerts[0].key_expr(), alerts[0].id.to_string()),
        (alerts[1].key_expr(), alerts[1].id.to_string()),
        (incident.key_expr(), incident.incident.id.to_string()),
    ]);
    // History comes first, oldest first; the live messages come on two subscriptions, in no
    // promised order.
    got[stored.len()..].sort();
    expected[stored.len()..].sort();
    assert_eq!(got, expected, "stdout:\n{}\nstderr:\n{}", stdout.join("\n"), stderr.join("\n"));
    for (key, json) in &printed {
        if key.contains("/alert/") {
            assert_valid_alert(json);
        } else {
            assert_eq!(json, &serde_json::from_str::<serde_json::Value>(&incident.to_json()).unwrap());
        }
    }

    // The plate: masked in every line, its vehicle counted by keyed hash over the two stored
    // alerts, the live one and the incident.
    assert!(stdout.iter().all(|l| !l.contains("01A123BC")), "{stdout:?}");
    assert!(stdout.iter().filter(|l| l.contains("01****BC")).count() >= 4, "{stdout:?}");
    let counted = format!("vehicle {} (01****BC): 4 messages", key().hash("plate", "01A123BC"));
    assert!(stderr.contains(&counted), "{counted:?} not in {stderr:?}");

    let refused: Vec<&String> = stderr.iter().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 1, "only the 2.0 alert is refused: {stderr:?}");
    let id = newer_major.id.to_string();
    assert!(refused[0].contains("newer MAJOR") && refused[0].contains(&id), "{}", refused[0]);
    room.stop().unwrap();
}

fn key() -> pipeline::personal::CorrelationKey {
    pipeline::personal::CorrelationKey::from_bytes([5; 32])
}

/// A plate read as a node's uplink sends it: its plate whole, sealed with the keyed hash.
fn plate_read(site: &str) -> Alert {
    let mut a = test_alert(site, "gate");
    a.correlation.plate = Some("01A123BC".into());
    a.attributes.insert("plate".into(), "01A123BC".into());
    key().seal(&mut a);
    a
}

/// Starts `cmd` with its output lines on channels, killed when dropped.
fn spawn(mut cmd: Command) -> Proc {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting");
    let lines = |r: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || BufReader::new(r).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        rx
    };
    let stdout = lines(Box::new(child.stdout.take().unwrap()));
    let stderr = lines(Box::new(child.stderr.take().unwrap()));
    Proc { child, stdout, stderr }
}

/// Reads everything the process writes until it exits (asserting success) or the timeout.
fn until_exit(mut proc: Proc, timeout: Duration) -> (Vec<String>, Vec<String>) {
    let deadline = Instant::now() + timeout;
    let drain = |rx: &Receiver<String>| {
        let mut out = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => out.push(line),
                Err(RecvTimeoutError::Disconnected) => return Ok(out),
                Err(RecvTimeoutError::Timeout) => return Err(out),
            }
        }
    };
    let (stdout, stderr) = (drain(&proc.stdout), drain(&proc.stderr));
    match (stdout, stderr) {
        (Ok(out), Ok(err)) => {
            let status = proc.child.wait().unwrap();
            assert!(status.success(), "{status}\nstdout:\n{}\nstderr:\n{}", out.join("\n"), err.join("\n"));
            (out, err)
        }
        (out, err) => {
            let (out, err) = (out.unwrap_or_else(|o| o), err.unwrap_or_else(|e| e));
            panic!("still running after {timeout:?}\nstdout:\n{}\nstderr:\n{}", out.join("\n"), err.join("\n"))
        }
    }
}

/// The Rust example's binary, built now: `cargo test --test it` does not build examples.
fn rust_example() -> PathBuf {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_qorovul")).parent().unwrap().to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(REPO).args(["build", "--quiet", "--example", "integrator_subscribe"]);
    if profile_dir.ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("running cargo");
    assert!(status.success(), "cargo build --example integrator_subscribe: {status}");
    profile_dir.join("examples/integrator_subscribe")
}

/// The PYTHONPATH holding `eclipse-zenoh`, installed into the cache on first use.
fn python_zenoh() -> String {
    let out = Command::new("bash").arg(Path::new(REPO).join("scripts/python-zenoh.sh")).output().expect("bash");
    assert!(out.status.success(), "scripts/python-zenoh.sh: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().find_map(|l| l.strip_prefix("PYTHONPATH=")).expect("PYTHONPATH=… printed").to_string()
}
