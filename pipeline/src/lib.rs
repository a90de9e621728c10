//! qorovul's dataflow runtime: the alert contract, time, frames, the bounded slots
//! between stages, camera sources, the zenoh bus and metrics.
//!
//! The one idea to hold first: items flow source → slot → operator → alert, and every
//! place that can lose an item (a full slot, a bad input) counts it in [`metrics`].

pub mod alert;
pub mod bus;
pub mod calls;
pub mod clock;
pub mod frame;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod scans;
pub mod slot;
pub mod sources;

pub use alert::{Alert, Phase, Severity, SourceKind};
pub use frame::Frame;
