//! Time for the pipeline (docs/ARCHITECTURE.md, "Time and place").
//!
//! Rules and trackers work on *event* time carried by each item, never on the wall clock
//! read in the middle of a computation; the [`Clock`] here is only asked "what time is it
//! now" at ingest, so tests can drive it.

use crate::alert::ClockState;
use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// A source of "now".
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Whether this clock is disciplined by NTP.
    fn state(&self) -> ClockState;
}

/// The node's system clock; its sync state comes from the kernel (`ntp_adjtime`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn state(&self) -> ClockState {
        kernel_clock_state()
    }
}

/// Asks the kernel whether NTP (chrony, systemd-timesyncd, ntpd) has synchronised the clock.
pub fn kernel_clock_state() -> ClockState {
    // SAFETY: `timex` is plain data; modes = 0 makes ntp_adjtime a read-only query.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ntp_adjtime(&mut tx) };
    if rc == libc::TIME_ERROR || rc < 0 || (tx.status & libc::STA_UNSYNC) != 0 {
        ClockState::Unsynced
    } else {
        ClockState::Synced
    }
}

/// A clock tests set by hand.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    state: ClockState,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>, state: ClockState) -> Self {
        Self { now: Mutex::new(start), state }
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.now.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
    fn state(&self) -> ClockState {
        self.state
    }
}
