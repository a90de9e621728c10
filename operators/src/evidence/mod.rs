//! Evidence for an alert: what the control room sees and what stays sealed.
//!
//! The one idea: an alert's snapshot exists in two copies. The **stored** copy — faces and
//! person heads blurred by [`crate::redact`], then boxes, zones and labels drawn — is a JPEG
//! named by its sha256; it is what the edge stores, replicates and lists in
//! `Alert::evidence`. The **original** is a JPEG sealed with XChaCha20-Poly1305
//! ([`SealKey`], [`open_sealed`]): kept encrypted at rest, opened only by the dashboard's
//! privacy workflow (a reason, a second approver, an audit entry).
//!
//! A short clip around the alert ([`build_clip`]) follows the same rule, frame by frame,
//! as MJPEG. This module only makes bytes and hashes; the edge's evidence store keeps them.

mod clip;
mod frame;
mod seal;
mod snapshot;
#[cfg(test)]
mod tests;

pub use clip::{Clip, ClipFrame, MAX_CLIP_FRAMES, build_clip};
pub use frame::sample_to_bgr;
pub use seal::{HEADER_LEN, SealError, SealKey, Sealed, is_sealed, open_sealed};
pub use snapshot::{Evidence, MAX_SIDE, Snapshot, SnapshotObject, encode_jpeg};
