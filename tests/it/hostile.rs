//! The doors attacked as an outsider would. Each attack is paired with the same request from
//! the rightful side, which is taken, so a door that refuses everything fails too.

use crate::support::{Proc, free_port};
use std::time::Duration;

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
