//! One config file (TOML) for every role: site, bus, the control room's sections
//! (`[control_room]`, `[fusion]`, `[web]`) and an edge node's (detector, tracker, rules,
//! cameras, `[edge]`, feeds, desks, X-ray). Each section is its component's own config
//! type; this file only gathers them, checks them together, and hands each component the
//! sections it is built from ([`PipelineConfig::camera_path`], [`PipelineConfig::feed_thread`]).
//!
//! Loaded with errors that name the file, the line and the field: serde refuses unknown
//! fields (a typo is an error, not a silently ignored setting), and each component's
//! `validate` names what serde cannot check. A build without the `node` feature (a control
//! room on its own) names an edge node's sections rather than reading them.

use pipeline::{bus::BusConfig, sources::redact_uri_in};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[cfg(feature = "control-room")]
use control_room::{ControlRoomConfig, fusion::FusionConfig, web::WebConfig};
#[cfg(feature = "node")]
use edge::{camera_path::CameraPathConfig, feeds::FeedThreadConfig, node::EdgeConfig, xray_lane::XrayLaneConfig};
#[cfg(feature = "node")]
use operators::{
    calls::CallsConfig, customs::CustomsConfig, detect::DetectorConfig, motion::MotionConfig, plates::PlatesConfig,
    rules::RulesConfig, rules::scene::SceneConfig, sensors::SensorsConfig, snapshot::SnapshotConfig,
    track::TrackerConfig, xray::XrayConfig,
};
#[cfg(feature = "node")]
use pipeline::sources::camera::CameraConfig;

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
    /// What a control room keeps: store, heartbeat, silence limit.
    #[cfg(feature = "control-room")]
    #[serde(default)]
    pub control_room: ControlRoomConfig,
    /// How a control room correlates alerts into incidents.
    #[cfg(feature = "control-room")]
    #[serde(default)]
    pub fusion: FusionConfig,
    /// The control room's dashboard: address, cookies, audit export.
    #[cfg(feature = "control-room")]
    #[serde(default)]
    pub web: WebConfig,
    #[cfg(feature = "node")]
    #[serde(default)]
    pub detector: DetectorConfig,
    #[cfg(feature = "node")]
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[cfg(feature = "node")]
    #[serde(default)]
    pub rules: RulesConfig,
    /// Motion gating of the detector (static cameras).
    #[cfg(feature = "node")]
    #[serde(default)]
    pub motion: MotionConfig,
    /// Plates of vehicle tracks and the watch list.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub plates: PlatesConfig,
    /// Snapshots of alerts: blurring, sealing of originals.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub evidence: SnapshotConfig,
    /// `[scenes.<camera id>]`: zones, lines, ground mapping and scene rules per camera.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub scenes: std::collections::HashMap<String, SceneConfig>,
    #[cfg(feature = "node")]
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// What an edge node keeps and sends: outbox, heartbeat, test signal.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub edge: EdgeConfig,
    /// The 102 desk: triage, place, patrol units.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub calls: CallsConfig,
    /// Sensor rules: radiation portals, alarm contacts, silence.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub sensors: SensorsConfig,
    /// How call records, unit reports and telemetry arrive besides zenoh: HTTP, replays.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub feeds: edge::feeds::FeedsConfig,
    /// X-ray analysis: scanners' calibration, limits, cargo thresholds, render.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub xray: XrayConfig,
    /// The X-ray lane: drop folder, threat detector.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub xray_lane: XrayLaneConfig,
    /// Customs lanes: which devices stand at which lane, the selectivity policy, history.
    #[cfg(feature = "node")]
    #[serde(default)]
    pub customs: CustomsConfig,
}

/// The sections only an edge node reads.
#[cfg_attr(feature = "node", allow(dead_code))]
const NODE_SECTIONS: [&str; 15] = [
    "detector",
    "tracker",
    "rules",
    "motion",
    "plates",
    "evidence",
    "scenes",
    "camera",
    "edge",
    "calls",
    "sensors",
    "feeds",
    "xray",
    "xray_lane",
    "customs",
];

/// The sections only a control room reads.
#[cfg_attr(feature = "control-room", allow(dead_code))]
const CONTROL_ROOM_SECTIONS: [&str; 3] = ["control_room", "fusion", "web"];

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
        Self::refuse_sections_of_another_build(text).map_err(|e| format!("config {origin}: {e}"))?;
        let cfg: Self = toml::from_str(text).map_err(|e| redact_uri_in(&format!("config {origin}: {e}"), ""))?;
        cfg.validate().map_err(|e| format!("config {origin}: {e}"))?;
        Ok(cfg)
    }

    /// In a build without a role, a section of that role is named as such (not as a typo).
    fn refuse_sections_of_another_build(text: &str) -> Result<(), String> {
        let mut absent: Vec<(&str, &str)> = vec![];
        if !cfg!(feature = "node") {
            absent.extend(NODE_SECTIONS.iter().map(|s| (*s, "node")));
        }
        if !cfg!(feature = "control-room") {
            absent.extend(CONTROL_ROOM_SECTIONS.iter().map(|s| (*s, "control-room")));
        }
        if absent.is_empty() {
            return Ok(());
        }
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        match absent.iter().find(|(s, _)| table.contains_key(*s)) {
            Some((section, feature)) => Err(format!(
                "[{section}] is read by a qorovul built with the `{feature}` feature; this one was built without it"
            )),
            None => Ok(()),
        }
    }

    /// Checks everything serde cannot; the error starts with the field's path.
    pub fn validate(&self) -> Result<(), String> {
        use pipeline::keys::is_segment;
        if !is_segment(&self.site) {
            return Err(format!(
                "site: {:?} must be letters, digits, '_', '.', '-' (it is part of zenoh keys)",
                self.site
            ));
        }
        self.bus.validate().map_err(|e| format!("bus.{e}"))?;
        #[cfg(feature = "node")]
        self.validate_node()?;
        if !is_segment(&self.node) {
            return Err(format!(
                "node: {:?} must be letters, digits, '_', '.', '-' (it is part of zenoh keys)",
                self.node
            ));
        }
        #[cfg(feature = "node")]
        self.edge.validate().map_err(|e| format!("edge.{e}"))?;
        #[cfg(feature = "control-room")]
        {
            self.control_room.validate().map_err(|e| format!("control_room.{e}"))?;
            self.fusion.validate().map_err(|e| format!("fusion.{e}"))?;
            self.web.validate().map_err(|e| format!("web.{e}"))?;
        }
        #[cfg(feature = "node")]
        self.validate_inputs()?;
        Ok(())
    }

    /// The camera path's sections.
    #[cfg(feature = "node")]
    fn validate_node(&self) -> Result<(), String> {
        let manifest = operators::detect::Manifest::builtin();
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
        Ok(())
    }

    /// The feeds, the desks, the X-ray lane and the cameras.
    #[cfg(feature = "node")]
    fn validate_inputs(&self) -> Result<(), String> {
        edge::feeds::validate(&self.feeds, &self.calls, &self.sensors)?;
        if self.xray_lane.enabled {
            operators::xray::Analysis::from_config(&self.xray, Path::new("."))?;
        }
        if self.customs.enabled {
            self.customs.load_policy().map_err(|e| format!("customs.{e}"))?;
        }
        let mut ids = std::collections::HashSet::new();
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
        pipeline::hash::sha256_hex(toml::to_string(self).unwrap_or_default())
    }

    /// What `check-config` says of a config that loads.
    pub fn summary(&self) -> String {
        #[cfg(feature = "node")]
        return format!("site {:?}, {} camera(s), model {:?}", self.site, self.cameras.len(), self.detector.model);
        #[cfg(not(feature = "node"))]
        format!("site {:?}, node {:?}", self.site, self.node)
    }

    /// The camera path's sections.
    #[cfg(feature = "node")]
    pub fn camera_path(&self) -> CameraPathConfig {
        CameraPathConfig {
            site: self.site.clone(),
            config_sha256: self.hash(),
            detector: self.detector.clone(),
            motion: self.motion.clone(),
            tracker: self.tracker.clone(),
            rules: self.rules.clone(),
            plates: self.plates.clone(),
            snapshots: self.evidence.clone(),
            seal_key_file: self.seal_key_file(),
            scenes: self.scenes.clone(),
            cameras: self.cameras.clone(),
        }
    }

    /// The feed thread's sections.
    #[cfg(feature = "node")]
    pub fn feed_thread(&self) -> FeedThreadConfig {
        FeedThreadConfig {
            site: self.site.clone(),
            feeds: self.feeds.clone(),
            calls: self.calls.clone(),
            sensors: self.sensors.clone(),
            customs: self.customs.clone(),
            camera_views: operators::calls::place::camera_views(&self.cameras),
        }
    }

    /// The key originals are sealed with: `[evidence] key_file`, else `evidence.key` in the
    /// edge's data folder.
    #[cfg(feature = "node")]
    pub fn seal_key_file(&self) -> std::path::PathBuf {
        self.evidence.key_file.clone().unwrap_or_else(|| self.edge.data_dir.join("evidence.key"))
    }
}

#[cfg(all(test, feature = "node", feature = "control-room"))]
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
        let cfg = PipelineConfig::parse(crate::demo::DEMO_CONFIG, "configs/demo.toml").unwrap();
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

    #[test]
    fn every_top_level_section_belongs_to_one_role() {
        // The lists a one-role build names sections by are the struct's own fields.
        let text = toml::to_string(&PipelineConfig::parse(GOOD, "good.toml").unwrap()).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        for key in table.keys().filter(|k| !["site", "node", "bus"].contains(&k.as_str())) {
            assert!(
                NODE_SECTIONS.contains(&key.as_str()) ^ CONTROL_ROOM_SECTIONS.contains(&key.as_str()),
                "[{key}] is in neither list, or in both"
            );
        }
    }
}
