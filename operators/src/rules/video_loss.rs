//! `video_loss`: a live camera that stops delivering frames is an alert episode, not
//! only a log line: `begin` when the source is lost, `end` when frames flow again (or
//! the camera is removed).

use super::{AlertContext, AlertParts};
use pipeline::alert::{self, Alert, ClockState, Phase, Severity};
use pipeline::sources::{SourceEvent, SourceState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `[rules.video_loss]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoLossConfig {
    pub severity: Severity,
}

impl Default for VideoLossConfig {
    fn default() -> Self {
        Self { severity: Severity::Medium }
    }
}

/// The rule's state for one camera.
#[derive(Default)]
pub struct VideoLoss {
    cfg: VideoLossConfig,
    open: Option<Uuid>,
}

impl VideoLoss {
    pub fn new(cfg: VideoLossConfig) -> Self {
        Self { cfg, open: None }
    }

    /// Reads one state change of the camera; returns the alert it causes, if any.
    pub fn update(&mut self, ctx: &AlertContext, ev: &SourceEvent, clock: ClockState) -> Option<Alert> {
        let (phase, episode, attributes) = match (&ev.state, self.open) {
            (SourceState::Reconnecting { error, attempt, .. }, None) => {
                let id = alert::new_id();
                self.open = Some(id);
                let mut a = serde_json::Map::new();
                a.insert("reason".into(), error.clone().into());
                a.insert("attempt".into(), (*attempt).into());
                (Phase::Begin, id, a)
            }
            (SourceState::Playing, Some(id)) => {
                self.open = None;
                (Phase::End, id, serde_json::Map::new())
            }
            (SourceState::Stopped, Some(id)) => {
                self.open = None;
                let mut a = serde_json::Map::new();
                a.insert("reason".into(), "camera removed".into());
                (Phase::End, id, a)
            }
            _ => return None,
        };
        Some(ctx.alert(AlertParts {
            episode,
            kind: "video_loss",
            rule: "video_loss/1",
            phase,
            severity: self.cfg.severity,
            confidence: 1.0,
            event_ts: ev.at,
            ingest_ts: ev.at,
            clock,
            objects: vec![],
            attributes,
        }))
    }
}
