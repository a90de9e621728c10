//! Tests that prove what a stage does *not* use. [`run_alone`] runs one ignored test in a
//! child process of the same test binary, with an empty model cache (`QOROVUL_CACHE`) and
//! one test thread; inside it, [`without_threads_or_sockets`] checks that the body started
//! no thread and opened no socket. The desks and plate episodes run their whole test
//! suites this way: a plain struct, no model, no network, no thread.

use std::path::Path;
use std::process::Command;

/// Runs the ignored test `name` (its full path) alone in a child process with an empty
/// model cache, and fails with the child's output unless it passed.
pub fn run_alone(name: &str) {
    let cache = std::env::temp_dir().join(format!("qv-empty-cache-{}-{}", std::process::id(), name.replace("::", "-")));
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&cache).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .env("QOROVUL_CACHE", &cache)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&cache);
    assert!(out.status.success() && stdout.contains("1 passed"), "{name} alone:\n{stdout}\n{stderr}");
}

/// Runs `body` and checks that it started no thread and opened no socket, with the model
/// cache empty. Meant for the child of [`run_alone`]: refuses to run anywhere else.
pub fn without_threads_or_sockets(body: impl FnOnce()) {
    let cache = std::env::var_os("QOROVUL_CACHE").expect("run through isolation::run_alone");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "the model cache is empty");
    let before = (threads(), sockets());
    body();
    assert_eq!((threads(), sockets()), before, "(threads, sockets) of the process before and after");
    assert!(!Path::new(&cache).join("models").exists(), "nothing was fetched into the cache");
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
        .count()
}
