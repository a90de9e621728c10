//! `[evidence]` in a pipeline config: the snapshots alerts get.

use crate::detect::Manifest;
use crate::redact::RedactConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[evidence]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Take a snapshot for each alert episode's begin.
    pub snapshots: bool,
    /// JPEG quality of the stored (blurred) copy, 1–100.
    pub jpeg_quality: u8,
    /// The 32-byte key originals are sealed with; created (mode 0600) if missing.
    /// Default: `evidence.key` in the edge's data folder. The control room needs the same
    /// key to show an approved original.
    pub key_file: Option<PathBuf>,
    /// Snapshots waiting at most; beyond, alerts go on without one.
    pub max_pending: usize,
    /// Face blurring.
    pub redact: RedactConfig,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self { snapshots: true, jpeg_quality: 85, key_file: None, max_pending: 8, redact: RedactConfig::default() }
    }
}

impl SnapshotConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(format!("jpeg_quality: {} is not within 1–100", self.jpeg_quality));
        }
        if self.max_pending == 0 {
            return Err("max_pending: must be at least 1".into());
        }
        self.redact.validate(&Manifest::builtin()).map_err(|e| format!("redact.{e}"))
    }
}
