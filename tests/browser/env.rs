//! `NODE_PATH` and `CHROMIUM` for the browser scripts, from scripts/browser.sh (which installs
//! them on first use). Shared by tests/it/dashboard_ui.rs and benches/dashboard.rs.

use std::path::Path;
use std::process::Command;

pub fn browser_env() -> Vec<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser.sh");
    let out = Command::new("bash").arg(script).output().expect("bash");
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
