//! Camera source: any GStreamer URI (file, `rtsp://` over TCP, HTTP MJPEG, `v4l2://`),
//! decoded once, scaled and converted to the detector's input inside GStreamer, with the
//! full-resolution picture kept for evidence.
//!
//! One supervisor thread per camera owns its GStreamer pipeline: it pulls frames into the
//! stream's [`Slot`](crate::slot::Slot), watches the bus, reconnects live sources with
//! exponential backoff, loops files, and reports every state change.

mod config;
mod gst_pipeline;
mod supervisor;

pub use config::{CameraConfig, ReconnectConfig, ViewConfig};
pub use supervisor::{CameraHandle, spawn_camera};

/// Whether the URI is a live source (reconnects) or a file (fails for good); a plain
/// path is a file.
pub fn is_live_uri(uri: &str) -> bool {
    uri.contains("://") && !uri.starts_with("file:")
}
