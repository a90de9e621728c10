//! Alarm contacts (doors, gates, hatches): a contact opened while *armed* raises an
//! `alarm_contact` episode; closing it ends the episode. The contact is armed outside its
//! `allowed` windows (local time, as scene rule schedules), so a door opened during working
//! hours raises nothing. A contact opened in allowed hours and still open when they end is
//! alarmed too, at the first reading or [`AlarmContact::tick`] in armed time: an open door
//! left behind is what the alarm is for.

use super::telemetry::Telemetry;
use crate::rules::scene::config::{Schedule, Window};
use crate::rules::{AlertContext, AlertParts, ts_from_secs};
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertSource, ClockState, GeoPoint, Phase, Severity, SourceKind};
use pipeline::keys::is_segment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// `[[sensors.alarm_contact]]`: one contact (kind `contact`, 1 = open, 0 = closed).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmContactConfig {
    /// The contact's sensor id: the alert source id.
    pub sensor: String,
    pub name: String,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// When opening is allowed, in local time (`[sensors].utc_offset_hours`); outside these
    /// windows the contact is armed. No windows: always armed.
    #[serde(default)]
    pub allowed: Vec<Window>,
    #[serde(default = "high")]
    pub severity: Severity,
}

fn high() -> Severity {
    Severity::High
}

/// The rule's state for one contact.
pub struct AlarmContact {
    cfg: AlarmContactConfig,
    ctx: AlertContext,
    allowed: Schedule,
    offset_secs: i64,
    /// The contact's last state and its event time.
    open: bool,
    opened_at: f64,
    last_t: Option<f64>,
    clock: ClockState,
    episode: Option<Uuid>,
}

impl AlarmContact {
    /// Checks the config and builds the rule; `offset_secs` is local time east of UTC.
    pub fn new(
        cfg: &AlarmContactConfig,
        offset_secs: i64,
        site: &str,
        provenance: Map<String, Value>,
    ) -> Result<AlarmContact, String> {
        if !is_segment(&cfg.sensor) {
            return Err(format!("sensor: {:?} is not an id (A-Z a-z 0-9 _ . -, not empty)", cfg.sensor));
        }
        let allowed = Schedule::new(&cfg.allowed).map_err(|e| e.replacen("schedule", "allowed", 1))?;
        let source = AlertSource {
            kind: SourceKind::Sensor,
            id: cfg.sensor.clone(),
            name: cfg.name.clone(),
            location: cfg.location,
        };
        Ok(AlarmContact {
            cfg: cfg.clone(),
            ctx: AlertContext { site: site.into(), source, provenance },
            allowed,
            offset_secs,
            open: false,
            opened_at: 0.0,
            last_t: None,
            clock: ClockState::Unsynced,
            episode: None,
        })
    }

    pub fn config(&self) -> &AlarmContactConfig {
        &self.cfg
    }

    /// Whether the contact is armed at event time `t` (seconds since the epoch).
    pub fn armed(&self, t: f64) -> bool {
        self.allowed.is_empty() || !self.allowed.armed(t, self.offset_secs)
    }

    /// Takes one validated reading of the contact (older than the last: ignored).
    pub fn observe(&mut self, r: &Telemetry, out: &mut Vec<Alert>) {
        let t = r.event_ts.timestamp_micros() as f64 * 1e-6;
        if self.last_t.is_some_and(|last| t < last) {
            return;
        }
        self.last_t = Some(t);
        self.clock = r.clock;
        let ingest = r.ingest_ts.unwrap_or(r.event_ts);
        match (r.is_on(), self.open) {
            (true, false) => {
                self.open = true;
                self.opened_at = t;
                self.begin_if_armed(t, r.event_ts, ingest, "opened while armed", out);
            }
            (true, true) => self.begin_if_armed(t, r.event_ts, ingest, "open when armed", out),
            (false, true) => {
                self.open = false;
                if let Some(episode) = self.episode.take() {
                    let mut a = Map::new();
                    a.insert("open_secs".into(), json!(((t - self.opened_at) * 1000.0).round() / 1000.0));
                    out.push(self.alert(episode, Phase::End, r.event_ts, ingest, a));
                }
            }
            (false, false) => {}
        }
    }

    /// Event time passes without a reading: a contact left open into armed time alarms.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        let t = now.timestamp_micros() as f64 * 1e-6;
        if self.open && self.last_t.is_some_and(|last| t >= last) {
            self.begin_if_armed(t, now, now, "open when armed", out);
        }
    }

    fn begin_if_armed(
        &mut self,
        t: f64,
        event_ts: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        reason: &str,
        out: &mut Vec<Alert>,
    ) {
        if self.episode.is_some() || !self.armed(t) {
            return;
        }
        let episode = alert::new_id();
        self.episode = Some(episode);
        let mut a = Map::new();
        a.insert("reason".into(), reason.into());
        a.insert("opened_at".into(), ts_from_secs(self.opened_at).to_rfc3339().into());
        out.push(self.alert(episode, Phase::Begin, event_ts, ingest_ts, a));
    }

    fn alert(
        &self,
        episode: Uuid,
        phase: Phase,
        event_ts: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        attributes: Map<String, Value>,
    ) -> Alert {
        self.ctx.alert(AlertParts {
            episode,
            kind: "alarm_contact",
            rule: "alarm_contact/1",
            phase,
            severity: self.cfg.severity,
            confidence: 1.0,
            event_ts,
            ingest_ts,
            clock: self.clock,
            objects: vec![],
            attributes,
        })
    }
}
