//! Where a call is and what the cameras there saw: the camera registry (position, heading,
//! field of view, range), a gazetteer for calls that come with an address only, and each
//! camera's alerts of the last minutes, attached to the call as verification.

use chrono::{DateTime, Utc};
use pipeline::alert::{Alert, GeoPoint, Phase, Severity, SourceKind};
use pipeline::geo::local_m;
use pipeline::sources::camera::CameraConfig;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// What one camera sees: a sector on the ground from its mounting point.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraView {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub location: GeoPoint,
    /// Compass bearing of the optical axis, degrees clockwise from north.
    pub heading_deg: f64,
    /// Horizontal field of view, degrees (360 for a dome that turns).
    pub fov_deg: f64,
    /// How far it usefully sees, metres.
    pub range_m: f64,
}

/// The cameras of this node that have a location and a view.
pub fn camera_views(cameras: &[CameraConfig]) -> Vec<CameraView> {
    cameras
        .iter()
        .filter_map(|c| {
            let (location, v) = (c.location?, c.view?);
            Some(CameraView {
                id: c.id.clone(),
                name: c.name.clone(),
                location,
                heading_deg: v.heading_deg,
                fov_deg: v.fov_deg,
                range_m: v.range_m,
            })
        })
        .collect()
}

/// A named place for calls that give an address, not coordinates.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub name: String,
    /// Other spellings (Latin, Cyrillic, Russian); matched like the name.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub lat: f64,
    pub lon: f64,
    /// How large the place is: the location's uncertainty when a call names it.
    #[serde(default = "default_place_radius")]
    pub radius_m: f64,
}

fn default_place_radius() -> f64 {
    250.0
}

/// `[calls.place]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaceConfig {
    /// A camera verifies a call when its view comes within this many metres of the call's
    /// location, widened by the location's uncertainty (up to `max_uncertainty_m`).
    pub attach_radius_m: f64,
    pub max_uncertainty_m: f64,
    /// Camera alerts this many seconds before the call (and while it is open) are attached.
    pub recent_secs: u64,
    /// At most this many alerts per camera are attached (the newest).
    pub max_alerts_per_camera: usize,
    /// Cameras of other nodes (this node's own come from `[[camera]]` entries with a `view`).
    pub cameras: Vec<CameraView>,
    pub places: Vec<Place>,
}

impl Default for PlaceConfig {
    fn default() -> Self {
        Self {
            attach_radius_m: 300.0,
            max_uncertainty_m: 500.0,
            recent_secs: 300,
            max_alerts_per_camera: 10,
            cameras: vec![],
            places: vec![],
        }
    }
}

impl PlaceConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, c) in self.cameras.iter().enumerate() {
            c.validate().map_err(|e| format!("calls.place.cameras[{i}] ({}): {e}", c.id))?;
        }
        for (i, p) in self.places.iter().enumerate() {
            if !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon) {
                return Err(format!("calls.place.places[{i}] ({}): lat/lon out of range", p.name));
            }
        }
        if self.attach_radius_m.is_nan() || self.attach_radius_m < 0.0 {
            return Err("calls.place.attach_radius_m: must be ≥ 0".into());
        }
        Ok(())
    }
}

impl CameraView {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=360.0).contains(&self.fov_deg) || self.fov_deg == 0.0 {
            return Err(format!("fov_deg {} is not in (0, 360]", self.fov_deg));
        }
        if !(self.range_m > 0.0 && self.range_m <= 10_000.0) {
            return Err(format!("range_m {} is not in (0, 10000]", self.range_m));
        }
        if !self.heading_deg.is_finite() {
            return Err("heading_deg is not a number".into());
        }
        Ok(())
    }

    /// Metres from `p` to the nearest point the camera sees (0 inside its view).
    pub fn distance_to_view_m(&self, p: GeoPoint) -> f64 {
        let (x, y) = local_m(self.location, p);
        let r = x.hypot(y);
        if r < 1e-9 {
            return 0.0;
        }
        let half = self.fov_deg.to_radians() / 2.0;
        let axis = self.heading_deg.to_radians();
        let bearing = x.atan2(y); // clockwise from north
        let off = wrap_pi(bearing - axis).abs();
        if off <= half {
            return (r - self.range_m).max(0.0);
        }
        // Outside the angle: the nearer of the two edge rays (segments of length range_m).
        [axis - half, axis + half]
            .iter()
            .map(|a| {
                let (ex, ey) = (a.sin(), a.cos());
                let t = (x * ex + y * ey).clamp(0.0, self.range_m);
                (x - t * ex).hypot(y - t * ey)
            })
            .fold(f64::INFINITY, f64::min)
    }
}

fn wrap_pi(a: f64) -> f64 {
    let two_pi = std::f64::consts::TAU;
    let a = a.rem_euclid(two_pi);
    if a > std::f64::consts::PI { a - two_pi } else { a }
}

/// One camera alert attached to a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenAlert {
    pub id: uuid::Uuid,
    pub episode: uuid::Uuid,
    pub kind: String,
    pub severity: Severity,
    pub event_ts: DateTime<Utc>,
}

/// A camera that sees the call's place, with what it raised recently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub camera: String,
    pub name: String,
    pub distance_m: f64,
    pub alerts: Vec<SeenAlert>,
}

/// The registry, the gazetteer and the recent camera alerts.
pub struct Places {
    cfg: PlaceConfig,
    cameras: Vec<CameraView>,
    /// Per camera, its latest alert per episode, oldest first.
    recent: HashMap<String, VecDeque<SeenAlert>>,
    normalised_places: Vec<(Vec<String>, usize)>,
}

/// Where a call is, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Located {
    pub point: GeoPoint,
    pub uncertainty_m: f64,
}

impl Places {
    /// `own` are this node's cameras that have a view; `cfg.cameras` adds other nodes'.
    pub fn new(cfg: PlaceConfig, own: Vec<CameraView>) -> Self {
        let mut cameras = own;
        cameras.extend(cfg.cameras.iter().cloned());
        let normalised_places = cfg
            .places
            .iter()
            .enumerate()
            .map(|(i, p)| (std::iter::once(&p.name).chain(&p.aliases).map(|s| normalise(s)).collect(), i))
            .collect();
        Self { cfg, cameras, recent: HashMap::new(), normalised_places }
    }

    /// The call's point: its coordinates, else the first gazetteer place its address names.
    pub fn locate(
        &self,
        lat: Option<f64>,
        lon: Option<f64>,
        uncertainty_m: Option<f64>,
        address: Option<&str>,
    ) -> Option<Located> {
        if let (Some(lat), Some(lon)) = (lat, lon) {
            return Some(Located { point: GeoPoint { lat, lon }, uncertainty_m: uncertainty_m.unwrap_or(0.0) });
        }
        let text = normalise(address?);
        let (_, i) = self
            .normalised_places
            .iter()
            .find(|(names, _)| names.iter().any(|n| !n.is_empty() && text.contains(n.as_str())))?;
        let p = &self.cfg.places[*i];
        Some(Located { point: GeoPoint { lat: p.lat, lon: p.lon }, uncertainty_m: p.radius_m })
    }

    /// Keeps camera alerts for verification (others are ignored); forgets those older than
    /// `recent_secs` before the newest event time seen.
    pub fn observe(&mut self, a: &Alert) {
        if a.source.kind != SourceKind::Camera || a.kind == "test_signal" {
            return;
        }
        let list = self.recent.entry(a.source.id.clone()).or_default();
        // One entry per episode: its begin, with the latest severity.
        if let Some(seen) = list.iter_mut().find(|s| s.episode == a.episode) {
            seen.severity = seen.severity.max(a.severity);
        } else if a.phase != Phase::End {
            list.push_back(SeenAlert {
                id: a.id,
                episode: a.episode,
                kind: a.kind.clone(),
                severity: a.severity,
                event_ts: a.event_ts,
            });
        }
        let horizon = a.event_ts - chrono::Duration::seconds(self.cfg.recent_secs as i64 * 2);
        while list.front().is_some_and(|s| s.event_ts < horizon) {
            list.pop_front();
        }
    }

    /// Cameras whose view is within reach of `at`, nearest first, each with its alerts from
    /// `recent_secs` before `call_ts` up to `until`.
    pub fn verify(&self, at: Located, call_ts: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Verification> {
        let reach = self.cfg.attach_radius_m + at.uncertainty_m.min(self.cfg.max_uncertainty_m);
        let since = call_ts - chrono::Duration::seconds(self.cfg.recent_secs as i64);
        let mut out: Vec<Verification> = self
            .cameras
            .iter()
            .filter_map(|c| {
                let d = c.distance_to_view_m(at.point);
                (d <= reach).then(|| {
                    let mut alerts: Vec<SeenAlert> = self
                        .recent
                        .get(&c.id)
                        .map(|l| l.iter().filter(|s| s.event_ts >= since && s.event_ts <= until).cloned().collect())
                        .unwrap_or_default();
                    let drop = alerts.len().saturating_sub(self.cfg.max_alerts_per_camera);
                    alerts.drain(..drop);
                    Verification { camera: c.id.clone(), name: c.name.clone(), distance_m: d.round(), alerts }
                })
            })
            .collect();
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        out
    }
}

/// Lowercase, letters and digits only, apostrophe variants dropped, single spaces.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(if c == 'ё' { 'е' } else { c });
        } else if matches!(c, '\'' | '`' | 'ʻ' | 'ʼ' | '‘' | '’') {
            continue;
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 41.3111 N: one degree of latitude is 111.2 km, of longitude 83.5 km.
    const CAM: GeoPoint = GeoPoint { lat: 41.3111, lon: 69.2797 };

    fn cam() -> CameraView {
        // Looks east, 60° wide, 80 m deep.
        CameraView {
            id: "square-north".into(),
            name: "Square".into(),
            location: CAM,
            heading_deg: 90.0,
            fov_deg: 60.0,
            range_m: 80.0,
        }
    }

    /// A point `east` and `north` metres from the camera.
    fn at(east: f64, north: f64) -> GeoPoint {
        pipeline::geo::offset_m(CAM, east, north)
    }

    fn ts(s: &str) -> DateTime<Utc> {
        format!("2026-11-22T{s}Z").parse().unwrap()
    }

    fn camera_alert(camera: &str, kind: &str, t: &str, phase: Phase) -> Alert {
        let mut a = Alert::minimal("s", SourceKind::Camera, camera, kind);
        (a.event_ts, a.phase, a.severity) = (ts(t), phase, Severity::Medium);
        a
    }

    #[test]
    fn distance_to_the_view_sector() {
        let c = cam();
        assert_eq!(c.distance_to_view_m(at(40.0, 0.0)), 0.0, "inside");
        assert!((c.distance_to_view_m(at(200.0, 0.0)) - 120.0).abs() < 0.5, "beyond the range on the axis");
        // Behind the camera: the nearest point of the view is the camera itself.
        assert!((c.distance_to_view_m(at(-50.0, 0.0)) - 50.0).abs() < 0.5);
        // Due north, 100 m: the nearer edge ray points at 60° (from north), so the foot of
        // the perpendicular is at 50 m along it and the distance is 100·sin 60° = 86.6 m.
        assert!((c.distance_to_view_m(at(0.0, 100.0)) - 86.6).abs() < 0.5, "{}", c.distance_to_view_m(at(0.0, 100.0)));
        let dome = CameraView { fov_deg: 360.0, ..cam() };
        assert_eq!(dome.distance_to_view_m(at(-50.0, 0.0)), 0.0);
    }

    #[test]
    fn a_call_120_m_from_the_view_gets_the_cameras_recent_alerts_and_one_2_km_away_does_not() {
        let mut places = Places::new(PlaceConfig::default(), vec![cam()]);
        places.observe(&camera_alert("square-north", "zone_intrusion", "10:01:00", Phase::Begin));
        places.observe(&camera_alert("square-north", "loitering", "10:03:30", Phase::Begin));
        places.observe(&camera_alert("square-north", "old", "09:50:00", Phase::Begin));
        places.observe(&camera_alert("square-north", "test_signal", "10:03:00", Phase::Begin));
        places.observe(&camera_alert("other", "zone_intrusion", "10:03:00", Phase::Begin));
        let call_ts = ts("10:04:00");
        // 120 m beyond the end of the view on its axis (80 + 120 = 200 m from the camera).
        let near = Located { point: at(200.0, 0.0), uncertainty_m: 30.0 };
        let v = places.verify(near, call_ts, call_ts);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].camera, "square-north");
        assert_eq!(v[0].distance_m, 120.0);
        let kinds: Vec<&str> = v[0].alerts.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["zone_intrusion", "loitering"], "the last 5 minutes, no test signals, no other camera");
        let far = Located { point: at(2000.0, 0.0), uncertainty_m: 30.0 };
        assert!(places.verify(far, call_ts, call_ts).is_empty());
    }

    #[test]
    fn an_address_is_found_in_the_gazetteer_in_either_script() {
        let cfg = PlaceConfig {
            places: vec![Place {
                name: "Chilonzor 9-kvartal".into(),
                aliases: vec!["Чилонзор 9-квартал".into(), "Чиланзар 9 квартал".into()],
                lat: 41.28,
                lon: 69.2,
                radius_m: 400.0,
            }],
            ..Default::default()
        };
        let places = Places::new(cfg, vec![]);
        let l = places.locate(None, None, None, Some("Uy: Chilonzor 9 kvartal, 12-uy")).unwrap();
        assert_eq!((l.point.lat, l.uncertainty_m), (41.28, 400.0));
        assert!(places.locate(None, None, None, Some("чиланзар 9 квартал дом 5")).is_some());
        assert!(places.locate(None, None, None, Some("Yunusobod")).is_none());
        let exact = places.locate(Some(41.0), Some(69.0), Some(12.0), Some("Chilonzor 9-kvartal")).unwrap();
        assert_eq!((exact.point.lat, exact.uncertainty_m), (41.0, 12.0), "coordinates win over the address");
    }
}
