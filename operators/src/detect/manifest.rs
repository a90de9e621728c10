//! The model manifest (`models/manifest.toml`, compiled into the binary): for each model,
//! where it comes from, the sha256 of the file used, its tensors, and how to decode it.
//!
//! The binary never guesses a model's layout: the manifest says it, and
//! [`Detector::load`](super::Detector::load) checks the file against it.

use serde::Deserialize;
use std::path::PathBuf;

/// The manifest as shipped with this build.
pub const MANIFEST_TOML: &str = include_str!("../../../models/manifest.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    /// `detect` for object detectors.
    pub task: String,
    /// File name in the model cache.
    pub file: String,
    /// sha256 of that file, hex.
    pub sha256: String,
    pub licence: String,
    /// Model card, relative to `models/`.
    pub card: String,
    pub source: ModelSource,
    pub conversion: Conversion,
    /// Image input and detections output: detectors only (`task = "detect"`). Other
    /// models (faces, text) have loaders of their own that know their tensors.
    #[serde(default)]
    pub input: Option<InputSpec>,
    #[serde(default)]
    pub output: Option<OutputSpec>,
}

/// The registry package the model is obtained from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    /// `npm` or `pypi`; `trained` for a model trained in this repository (`package` and
    /// `version` then name the recipe, `paths` is empty, and the file is committed).
    pub registry: String,
    pub package: String,
    pub version: String,
    /// Paths inside the package.
    pub paths: Vec<String>,
    /// sha256 of each path as shipped, same order.
    #[serde(default)]
    pub sha256: Vec<String>,
}

/// How the package's files become the ONNX file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// Reproducer script, relative to `models/`.
    pub script: String,
    /// Heavy conversions are run once and their output committed here (relative to `models/`).
    /// Without it the script is light and runs at fetch time: it writes the model to the
    /// path in `$QV_MODEL_OUT`.
    #[serde(default)]
    pub committed: Option<String>,
}

/// Tensor layout of an image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

/// The image input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// `[batch, …]`; -1 marks a dynamic dimension.
    pub shape: Vec<i64>,
    pub layout: Layout,
    /// Pixels (0–255) are multiplied by this: 1.0 for CenterNet, 1/255 for YOLO.
    pub scale: f32,
}

/// Which decoder reads the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// `[B, K, 6]`: x1, y1, x2, y2, score, class in input pixels.
    Centernet,
    /// `[B, 4 + C, N]`: cx, cy, w, h, C class scores in input pixels; needs NMS.
    Yolo,
}

/// The detections output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub shape: Vec<i64>,
    pub decoder: DecoderKind,
    /// Default minimum score; a pipeline config may override it.
    pub score_threshold: f32,
    /// IoU above which NMS suppresses the lower-scored box (YOLO).
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// Label set: `coco80` or `xray_threats`.
    pub labels: String,
}

fn default_nms_iou() -> f32 {
    0.45
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Self {
        toml::from_str(MANIFEST_TOML).expect("models/manifest.toml is checked by its unit test")
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The entry `name`, or an error that lists the known names.
    pub fn entry(&self, name: &str) -> Result<&ModelEntry, String> {
        self.get(name).ok_or_else(|| format!("{name:?} is not in the manifest (known: {})", self.names().join(", ")))
    }

    /// The entry `name`, which must be a model for `task` (`face`, `text_det`, …).
    pub fn entry_for(&self, name: &str, task: &str) -> Result<&ModelEntry, String> {
        let entry = self.entry(name)?;
        if entry.task != task {
            return Err(format!("{name:?} is a {:?} model, not a {task} model", entry.task));
        }
        Ok(entry)
    }

    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }
}

impl ModelEntry {
    /// Where `models fetch` puts the verified file: `<cache>/models/<sha256[..12]>/<file>`,
    /// so a new version never overwrites a file a running node uses.
    pub fn cached_path(&self) -> PathBuf {
        cache_dir().join("models").join(&self.sha256[..12.min(self.sha256.len())]).join(&self.file)
    }

    /// Class names for the label set (detectors; empty for other models).
    pub fn labels(&self) -> &'static [&'static str] {
        match self.output.as_ref().map(|o| o.labels.as_str()) {
            Some("coco80") => &COCO80,
            Some("xray_threats") => &XRAY_THREATS,
            _ => &[],
        }
    }

    /// A detector's input and output specs; `Err` when the entry is not a detector.
    pub fn detector_tensors(&self) -> Result<(&InputSpec, &OutputSpec), String> {
        match (&self.task[..], &self.input, &self.output) {
            ("detect", Some(i), Some(o)) => Ok((i, o)),
            _ => Err(format!(
                "model {:?} is a {:?} model, not a detector with input and output tensors in the manifest",
                self.name, self.task
            )),
        }
    }
}

/// qorovul's cache folder: `$QOROVUL_CACHE`, else `$XDG_CACHE_HOME/qorovul`, else `~/.cache/qorovul`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QOROVUL_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("qorovul")
}

/// The X-ray threat detector's classes (`models/xray/CARD.md`), in its output order.
pub const XRAY_THREATS: [&str; 4] = ["knife", "gun", "ammunition", "dense_organic"];

/// COCO's 80 classes, in the order detectors trained on COCO number them.
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_is_complete() {
        let m: Manifest = toml::from_str(MANIFEST_TOML).unwrap();
        assert!(!m.models.is_empty());
        for e in &m.models {
            assert_eq!(e.sha256.len(), 64, "{}: sha256 must be 64 hex chars", e.name);
            assert_eq!(e.source.sha256.len(), e.source.paths.len(), "{}: one sha256 per source path", e.name);
            if e.task == "detect" {
                let (_, out) = e.detector_tensors().unwrap();
                assert!(!e.labels().is_empty(), "{}: unknown label set {}", e.name, out.labels);
            }
        }
    }
}
