//! The customs lane desk: one vehicle's inputs at a border lane become one corridor
//! decision (green / yellow / red) with its reasons, published on
//! `qv/{site}/pii/lane/{lane}/decision`, stored for replay, and raised as a `lane_decision`
//! alert (severity high when red).
//!
//! The one idea: a vehicle is a *passage* through a lane, assembled from whatever arrives
//! first — a plate read by a lane camera (`plate_read`), an X-ray scan (`xray_scan`, with
//! its plate, container and declaration id), a radiation portal's reading
//! (`radiation_reading`), an officer's manual entry — and linked to its declaration by
//! plate, container or declaration id (plates of Uzbekistan and its neighbours in one
//! canonical form by [`crate::plates::countries`], ISO 6346 container numbers by
//! [`container`]). The passage is decided as soon as its declaration and every input its
//! lane has devices for are in; after `wait_secs` it is decided with what there is, and
//! what is missing is a reason, never a silent green.
//!
//! A declaration serves one crossing: once decided, it no longer matches, and the
//! vehicle's later plate reads (it is still in view, leaving) are ignored for
//! `linger_secs`. The selectivity itself is [`crate::risk`]. [`CustomsDesk`] is plain
//! state driven by its caller (the edge's feed thread, or a test) on the time passed in:
//! nothing here sleeps, spawns or opens a socket.
//!
//! Nobody at a lane rewrites an importer's past or steers a decision (issue 17):
//! - the lane feed takes only declarations submitted within `open_for_days` (and not in
//!   the future beyond [`SUBMITTED_AHEAD_SECS`]): a 2019 declaration posted at a lane
//!   would make a new importer look established. Past declarations come in by
//!   [`CustomsDesk::import_declaration`], a separate, privileged route, each import
//!   audited with its sender;
//! - a declaration id belongs to its first importer; a decided one is not re-opened;
//! - inspection results and officers' entries are made in the authenticated sender's own
//!   name (`by`), never in a name the body claims; results are append-only amendments;
//! - the random draw is keyed by the post's secret (in its history) and recorded in the
//!   decision, so it replays without the secret;
//! - a lane device's input counts only for the vehicle at the lane when it happened: an
//!   alert or scan id taken before, or an event time before the passage opened (less
//!   `wait_secs`), is refused as a replay.

mod config;
pub mod container;
mod desk;
mod open;
#[cfg(test)]
mod tests;

pub use config::{CustomsConfig, LaneDevices};
pub use container::{ContainerError, ContainerNumber, check_digit, parse_container};
pub use desk::{CustomsDesk, DeskOutput, ManualIdentity, SUBMITTED_AHEAD_SECS};
pub use open::{OpenDeclarations, SharedDeclarations};

/// The alerts the desk takes from the fabric: lane cameras' plate reads, scans' summaries,
/// portal readings (they may come from other nodes of the site), whole: on their `pii` keys,
/// since the public forms mask the plates and containers the desk matches on.
pub fn input_keys(site: &str) -> [String; 3] {
    use pipeline::alert::SourceKind;
    use pipeline::keys::{alerts_of_kind, pii_of};
    [
        pii_of(&alerts_of_kind(site, SourceKind::Camera.as_str(), "plate_read")),
        pii_of(&alerts_of_kind(site, SourceKind::Xray.as_str(), "xray_scan")),
        pii_of(&alerts_of_kind(site, SourceKind::Sensor.as_str(), "radiation_reading")),
    ]
}
