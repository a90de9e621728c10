//! One config file (TOML) for every role: site, bus, detector, tracker, rules, cameras,
//! and the edge, control-room and fusion sections.
//!
//! Loaded with errors that name the file, the line and the field: serde refuses unknown
//! fields (a typo is an error, not a silently ignored setting), and each component's
//! `validate` names what serde cannot check.

use dashboard::control_room::ControlRoomConfig;
use edge::node::EdgeConfig;
use operators::detect::{DetectorConfig, Manifest};
use operators::fusion::FusionConfig;
use operators::rules::RulesConfig;
use operators::track::TrackerConfig;
use pipeline::bus::BusConfig;
use pipeline::sources::camera::CameraConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// A whole pipeline.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Site id: the second segment of every zenoh key.
    pub site: String,
    /// This node's id (health, logs).
    #[serde(default = "default_node")]
    pub node: String,
    #[serde(default)]
    pub bus: BusConfig,
    #[serde(default)]
    pub detector: DetectorConfig,
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    /// Motion gating of the detector (static cameras).
    #[serde(default)]
    pub motion: operators::motion::MotionConfig,
    /// Plates of vehicle tracks and the watch list.
    #[serde(default)]
    pub plates: crate::plates_path::PlatesConfig,
    /// Snapshots of alerts: blurring, sealing of originals.
    #[serde(default)]
    pub evidence: crate::evidence_path::EvidenceConfig,
    /// `[scenes.<camera id>]`: zones, lines, ground mapping and scene rules per camera.
    #[serde(default)]
    pub scenes: std::collections::HashMap<String, operators::rules::scene::SceneConfig>,
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// What an edge node keeps and sends: outbox, heartbeat, test signal.
    #[serde(default)]
    pub edge: EdgeConfig,
    /// What a control room keeps: store, heartbeat, silence limit.
    #[serde(default)]
    pub control_room: ControlRoomConfig,
    /// How a control room correlates alerts into incidents.
    #[serde(default)]
    pub fusion: FusionConfig,
    /// The control room's dashboard: address, cookies, audit export.
    #[serde(default)]
    pub web: dashboard::web::WebConfig,
    /// The 102 desk: triage, place, patrol units.
    #[serde(default)]
    pub calls: crate::calls_path::CallsConfig,
    /// Sensor rules: radiation portals, alarm contacts, silence.
    #[serde(default)]
    pub sensors: operators::sensors::SensorsConfig,
    /// How call records, unit reports and telemetry arrive besides zenoh: HTTP, replays.
    #[serde(default)]
    pub feeds: crate::feeds::FeedsConfig,
    /// X-ray analysis: scanners' calibration, limits, cargo thresholds, render.
    #[serde(default)]
    pub xray: operators::xray::XrayConfig,
    /// The X-ray lane: drop folder, threat detector.
    #[serde(default)]
    pub xray_lane: crate::xray_path::XrayLaneConfig,
    /// Customs lanes: which devices stand at which lane, the selectivity policy, history.
    #[serde(default)]
    pub customs: crate::customs_path::CustomsConfig,
}

fn default_node() -> String {
    "node-1".into()
}

impl PipelineConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("config {}: cannot read: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let cfg: Self = toml::from_str(text).map_err(|e| format!("config {origin}: {e}"))?;
        cfg.validate().map_err(|e| format!("config {origin}: {e}"))?;
        Ok(cfg)
    }

    /// Checks everything serde cannot; the error starts with the field's path.
    pub fn validate(&self) -> Result<(), String> {
        let key_chunk = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !key_chunk(&self.site) {
            return Err(format!(
                "site: {:?} must be letters, digits, '_', '.', '-' (it is part of zenoh keys)",
                self.site
            ));
        }
        self.bus.validate().map_err(|e| format!("bus.{e}"))?;
        let manifest = Manifest::builtin();
        self.detector.validate(&manifest).map_err(|e| format!("detector.{e}"))?;
        let labels = manifest.get(&self.detector.model).map(|m| m.labels()).unwrap_or_default();
        self.rules.validate(labels).map_err(|e| format!("rules.{e}"))?;
        self.tracker.validate().map_err(|e| e.to_string())?;
        self.motion.validate().map_err(|e| format!("motion.{e}"))?;
        self.evidence.validate().map_err(|e| format!("evidence.{e}"))?;
        self.plates.validate(labels).map_err(|e| format!("plates.{e}"))?;
        for (id, scene) in &self.scenes {
            operators::rules::scene::Scene::new(scene, labels).map_err(|e| format!("scenes.{id}.{e}"))?;
        }
        if !key_chunk(&self.node) {
            return Err(format!(
                "node: {:?} must be letters, digits, '_', '.', '-' (it is part of zenoh keys)",
                self.node
            ));
        }
        self.edge.validate().map_err(|e| format!("edge.{e}"))?;
        self.control_room.validate().map_err(|e| format!("control_room.{e}"))?;
        self.fusion.validate().map_err(|e| format!("fusion.{e}"))?;
        self.web.validate().map_err(|e| format!("web.{e}"))?;
        crate::feeds::validate(&self.calls, &self.sensors)?;
        if self.xray_lane.enabled {
            operators::xray::Analysis::from_config(&self.xray, Path::new("."))?;
        }
        if self.customs.enabled {
            self.customs.load_policy().map_err(|e| format!("customs.{e}"))?;
        }
        let mut ids = HashSet::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            cam.validate().map_err(|e| format!("camera[{i}] (id {:?}): {e}", cam.id))?;
            if !ids.insert(&cam.id) {
                return Err(format!("camera[{i}]: id {:?} is used twice", cam.id));
            }
        }
        Ok(())
    }

    /// sha256 of the config as loaded (serialised), recorded with every decision.
    pub fn hash(&self) -> String {
        use sha2::Digest;
        let text = toml::to_string(self).unwrap_or_default();
        let digest = sha2::Sha256::digest(text.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
site = "test"
[[camera]]
id = "cam-1"
uri = "file:///tmp/x.avi"
"#;

    #[test]
    fn a_minimal_config_loads_with_defaults() {
        let cfg = PipelineConfig::parse(GOOD, "good.toml").unwrap();
        assert_eq!(cfg.cameras.len(), 1);
        assert_eq!(cfg.detector.model, "centernet");
    }

    #[test]
    fn the_built_in_demo_config_is_valid_for_every_role() {
        let cfg = PipelineConfig::parse(crate::commands::demo::DEMO_CONFIG, "configs/demo.toml").unwrap();
        assert!(!cfg.fusion.rules.is_empty() && cfg.edge.test_signal_secs.is_some());
    }

    #[test]
    fn a_bad_edge_or_control_room_value_names_its_section() {
        let err = PipelineConfig::parse(
            &format!(
                "{GOOD}
[edge]
heartbeat_secs = -1
"
            ),
            "e.toml",
        )
        .unwrap_err();
        assert!(err.contains("edge.heartbeat_secs"), "{err}");
        let err = PipelineConfig::parse(
            &format!(
                "{GOOD}
[control_room]
silent_after_secs = 0
"
            ),
            "c.toml",
        )
        .unwrap_err();
        assert!(err.contains("control_room.silent_after_secs"), "{err}");
        let err = PipelineConfig::parse(
            &format!(
                "{GOOD}
[fusion]
close_after_secs = 0
"
            ),
            "f.toml",
        )
        .unwrap_err();
        assert!(err.contains("fusion.close_after_secs"), "{err}");
    }

    #[test]
    fn a_typo_names_file_line_and_field() {
        let bad = GOOD.replace("uri =", "ur1 =");
        let err = PipelineConfig::parse(&bad, "typo.toml").unwrap_err();
        assert!(err.contains("typo.toml"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("ur1"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_field_path() {
        let bad = format!("{GOOD}\n[[camera]]\nid = \"cam-1\"\nuri = \"rtsp://x\"\n");
        let err = PipelineConfig::parse(&bad, "dup.toml").unwrap_err();
        assert!(err.contains("camera[1]") && err.contains("used twice"), "{err}");
        let bad = GOOD.replace("site = \"test\"", "site = \"a/b\"");
        assert!(PipelineConfig::parse(&bad, "s.toml").unwrap_err().contains("site"));
        let bad = format!("{GOOD}\n[detector]\nmodel = \"nope\"\n");
        let err = PipelineConfig::parse(&bad, "m.toml").unwrap_err();
        assert!(err.contains("detector.model") && err.contains("centernet"), "{err}");
    }
}
