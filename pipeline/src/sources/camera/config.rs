//! What a user writes for one camera.

use crate::alert::GeoPoint;
use crate::slot::FullPolicy;
use serde::{Deserialize, Serialize};

/// One camera: `[[camera]]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique within the site; used in zenoh keys, so `[A-Za-z0-9_.-]`.
    pub id: String,
    /// Human name shown to operators; defaults to `id`.
    #[serde(default)]
    pub name: String,
    /// A GStreamer URI (`file:///…`, `rtsp://…`, `http://…` MJPEG, `v4l2:///dev/video0`)
    /// or a plain file path.
    pub uri: String,
    /// Files: start again at the end.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Files: play at the file's frame rate, as a camera would. `false` analyses as fast
    /// as the detector keeps up (offline analysis). Live sources are always real time.
    #[serde(default = "yes")]
    pub realtime: bool,
    /// Where the camera is mounted.
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Frames queued for the detector; beyond this, see `on_full`.
    #[serde(default = "default_slot_capacity")]
    pub slot_capacity: usize,
    /// When the queue is full: `drop_oldest` (default for real-time video) or `block`
    /// (default for offline files: lose nothing).
    #[serde(default)]
    pub on_full: Option<FullPolicy>,
    /// No frame for this long (seconds) means the source is lost.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: f64,
    /// RTSP jitter-buffer latency in milliseconds.
    #[serde(default = "default_rtsp_latency_ms")]
    pub rtsp_latency_ms: u32,
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// The camera looks at one fixed view (not a PTZ or vehicle camera): motion gating
    /// and the "camera moved" tamper check apply to it.
    #[serde(default = "yes")]
    pub static_view: bool,
    /// What the camera sees on the ground, for placing 102 calls: with `location`, the
    /// camera verifies calls near its view.
    #[serde(default)]
    pub view: Option<ViewConfig>,
}

/// `view = { heading_deg, fov_deg, range_m }` of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// Compass bearing of the optical axis, degrees clockwise from north.
    pub heading_deg: f64,
    /// Horizontal field of view, degrees (360 for a dome).
    pub fov_deg: f64,
    /// How far it usefully sees, metres.
    pub range_m: f64,
}

/// Exponential backoff between reconnect attempts of a live source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectConfig {
    /// First wait, seconds.
    pub initial_secs: f64,
    /// Longest wait, seconds.
    pub max_secs: f64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self { initial_secs: 0.5, max_secs: 30.0 }
    }
}

impl ReconnectConfig {
    /// Wait before attempt `attempt` (1-based): initial · 2^(attempt-1), capped.
    pub fn backoff_secs(&self, attempt: u32) -> f64 {
        (self.initial_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(self.max_secs)
    }
}

fn yes() -> bool {
    true
}
fn default_slot_capacity() -> usize {
    2
}
fn default_stall_secs() -> f64 {
    5.0
}
fn default_rtsp_latency_ms() -> u32 {
    200
}

impl CameraConfig {
    /// A camera with defaults for everything but id and URI.
    pub fn new(id: &str, uri: &str) -> Self {
        Self {
            id: id.into(),
            name: String::new(),
            uri: uri.into(),
            looping: false,
            realtime: true,
            location: None,
            slot_capacity: default_slot_capacity(),
            on_full: None,
            stall_secs: default_stall_secs(),
            rtsp_latency_ms: default_rtsp_latency_ms(),
            reconnect: ReconnectConfig::default(),
            static_view: true,
            view: None,
        }
    }

    /// The URI with plain paths turned into absolute `file://` URIs.
    pub fn resolved_uri(&self) -> Result<String, String> {
        if self.uri.contains("://") {
            return Ok(self.uri.clone());
        }
        let shown = crate::sources::redacted_uri(&self.uri);
        let path = std::path::absolute(&self.uri).map_err(|e| format!("path {shown:?}: {e}"))?;
        gstreamer::glib::filename_to_uri(&path, None).map(|u| u.to_string()).map_err(|e| format!("path {shown:?}: {e}"))
    }

    /// The queue policy in force: explicit, else drop-oldest for anything real time.
    pub fn full_policy(&self) -> FullPolicy {
        self.on_full.unwrap_or(if self.realtime || super::is_live_uri(&self.uri) {
            FullPolicy::DropOldest
        } else {
            FullPolicy::Block
        })
    }

    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !crate::keys::is_segment(&self.id) {
            return Err(format!("id {:?}: use letters, digits, '_', '.', '-' (it is part of zenoh keys)", self.id));
        }
        if self.uri.trim().is_empty() {
            return Err("uri: empty".into());
        }
        if self.slot_capacity == 0 {
            return Err("slot_capacity: must be at least 1".into());
        }
        if self.stall_secs.is_nan() || self.stall_secs <= 0.0 {
            return Err(format!("stall_secs: {} must be > 0", self.stall_secs));
        }
        let r = &self.reconnect;
        if r.initial_secs.is_nan() || r.initial_secs <= 0.0 || r.max_secs.is_nan() || r.max_secs < r.initial_secs {
            return Err("reconnect: need 0 < initial_secs <= max_secs".into());
        }
        Ok(())
    }

    /// `name`, or `id` when no name was given.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() { &self.id } else { &self.name }
    }
}
