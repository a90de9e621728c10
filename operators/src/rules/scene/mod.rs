//! A camera's scene: its zones, lines and ground mapping, and the rules that watch them
//! (`zone_intrusion`, `line_crossing`, `loitering`, `crowd`, `stationary_object`,
//! `abandoned_object`, `wrong_way`), raising alert episodes from the tracker's tracks.
//!
//! The idea to understand first: every rule is a small state machine per object (or per
//! zone) driven by event time, never by frame counts. A condition must *hold* for its
//! seconds before an episode begins and stop holding for as long before it ends, so uneven
//! frame spacing, drops and a flickering box change nothing but the times.
//!
//! One [`Scene`] belongs to one stream's analytics thread. Per frame it maps each track's
//! foot point to the ground (when the camera has tie points), smooths a speed over a short
//! window of event time, filters the objects, and runs the rules. It keeps its buffers
//! from frame to frame: a frame that raises no alert allocates nothing, except state for a
//! track seen for the first time.
//!
//! Every alert's `event_ts` is the event time of the frame that decided it (for episodes
//! ended by [`Scene::set_suspended`], the time of the suspension). Alerts carry the zone or
//! line they concern in `attributes` (`zone`, `line`), so evidence can be drawn with
//! [`Scene::zones`] and [`Scene::lines`].

pub mod config;
mod rules;
#[cfg(test)]
mod tests;

pub use config::{
    AbandonedConfig, Crossings, CrowdConfig, LineConfig, LineCrossingConfig, LoiteringConfig, ObjectFilters,
    RuleConfig, SceneConfig, Side, StationaryConfig, WrongWayConfig, ZoneConfig, ZoneIntrusionConfig,
};

use super::geometry::{Direction, Line, Point, Zone};
use super::ground::GroundMap;
use super::object_detected::FrameFacts;
use super::{AlertContext, AlertParts};
use crate::detect::BBox;
use crate::track::Track;
use chrono::{DateTime, Utc};
use pipeline::alert::{self, Alert, AlertObject, GeoPoint, Phase, Severity};
use std::collections::HashMap;
use uuid::Uuid;

/// A named zone of a scene, for rules and for drawing evidence.
#[derive(Debug, Clone)]
pub struct SceneZone {
    pub name: String,
    pub zone: Zone,
}

/// A named line of a scene and which way across it is forward.
#[derive(Debug, Clone)]
pub struct SceneLine {
    pub name: String,
    pub line: Line,
    pub forward: Direction,
}

/// Where a track's foot point is on the ground, and how fast it moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundPosition {
    pub geo: GeoPoint,
    /// Metres per second, smoothed over [`SPEED_WINDOW_SECS`]; `None` until the track has
    /// been seen over [`MIN_SPEED_SPAN_SECS`].
    pub speed_mps: Option<f64>,
}

/// Speeds and headings are fitted over this much event time of a track's latest positions.
pub const SPEED_WINDOW_SECS: f64 = 1.0;
/// The least span of positions a speed is fitted over.
pub const MIN_SPEED_SPAN_SECS: f64 = 0.2;
/// Positions older than this never count towards a speed.
pub const MAX_SPEED_SPAN_SECS: f64 = 5.0;
/// Event times are microseconds; comparisons of durations allow for that rounding.
const TIME_EPS: f64 = 1e-6;

/// Whether a condition that began at `since` has held for `secs` at `t`.
fn held(since: f64, t: f64, secs: f64) -> bool {
    t - since >= secs - TIME_EPS
}

/// The rules of one camera, with their state. Build with [`Scene::new`], then call
/// [`Scene::update`] once per analysed frame.
pub struct Scene {
    zones: Vec<SceneZone>,
    lines: Vec<SceneLine>,
    ground: Option<GroundMap>,
    filters: ObjectFilters,
    offset_secs: i64,
    labels: &'static [&'static str],
    rules: Vec<rules::Rule>,
    cap: RateCap,
    motion: HashMap<u64, Motion>,
    /// This frame's objects that pass the filters; reused from frame to frame.
    objs: Vec<Obj>,
    suspended: bool,
    /// When a suspension began whose open episodes have not been ended yet.
    suspend_pending: Option<f64>,
}

impl Scene {
    /// Checks the whole config against the detector's `labels` (index = class id) and
    /// builds the scene. `Err` names the field, e.g.
    /// `rules[2] (loitering).dwell_secs: -1 is not a number of seconds (finite, 0 or more)`.
    pub fn new(cfg: &SceneConfig, labels: &'static [&'static str]) -> Result<Scene, String> {
        let mut zones: Vec<SceneZone> = Vec::with_capacity(cfg.zones.len());
        for (i, z) in cfg.zones.iter().enumerate() {
            let at = format!("zones[{i}] {:?}", z.name);
            if z.name.trim().is_empty() {
                return Err(format!("zones[{i}].name: empty"));
            }
            if zones.iter().any(|o| o.name == z.name) {
                return Err(format!("{at}.name: another zone has this name"));
            }
            let zone = Zone::new(z.points.clone()).map_err(|e| format!("{at}.points: {e}"))?;
            zones.push(SceneZone { name: z.name.clone(), zone });
        }
        let mut lines: Vec<SceneLine> = Vec::with_capacity(cfg.lines.len());
        for (i, l) in cfg.lines.iter().enumerate() {
            let at = format!("lines[{i}] {:?}", l.name);
            if l.name.trim().is_empty() {
                return Err(format!("lines[{i}].name: empty"));
            }
            if lines.iter().any(|o| o.name == l.name) {
                return Err(format!("{at}.name: another line has this name"));
            }
            let line = Line::new(l.a, l.b).map_err(|e| format!("{at}: {e}"))?;
            lines.push(SceneLine { name: l.name.clone(), line, forward: l.forward.direction() });
        }
        let ground = match &cfg.ground {
            None => None,
            Some(g) => {
                let map = GroundMap::new(g).map_err(|e| format!("ground.{e}"))?;
                // Everything the rules look at must lie on the ground, below the horizon.
                for (i, z) in zones.iter().enumerate() {
                    for (k, p) in z.zone.points().iter().enumerate() {
                        beyond_horizon(&map, *p).map_err(|e| format!("zones[{i}] {:?}.points[{k}]: {e}", z.name))?;
                    }
                }
                for (i, l) in lines.iter().enumerate() {
                    for (end, p) in [("a", l.line.a()), ("b", l.line.b())] {
                        beyond_horizon(&map, p).map_err(|e| format!("lines[{i}] {:?}.{end}: {e}", l.name))?;
                    }
                }
                Some(map)
            }
        };
        let f = &cfg.filters;
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("filters.{name}: {v} is not within 0–1")) }
        };
        unit("min_score", f64::from(f.min_score))?;
        unit("min_median_score", f64::from(f.min_median_score))?;
        unit("min_area", f.min_area)?;
        unit("max_area", f.max_area)?;
        if f.min_area > f.max_area {
            return Err(format!("filters.min_area: {} is above max_area {}", f.min_area, f.max_area));
        }
        if !(f.min_aspect.is_finite() && f.min_aspect >= 0.0) {
            return Err(format!("filters.min_aspect: {} must be 0 or more", f.min_aspect));
        }
        if let Some(max) = f.max_aspect
            && !(max.is_finite() && max > 0.0 && max >= f.min_aspect)
        {
            return Err(format!("filters.max_aspect: {max} must be positive and at least min_aspect"));
        }
        if cfg.rate_cap_per_min == Some(0) {
            return Err("rate_cap_per_min: 0 would withhold every alert; leave it out for no cap".into());
        }
        let offset_secs = config::utc_offset(cfg.utc_offset_hours)?;
        let build = rules::Build { zones: &zones, lines: &lines, labels, has_ground: ground.is_some() };
        let rules = cfg
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| build.rule(r).map_err(|e| format!("rules[{i}] ({}).{e}", r.kind())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scene {
            zones,
            lines,
            ground,
            filters: cfg.filters.clone(),
            offset_secs,
            labels,
            rules,
            cap: RateCap::new(cfg.rate_cap_per_min),
            motion: HashMap::new(),
            objs: Vec::new(),
            suspended: false,
            suspend_pending: None,
        })
    }

    /// Reads one frame's confirmed tracks (`Tracker::reported`) and the ids of tracks that
    /// ended (`Tracker::ended`), and appends the alerts they cause to `out`.
    pub fn update(
        &mut self,
        ctx: &AlertContext,
        f: &FrameFacts,
        tracks: &[Track],
        ended: &[u64],
        out: &mut Vec<Alert>,
    ) {
        let t = f.t_secs;
        let mut sink = Sink { ctx, f, event_ts: f.event_ts, cap: &mut self.cap, out, labels: self.labels };
        sink.roll_cap(t);
        if let Some(at) = self.suspend_pending.take() {
            sink.event_ts = super::ts_from_secs(at);
            for rule in &mut self.rules {
                rule.close_all(&mut sink, at, "suspended");
                rule.forget();
            }
            sink.event_ts = f.event_ts;
        }
        if self.suspended {
            return;
        }
        self.objs.clear();
        for tr in tracks {
            let o = observe(&mut self.motion, self.ground.as_ref(), tr, f);
            if passes(&self.filters, tr, f) {
                self.objs.push(o);
            }
        }
        for rule in &mut self.rules {
            let armed = rule.schedule().armed(t, self.offset_secs);
            rule.step(&self.objs, armed, t, &mut sink);
        }
        for id in ended {
            for rule in &mut self.rules {
                rule.track_ended(*id, t, &mut sink);
            }
            self.motion.remove(id);
        }
    }

    /// The stream is over: ends every open episode (at `f`, the last frame) and sends the
    /// `rate_capped` summary of the minute so far, if anything was withheld.
    pub fn finish(&mut self, ctx: &AlertContext, f: &FrameFacts, out: &mut Vec<Alert>) {
        let mut sink = Sink { ctx, f, event_ts: f.event_ts, cap: &mut self.cap, out, labels: self.labels };
        let reason = if self.suspend_pending.take().is_some() { "suspended" } else { "finished" };
        for rule in &mut self.rules {
            rule.close_all(&mut sink, f.t_secs, reason);
            rule.forget();
        }
        sink.flush_cap();
        self.motion.clear();
    }

    /// Suspends the rules (`true`) while the camera is off its reference view (tamper:
    /// moved, covered), or resumes them. While suspended no episode begins; the ones open
    /// end at the next [`Scene::update`], stamped `t_secs` (event time of the suspension),
    /// with `reason: "suspended"`. Every rule is suspended, not only those with zones and
    /// lines: the ground mapping and image motion are as wrong as the zones in a moved view.
    /// On resuming, rules start afresh: nothing seen before counts.
    pub fn set_suspended(&mut self, suspended: bool, t_secs: f64) {
        if suspended && !self.suspended {
            self.suspend_pending = Some(t_secs);
        }
        if !suspended && self.suspended {
            self.motion.clear();
        }
        self.suspended = suspended;
    }

    /// Whether the rules are suspended.
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// The scene's zones, in config order.
    pub fn zones(&self) -> &[SceneZone] {
        &self.zones
    }

    /// The scene's lines, in config order.
    pub fn lines(&self) -> &[SceneLine] {
        &self.lines
    }

    /// The zone of that name (as in an alert's `zone` attribute).
    pub fn zone(&self, name: &str) -> Option<&SceneZone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The line of that name (as in an alert's `line` attribute).
    pub fn line(&self, name: &str) -> Option<&SceneLine> {
        self.lines.iter().find(|l| l.name == name)
    }

    /// The image→ground mapping, where the camera has tie points.
    pub fn ground(&self) -> Option<&GroundMap> {
        self.ground.as_ref()
    }

    /// Where a live track was last seen on the ground, and its speed.
    pub fn position(&self, track_id: u64) -> Option<GroundPosition> {
        let m = self.motion.get(&track_id)?;
        let last = m.latest()?;
        let g = self.ground.as_ref()?;
        Some(GroundPosition {
            geo: g.local_to_geo(last.local?),
            speed_mps: m.ground_velocity().map(|v| v[0].hypot(v[1])),
        })
    }
}

fn beyond_horizon(map: &GroundMap, p: Point) -> Result<(), String> {
    match map.to_local(p) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{p:?} is beyond the ground mapping's horizon (or over {} m away): zones and lines must lie on the ground",
            super::ground::MAX_GROUND_RANGE_M
        )),
    }
}

fn passes(f: &ObjectFilters, tr: &Track, facts: &FrameFacts) -> bool {
    let (w, h) = (f64::from(tr.bbox.width()), f64::from(tr.bbox.height()));
    if h <= 0.0 || w <= 0.0 || tr.score < f.min_score {
        return false;
    }
    let area = w * h / (f64::from(facts.frame_w).max(1.0) * f64::from(facts.frame_h).max(1.0));
    let aspect = w / h;
    area >= f.min_area
        && area <= f.max_area
        && aspect >= f.min_aspect
        && f.max_aspect.is_none_or(|m| aspect <= m)
        && (f.min_median_score <= 0.0 || tr.median_score() >= f.min_median_score)
}

/// Records the track's position and returns what the rules need of it this frame.
fn observe(motion: &mut HashMap<u64, Motion>, ground: Option<&GroundMap>, tr: &Track, f: &FrameFacts) -> Obj {
    let b = tr.bbox;
    let foot_px = [f64::from(b.x1 + b.x2) / 2.0, f64::from(b.y2)];
    let foot = [foot_px[0] / f64::from(f.frame_w).max(1.0), foot_px[1] / f64::from(f.frame_h).max(1.0)];
    let local = ground.and_then(|g| g.to_local(foot));
    let m = motion.entry(tr.id).or_default();
    m.push(Sample { t: f.t_secs, px: foot_px, local });
    Obj {
        id: tr.id,
        class: tr.class_id,
        score: tr.median_score(),
        bbox: b,
        foot,
        foot_px,
        box_h_px: f64::from(b.height()).max(1.0),
        local,
        geo: ground.zip(local).map(|(g, l)| g.local_to_geo(l)),
        ground_vel: if local.is_some() { m.ground_velocity() } else { None },
        image_vel: m.image_velocity(),
    }
}

/// One object in this frame, as the rules see it.
#[derive(Debug, Clone, Copy)]
struct Obj {
    id: u64,
    class: u32,
    /// Median detection score: the object's confidence.
    score: f32,
    /// Box in pixels.
    bbox: BBox,
    /// Foot point, normalised.
    foot: Point,
    /// Foot point, pixels.
    foot_px: [f64; 2],
    box_h_px: f64,
    /// Foot point on the local ground plane, metres east / north.
    local: Option<[f64; 2]>,
    geo: Option<GeoPoint>,
    /// Ground velocity, m/s east / north.
    ground_vel: Option<[f64; 2]>,
    /// Foot point velocity, pixels per second (x right, y down).
    image_vel: Option<[f64; 2]>,
}

impl Obj {
    fn speed_mps(&self) -> Option<f64> {
        self.ground_vel.map(|v| v[0].hypot(v[1]))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    t: f64,
    px: [f64; 2],
    local: Option<[f64; 2]>,
}

const MOTION_SAMPLES: usize = 32;

/// A track's latest foot positions, a fixed ring: enough for [`SPEED_WINDOW_SECS`] at
/// 30 frames a second without allocating per frame.
#[derive(Debug, Clone, Default)]
struct Motion {
    ring: [Sample; MOTION_SAMPLES],
    len: usize,
    head: usize,
}

impl Motion {
    fn push(&mut self, s: Sample) {
        // A repeated time (the tracker holds time still when it runs backwards) replaces.
        if let Some(last) = self.latest()
            && s.t <= last.t
        {
            let i = (self.head + MOTION_SAMPLES - 1) % MOTION_SAMPLES;
            self.ring[i] = Sample { t: last.t, ..s };
            return;
        }
        self.ring[self.head] = s;
        self.head = (self.head + 1) % MOTION_SAMPLES;
        self.len = (self.len + 1).min(MOTION_SAMPLES);
    }

    fn latest(&self) -> Option<&Sample> {
        (self.len > 0).then(|| &self.ring[(self.head + MOTION_SAMPLES - 1) % MOTION_SAMPLES])
    }

    /// The samples a velocity is fitted over: those of the last [`SPEED_WINDOW_SECS`],
    /// reaching further back where that holds fewer than two or spans less than
    /// [`MIN_SPEED_SPAN_SECS`] (sparse frames: drops, motion gating), but never past
    /// [`MAX_SPEED_SPAN_SECS`].
    fn recent(&self) -> impl Iterator<Item = &Sample> + '_ {
        let at = |k: usize| &self.ring[(self.head + MOTION_SAMPLES - self.len + k) % MOTION_SAMPLES];
        let mut first = self.len;
        if let Some(now) = self.latest().map(|s| s.t) {
            while first > 0 {
                let t = at(first - 1).t;
                let enough = self.len - first >= 2 && now - at(first).t >= MIN_SPEED_SPAN_SECS - TIME_EPS;
                if now - t > MAX_SPEED_SPAN_SECS + TIME_EPS || (enough && now - t > SPEED_WINDOW_SECS + TIME_EPS) {
                    break;
                }
                first -= 1;
            }
        }
        (first..self.len).map(at)
    }

    fn ground_velocity(&self) -> Option<[f64; 2]> {
        slope(|| self.recent().filter_map(|s| s.local.map(|l| (s.t, l))))
    }

    fn image_velocity(&self) -> Option<[f64; 2]> {
        slope(|| self.recent().map(|s| (s.t, s.px)))
    }
}

/// Least-squares velocity of positions over time; `None` with fewer than two positions
/// or a span shorter than [`MIN_SPEED_SPAN_SECS`].
fn slope<I: Iterator<Item = (f64, [f64; 2])>>(points: impl Fn() -> I) -> Option<[f64; 2]> {
    let (mut n, mut st, mut t_min, mut t_max) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    let mut sp = [0.0; 2];
    for (t, p) in points() {
        n += 1.0;
        st += t;
        sp[0] += p[0];
        sp[1] += p[1];
        t_min = t_min.min(t);
        t_max = t_max.max(t);
    }
    if n < 2.0 || t_max - t_min < MIN_SPEED_SPAN_SECS - TIME_EPS {
        return None;
    }
    let (tm, pm) = (st / n, [sp[0] / n, sp[1] / n]);
    let (mut stt, mut stp) = (0.0, [0.0; 2]);
    for (t, p) in points() {
        let dt = t - tm;
        stt += dt * dt;
        stp[0] += dt * (p[0] - pm[0]);
        stp[1] += dt * (p[1] - pm[1]);
    }
    Some([stp[0] / stt, stp[1] / stt])
}

/// The alert kinds a scene raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ZoneIntrusion,
    LineCrossing,
    Loitering,
    Crowd,
    StationaryObject,
    AbandonedObject,
    WrongWay,
    RateCapped,
}

impl Kind {
    const CAPPED: [Kind; 7] = [
        Kind::ZoneIntrusion,
        Kind::LineCrossing,
        Kind::Loitering,
        Kind::Crowd,
        Kind::StationaryObject,
        Kind::AbandonedObject,
        Kind::WrongWay,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::ZoneIntrusion => "zone_intrusion",
            Kind::LineCrossing => "line_crossing",
            Kind::Loitering => "loitering",
            Kind::Crowd => "crowd",
            Kind::StationaryObject => "stationary_object",
            Kind::AbandonedObject => "abandoned_object",
            Kind::WrongWay => "wrong_way",
            Kind::RateCapped => "rate_capped",
        }
    }

    /// The rule and its version, recorded in `provenance.rule`.
    fn rule(self) -> &'static str {
        match self {
            Kind::ZoneIntrusion => "zone_intrusion/1",
            Kind::LineCrossing => "line_crossing/1",
            Kind::Loitering => "loitering/1",
            Kind::Crowd => "crowd/1",
            Kind::StationaryObject => "stationary_object/1",
            Kind::AbandonedObject => "abandoned_object/1",
            Kind::WrongWay => "wrong_way/1",
            Kind::RateCapped => "rate_capped/1",
        }
    }

    fn index(self) -> usize {
        Kind::CAPPED.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// An open episode. A withheld one (over the rate cap) runs its course silently, so its
/// updates and end are withheld too and no receiver sees an end without a begin.
#[derive(Debug, Clone, Copy)]
struct Episode {
    id: Uuid,
    withheld: bool,
    /// Event time of the begin.
    began: f64,
}

/// The per-camera rate cap over fixed minutes of event time (aligned to UTC minutes).
#[derive(Debug)]
struct RateCap {
    cap: Option<u32>,
    /// Start of the current minute; NaN before the first frame.
    window: f64,
    begun: u32,
    withheld: [u32; 7],
    worst: Option<Severity>,
}

impl RateCap {
    fn new(cap: Option<u32>) -> Self {
        Self { cap, window: f64::NAN, begun: 0, withheld: [0; 7], worst: None }
    }
}

/// Where the rules' alerts go this frame: builds them only when they are sent.
struct Sink<'a> {
    ctx: &'a AlertContext,
    f: &'a FrameFacts,
    event_ts: DateTime<Utc>,
    cap: &'a mut RateCap,
    out: &'a mut Vec<Alert>,
    labels: &'static [&'static str],
}

type Attributes = serde_json::Map<String, serde_json::Value>;

impl Sink<'_> {
    /// Opens an episode at `t`, withheld when this minute's cap is spent.
    fn open(&mut self, kind: Kind, severity: Severity, t: f64) -> Episode {
        let cap = &mut *self.cap;
        let withheld = cap.cap.is_some_and(|c| cap.begun >= c);
        if withheld {
            cap.withheld[kind.index()] += 1;
            cap.worst = cap.worst.max(Some(severity));
        } else {
            cap.begun = cap.begun.saturating_add(1);
        }
        Episode { id: alert::new_id(), withheld, began: t }
    }

    /// Sends one message of an episode unless it is withheld; `objects` and
    /// `attributes` are only built when it is sent.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        ep: &Episode,
        kind: Kind,
        phase: Phase,
        severity: Severity,
        confidence: f32,
        objects: impl FnOnce(&Self) -> Vec<AlertObject>,
        attributes: impl FnOnce() -> Attributes,
    ) {
        if ep.withheld {
            return;
        }
        let objects = objects(self);
        let attributes = attributes();
        let alert = self.ctx.alert(AlertParts {
            episode: ep.id,
            kind: kind.name(),
            rule: kind.rule(),
            phase,
            severity,
            confidence,
            event_ts: self.event_ts,
            ingest_ts: self.f.ingest_ts,
            clock: self.f.clock,
            objects,
            attributes,
        });
        self.out.push(alert);
    }

    /// An object as alerts carry it: class, track, score, normalised box, ground, speed.
    fn object(&self, o: &Obj) -> AlertObject {
        let (w, h) = (self.f.frame_w.max(1.0), self.f.frame_h.max(1.0));
        let n = |v: f32, s: f32| (v / s).clamp(0.0, 1.0);
        AlertObject {
            class: self.labels.get(o.class as usize).copied().unwrap_or("unknown").to_string(),
            track_id: Some(o.id),
            score: o.score.clamp(0.0, 1.0),
            bbox: Some([n(o.bbox.x1, w), n(o.bbox.y1, h), n(o.bbox.x2, w), n(o.bbox.y2, h)]),
            ground: o.geo,
            speed_mps: o.speed_mps().map(|v| v as f32),
        }
    }

    /// Starts a new minute when `t` has left the current one, first sending the summary
    /// of what the finished minute withheld.
    fn roll_cap(&mut self, t: f64) {
        if self.cap.cap.is_none() {
            return;
        }
        let minute = (t / 60.0).floor() * 60.0;
        if self.cap.window.is_nan() {
            self.cap.window = minute;
        } else if minute > self.cap.window {
            self.flush_cap();
            self.cap.window = minute;
        }
    }

    /// Sends the `rate_capped` summary of the current minute if it withheld anything, and
    /// starts counting afresh. The summary is an instantaneous episode (begin and end).
    fn flush_cap(&mut self) {
        let total: u32 = self.cap.withheld.iter().sum();
        if total > 0 {
            let mut by_kind = serde_json::Map::new();
            for (k, n) in Kind::CAPPED.iter().zip(self.cap.withheld) {
                if n > 0 {
                    by_kind.insert(k.name().into(), n.into());
                }
            }
            let window = self.cap.window;
            let mut attributes = Attributes::new();
            attributes.insert("withheld".into(), by_kind.into());
            attributes.insert("withheld_total".into(), total.into());
            attributes.insert("rate_cap_per_min".into(), self.cap.cap.unwrap_or(0).into());
            attributes.insert("window_start".into(), super::ts_from_secs(window).to_rfc3339().into());
            attributes.insert("window_end".into(), super::ts_from_secs(window + 60.0).to_rfc3339().into());
            let severity = self.cap.worst.unwrap_or(Severity::Low);
            let ep = Episode { id: alert::new_id(), withheld: false, began: window };
            for phase in [Phase::Begin, Phase::End] {
                let attributes = attributes.clone();
                self.send(&ep, Kind::RateCapped, phase, severity, 1.0, |_| vec![], || attributes);
            }
        }
        self.cap.begun = 0;
        self.cap.withheld = [0; 7];
        self.cap.worst = None;
    }
}
