//! `object_detected`: an object of a chosen class, confidently tracked for a minimum
//! time, is one episode: `begin` when it qualifies, `end` when its track ends.
//!
//! Qualifying on the track's *median* score over its history, and on duration in
//! seconds of event time, keeps one flickering false positive from raising alerts and
//! makes the rule indifferent to frame rate.

use super::{AlertContext, AlertParts};
use crate::detect::BBox;
use crate::track::Track;
use pipeline::alert::{self, Alert, AlertObject, ClockState, Phase, Severity};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// `[[rules.object_detected]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDetectedConfig {
    /// Class labels, e.g. `["person"]`.
    pub classes: Vec<String>,
    /// Minimum median detection score over the track's history.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Seconds (event time) a track must exist before it raises the alert.
    #[serde(default = "default_min_duration")]
    pub min_duration_secs: f64,
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

fn default_min_score() -> f32 {
    0.4
}
fn default_min_duration() -> f64 {
    1.0
}
fn default_severity() -> Severity {
    Severity::Low
}

impl ObjectDetectedConfig {
    pub fn validate(&self, labels: &[&str]) -> Result<(), String> {
        if self.classes.is_empty() {
            return Err("classes: empty".into());
        }
        for c in &self.classes {
            if !labels.contains(&c.as_str()) {
                return Err(format!("classes: {c:?} is not a label of the detector's model"));
            }
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(format!("min_score: {} is not within 0–1", self.min_score));
        }
        if self.min_duration_secs.is_nan() || self.min_duration_secs < 0.0 {
            return Err(format!("min_duration_secs: {} must be >= 0", self.min_duration_secs));
        }
        Ok(())
    }
}

/// This rule's id and version in alert provenance.
const RULE: &str = "object_detected/1";

struct Episode {
    id: Uuid,
    class: u32,
    score: f32,
}

/// The rule's state for one camera.
pub struct ObjectDetected {
    cfg: ObjectDetectedConfig,
    class_ids: Vec<u32>,
    labels: &'static [&'static str],
    open: HashMap<u64, Episode>,
}

/// One frame's facts the rule reads besides the tracks.
pub struct FrameFacts {
    pub t_secs: f64,
    pub event_ts: chrono::DateTime<chrono::Utc>,
    pub ingest_ts: chrono::DateTime<chrono::Utc>,
    pub clock: ClockState,
    pub frame_w: f32,
    pub frame_h: f32,
}

impl ObjectDetected {
    /// `labels` are the detector's class names (index = class id).
    pub fn new(cfg: ObjectDetectedConfig, labels: &'static [&'static str]) -> Self {
        let class_ids =
            cfg.classes.iter().filter_map(|c| labels.iter().position(|l| l == c).map(|i| i as u32)).collect();
        Self { cfg, class_ids, labels, open: HashMap::new() }
    }

    /// Reads one frame's confirmed tracks and the ids of tracks that ended, and appends
    /// the begin/end alerts they cause to `out`.
    pub fn update(
        &mut self,
        ctx: &AlertContext,
        f: &FrameFacts,
        tracks: &[Track],
        ended: &[u64],
        out: &mut Vec<Alert>,
    ) {
        for t in tracks {
            if self.open.contains_key(&t.id) || !self.class_ids.contains(&t.class_id) {
                continue;
            }
            let median = t.median_score();
            if median < self.cfg.min_score || f.t_secs - t.first_seen < self.cfg.min_duration_secs {
                continue;
            }
            let episode = Episode { id: alert::new_id(), class: t.class_id, score: median };
            let object = self.object(t.id, t.class_id, median, Some(&t.bbox), f);
            let mut attributes = serde_json::Map::new();
            attributes.insert("track_first_seen".into(), super::ts_from_secs(t.first_seen).to_rfc3339().into());
            out.push(ctx.alert(AlertParts {
                episode: episode.id,
                kind: "object_detected",
                rule: RULE,
                phase: Phase::Begin,
                severity: self.cfg.severity,
                confidence: median,
                event_ts: f.event_ts,
                ingest_ts: f.ingest_ts,
                clock: f.clock,
                objects: vec![object],
                attributes,
            }));
            self.open.insert(t.id, episode);
        }
        for id in ended {
            if let Some(ep) = self.open.remove(id) {
                let object = self.object(*id, ep.class, ep.score, None, f);
                out.push(ctx.alert(AlertParts {
                    episode: ep.id,
                    kind: "object_detected",
                    rule: RULE,
                    phase: Phase::End,
                    severity: self.cfg.severity,
                    confidence: ep.score,
                    event_ts: f.event_ts,
                    ingest_ts: f.ingest_ts,
                    clock: f.clock,
                    objects: vec![object],
                    attributes: Default::default(),
                }));
            }
        }
    }

    fn object(&self, track: u64, class: u32, score: f32, bbox: Option<&BBox>, f: &FrameFacts) -> AlertObject {
        let norm = |v: f32, size: f32| (v / size.max(1.0)).clamp(0.0, 1.0);
        AlertObject {
            class: self.labels.get(class as usize).copied().unwrap_or("unknown").to_string(),
            track_id: Some(track),
            score: score.clamp(0.0, 1.0),
            bbox: bbox
                .map(|b| [norm(b.x1, f.frame_w), norm(b.y1, f.frame_h), norm(b.x2, f.frame_w), norm(b.y2, f.frame_h)]),
            ground: None,
            speed_mps: None,
        }
    }
}
