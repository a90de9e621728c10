//! Helpers the benchmarks share (each benchmark is a crate of its own; included by `#[path]`;
//! in a folder so Cargo does not take it for a benchmark).

use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `cond` until it holds; panics naming `what` after `limit` (the state is in another
/// process or thread with nothing to wait on).
pub fn wait_for(mut cond: impl FnMut() -> bool, limit: Duration, what: &str) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "{what}: timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}
