//! The control room: takes in the alerts of every post, stores each exactly once,
//! acknowledges it to its edge, fuses alerts into incidents and publishes them, answers
//! history and CAP queries, fetches evidence, watches edge nodes' heartbeats, and serves the
//! operators' dashboard (web API, WebSocket push, embedded UI) with its workflow and audit.
//!
//! The one idea: one ingest thread owns the store and the fusion engine ([`ingest`]); the
//! dashboard ([`web`]) reads and writes the same store file through [`store::dashboard`].
//! This crate depends on `pipeline` alone, without `video`: a control room links no
//! GStreamer, OpenCV or ONNX Runtime (docs/ARCHITECTURE.md).

pub mod audit;
pub mod auth;
pub mod evidence_fetcher;
pub mod fusion;
pub mod history;
pub mod ingest;
pub mod live;
pub mod privacy;
pub mod retention;
pub mod store;
pub mod web;
pub mod workflow;

pub use ingest::{ControlRoom, ControlRoomConfig};
