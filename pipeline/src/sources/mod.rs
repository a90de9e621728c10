//! Sources: where items enter the pipeline. Each reports its state as [`SourceEvent`]s.

#[cfg(feature = "video")]
pub mod camera;
mod redact;

pub use redact::{redact_uri_in, redacted_uri};

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The life of a source, as operators and health see it.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    /// Building the pipeline / connecting.
    Starting,
    /// Frames are flowing.
    Playing,
    /// Lost; the next attempt is `retry_in_secs` away.
    Reconnecting { attempt: u32, retry_in_secs: f64, error: String },
    /// Gave up: the input can never play (missing file, not a video). No retry.
    Failed { error: String },
    /// A file reached its end and does not loop.
    Ended,
    /// Removed from the pipeline.
    Stopped,
}

/// A state change of one source, with the node time it happened.
#[derive(Debug, Clone)]
pub struct SourceEvent {
    pub source_id: Arc<str>,
    pub at: DateTime<Utc>,
    pub state: SourceState,
}
