//! What runs at a border post next to the sensors: the pipeline, and a durable outbox
//! so that no alert is lost when the uplink, the router or the process goes down.
//!
//! The one idea: an alert is appended to the outbox (on disk, fsynced) before anything
//! tries to send it, and leaves the outbox only when the control room has acknowledged
//! it. Sending is retried from the outbox; the control room stores idempotently on `id`.

pub mod evidence;
pub mod node;
pub mod outbox;
pub mod uplink;
