//! Sensor silence: a sensor that sends nothing for `silent_after_secs` of event time raises
//! a `sensor_silent` health episode (docs/ARCHITECTURE.md, "Principles": a silent source is an alert, not only a
//! metric); its next reading ends it. [`Silence::observe`] records readings,
//! [`Silence::tick`] moves event time on; nothing here reads a wall clock.
//!
//! Registered sensors are watched from the first tick, so one that never speaks is found
//! too; an unregistered sensor is watched from its first reading.

use crate::rules::{AlertContext, AlertParts, ts_from_secs};
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertSource, ClockState, GeoPoint, Phase, Severity, SourceKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// `[sensors.silence]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SilenceConfig {
    pub enabled: bool,
    /// Default silence limit; a registered sensor may set its own.
    pub silent_after_secs: f64,
    pub severity: Severity,
    /// Watch sensors that are not in `[[sensors.sensor]]` too, from their first reading.
    pub watch_unregistered: bool,
}

impl Default for SilenceConfig {
    fn default() -> Self {
        SilenceConfig { enabled: true, silent_after_secs: 60.0, severity: Severity::Medium, watch_unregistered: true }
    }
}

struct Watch {
    source: AlertSource,
    limit: f64,
    /// Last reading's event time; before any, when watching began (`None`: not yet).
    last: Option<f64>,
    heard: bool,
    open: Option<(Uuid, f64)>,
}

/// The silence rule over all sensors of a node.
pub struct Silence {
    cfg: SilenceConfig,
    site: String,
    provenance: Map<String, Value>,
    sensors: BTreeMap<String, Watch>,
    clock: ClockState,
}

impl Silence {
    pub fn new(cfg: &SilenceConfig, site: &str, provenance: Map<String, Value>) -> Result<Silence, String> {
        if !(cfg.silent_after_secs.is_finite() && cfg.silent_after_secs > 0.0) {
            return Err(format!("silent_after_secs: {} must be a positive number of seconds", cfg.silent_after_secs));
        }
        Ok(Silence {
            cfg: cfg.clone(),
            site: site.into(),
            provenance,
            sensors: BTreeMap::new(),
            clock: ClockState::Unsynced,
        })
    }

    /// Watches a registered sensor, with its own limit or the default.
    pub fn watch(&mut self, id: &str, name: &str, location: Option<GeoPoint>, silent_after_secs: Option<f64>) {
        let source = AlertSource { kind: SourceKind::Sensor, id: id.into(), name: name.into(), location };
        let limit = silent_after_secs.unwrap_or(self.cfg.silent_after_secs);
        self.sensors.insert(id.into(), Watch { source, limit, last: None, heard: false, open: None });
    }

    /// A reading of `sensor` at event time `ts`; ends its silence if one is open.
    pub fn observe(&mut self, sensor: &str, ts: DateTime<Utc>, clock: ClockState, out: &mut Vec<Alert>) {
        if !self.cfg.enabled {
            return;
        }
        self.clock = clock;
        let t = ts.timestamp_micros() as f64 * 1e-6;
        if !self.sensors.contains_key(sensor) {
            if !self.cfg.watch_unregistered {
                return;
            }
            self.watch(sensor, sensor, None, None);
        }
        let w = self.sensors.get_mut(sensor).expect("watched above");
        w.heard = true;
        if w.last.is_none_or(|last| t > last) {
            w.last = Some(t);
        }
        if let Some((episode, began)) = w.open.take() {
            let mut a = Map::new();
            a.insert("silent_secs".into(), json!(((t - began).max(0.0) * 1000.0).round() / 1000.0 + w.limit));
            let end = ts_from_secs(t.max(began));
            let msg = self.alert(sensor, episode, Phase::End, end, ts, a);
            out.push(msg);
        }
    }

    /// Event time is now `now`: begins an episode for each sensor silent for its limit.
    /// The episode's event time is when the silence reached the limit, not `now`.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        if !self.cfg.enabled {
            return;
        }
        let t = now.timestamp_micros() as f64 * 1e-6;
        let mut begun = vec![];
        for (id, w) in &mut self.sensors {
            let last = *w.last.get_or_insert(t);
            if w.open.is_none() && t - last >= w.limit - 1e-6 {
                let began = last + w.limit;
                let episode = alert::new_id();
                w.open = Some((episode, began));
                let mut a = Map::new();
                a.insert("silent_after_secs".into(), json!(w.limit));
                a.insert(
                    "last_reading".into(),
                    if w.heard { ts_from_secs(last).to_rfc3339().into() } else { Value::Null },
                );
                begun.push((id.clone(), episode, began, a));
            }
        }
        for (id, episode, began, a) in begun {
            let msg = self.alert(&id, episode, Phase::Begin, ts_from_secs(began), now, a);
            out.push(msg);
        }
    }

    /// Whether `sensor` is silent now (an episode is open).
    pub fn is_silent(&self, sensor: &str) -> bool {
        self.sensors.get(sensor).is_some_and(|w| w.open.is_some())
    }

    fn alert(
        &self,
        sensor: &str,
        episode: Uuid,
        phase: Phase,
        event_ts: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        attributes: Map<String, Value>,
    ) -> Alert {
        let source = self.sensors[sensor].source.clone();
        let ctx = AlertContext { site: self.site.clone(), source, provenance: self.provenance.clone() };
        ctx.alert(AlertParts {
            episode,
            kind: "sensor_silent",
            rule: "sensor_silent/1",
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
