//! Patrol units: the latest position and status of each, and for a call the nearest
//! available units with distance and a travel-time estimate.
//!
//! Reports come by zenoh or HTTP as JSON ([`UnitReport`]); a report that is malformed,
//! out of range, from the future or older than the unit's latest is refused with a reason
//! the feed counts. Positions older than `stale_secs` are not suggested.

use chrono::{DateTime, Utc};
use pipeline::alert::GeoPoint;
use pipeline::geo::haversine_m;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    Available,
    EnRoute,
    Busy,
    OffDuty,
}

/// One position and status report from a patrol unit's navigator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitReport {
    pub unit: String,
    /// When the GNSS fix was taken.
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f64>,
    pub status: UnitStatus,
}

/// `[calls.fleet]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// A position older than this is not used for suggestions.
    pub stale_secs: u64,
    /// A fix up to this far ahead of the node clock is accepted (clock skew); further is refused.
    pub max_future_secs: u64,
    /// Road distance ÷ straight-line distance in the city (measured ≈ 1.3–1.4 in grids).
    pub road_factor: f64,
    /// Average speed on the way with lights on, km/h.
    pub speed_kmh: f64,
    /// Units suggested per call.
    pub suggest: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self { stale_secs: 120, max_future_secs: 30, road_factor: 1.35, speed_kmh: 35.0, suggest: 3 }
    }
}

/// Why a report was refused; `reason()` is the metrics label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    #[error("not a unit report: {0}")]
    Malformed(String),
    #[error("unit: empty id")]
    NoUnit,
    #[error("{field}: {value} is out of range")]
    OutOfRange { field: &'static str, value: f64 },
    #[error("ts: fix time {ts} is {ahead_secs} s ahead of this node's clock (at most {max} s allowed)")]
    Future { ts: DateTime<Utc>, ahead_secs: i64, max: u64 },
    #[error("ts: fix time {ts} is older than unit {unit}'s latest ({latest})")]
    OutOfOrder { unit: String, ts: DateTime<Utc>, latest: DateTime<Utc> },
}

impl UnitError {
    pub fn reason(&self) -> &'static str {
        match self {
            UnitError::Malformed(_) => "malformed",
            UnitError::NoUnit => "no_unit",
            UnitError::OutOfRange { .. } => "out_of_range",
            UnitError::Future { .. } => "future",
            UnitError::OutOfOrder { .. } => "out_of_order",
        }
    }
}

impl UnitReport {
    pub fn parse(bytes: &[u8]) -> Result<UnitReport, UnitError> {
        if bytes.len() > 64 << 10 {
            return Err(UnitError::Malformed(format!("{} bytes, over 64 KiB", bytes.len())));
        }
        serde_json::from_slice(bytes).map_err(|e| UnitError::Malformed(e.to_string()))
    }
}

/// A unit suggested for a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub unit: String,
    pub status: UnitStatus,
    /// Straight-line metres from the unit's last fix to the call.
    pub distance_m: f64,
    /// Estimated seconds on the road.
    pub eta_secs: f64,
    /// Seconds between the fix and the time of the suggestion.
    pub fix_age_secs: f64,
}

/// The latest report of every unit.
pub struct Fleet {
    cfg: FleetConfig,
    units: HashMap<String, UnitReport>,
}

impl Fleet {
    pub fn new(cfg: FleetConfig) -> Self {
        Self { cfg, units: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    pub fn get(&self, unit: &str) -> Option<&UnitReport> {
        self.units.get(unit)
    }

    /// Takes one report at node time `now`. A fix stamped ahead of `now` (within
    /// `max_future_secs`) is kept at `now`.
    pub fn report(&mut self, mut r: UnitReport, now: DateTime<Utc>) -> Result<(), UnitError> {
        if r.unit.trim().is_empty() {
            return Err(UnitError::NoUnit);
        }
        if !(-90.0..=90.0).contains(&r.lat) {
            return Err(UnitError::OutOfRange { field: "lat", value: r.lat });
        }
        if !(-180.0..=180.0).contains(&r.lon) {
            return Err(UnitError::OutOfRange { field: "lon", value: r.lon });
        }
        for (field, v) in [("accuracy_m", r.accuracy_m), ("speed_mps", r.speed_mps)] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0 && *v < 1e5)) {
                return Err(UnitError::OutOfRange { field, value: v });
            }
        }
        let ahead = (r.ts - now).num_seconds();
        if ahead > self.cfg.max_future_secs as i64 {
            return Err(UnitError::Future { ts: r.ts, ahead_secs: ahead, max: self.cfg.max_future_secs });
        }
        if let Some(latest) = self.units.get(&r.unit).filter(|l| l.ts > r.ts) {
            return Err(UnitError::OutOfOrder { unit: r.unit.clone(), ts: r.ts, latest: latest.ts });
        }
        // Kept at its stated time, a fix from the future would refuse the unit's genuine
        // fixes as out of order until then; at `now` it holds back only older ones.
        r.ts = r.ts.min(now);
        self.units.insert(r.unit.clone(), r);
        Ok(())
    }

    /// The nearest available units with a fresh fix, nearest first.
    pub fn nearest(&self, to: GeoPoint, now: DateTime<Utc>) -> Vec<Suggestion> {
        let mps = self.cfg.speed_kmh / 3.6;
        let mut out: Vec<Suggestion> = self
            .units
            .values()
            .filter(|u| u.status == UnitStatus::Available)
            .filter_map(|u| {
                let age = (now - u.ts).num_milliseconds() as f64 / 1000.0;
                if age > self.cfg.stale_secs as f64 {
                    return None;
                }
                let d = haversine_m(GeoPoint { lat: u.lat, lon: u.lon }, to);
                Some(Suggestion {
                    unit: u.unit.clone(),
                    status: u.status,
                    distance_m: d.round(),
                    eta_secs: (d * self.cfg.road_factor / mps).round(),
                    fix_age_secs: age.max(0.0),
                })
            })
            .collect();
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.unit.cmp(&b.unit)));
        out.truncate(self.cfg.suggest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        format!("2026-11-22T{s}Z").parse().unwrap()
    }

    fn unit(id: &str, t: &str, lat: f64, lon: f64, status: UnitStatus) -> UnitReport {
        UnitReport { unit: id.into(), ts: ts(t), lat, lon, accuracy_m: Some(5.0), speed_mps: None, status }
    }

    const CALL: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

    #[test]
    fn the_nearest_available_fresh_units_are_suggested() {
        let now = ts("10:00:00");
        let mut fleet = Fleet::new(FleetConfig::default());
        // 0.001° of latitude is 111 m.
        for r in [
            unit("P-busy", "09:59:50", 41.3112, 69.2797, UnitStatus::Busy), // 11 m, busy
            unit("P-stale", "09:55:00", 41.3113, 69.2797, UnitStatus::Available), // 22 m, 5 min old
            unit("P-enroute", "09:59:55", 41.3114, 69.2797, UnitStatus::EnRoute), // 33 m, on another call
            unit("P-far", "09:59:58", 41.3311, 69.2797, UnitStatus::Available), // 2.2 km
            unit("P-near", "09:59:40", 41.3151, 69.2797, UnitStatus::Available), // 445 m
            unit("P-mid", "09:59:59", 41.3211, 69.2797, UnitStatus::Available), // 1.1 km
            unit("P-off", "09:59:59", 41.3111, 69.2798, UnitStatus::OffDuty),
        ] {
            fleet.report(r, now).unwrap();
        }
        let s = fleet.nearest(CALL, now);
        let ids: Vec<&str> = s.iter().map(|s| s.unit.as_str()).collect();
        assert_eq!(ids, ["P-near", "P-mid", "P-far"]);
        assert!((s[0].distance_m - 445.0).abs() <= 1.0, "{}", s[0].distance_m);
        // 445 m × 1.35 on the road at 35 km/h ≈ 62 s.
        assert!((s[0].eta_secs - 62.0).abs() <= 1.0, "{}", s[0].eta_secs);
        assert_eq!(s[0].fix_age_secs, 20.0);
        // The busy unit frees up: it is suggested first from its next report on.
        fleet.report(unit("P-busy", "10:00:00", 41.3112, 69.2797, UnitStatus::Available), now).unwrap();
        assert_eq!(fleet.nearest(CALL, now)[0].unit, "P-busy");
    }

    #[test]
    fn bad_reports_are_refused_with_the_field() {
        let now = ts("10:00:00");
        let mut fleet = Fleet::new(FleetConfig::default());
        let e = fleet.report(unit("P1", "11:00:00", 41.3, 69.2, UnitStatus::Available), now).unwrap_err();
        assert_eq!(e.reason(), "future");
        assert!(e.to_string().starts_with("ts: fix time 2026-11-22 11:00:00 UTC is 3600 s ahead"), "{e}");
        let e = fleet.report(unit("P1", "10:00:00", 95.0, 69.2, UnitStatus::Available), now).unwrap_err();
        assert_eq!(e.to_string(), "lat: 95 is out of range");
        assert_eq!(
            fleet.report(unit(" ", "10:00:00", 41.3, 69.2, UnitStatus::Available), now).unwrap_err(),
            UnitError::NoUnit
        );
        fleet.report(unit("P1", "10:00:00", 41.3, 69.2, UnitStatus::Available), now).unwrap();
        let e = fleet.report(unit("P1", "09:59:00", 41.3, 69.2, UnitStatus::Busy), now).unwrap_err();
        assert_eq!(e.reason(), "out_of_order");
        assert_eq!(fleet.get("P1").unwrap().status, UnitStatus::Available, "the refused report changed nothing");
        let e = UnitReport::parse(br#"{"unit":"P1","lat":41}"#).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
        assert_eq!(fleet.len(), 1);
    }

    /// A fix stamped ahead of the node (within the tolerance) cannot hold back the unit's
    /// genuine fixes: it is kept at the node's clock, and the next genuine fix is taken.
    #[test]
    fn a_fix_from_the_future_does_not_make_the_next_genuine_fix_out_of_order() {
        let mut fleet = Fleet::new(FleetConfig::default());
        fleet.report(unit("P1", "10:00:25", 41.0, 69.0, UnitStatus::OffDuty), ts("10:00:00")).unwrap();
        assert_eq!(fleet.get("P1").unwrap().ts, ts("10:00:00"), "kept at the node's clock");
        fleet.report(unit("P1", "10:00:05", 41.3, 69.2, UnitStatus::Available), ts("10:00:05")).unwrap();
        assert_eq!(fleet.get("P1").unwrap().status, UnitStatus::Available, "the genuine fix is the latest");
        let e = fleet.report(unit("P1", "10:00:01", 41.3, 69.2, UnitStatus::Busy), ts("10:00:06")).unwrap_err();
        assert_eq!(e.reason(), "out_of_order", "order still holds among genuine fixes");
    }
}
