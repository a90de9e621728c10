//! Privacy redaction (docs/ARCHITECTURE.md, "Principles"): faces — and, because small faces are
//! missed, the head region of every person box — are blurred in every copy of an image
//! that is stored or forwarded.
//!
//! The one idea: the face detector is tuned for recall, and the head rule covers what it
//! still misses; a blurred patch of wall costs nothing, a recognisable face does.
//! [`Redactor::redact`] works in place on a BGR `Mat`; the evidence snapshot
//! (`crate::snapshot`) calls it on its copy before drawing annotations.

mod config;
mod faces;
mod redactor;
#[cfg(test)]
pub(crate) mod tests;

pub use config::RedactConfig;
pub(crate) use faces::check_image;
pub use faces::{Face, FaceDetector, iou};
pub use redactor::{RedactReport, Redactor, blur_rect, head_region};
