//! Rule operators: turn tracks and source states into alert *episodes* (begin … end),
//! never one alert per frame.

#[cfg(test)]
mod expected;
pub mod geometry;
pub mod ground;
pub mod object_detected;
pub mod plate_episodes;
pub mod scene;
pub mod tamper;
#[cfg(test)]
mod tamper_tests;
pub mod video_loss;

use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertObject, AlertSource, ClockState, Correlation, Phase, Severity};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use ground::{GroundConfig, GroundMap, TiePoint};
pub use object_detected::{ObjectDetected, ObjectDetectedConfig};
pub use plate_episodes::PlateEpisodes;
pub use scene::{Scene, SceneConfig};
pub use video_loss::{VideoLoss, VideoLossConfig};

/// `[rules]` in a pipeline config.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// `[[rules.object_detected]]`: one alert episode per object of the chosen classes.
    pub object_detected: Vec<ObjectDetectedConfig>,
    /// `[rules.video_loss]`
    pub video_loss: VideoLossConfig,
    /// `[rules.tamper]`: covered, defocused or moved cameras.
    pub tamper: tamper::TamperConfig,
}

impl RulesConfig {
    /// Checks class names against the detector's labels; `Err` names the field.
    pub fn validate(&self, labels: &[&str]) -> Result<(), String> {
        for (i, r) in self.object_detected.iter().enumerate() {
            r.validate(labels).map_err(|e| format!("object_detected[{i}].{e}"))?;
        }
        self.tamper.validate().map_err(|e| format!("tamper.{e}"))?;
        Ok(())
    }
}

/// What every alert of one source shares: site, source, and the versions that decide.
#[derive(Debug, Clone)]
pub struct AlertContext {
    pub site: String,
    pub source: AlertSource,
    /// Model and config hashes (every decision is explainable and replayable); each alert
    /// adds the rule that raised it.
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

/// The parts of one alert message that vary.
pub struct AlertParts {
    pub episode: Uuid,
    pub kind: &'static str,
    /// The rule and its version, e.g. `object_detected/1`, recorded in `provenance`.
    pub rule: &'static str,
    pub phase: Phase,
    pub severity: Severity,
    pub confidence: f32,
    pub event_ts: DateTime<Utc>,
    pub ingest_ts: DateTime<Utc>,
    pub clock: ClockState,
    pub objects: Vec<AlertObject>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl AlertContext {
    /// A complete alert message.
    pub fn alert(&self, p: AlertParts) -> Alert {
        let mut provenance = self.provenance.clone();
        provenance.insert("rule".into(), p.rule.into());
        Alert {
            schema_version: alert::SCHEMA_VERSION.into(),
            id: alert::new_id(),
            episode: p.episode,
            event_ts: p.event_ts,
            ingest_ts: p.ingest_ts,
            clock: p.clock,
            site: self.site.clone(),
            source: self.source.clone(),
            kind: p.kind.into(),
            phase: p.phase,
            severity: p.severity,
            confidence: p.confidence.clamp(0.0, 1.0),
            objects: p.objects,
            evidence: vec![],
            attributes: p.attributes,
            correlation: Correlation { place: self.source.location, ..Default::default() },
            provenance,
        }
    }
}

/// Event time in seconds since the epoch back to a timestamp.
pub fn ts_from_secs(t: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((t * 1e6).round() as i64).unwrap_or_default()
}
