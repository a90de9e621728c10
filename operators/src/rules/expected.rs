//! What the rules' scripted tests assert of an alert (`scene/tests.rs`,
//! `plate_episodes/tests.rs`).

use pipeline::alert::{Alert, Phase};

/// An alert as a test expects it: when (seconds after the test's `t0`), what, which phase,
/// and the track (for one-object kinds).
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub t: f64,
    pub kind: String,
    pub phase: Phase,
    pub track: Option<u64>,
}

impl Ev {
    /// `alert` as raised, its first object's track taken as its track.
    pub fn of(alert: &Alert, t0: f64) -> Ev {
        let t = (alert.event_ts.timestamp_micros() - (t0 * 1e6) as i64) as f64 / 1e6;
        let track = alert.objects.first().and_then(|o| o.track_id);
        Ev { t, kind: alert.kind.clone(), phase: alert.phase, track }
    }
}

pub fn ev(t: f64, kind: &str, phase: Phase, track: u64) -> Ev {
    Ev { t, kind: kind.into(), phase, track: Some(track) }
}
