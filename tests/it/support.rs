//! What the tests share: fixtures, child processes, schema validation, the model lock.

use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The sample video from Debian's opencv-doc.
pub const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

/// The pinned virtualenv's python (`models/pypi/onnx-venv.sh`: numpy), which runs the X-ray
/// generators.
pub fn venv_python() -> std::path::PathBuf {
    let venv = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/models/pypi/onnx-venv.sh"))
        .output()
        .expect("bash runs");
    assert!(venv.status.success(), "onnx-venv.sh: {}", String::from_utf8_lossy(&venv.stderr));
    std::path::PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim()).join("bin/python")
}

/// The `qorovul` binary built with these tests.
pub const QOROVUL: &str = env!("CARGO_BIN_EXE_qorovul");

/// Model-heavy tests take turns: two cores cannot run two detectors usefully.
pub fn model_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads of this process with `name` (`/proc/self/task/*/comm`).
pub fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped, with its output lines on channels.
pub struct Proc {
    pub child: Child,
    pub stdout: Receiver<String>,
    pub stderr: Receiver<String>,
}

impl Proc {
    /// Starts `qorovul ARGS`.
    pub fn qorovul(args: &[&str]) -> Proc {
        let mut child = Command::new(QOROVUL)
            .args(args)
            .env("RUST_LOG", "info,zenoh=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qorovul");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Proc { child, stdout, stderr }
    }

    /// Waits for a stderr line containing `needle`; all lines read are returned on failure.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        wait_line(&self.stderr, needle, timeout)
    }

    /// Runs to completion (or kills after `timeout`), returning (status, stdout, stderr).
    pub fn run(args: &[&str], timeout: Duration) -> (Option<std::process::ExitStatus>, String, String) {
        let mut p = Proc::qorovul(args);
        let mut err = String::new();
        let deadline = Instant::now() + timeout;
        let status = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match p.stderr.recv_timeout(left) {
                Ok(line) => {
                    err.push_str(&line);
                    err.push('\n');
                }
                Err(RecvTimeoutError::Disconnected) => break p.child.wait().ok(),
                Err(RecvTimeoutError::Timeout) => break None,
            }
        };
        // A death by signal writes nothing itself; say it, so a failing test shows why.
        if let Some(signal) = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)) {
            err.push_str(&format!("[qorovul {} ended by signal {signal}]\n", args.join(" ")));
        }
        let out: Vec<String> = p.stdout.try_iter().collect();
        (status, out.join("\n"), err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle` on `rx`.
pub fn wait_line(rx: &Receiver<String>, needle: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(line),
            Ok(line) => seen.push(line),
            Err(e) => return Err(format!("no line with {needle:?} ({e:?}); saw:\n{}", seen.join("\n"))),
        }
    }
}

/// Validates a JSON alert against the schema shipped in the repo.
pub fn assert_valid_alert(json: &serde_json::Value) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let v = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(pipeline::alert::JSON_SCHEMA).unwrap();
        jsonschema::validator_for(&schema).expect("the alert schema compiles")
    });
    let errors: Vec<String> = v.iter_errors(json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "alert does not validate: {errors:?}\n{json}");
}

/// A valid alert of `site` and camera `source`, fresh ids, for bus tests.
pub fn test_alert(site: &str, source: &str) -> pipeline::alert::Alert {
    let a = pipeline::alert::Alert::minimal(site, pipeline::alert::SourceKind::Camera, source, "object_detected");
    pipeline::alert::Alert { confidence: 0.9, ..a }
}

/// One identity of a test's credentials file, with both of its secrets.
pub struct Sender {
    pub token: String,
    pub signer: pipeline::credentials::Signer,
}

impl Sender {
    /// Puts `body` on zenoh `key`, signed as this identity's device would.
    pub fn put(&self, session: &zenoh::Session, key: &str, body: impl Into<Vec<u8>>) {
        self.signer.put(session, key, body).unwrap();
    }
}

/// Writes `dir/credentials.toml` with one identity per `(name, routes, sources)`, each with
/// a bearer token and a signing key, as `qorovul credentials issue` would.
pub fn credentials(
    dir: &std::path::Path,
    who: &[(&str, &[pipeline::feed::FeedKind], &[&str])],
) -> (std::path::PathBuf, std::collections::HashMap<String, Sender>) {
    use pipeline::credentials as c;
    std::fs::create_dir_all(dir).unwrap();
    let now = chrono::Utc::now();
    let mut file = c::CredentialFile::default();
    let mut senders = std::collections::HashMap::new();
    for (name, routes, sources) in who {
        let sources = sources.iter().map(|s| s.to_string()).collect();
        let token = file.issue(c::Identity::new(name, c::Kind::Device, routes.to_vec(), sources), now).unwrap();
        // A second identity of the same name cannot be added: the key goes on this one.
        let (seed, public) = c::new_signing_key().unwrap();
        file.identities.last_mut().unwrap().keys.push(c::PublicKey { ed25519: public, issued: now, expires: None });
        let signer = c::Signer { name: name.to_string(), key: c::signing_key(&seed).unwrap() };
        senders.insert(name.to_string(), Sender { token, signer });
    }
    let path = dir.join("credentials.toml");
    file.save(&path).unwrap();
    (path, senders)
}

/// A plain HTTP/1.1 POST of `body` as `content_type` with `token` as its bearer; returns the
/// status and the JSON body (axum answers with a fixed length, so the body is the JSON itself).
pub fn post_json_reply(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A door may answer before it reads the body (a refusal) and close: the write then fails
    // and the read may end in a reset, but the answer is there to read.
    let gone =
        |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset);
    if let Err(e) = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body)) {
        assert!(gone(&e), "{e}");
    }
    let mut reply = Vec::new();
    if let Err(e) = s.read_to_end(&mut reply) {
        assert!(gone(&e) && !reply.is_empty(), "{e}");
    }
    let text = String::from_utf8_lossy(&reply);
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}
