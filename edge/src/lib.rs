//! What runs at a border post next to the sensors: the camera path and the X-ray lane over
//! one inference executor ([`analysers`]), the feed thread with the 102 and customs desks
//! ([`feeds`]), and the node's services ([`node`]): a durable outbox so that no alert is
//! lost when the uplink, the router or the process goes down, the evidence store and
//! server, heartbeats.
//!
//! The one idea: an alert is appended to the outbox (on disk, fsynced) before anything
//! tries to send it, and leaves the outbox only when the control room has acknowledged
//! it. Sending is retried from the outbox; the control room stores idempotently on `id`.
//! This crate owns the node's threads; the stages they drive are `operators`' plain structs
//! (docs/ARCHITECTURE.md, "Threads and queues").

pub mod analysers;
pub mod camera_path;
pub mod evidence_server;
pub mod evidence_store;
pub mod executor;
pub mod feeds;
pub mod node;
pub mod outbox;
pub mod publisher;
pub mod uplink;
pub mod worker;
pub mod xray_lane;
