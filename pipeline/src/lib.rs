//! qorovul's dataflow runtime and contracts: the alert contract, every zenoh key, the bus,
//! time, metrics, heartbeats, the records fed in from outside (calls, scans, feeds), the
//! evidence transfer, the bounded slots between stages, the shared helpers (geo, hash, the
//! seeded generator), and — with the `video` feature — frames and camera sources.
//!
//! The one idea to hold first: items flow source → slot → operator → alert, and every
//! place that can lose an item (a full slot, a bad input) counts it in [`metrics`].
//! Without `video` this crate links no GStreamer, so the control room can depend on it.

pub mod alert;
pub mod bus;
pub mod calls;
pub mod clock;
pub mod credentials;
pub mod evidence;
pub mod feed;
#[cfg(feature = "video")]
pub mod frame;
pub mod geo;
pub mod hash;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod personal;
pub mod rng;
pub mod scans;
pub mod slot;
pub mod sources;

pub use alert::{Alert, Phase, Severity, SourceKind};
#[cfg(feature = "video")]
pub use frame::Frame;
