//! Snapshots and clips of an alert: what the control room sees and what stays sealed.
//!
//! The one idea: an alert's snapshot exists in two copies. The **stored** copy — faces and
//! person heads blurred by [`crate::redact`], then boxes, zones and labels drawn — is a JPEG
//! named by its sha256; it is what the edge stores, replicates and lists in
//! `Alert::evidence`. The **original** is a JPEG sealed with XChaCha20-Poly1305
//! ([`pipeline::evidence::seal`]): kept encrypted at rest, opened only by the dashboard's
//! privacy workflow (a reason, a second approver, an audit entry).
//!
//! A short clip around the alert ([`build_clip`]) follows the same rule, frame by frame,
//! as MJPEG. This module only makes bytes and hashes; the edge's snapshot worker runs it
//! and its evidence store keeps them. `[evidence]` in a pipeline config is [`SnapshotConfig`].

mod clip;
mod config;
mod picture;
#[cfg(test)]
mod tests;

pub use clip::{Clip, ClipFrame, MAX_CLIP_FRAMES, build_clip};
pub use config::SnapshotConfig;
pub use picture::{Evidence, MAX_SIDE, Snapshot, SnapshotObject, encode_jpeg};
