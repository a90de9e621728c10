//! `[redact]` in a pipeline config: which face model, how eagerly it reports faces, and how
//! much around each face and person head is blurred.

use crate::detect::manifest::Manifest;
use crate::detect::runtime::ProviderChoice;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the user writes; [`RedactConfig::validate`] checks it, naming the field.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// A face model from `models/manifest.toml` (task `face`).
    pub model: String,
    /// A model file to use instead of the cached one.
    pub model_path: Option<PathBuf>,
    /// Minimum heatmap score for a face, 0–1. Low on purpose: a missed face is worse than
    /// a blurred patch of wall (deface uses 0.2; at 0.15 a few more small faces are found).
    pub score_threshold: f32,
    /// IoU above which the lower-scored of two overlapping faces is dropped.
    pub nms_iou: f32,
    /// Frames whose longer side exceeds this are scaled down for face detection (cost
    /// grows with the pixel count); the blur is applied at full resolution.
    pub max_input_side: u32,
    /// Each face box is enlarged by this fraction of its width and height on every side
    /// (hair, ears, the chin the box cut off).
    pub face_margin: f32,
    /// The head region of a person box: its top `head_height` of the box height ...
    pub head_height: f32,
    /// ... `head_width` of the box width, centred ...
    pub head_width: f32,
    /// ... starting `head_above` of the box height above the box's top edge (detector
    /// boxes often cut the top of the head).
    pub head_above: f32,
    /// ONNX Runtime intra-op threads (the global pool all models share).
    pub threads: usize,
    /// `auto` (CUDA when present), `cpu` or `cuda`.
    pub provider: ProviderChoice,
}

impl Default for RedactConfig {
    fn default() -> Self {
        Self {
            model: "centerface".into(),
            model_path: None,
            score_threshold: 0.15,
            nms_iou: 0.3,
            max_input_side: 1920,
            face_margin: 0.25,
            head_height: 0.25,
            head_width: 0.8,
            head_above: 0.05,
            threads: 1,
            provider: ProviderChoice::Auto,
        }
    }
}

impl RedactConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self, manifest: &Manifest) -> Result<(), String> {
        manifest.entry_for(&self.model, "face").map_err(|e| format!("model: {e}"))?;
        self.validate_params()
    }

    /// Checks the numbers (everything but the model name); `Err` names the field.
    pub fn validate_params(&self) -> Result<(), String> {
        let unit = |name: &str, v: f32, lo: f32, hi: f32| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(format!("{name}: {v} is not within {lo}–{hi}"))
            }
        };
        unit("score_threshold", self.score_threshold, 0.01, 1.0)?;
        unit("nms_iou", self.nms_iou, 0.05, 1.0)?;
        unit("face_margin", self.face_margin, 0.0, 2.0)?;
        unit("head_height", self.head_height, 0.0, 1.0)?;
        unit("head_width", self.head_width, 0.0, 1.0)?;
        unit("head_above", self.head_above, 0.0, 1.0)?;
        if !(32..=8192).contains(&self.max_input_side) {
            return Err(format!("max_input_side: {} is not within 32–8192", self.max_input_side));
        }
        if self.threads == 0 {
            return Err("threads: must be at least 1".into());
        }
        Ok(())
    }
}
