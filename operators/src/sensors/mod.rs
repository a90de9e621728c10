//! Sensor telemetry: generic readings, the radiation portal monitor rule, alarm
//! contacts and sensor silence.
//!
//! The idea to understand first: a [`Telemetry`] reading is untrusted until validated, and
//! then routed by its sensor id to the rules that own that sensor. Everything runs on event
//! time: [`Sensors::observe`] takes readings, [`Sensors::tick`] moves time on for the rules
//! that fire on the *absence* of readings (silence, a contact left open). No wall clock.
//!
//! ```toml
//! [sensors]
//! utc_offset_hours = 5
//! [[sensors.sensor]]
//! id = "rpm1-gamma"
//! name = "Lane 1 RPM gamma"
//! kind = "gamma_cps"
//! silent_after_secs = 5
//! [[sensors.radiation_portal]]
//! id = "rpm1"
//! name = "Lane 1 RPM"
//! gamma_sensor = "rpm1-gamma"
//! neutron_sensor = "rpm1-neutron"
//! occupancy_sensor = "rpm1-occ"
//! [[sensors.alarm_contact]]
//! sensor = "store-door"
//! name = "Evidence store door"
//! allowed = [{ days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "18:00" }]
//! ```

pub mod contact;
pub mod radiation;
pub mod silence;
pub mod telemetry;
#[cfg(test)]
mod tests;

pub use contact::{AlarmContact, AlarmContactConfig};
pub use radiation::{Channel, ChannelReading, PortalReading, RadiationPortal, RadiationPortalConfig, ReadingResult};
pub use silence::{Silence, SilenceConfig};
pub use telemetry::{Telemetry, TelemetryError};

use crate::rules::scene::config::utc_offset;
use pipeline::alert::{Alert, GeoPoint};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// `[sensors]` in a pipeline config.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorsConfig {
    /// The post's local time as hours east of UTC (Tashkent: 5); contact schedules use it.
    pub utc_offset_hours: f64,
    /// A reading stamped further than this ahead of the node's clock is refused; one ahead
    /// by less is ordered at its receipt (see [`Sensors::observe`]).
    pub max_future_secs: f64,
    /// `[[sensors.sensor]]`: the registry of known sensors.
    pub sensor: Vec<SensorEntry>,
    /// `[[sensors.radiation_portal]]`
    pub radiation_portal: Vec<RadiationPortalConfig>,
    /// `[[sensors.alarm_contact]]`
    pub alarm_contact: Vec<AlarmContactConfig>,
    /// `[sensors.silence]`
    pub silence: SilenceConfig,
}

impl Default for SensorsConfig {
    fn default() -> Self {
        SensorsConfig {
            utc_offset_hours: 0.0,
            // A post's sensors keep NTP/PTP time, well within 100 ms of the node's; 1 s
            // leaves room for a drifting sensor clock. More is a broken or forged clock.
            // (5 s used to let one forged sample blind a portal for 5 s.)
            max_future_secs: 1.0,
            sensor: vec![],
            radiation_portal: vec![],
            alarm_contact: vec![],
            silence: SilenceConfig::default(),
        }
    }
}

impl SensorsConfig {
    /// Every sensor id the section names (registry, portals' sensors, contacts): what a
    /// gateway posting for all of this node's sensors may speak for.
    pub fn sensor_ids(&self) -> Vec<String> {
        let portals = self.radiation_portal.iter().flat_map(|p| {
            [Some(&p.gamma_sensor), Some(&p.occupancy_sensor), p.neutron_sensor.as_ref()].into_iter().flatten()
        });
        let ids = self.sensor.iter().map(|s| &s.id).chain(portals).chain(self.alarm_contact.iter().map(|c| &c.sensor));
        ids.cloned().collect()
    }
}

/// One known sensor: named alerts, an expected kind, and silence watched from the start.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SensorEntry {
    pub id: String,
    pub name: String,
    /// The `kind` its readings must have; others are refused.
    pub kind: String,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Its own silence limit, instead of `[sensors.silence].silent_after_secs`.
    #[serde(default)]
    pub silent_after_secs: Option<f64>,
}

/// What readings and ticks produce: alerts to publish, and vehicle passages for the lane
/// decision.
#[derive(Debug, Default)]
pub struct SensorsOutput {
    pub alerts: Vec<Alert>,
    pub readings: Vec<PortalReading>,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Portal(usize),
    Contact(usize),
}

/// All sensor rules of a node. Build with [`Sensors::new`]; feed every reading to
/// [`Sensors::observe`] and call [`Sensors::tick`] as event time moves on.
pub struct Sensors {
    max_future_secs: f64,
    portals: Vec<RadiationPortal>,
    contacts: Vec<AlarmContact>,
    silence: Silence,
    routes: HashMap<String, Vec<Route>>,
    /// The `kind` each routed or registered sensor must send.
    kinds: HashMap<String, String>,
    rejected: BTreeMap<&'static str, u64>,
    clamped: u64,
}

impl Sensors {
    /// Checks the whole `[sensors]` section and builds the rules; `Err` names the field,
    /// e.g. `radiation_portal[0] "rpm1".n_sigma: -1 must be positive`.
    pub fn new(cfg: &SensorsConfig, site: &str, provenance: Map<String, Value>) -> Result<Sensors, String> {
        let offset = utc_offset(cfg.utc_offset_hours)?;
        if !(cfg.max_future_secs.is_finite() && cfg.max_future_secs >= 0.0) {
            return Err(format!(
                "max_future_secs: {} is not a number of seconds (finite, 0 or more)",
                cfg.max_future_secs
            ));
        }
        let mut kinds: HashMap<String, String> = HashMap::new();
        let mut need = |id: &str, kind: &str, at: &str| -> Result<(), String> {
            match kinds.get(id) {
                Some(k) if k != kind => Err(format!("{at}: sensor {id:?} is of kind {k}, not {kind}")),
                _ => {
                    kinds.insert(id.into(), kind.into());
                    Ok(())
                }
            }
        };
        let mut silence = Silence::new(&cfg.silence, site, provenance.clone()).map_err(|e| format!("silence.{e}"))?;
        for (i, s) in cfg.sensor.iter().enumerate() {
            let at = format!("sensor[{i}] {:?}", s.id);
            if !pipeline::keys::is_segment(&s.id) {
                return Err(format!("{at}.id: not an id (A-Z a-z 0-9 _ . -, not empty)"));
            }
            if cfg.sensor[..i].iter().any(|o| o.id == s.id) {
                return Err(format!("{at}.id: another sensor has this id"));
            }
            if s.kind.trim().is_empty() {
                return Err(format!("{at}.kind: empty"));
            }
            if let Some(v) = s.silent_after_secs
                && !(v.is_finite() && v > 0.0)
            {
                return Err(format!("{at}.silent_after_secs: {v} must be a positive number of seconds"));
            }
            need(&s.id, &s.kind, &format!("{at}.kind"))?;
            silence.watch(&s.id, &s.name, s.location, s.silent_after_secs);
        }
        let mut routes: HashMap<String, Vec<Route>> = HashMap::new();
        let mut portals = Vec::with_capacity(cfg.radiation_portal.len());
        for (i, p) in cfg.radiation_portal.iter().enumerate() {
            let at = format!("radiation_portal[{i}] {:?}", p.id);
            if cfg.radiation_portal[..i].iter().any(|o| o.id == p.id) {
                return Err(format!("{at}.id: another portal has this id"));
            }
            portals.push(RadiationPortal::new(p, site, provenance.clone()).map_err(|e| format!("{at}.{e}"))?);
            let mut roles = vec![
                (&p.gamma_sensor, "gamma_cps", "gamma_sensor"),
                (&p.occupancy_sensor, "occupancy", "occupancy_sensor"),
            ];
            roles.extend(p.neutron_sensor.as_ref().map(|n| (n, "neutron_cps", "neutron_sensor")));
            for (id, kind, field) in roles {
                if routes.get(id.as_str()).is_some_and(|r| r.iter().any(|r| matches!(r, Route::Portal(_)))) {
                    return Err(format!("{at}.{field}: {id:?} already belongs to another portal"));
                }
                need(id, kind, &format!("{at}.{field}"))?;
                routes.entry(id.clone()).or_default().push(Route::Portal(i));
            }
        }
        let mut contacts = Vec::with_capacity(cfg.alarm_contact.len());
        for (i, c) in cfg.alarm_contact.iter().enumerate() {
            let at = format!("alarm_contact[{i}] {:?}", c.sensor);
            if cfg.alarm_contact[..i].iter().any(|o| o.sensor == c.sensor) {
                return Err(format!("{at}.sensor: another alarm contact has this sensor"));
            }
            contacts.push(AlarmContact::new(c, offset, site, provenance.clone()).map_err(|e| format!("{at}.{e}"))?);
            need(&c.sensor, "contact", &format!("{at}.sensor"))?;
            routes.entry(c.sensor.clone()).or_default().push(Route::Contact(i));
        }
        Ok(Sensors {
            max_future_secs: cfg.max_future_secs,
            portals,
            contacts,
            silence,
            routes,
            kinds,
            rejected: BTreeMap::new(),
            clamped: 0,
        })
    }

    /// Validates one reading against its `ingest_ts` and routes it to its rules. A refused
    /// reading is counted under its [`TelemetryError::reason`] and changes nothing. A
    /// reading stamped ahead of its `ingest_ts` (within `max_future_secs`) reaches the rules
    /// at its `ingest_ts`, and is counted in [`Sensors::clamped`] and in
    /// `qv_feed_noted_total{feed="telemetry",note="clamped"}`.
    pub fn observe(&mut self, t: &Telemetry, out: &mut SensorsOutput) -> Result<(), TelemetryError> {
        let checked = match t.ingest_ts {
            None => Err(TelemetryError::NoIngestTime),
            Some(now) => t.validate(now, self.max_future_secs),
        };
        let checked = checked.and_then(|()| match self.kinds.get(&t.sensor) {
            Some(k) if *k != t.kind => {
                Err(TelemetryError::WrongKind { sensor: t.sensor.clone(), kind: t.kind.clone(), expected: k.clone() })
            }
            _ => Ok(()),
        });
        if let Err(e) = checked {
            *self.rejected.entry(e.reason()).or_default() += 1;
            return Err(e);
        }
        // The rules drop a sample older than their stream's last as late. Were a sample from
        // the future kept at its stated time, every genuine sample until then would be late:
        // one forged sample would blind the stream. At its receipt it is never ahead of the
        // node, so only samples measured before it arrived can be late.
        let at_receipt;
        let t = match t.ingest_ts {
            Some(now) if t.event_ts > now => {
                self.clamped += 1;
                let noted = [("feed", "telemetry"), ("note", "clamped")];
                pipeline::metrics::global().metric("qv_feed_noted_total", &noted).inc();
                at_receipt = Telemetry { event_ts: now, ..t.clone() };
                &at_receipt
            }
            _ => t,
        };
        self.silence.observe(&t.sensor, t.event_ts, t.clock, &mut out.alerts);
        for route in self.routes.get(&t.sensor).into_iter().flatten() {
            match *route {
                Route::Portal(i) => {
                    self.portals[i].observe(t, &mut out.alerts, &mut out.readings);
                }
                Route::Contact(i) => self.contacts[i].observe(t, &mut out.alerts),
            }
        }
        Ok(())
    }

    /// Event time is now `now` (the site's watermark): silences and contacts left open.
    pub fn tick(&mut self, now: chrono::DateTime<chrono::Utc>, out: &mut SensorsOutput) {
        self.silence.tick(now, &mut out.alerts);
        for c in &mut self.contacts {
            c.tick(now, &mut out.alerts);
        }
    }

    /// Refused readings so far, by reason (for metrics).
    pub fn rejected(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }

    /// Readings stamped ahead of the node (within `max_future_secs`) and taken at their
    /// receipt instead: a sensor whose clock runs ahead, or a forged sample.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The portal of that id.
    pub fn portal(&self, id: &str) -> Option<&RadiationPortal> {
        self.portals.iter().find(|p| p.config().id == id)
    }

    pub fn silence(&self) -> &Silence {
        &self.silence
    }
}
