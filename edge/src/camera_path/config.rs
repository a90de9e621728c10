//! What the camera path is built from: the sections of a pipeline config it reads.

use operators::detect::DetectorConfig;
use operators::motion::MotionConfig;
use operators::plates::PlatesConfig;
use operators::rules::{RulesConfig, SceneConfig};
use operators::snapshot::SnapshotConfig;
use operators::track::TrackerConfig;
use pipeline::sources::camera::CameraConfig;
use std::collections::HashMap;
use std::path::PathBuf;

/// The camera path's sections (`qorovul`'s `PipelineConfig::camera_path` gathers them).
#[derive(Debug, Clone)]
pub struct CameraPathConfig {
    /// The site: the second segment of every alert key.
    pub site: String,
    /// sha256 (hex) of the whole config as loaded, recorded with every camera alert.
    pub config_sha256: String,
    /// `[detector]`
    pub detector: DetectorConfig,
    /// `[motion]`: motion gating of the detector.
    pub motion: MotionConfig,
    /// `[tracker]`
    pub tracker: TrackerConfig,
    /// `[rules]`
    pub rules: RulesConfig,
    /// `[plates]`: plates of vehicle tracks and the watch list.
    pub plates: PlatesConfig,
    /// `[evidence]`: snapshots of alerts.
    pub snapshots: SnapshotConfig,
    /// The key originals are sealed with: `[evidence] key_file`, else in the edge's data
    /// folder.
    pub seal_key_file: PathBuf,
    /// `[scenes.<camera id>]`
    pub scenes: HashMap<String, SceneConfig>,
    /// `[[camera]]`: started with the path; more can be added while it runs.
    pub cameras: Vec<CameraConfig>,
}
