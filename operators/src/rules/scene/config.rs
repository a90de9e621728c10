//! What a user writes for one camera's scene: `[scenes.<camera_id>]` in a pipeline config.
//! Every duration is in seconds of event time and every ground distance in metres; where a
//! camera has no ground mapping, the image fallbacks are relative to the object's box.
//! `configs/scene-example.toml` shows each field.
//!
//! These are plain serde types; [`super::Scene::new`] checks them and refuses a bad one
//! naming the field, e.g. `zones[1] "gate".points: edges 0–1 and 2–3 cross`.

use super::super::geometry::{Direction, Point};
use super::super::ground::GroundConfig;
use pipeline::alert::Severity;
use serde::{Deserialize, Serialize};

/// `[scenes.<camera_id>]`: zones, lines, ground mapping, object filters, rate cap and the
/// rules of one camera.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SceneConfig {
    /// `[[scenes.<id>.zones]]`: named areas of the image.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// `[[scenes.<id>.lines]]`: named counting lines.
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    /// `[scenes.<id>.ground]`: tie points for ground positions and speeds in metres. Without
    /// it, alerts carry no lat/lon or speed, and motion rules use their image fallbacks.
    #[serde(default)]
    pub ground: Option<GroundConfig>,
    /// `[scenes.<id>.filters]`: which tracked objects the rules see at all.
    #[serde(default)]
    pub filters: ObjectFilters,
    /// Most new alert episodes per minute of event time from this camera. Above it, new
    /// episodes are withheld and summarised in one `rate_capped` alert per minute naming
    /// how many of which kind; episodes already open still update and end. Unset: no cap.
    #[serde(default)]
    pub rate_cap_per_min: Option<u32>,
    /// The camera's local time as hours east of UTC (Tashkent: 5), in quarter hours; only
    /// rule schedules use it.
    #[serde(default)]
    pub utc_offset_hours: f64,
    /// `[[scenes.<id>.rules]]`, each with a `kind`.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// A named zone: a simple polygon in normalised image coordinates.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// At least 3 `[x, y]` points, 0–1 across and down the frame; the outline must not
    /// cross itself.
    pub points: Vec<Point>,
}

/// A named line from `a` to `b` in normalised image coordinates.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    pub a: Point,
    pub b: Point,
    /// Which crossing is "forward": from the left of `a → b` to its right
    /// (`left_to_right`, the default) or the other way, sides as seen on screen walking
    /// from `a` to `b`.
    #[serde(default)]
    pub forward: Side,
}

/// A crossing direction of a line, as seen on screen walking from `a` to `b`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    #[default]
    LeftToRight,
    RightToLeft,
}

impl Side {
    /// The same direction in [`super::super::geometry`]'s terms.
    pub fn direction(self) -> Direction {
        match self {
            Side::LeftToRight => Direction::LeftToRight,
            Side::RightToLeft => Direction::RightToLeft,
        }
    }
}

/// Which crossings of a line a `line_crossing` rule reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossings {
    #[default]
    Forward,
    Backward,
    Both,
}

/// Objects the rules ignore: a track failing a filter in a frame is, for the rules, not
/// there in that frame.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectFilters {
    /// Least detection score in the frame (the track's latest detection).
    pub min_score: f32,
    /// Least median score over the track's recent history.
    pub min_median_score: f32,
    /// Least box area, as a fraction of the frame's area.
    pub min_area: f64,
    /// Largest box area, as a fraction of the frame's area.
    pub max_area: f64,
    /// Least box aspect ratio, width / height (in pixels).
    pub min_aspect: f64,
    /// Largest box aspect ratio, width / height; unset: no limit.
    pub max_aspect: Option<f64>,
}

impl Default for ObjectFilters {
    fn default() -> Self {
        Self { min_score: 0.0, min_median_score: 0.0, min_area: 0.0, max_area: 1.0, min_aspect: 0.0, max_aspect: None }
    }
}

/// When a rule is armed: on `days`, from `from` to `to` local time (`"HH:MM"`, `to` may
/// be `"24:00"`). A window whose `to` is earlier than its `from` runs past midnight into
/// the next day, and belongs to the day it starts on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`; unset: every day.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    pub from: String,
    pub to: String,
}

/// `[[scenes.<id>.rules]]`: one rule; `kind` chooses which, and names the alerts it raises.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleConfig {
    ZoneIntrusion(ZoneIntrusionConfig),
    LineCrossing(LineCrossingConfig),
    Loitering(LoiteringConfig),
    Crowd(CrowdConfig),
    #[serde(alias = "stationary")]
    StationaryObject(StationaryConfig),
    AbandonedObject(AbandonedConfig),
    WrongWay(WrongWayConfig),
}

impl RuleConfig {
    /// The `kind` as written (and as alerts name it).
    pub fn kind(&self) -> &'static str {
        match self {
            RuleConfig::ZoneIntrusion(_) => "zone_intrusion",
            RuleConfig::LineCrossing(_) => "line_crossing",
            RuleConfig::Loitering(_) => "loitering",
            RuleConfig::Crowd(_) => "crowd",
            RuleConfig::StationaryObject(_) => "stationary_object",
            RuleConfig::AbandonedObject(_) => "abandoned_object",
            RuleConfig::WrongWay(_) => "wrong_way",
        }
    }
}

/// `kind = "zone_intrusion"`: an object's foot point (bottom centre of its box) inside
/// the zone. Entry must hold for `inertia_secs` before the episode begins, and exit as
/// long before it ends, so a box flickering over the edge raises nothing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneIntrusionConfig {
    /// Shown in alerts as `rule_name`.
    #[serde(default)]
    pub name: Option<String>,
    pub zone: String,
    pub classes: Vec<String>,
    #[serde(default = "half_second")]
    pub inertia_secs: f64,
    /// After an episode of an object ends, that object raises no new one for this long.
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "high")]
    pub severity: Severity,
    /// When the rule is armed; empty: always. Disarming ends open episodes.
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "line_crossing"`: an object's foot point crosses the line. Each crossing is
/// an instantaneous episode (`begin` and `end` in the same frame, same `event_ts`). A
/// track counts at most once per rule, and a crossing counts only once the point is
/// `margin` clear of the line on the far side, so jitter on the line counts nothing. That
/// once-per-track rule is why this kind has no cooldown.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineCrossingConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub line: String,
    pub classes: Vec<String>,
    /// `forward` (default), `backward` or `both`, relative to the line's `forward`.
    #[serde(default)]
    pub direction: Crossings,
    /// How far (normalised image distance, perpendicular to the line) a foot point must
    /// be from the line to count as on one side.
    #[serde(default = "default_margin")]
    pub margin: f64,
    #[serde(default = "low")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "loitering"`: an object stays in the zone longer than `dwell_secs`. Its time
/// in the zone runs from entry and survives absences (missed detections, a step over
/// the edge) up to `max_gap_secs`; a longer absence ends the visit. Updates at 2×, 4×,
/// 8× … `dwell_secs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoiteringConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub zone: String,
    pub classes: Vec<String>,
    pub dwell_secs: f64,
    #[serde(default = "two_seconds")]
    pub max_gap_secs: f64,
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "crowd"`: at least `min_count` objects of the classes in the zone for
/// `min_secs`; ends once fewer have been there for `min_secs`. An update reports the
/// count when it has moved by `count_step` (default: half of `min_count`, at least 1) and
/// stayed there for `min_secs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrowdConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub zone: String,
    pub classes: Vec<String>,
    pub min_count: u32,
    #[serde(default = "two_seconds")]
    pub min_secs: f64,
    #[serde(default)]
    pub count_step: Option<u32>,
    /// After an episode ends, the zone raises no new one for this long.
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "stationary_object"` (or `stationary`): an object that stops and stays for
/// `min_secs`. Stopped: ground speed below `max_speed_mps` where the camera has a ground
/// mapping; without one, its foot point stays within `max_displacement_boxes` box
/// heights of where it stopped. Ends when it moves on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StationaryConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub classes: Vec<String>,
    /// Only objects in this zone; unset: anywhere.
    #[serde(default)]
    pub zone: Option<String>,
    pub min_secs: f64,
    #[serde(default = "default_max_speed")]
    pub max_speed_mps: f64,
    #[serde(default = "default_max_displacement")]
    pub max_displacement_boxes: f64,
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "low")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "abandoned_object"`: a bag, stopped as for `stationary_object`, with no
/// person (an `owner_classes` track) within `owner_distance_m` on the ground (without a
/// ground mapping: `owner_distance_boxes` of that person's box heights between foot
/// points) for `min_secs`: the owner left. Ends when the bag moves or a person comes back
/// to it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AbandonedConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "bags")]
    pub classes: Vec<String>,
    #[serde(default = "people")]
    pub owner_classes: Vec<String>,
    #[serde(default)]
    pub zone: Option<String>,
    pub min_secs: f64,
    #[serde(default = "default_owner_distance")]
    pub owner_distance_m: f64,
    #[serde(default = "default_owner_boxes")]
    pub owner_distance_boxes: f64,
    #[serde(default = "default_max_speed")]
    pub max_speed_mps: f64,
    #[serde(default = "default_max_displacement")]
    pub max_displacement_boxes: f64,
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "high")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

/// `kind = "wrong_way"`: an object moving against the allowed heading by more than
/// `tolerance_deg`, for `min_secs`; ends once it has not been for `min_secs`. The allowed
/// heading is either `heading_deg`, a compass bearing on the ground (0 north, 90 east;
/// needs a ground mapping), or `image_heading_deg`, a direction on screen (0 up the
/// image, 90 right). Moving: ground speed at least `min_speed_mps` where the camera has a
/// ground mapping, else at least `min_speed_boxes_per_sec` box heights a second.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WrongWayConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub classes: Vec<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub heading_deg: Option<f64>,
    #[serde(default)]
    pub image_heading_deg: Option<f64>,
    #[serde(default = "default_tolerance")]
    pub tolerance_deg: f64,
    #[serde(default = "default_min_speed")]
    pub min_speed_mps: f64,
    #[serde(default = "default_min_speed_boxes")]
    pub min_speed_boxes_per_sec: f64,
    #[serde(default = "one_second")]
    pub min_secs: f64,
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: f64,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default)]
    pub schedule: Vec<Window>,
}

fn half_second() -> f64 {
    0.5
}
fn one_second() -> f64 {
    1.0
}
fn two_seconds() -> f64 {
    2.0
}
fn default_cooldown() -> f64 {
    10.0
}
fn default_margin() -> f64 {
    0.01
}
fn default_max_speed() -> f64 {
    0.25
}
fn default_max_displacement() -> f64 {
    0.15
}
fn default_owner_distance() -> f64 {
    3.0
}
fn default_owner_boxes() -> f64 {
    1.5
}
fn default_tolerance() -> f64 {
    90.0
}
fn default_min_speed() -> f64 {
    1.0
}
fn default_min_speed_boxes() -> f64 {
    0.5
}
fn bags() -> Vec<String> {
    ["backpack", "handbag", "suitcase"].map(String::from).to_vec()
}
fn people() -> Vec<String> {
    vec!["person".into()]
}
fn low() -> Severity {
    Severity::Low
}
fn medium() -> Severity {
    Severity::Medium
}
fn high() -> Severity {
    Severity::High
}

/// `Err` unless `v` is a finite number of seconds, 0 or more.
pub(super) fn secs(field: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{field}: {v} is not a number of seconds (finite, 0 or more)"))
    }
}

/// `Err` unless `v` is finite and positive.
pub(super) fn positive(field: &str, v: f64, unit: &str) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 { Ok(v) } else { Err(format!("{field}: {v} must be a positive number of {unit}")) }
}

/// A checked schedule: local-time windows as day masks and seconds of the day. Scene rules
/// use it for when they are armed, sensors (alarm contacts) for when opening is allowed.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// `(days, from, to)`: bit 0 of `days` is Monday; `from`/`to` in seconds of the day.
    windows: Vec<(u8, u32, u32)>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Schedule {
    /// Checks `windows`; `Err` names the field, e.g. `schedule[1].days: "funday" is not a day …`.
    pub fn new(windows: &[Window]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(windows.len());
        for (i, w) in windows.iter().enumerate() {
            let mut mask = 0u8;
            match &w.days {
                None => mask = 0x7f,
                Some(days) if days.is_empty() => {
                    return Err(format!("schedule[{i}].days: empty; leave it out for every day"));
                }
                Some(days) => {
                    for d in days {
                        let k = DAYS.iter().position(|x| x.eq_ignore_ascii_case(d)).ok_or_else(|| {
                            format!("schedule[{i}].days: {d:?} is not a day (one of {})", DAYS.join(", "))
                        })?;
                        mask |= 1 << k;
                    }
                }
            }
            let from = hhmm(&w.from, false).map_err(|e| format!("schedule[{i}].from: {e}"))?;
            let to = hhmm(&w.to, true).map_err(|e| format!("schedule[{i}].to: {e}"))?;
            if from == to {
                return Err(format!("schedule[{i}]: from and to are both {:?}: the window is empty", w.from));
            }
            out.push((mask, from, to));
        }
        Ok(Self { windows: out })
    }

    /// Whether the schedule has no windows (then [`Schedule::armed`] is always true).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether event time `t` (seconds since the epoch) falls in a window, in local time
    /// `offset_secs` east of UTC. No windows: always.
    pub fn armed(&self, t: f64, offset_secs: i64) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let local = t.floor() as i64 + offset_secs;
        let day = local.div_euclid(86_400);
        let sec = local.rem_euclid(86_400) as u32;
        // 1970-01-01 was a Thursday: day 0 has weekday index 3 (Monday = 0).
        let weekday = |d: i64| (d + 3).rem_euclid(7) as u32;
        let (today, yesterday) = (weekday(day), weekday(day - 1));
        self.windows.iter().any(|&(mask, from, to)| {
            if from < to {
                mask & (1 << today) != 0 && (from..to).contains(&sec)
            } else {
                (mask & (1 << today) != 0 && sec >= from) || (mask & (1 << yesterday) != 0 && sec < to)
            }
        })
    }
}

fn hhmm(s: &str, allow_24: bool) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time of day \"HH:MM\"");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && (m != 0 || !allow_24)) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

/// The UTC offset in seconds; `Err` unless within −12…+14 hours in quarter hours.
pub fn utc_offset(hours: f64) -> Result<i64, String> {
    let quarters = hours * 4.0;
    if !(hours.is_finite() && (-12.0..=14.0).contains(&hours) && (quarters - quarters.round()).abs() < 1e-9) {
        return Err(format!("utc_offset_hours: {hours} is not an offset within -12…14 hours in quarter hours"));
    }
    Ok((quarters.round() as i64) * 900)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: Option<&[&str]>, from: &str, to: &str) -> Window {
        Window { days: days.map(|d| d.iter().map(|s| s.to_string()).collect()), from: from.into(), to: to.into() }
    }

    /// 2024-06-03 00:00:00 UTC, a Monday.
    const MONDAY: f64 = 1_717_372_800.0;

    #[test]
    fn schedules_follow_local_time_and_run_past_midnight() {
        let tashkent = utc_offset(5.0).unwrap();
        assert_eq!(tashkent, 18_000);
        // Friday nights, 22:00 to 06:00 local.
        let s = Schedule::new(&[window(Some(&["fri"]), "22:00", "06:00")]).unwrap();
        let local = |day: f64, h: f64| MONDAY + day * 86_400.0 + h * 3600.0 - 5.0 * 3600.0;
        assert!(!s.armed(local(4.0, 21.99), tashkent), "Friday 21:59");
        assert!(s.armed(local(4.0, 22.0), tashkent), "Friday 22:00");
        assert!(s.armed(local(5.0, 5.99), tashkent), "Saturday 05:59, the Friday night");
        assert!(!s.armed(local(5.0, 6.0), tashkent), "Saturday 06:00");
        assert!(!s.armed(local(5.0, 23.0), tashkent), "Saturday night");
        assert!(!s.armed(local(3.0, 23.0), tashkent), "Thursday night");
        let always = Schedule::new(&[]).unwrap();
        assert!(always.armed(MONDAY, 0));
        let weekdays = Schedule::new(&[window(None, "00:00", "24:00")]).unwrap();
        assert!(weekdays.armed(local(6.0, 23.99), tashkent));
    }

    #[test]
    fn bad_schedules_and_offsets_name_the_field() {
        let e = Schedule::new(&[window(Some(&["mon"]), "8:00", "18:00"), window(Some(&["funday"]), "08:00", "09:00")])
            .unwrap_err();
        assert!(e.starts_with("schedule[1].days: \"funday\""), "{e}");
        assert!(Schedule::new(&[window(None, "25:00", "26:00")]).unwrap_err().starts_with("schedule[0].from"));
        assert!(Schedule::new(&[window(None, "24:00", "06:00")]).unwrap_err().starts_with("schedule[0].from"));
        assert!(Schedule::new(&[window(None, "08:00", "08:60")]).unwrap_err().starts_with("schedule[0].to"));
        assert!(Schedule::new(&[window(None, "08:00", "08:00")]).unwrap_err().contains("empty"));
        assert!(Schedule::new(&[window(Some(&[]), "08:00", "09:00")]).unwrap_err().contains("days: empty"));
        assert!(utc_offset(5.75).is_ok());
        assert!(utc_offset(5.1).unwrap_err().starts_with("utc_offset_hours"));
        assert!(utc_offset(15.0).is_err() && utc_offset(f64::NAN).is_err());
        assert!(secs("dwell_secs", -1.0).unwrap_err().starts_with("dwell_secs: -1"));
    }
}
