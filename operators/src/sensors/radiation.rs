//! Radiation portal monitor (RPM): one rule per portal, watching a gamma count rate, an
//! optional neutron count rate and the portal's occupancy sensor.
//!
//! The idea to understand first: each sample is compared with the *background*, the rate
//! the detector sees with nothing in the portal. The background is learnt only while the
//! portal is empty and quiet, and frozen while a vehicle is in it: a vehicle shields the
//! detector from the ground and sky, so counts dip while it passes, and learning that dip
//! would lower the alarm level just when a source may follow.
//!
//! - Background: an exponentially weighted mean of the unoccupied, non-alarming samples
//!   with time constant `background_secs` (a cumulative mean until it has that much data).
//!   Slow drift (weather, radon washout) is followed; a vehicle-length excursion is not.
//! - Sigma: Poisson. A sample is the count over one sample period `T` divided by `T`; with
//!   background `B` cps its count has variance `B·T`, so the rate's sigma is
//!   `sqrt(B·T)/T = sqrt(B/T)`. We chose the Poisson sigma over a measured variance because
//!   it needs no history that a vehicle or a source could contaminate, it is known from the
//!   first sample, and it is the floor any real detector sits on; `min_background_cps`
//!   keeps it from collapsing on a near-zero background (neutron channels). `T` is the
//!   configured `sample_period_secs`, not the gap between arrivals: a gap is lost samples,
//!   not a longer count.
//! - Alarm: `k_consecutive` samples each above `B + n_sigma·sigma` begin a
//!   `radiation_alarm` episode on that channel (event time of the k-th sample). It updates
//!   at most once a second while its peak grows, and ends once the portal is empty and the
//!   channel has stayed below the alarm level for `clear_secs`.
//! - When a vehicle leaves, a [`PortalReading`] sums up its passage (clean, alarm or
//!   incomplete) for the customs lane decision, and is published as an info alert
//!   `radiation_reading`: an instantaneous episode, `begin` and `end` at the event time the
//!   vehicle left (as `line_crossing` does), both carrying the reading in `attributes`.
//!   One message would do for the lane decision; the `end` closes the episode for stores
//!   that track open episodes.

use super::telemetry::Telemetry;
use crate::rules::{AlertContext, AlertParts, ts_from_secs};
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertSource, ClockState, GeoPoint, Phase, Severity, SourceKind};
use pipeline::keys::is_segment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// `[[sensors.radiation_portal]]`: one portal and its detectors.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiationPortalConfig {
    /// The portal's id: the alert source id.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    /// Sensor id of the gamma counter (kind `gamma_cps`).
    pub gamma_sensor: String,
    /// Sensor id of the neutron counter (kind `neutron_cps`), if the portal has one.
    #[serde(default)]
    pub neutron_sensor: Option<String>,
    /// Sensor id of the occupancy sensor (kind `occupancy`, 1 while a vehicle is in the portal).
    pub occupancy_sensor: String,
    /// Alarm level: this many sigma above the background.
    #[serde(default = "default_n_sigma")]
    pub n_sigma: f64,
    /// Consecutive samples above the alarm level that begin an alarm.
    #[serde(default = "default_k")]
    pub k_consecutive: u32,
    /// The counters' integration period: one sample counts over this long.
    #[serde(default = "default_period")]
    pub sample_period_secs: f64,
    /// Samples further apart than this are not consecutive (lost samples break a run).
    #[serde(default = "default_max_gap")]
    pub max_gap_secs: f64,
    /// Time constant of the background's exponentially weighted mean.
    #[serde(default = "default_background_secs")]
    pub background_secs: f64,
    /// Seconds of background needed before the channel can alarm or clear a vehicle.
    #[serde(default = "default_warmup")]
    pub warmup_secs: f64,
    /// The background never counts as lower than this (cps), so sigma never collapses.
    #[serde(default = "default_floor")]
    pub min_background_cps: f64,
    /// The background stays frozen this long after a vehicle leaves (its tail still shields).
    #[serde(default = "one")]
    pub holdoff_secs: f64,
    /// An alarm ends once the portal is empty and the channel has been below the alarm
    /// level this long.
    #[serde(default = "one")]
    pub clear_secs: f64,
    #[serde(default = "high")]
    pub severity: Severity,
}

fn default_n_sigma() -> f64 {
    5.0
}
fn default_k() -> u32 {
    3
}
fn default_period() -> f64 {
    0.1
}
fn default_max_gap() -> f64 {
    0.5
}
fn default_background_secs() -> f64 {
    60.0
}
fn default_warmup() -> f64 {
    10.0
}
fn default_floor() -> f64 {
    1.0
}
fn one() -> f64 {
    1.0
}
fn high() -> Severity {
    Severity::High
}

impl RadiationPortalConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, id) in
            [("id", &self.id), ("gamma_sensor", &self.gamma_sensor), ("occupancy_sensor", &self.occupancy_sensor)]
                .into_iter()
                .chain(self.neutron_sensor.as_ref().map(|n| ("neutron_sensor", n)))
        {
            if !is_segment(id) {
                return Err(format!("{field}: {id:?} is not an id (A-Z a-z 0-9 _ . -, not empty)"));
            }
        }
        let sensors = [Some(&self.gamma_sensor), self.neutron_sensor.as_ref(), Some(&self.occupancy_sensor)];
        let sensors: Vec<&String> = sensors.into_iter().flatten().collect();
        if (1..sensors.len()).any(|i| sensors[..i].contains(&sensors[i])) {
            return Err("gamma_sensor, neutron_sensor, occupancy_sensor: one sensor in two roles".into());
        }
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{field}: {v} must be positive")) }
        };
        positive("n_sigma", self.n_sigma)?;
        positive("sample_period_secs", self.sample_period_secs)?;
        positive("background_secs", self.background_secs)?;
        positive("min_background_cps", self.min_background_cps)?;
        if self.k_consecutive == 0 {
            return Err("k_consecutive: 0; at least one sample must be over the alarm level".into());
        }
        if !(self.max_gap_secs.is_finite() && self.max_gap_secs >= self.sample_period_secs) {
            return Err(format!("max_gap_secs: {} must be at least sample_period_secs", self.max_gap_secs));
        }
        for (field, v) in
            [("warmup_secs", self.warmup_secs), ("holdoff_secs", self.holdoff_secs), ("clear_secs", self.clear_secs)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{field}: {v} is not a number of seconds (finite, 0 or more)"));
            }
        }
        Ok(())
    }
}

/// A portal's detector channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Gamma,
    Neutron,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Gamma => "gamma",
            Channel::Neutron => "neutron",
        }
    }
}

/// The outcome of one vehicle's passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadingResult {
    /// Every channel measured it against a learnt background and none alarmed.
    Clean,
    /// A channel alarmed while the vehicle was in the portal.
    Alarm,
    /// Not measured: the gamma channel had no background yet or sent no sample during the
    /// passage. Never to be taken as clean.
    Incomplete,
}

/// One channel's part of a [`PortalReading`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelReading {
    /// Samples taken while the vehicle was in the portal.
    pub samples: u32,
    /// The largest `(rate − background) / sigma` of those samples.
    pub max_nsigma: Option<f64>,
    pub peak_cps: Option<f64>,
    /// The frozen background the vehicle was measured against.
    pub background_cps: Option<f64>,
    pub sigma_cps: Option<f64>,
    pub alarmed: bool,
}

/// One vehicle's passage through a portal, for the customs lane decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalReading {
    pub portal: String,
    pub occupancy_start: DateTime<Utc>,
    pub occupancy_end: DateTime<Utc>,
    pub result: ReadingResult,
    pub gamma: ChannelReading,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutron: Option<ChannelReading>,
}

/// An open alarm episode of one channel.
#[derive(Debug, Clone)]
struct Episode {
    id: Uuid,
    began: f64,
    peak_cps: f64,
    peak_nsigma: f64,
    samples_over: u32,
    last_msg: f64,
    reported_nsigma: f64,
}

/// One channel's state.
#[derive(Debug, Clone)]
struct ChannelState {
    channel: Channel,
    /// Exponentially weighted mean of the quiet, empty-portal samples (cps).
    background: f64,
    /// Seconds of samples in the background.
    learnt_secs: f64,
    last_t: Option<f64>,
    /// Consecutive samples over the alarm level, and the largest of them.
    run: u32,
    run_peak: (f64, f64),
    below_since: Option<f64>,
    alarm: Option<Episode>,
    /// This vehicle's figures.
    occ: ChannelReading,
}

impl ChannelState {
    fn new(channel: Channel) -> Self {
        ChannelState {
            channel,
            background: 0.0,
            learnt_secs: 0.0,
            last_t: None,
            run: 0,
            run_peak: (0.0, 0.0),
            below_since: None,
            alarm: None,
            occ: empty_reading(),
        }
    }
}

fn empty_reading() -> ChannelReading {
    ChannelReading {
        samples: 0,
        max_nsigma: None,
        peak_cps: None,
        background_cps: None,
        sigma_cps: None,
        alarmed: false,
    }
}

/// A sample's time and what the node knew of it.
#[derive(Clone, Copy)]
struct At {
    t: f64,
    event_ts: DateTime<Utc>,
    ingest_ts: DateTime<Utc>,
    clock: ClockState,
}

/// The RPM rule of one portal. Feed it the portal's validated readings in event-time order
/// with [`RadiationPortal::observe`]; late readings (older than the channel's last) are
/// ignored and counted.
pub struct RadiationPortal {
    cfg: RadiationPortalConfig,
    ctx: AlertContext,
    gamma: ChannelState,
    neutron: Option<ChannelState>,
    occupied: bool,
    occupancy_since: f64,
    left_at: Option<f64>,
    last_occupancy_t: Option<f64>,
    late: u64,
}

impl RadiationPortal {
    /// Checks the config and builds the rule; alerts go out from `site` with `provenance`.
    pub fn new(
        cfg: &RadiationPortalConfig,
        site: &str,
        provenance: Map<String, Value>,
    ) -> Result<RadiationPortal, String> {
        cfg.validate()?;
        let source = AlertSource {
            kind: SourceKind::Sensor,
            id: cfg.id.clone(),
            name: cfg.name.clone(),
            location: cfg.location,
        };
        Ok(RadiationPortal {
            cfg: cfg.clone(),
            ctx: AlertContext { site: site.into(), source, provenance },
            gamma: ChannelState::new(Channel::Gamma),
            neutron: cfg.neutron_sensor.as_ref().map(|_| ChannelState::new(Channel::Neutron)),
            occupied: false,
            occupancy_since: 0.0,
            left_at: None,
            last_occupancy_t: None,
            late: 0,
        })
    }

    pub fn config(&self) -> &RadiationPortalConfig {
        &self.cfg
    }

    /// The learnt background of a channel (cps, before the floor), once warmed up.
    pub fn background_cps(&self, channel: Channel) -> Option<f64> {
        let c = self.channel(channel)?;
        (c.learnt_secs >= self.cfg.warmup_secs).then_some(c.background)
    }

    /// The Poisson sigma of one sample's rate at the current background (cps).
    pub fn sigma_cps(&self, channel: Channel) -> Option<f64> {
        self.background_cps(channel).map(|b| self.sigma(b))
    }

    /// Whether a vehicle is in the portal.
    pub fn occupied(&self) -> bool {
        self.occupied
    }

    /// Readings ignored because they were older than the channel's last.
    pub fn late_readings(&self) -> u64 {
        self.late
    }

    fn channel(&self, channel: Channel) -> Option<&ChannelState> {
        match channel {
            Channel::Gamma => Some(&self.gamma),
            Channel::Neutron => self.neutron.as_ref(),
        }
    }

    fn sigma(&self, background: f64) -> f64 {
        let b = background.max(self.cfg.min_background_cps);
        (b / self.cfg.sample_period_secs).sqrt()
    }

    /// Takes one validated reading of one of the portal's sensors; returns `false` if the
    /// sensor is not one of them. Alarm episodes go to `alerts`; a vehicle leaving adds its
    /// [`PortalReading`] to `readings` and its `radiation_reading` alert to `alerts`.
    pub fn observe(&mut self, r: &Telemetry, alerts: &mut Vec<Alert>, readings: &mut Vec<PortalReading>) -> bool {
        let at = At {
            t: r.event_ts.timestamp_micros() as f64 * 1e-6,
            event_ts: r.event_ts,
            ingest_ts: r.ingest_ts.unwrap_or(r.event_ts),
            clock: r.clock,
        };
        if r.sensor == self.cfg.occupancy_sensor {
            self.occupancy(r.is_on(), at, alerts, readings);
        } else if r.sensor == self.cfg.gamma_sensor {
            self.sample(Channel::Gamma, r.value, at, alerts);
        } else if self.cfg.neutron_sensor.as_deref() == Some(r.sensor.as_str()) {
            self.sample(Channel::Neutron, r.value, at, alerts);
        } else {
            return false;
        }
        true
    }

    fn occupancy(&mut self, on: bool, at: At, alerts: &mut Vec<Alert>, readings: &mut Vec<PortalReading>) {
        if self.last_occupancy_t.is_some_and(|last| at.t < last) {
            self.late += 1;
            return;
        }
        self.last_occupancy_t = Some(at.t);
        match (on, self.occupied) {
            (true, false) => {
                self.occupied = true;
                self.occupancy_since = at.t;
                let warm = self.cfg.warmup_secs;
                let (floor, period) = (self.cfg.min_background_cps, self.cfg.sample_period_secs);
                let sigma = |b: f64| (b.max(floor) / period).sqrt();
                for c in std::iter::once(&mut self.gamma).chain(self.neutron.as_mut()) {
                    c.occ = empty_reading();
                    if c.learnt_secs >= warm {
                        c.occ.background_cps = Some(round3(c.background.max(floor)));
                        c.occ.sigma_cps = Some(round3(sigma(c.background)));
                    }
                    // An alarm already open when the vehicle arrives cannot clear it.
                    c.occ.alarmed = c.alarm.is_some();
                }
            }
            (false, true) => {
                self.occupied = false;
                self.left_at = Some(at.t);
                let reading = self.reading(at);
                let mut attributes = match serde_json::to_value(&reading) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                attributes.insert("duration_secs".into(), json!(round3(at.t - self.occupancy_since)));
                let episode = alert::new_id();
                for phase in [Phase::Begin, Phase::End] {
                    alerts.push(self.alert(
                        episode,
                        "radiation_reading",
                        phase,
                        Severity::Info,
                        at,
                        attributes.clone(),
                    ));
                }
                readings.push(reading);
            }
            _ => {}
        }
    }

    fn reading(&self, at: At) -> PortalReading {
        let gamma = self.gamma.occ.clone();
        let neutron = self.neutron.as_ref().map(|n| n.occ.clone());
        let alarmed = gamma.alarmed || neutron.as_ref().is_some_and(|n| n.alarmed);
        let result = if alarmed {
            ReadingResult::Alarm
        } else if gamma.samples == 0 || gamma.background_cps.is_none() {
            ReadingResult::Incomplete
        } else {
            ReadingResult::Clean
        };
        PortalReading {
            portal: self.cfg.id.clone(),
            occupancy_start: ts_from_secs(self.occupancy_since),
            occupancy_end: at.event_ts,
            result,
            gamma,
            neutron,
        }
    }

    fn sample(&mut self, channel: Channel, rate: f64, at: At, alerts: &mut Vec<Alert>) {
        let cfg = &self.cfg;
        let (period, k, n) = (cfg.sample_period_secs, cfg.k_consecutive, cfg.n_sigma);
        let frozen = self.occupied || self.left_at.is_some_and(|left| at.t - left < cfg.holdoff_secs);
        let occupied = self.occupied;
        let floor = cfg.min_background_cps;
        let warm = cfg.warmup_secs;
        let (background_secs, max_gap, clear_secs) = (cfg.background_secs, cfg.max_gap_secs, cfg.clear_secs);
        let c = match channel {
            Channel::Gamma => &mut self.gamma,
            Channel::Neutron => match self.neutron.as_mut() {
                Some(c) => c,
                None => return,
            },
        };
        if c.last_t.is_some_and(|last| at.t <= last) {
            self.late += 1;
            return;
        }
        if c.last_t.is_some_and(|last| at.t - last > max_gap + 1e-6) {
            // Lost samples: what came before is not consecutive with this one.
            c.run = 0;
        }
        c.last_t = Some(at.t);

        let ready = c.learnt_secs >= warm;
        let mut over = false;
        let mut msg: Option<(Uuid, Phase, Map<String, Value>)> = None;
        if ready {
            let b = c.background.max(floor);
            let sigma = (b / period).sqrt();
            let nsigma = (rate - b) / sigma;
            if occupied {
                c.occ.samples += 1;
                if c.occ.max_nsigma.is_none_or(|m| nsigma > m) {
                    c.occ.max_nsigma = Some(round3(nsigma));
                }
                if c.occ.peak_cps.is_none_or(|p| rate > p) {
                    c.occ.peak_cps = Some(rate);
                }
            }
            over = nsigma >= n;
            if over {
                c.below_since = None;
                c.run += 1;
                if c.run == 1 || rate > c.run_peak.0 {
                    c.run_peak = (rate, nsigma);
                }
                match c.alarm.as_mut() {
                    Some(e) => {
                        e.samples_over += 1;
                        if rate > e.peak_cps {
                            e.peak_cps = rate;
                            e.peak_nsigma = nsigma;
                        }
                        if e.peak_nsigma > e.reported_nsigma && at.t - e.last_msg >= 1.0 {
                            e.last_msg = at.t;
                            e.reported_nsigma = e.peak_nsigma;
                            msg = Some((e.id, Phase::Update, Map::new()));
                        }
                    }
                    None if c.run >= k => {
                        let e = Episode {
                            id: alert::new_id(),
                            began: at.t,
                            peak_cps: c.run_peak.0,
                            peak_nsigma: c.run_peak.1,
                            samples_over: c.run,
                            last_msg: at.t,
                            reported_nsigma: c.run_peak.1,
                        };
                        msg = Some((e.id, Phase::Begin, Map::new()));
                        c.alarm = Some(e);
                    }
                    None => {}
                }
            } else {
                c.run = 0;
                if let Some(e) = &c.alarm {
                    let since = *c.below_since.get_or_insert(at.t);
                    if !occupied && at.t - since >= clear_secs - 1e-6 {
                        let mut a = Map::new();
                        a.insert("duration_secs".into(), json!(round3(at.t - e.began)));
                        msg = Some((e.id, Phase::End, a));
                    }
                }
            }
            if occupied && c.alarm.is_some() {
                c.occ.alarmed = true;
            }
            if let Some((_, _, a)) = msg.as_mut() {
                let e = c.alarm.as_ref().expect("an alarm message has an episode");
                a.insert("channel".into(), c.channel.as_str().into());
                a.insert("peak_cps".into(), json!(round3(e.peak_cps)));
                a.insert("background_cps".into(), json!(round3(b)));
                a.insert("sigma_cps".into(), json!(round3(sigma)));
                a.insert("threshold_cps".into(), json!(round3(b + n * sigma)));
                a.insert("peak_nsigma".into(), json!(round3(e.peak_nsigma)));
                a.insert("samples_over".into(), e.samples_over.into());
                a.insert("n_sigma".into(), json!(n));
                a.insert("k_consecutive".into(), k.into());
                a.insert("occupied".into(), occupied.into());
            }
            if matches!(msg, Some((_, Phase::End, _))) {
                c.alarm = None;
                c.below_since = None;
            }
        }

        // Learn the background only from an empty, quiet portal.
        if !frozen && !over && c.alarm.is_none() {
            let alpha = (1.0 - (-period / background_secs).exp()).max(period / (c.learnt_secs + period));
            c.background += alpha * (rate - c.background);
            c.learnt_secs = (c.learnt_secs + period).min(background_secs.max(warm) * 10.0);
        }

        if let Some((episode, phase, attributes)) = msg {
            let severity = self.cfg.severity;
            alerts.push(self.alert(episode, "radiation_alarm", phase, severity, at, attributes));
        }
    }

    fn alert(
        &self,
        episode: Uuid,
        kind: &'static str,
        phase: Phase,
        severity: Severity,
        at: At,
        attributes: Map<String, Value>,
    ) -> Alert {
        self.ctx.alert(AlertParts {
            episode,
            kind,
            rule: if kind == "radiation_alarm" { "radiation_alarm/1" } else { "radiation_reading/1" },
            phase,
            severity,
            confidence: 1.0,
            event_ts: at.event_ts,
            ingest_ts: at.ingest_ts,
            clock: at.clock,
            objects: vec![],
            attributes,
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
