//! One reading from one sensor, as it arrives from outside: untrusted until
//! [`Telemetry::validate`] has passed it. A bad reading is refused with an error naming the
//! field, and counted under [`TelemetryError::reason`]; it never reaches a rule.

use chrono::{DateTime, Utc};
use pipeline::alert::ClockState;
use pipeline::keys::is_segment;
use serde::{Deserialize, Serialize};

/// A generic sensor reading: `kind` says what `value` measures, in `unit`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// The sensor's id, as in `[[sensors.sensor]]` and the rules' config; it becomes a
    /// segment of alert key expressions, so only `A-Z a-z 0-9 _ . -`.
    pub sensor: String,
    /// What is measured, e.g. `gamma_cps`, `neutron_cps`, `occupancy`, `contact`,
    /// `temperature`.
    pub kind: String,
    pub value: f64,
    /// `cps` for counts per second; `bool` (or empty) for `occupancy` and `contact`.
    #[serde(default)]
    pub unit: String,
    /// When it was measured, at the sensor.
    pub event_ts: DateTime<Utc>,
    /// When this node took it in; stamped by the node's source on receipt, not by the
    /// sensor. [`super::Sensors::observe`] refuses a reading without it.
    #[serde(default)]
    pub ingest_ts: Option<DateTime<Utc>>,
    /// The node clock's state when it stamped `ingest_ts`.
    #[serde(default = "unsynced")]
    pub clock: ClockState,
}

fn unsynced() -> ClockState {
    ClockState::Unsynced
}

/// Why a reading was refused; `Display` starts with the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TelemetryError {
    #[error("sensor: empty")]
    EmptySensor,
    #[error("sensor: {0:?} has characters other than A-Z a-z 0-9 _ . -")]
    BadSensorId(String),
    #[error("kind: empty")]
    EmptyKind,
    #[error("value: {0} is not a finite number")]
    NotFinite(f64),
    #[error("value: {value} for {kind} is a negative count")]
    NegativeCount { kind: String, value: f64 },
    #[error("value: {value} for {kind} is not 0 or 1")]
    NotBoolean { kind: String, value: f64 },
    #[error("unit: {unit:?} does not fit kind {kind} (expected {expected})")]
    Unit { kind: String, unit: String, expected: &'static str },
    #[error("event_ts: {ahead_secs:.1} s in the future (at most {max_secs:.1} s allowed)")]
    Future { ahead_secs: f64, max_secs: f64 },
    #[error("ingest_ts: missing (the node stamps it on receipt)")]
    NoIngestTime,
    /// The sensor is known (registry or a rule's config) to send another kind.
    #[error("kind: {kind:?} from sensor {sensor:?}, which sends {expected}")]
    WrongKind { sensor: String, kind: String, expected: String },
}

impl TelemetryError {
    /// A short label for metrics (`qv_telemetry_rejected_total{reason=…}`).
    pub fn reason(&self) -> &'static str {
        match self {
            TelemetryError::EmptySensor => "empty_sensor",
            TelemetryError::BadSensorId(_) => "bad_sensor_id",
            TelemetryError::EmptyKind => "empty_kind",
            TelemetryError::NotFinite(_) => "not_finite",
            TelemetryError::NegativeCount { .. } => "negative_count",
            TelemetryError::NotBoolean { .. } => "not_boolean",
            TelemetryError::Unit { .. } => "unit_mismatch",
            TelemetryError::Future { .. } => "future",
            TelemetryError::NoIngestTime => "no_ingest_time",
            TelemetryError::WrongKind { .. } => "wrong_kind",
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TelemetryError::EmptySensor | TelemetryError::BadSensorId(_) => "sensor",
            TelemetryError::EmptyKind | TelemetryError::WrongKind { .. } => "kind",
            TelemetryError::NotFinite(_) | TelemetryError::NegativeCount { .. } | TelemetryError::NotBoolean { .. } => {
                "value"
            }
            TelemetryError::Unit { .. } => "unit",
            TelemetryError::Future { .. } => "event_ts",
            TelemetryError::NoIngestTime => "ingest_ts",
        }
    }
}

/// How a known kind's value must look.
enum Shape {
    Count,
    Boolean,
    Temperature,
}

fn shape(kind: &str) -> Option<Shape> {
    match kind {
        k if k.ends_with("_cps") => Some(Shape::Count),
        "occupancy" | "contact" => Some(Shape::Boolean),
        "temperature" => Some(Shape::Temperature),
        _ => None,
    }
}

impl Telemetry {
    /// A reading stamped on receipt at its own event time, synced clock: for tests and
    /// synthetic sources.
    pub fn new(sensor: &str, kind: &str, value: f64, unit: &str, event_ts: DateTime<Utc>) -> Self {
        Telemetry {
            sensor: sensor.into(),
            kind: kind.into(),
            value,
            unit: unit.into(),
            event_ts,
            ingest_ts: Some(event_ts),
            clock: ClockState::Synced,
        }
    }

    /// Checks the reading against the node's clock `now`: an id, a finite value of the
    /// right shape and unit for known kinds (unknown kinds pass with any unit), and an
    /// event time at most `max_future_secs` ahead of `now` (sensor clocks drift a little;
    /// further ahead is a broken or forged clock).
    pub fn validate(&self, now: DateTime<Utc>, max_future_secs: f64) -> Result<(), TelemetryError> {
        if self.sensor.is_empty() {
            return Err(TelemetryError::EmptySensor);
        }
        if !is_segment(&self.sensor) {
            return Err(TelemetryError::BadSensorId(self.sensor.clone()));
        }
        if self.kind.trim().is_empty() {
            return Err(TelemetryError::EmptyKind);
        }
        if !self.value.is_finite() {
            return Err(TelemetryError::NotFinite(self.value));
        }
        let unit = self.unit.trim();
        let unit_err = |expected| TelemetryError::Unit { kind: self.kind.clone(), unit: self.unit.clone(), expected };
        match shape(&self.kind) {
            Some(Shape::Count) => {
                if !unit.eq_ignore_ascii_case("cps") {
                    return Err(unit_err("cps"));
                }
                if self.value < 0.0 {
                    return Err(TelemetryError::NegativeCount { kind: self.kind.clone(), value: self.value });
                }
            }
            Some(Shape::Boolean) => {
                if !(unit.is_empty() || unit.eq_ignore_ascii_case("bool")) {
                    return Err(unit_err("bool or none"));
                }
                if self.value != 0.0 && self.value != 1.0 {
                    return Err(TelemetryError::NotBoolean { kind: self.kind.clone(), value: self.value });
                }
            }
            Some(Shape::Temperature) if !matches!(unit, "C" | "°C" | "degC" | "celsius") => {
                return Err(unit_err("C"));
            }
            Some(Shape::Temperature) | None => {}
        }
        let ahead_secs = (self.event_ts - now).num_microseconds().map_or(f64::INFINITY, |us| us as f64 * 1e-6);
        if ahead_secs > max_future_secs {
            return Err(TelemetryError::Future { ahead_secs, max_secs: max_future_secs });
        }
        Ok(())
    }

    /// `value` as on/off (after validation: 0 or 1).
    pub fn is_on(&self) -> bool {
        self.value >= 0.5
    }
}
