//! The scene's rules as state machines over event time: one per object (or per zone for
//! `crowd`), each deciding when its episode begins, updates and ends. The config they are
//! built from is in `config.rs`; what they raise is documented there, kind by kind.
//!
//! This file is long because the rules share their episode and geometry helpers and are
//! compared side by side (when each begins and ends); each rule itself is short.

use super::config::{self, Crossings, RuleConfig, Schedule, Window};
use super::{Attributes, Episode, Kind, Obj, SceneLine, SceneZone, Sink, TIME_EPS, held};
use pipeline::alert::{Phase, Severity};
use std::collections::HashMap;

/// What building a rule needs from its scene.
pub(super) struct Build<'a> {
    pub zones: &'a [SceneZone],
    pub lines: &'a [SceneLine],
    pub labels: &'static [&'static str],
    pub has_ground: bool,
}

/// The most objects a `crowd` alert lists.
const MAX_CROWD_OBJECTS: usize = 50;

impl Build<'_> {
    /// Checks one rule's config and builds it; `Err` names the field within the rule.
    pub fn rule(&self, r: &RuleConfig) -> Result<Rule, String> {
        Ok(match r {
            RuleConfig::ZoneIntrusion(c) => Rule::ZoneIntrusion(ZoneIntrusion {
                c: self.common(Kind::ZoneIntrusion, &c.name, &c.classes, c.severity, c.cooldown_secs, &c.schedule)?,
                zone: self.zone(&c.zone)?,
                inertia: config::secs("inertia_secs", c.inertia_secs)?,
                tracks: HashMap::new(),
            }),
            RuleConfig::LineCrossing(c) => {
                let line = self.lines.iter().find(|l| l.name == c.line).cloned().ok_or_else(|| {
                    format!(
                        "line: {:?} is not a line of this scene ({})",
                        c.line,
                        names(self.lines.iter().map(|l| &l.name))
                    )
                })?;
                if !(c.margin.is_finite() && (0.0..0.5).contains(&c.margin)) {
                    return Err(format!("margin: {} is not a normalised distance within 0–0.5", c.margin));
                }
                Rule::LineCrossing(LineCrossing {
                    c: self.common(Kind::LineCrossing, &c.name, &c.classes, c.severity, 0.0, &c.schedule)?,
                    line,
                    accept: c.direction,
                    margin: c.margin,
                    tracks: HashMap::new(),
                })
            }
            RuleConfig::Loitering(c) => Rule::Loitering(Loitering {
                c: self.common(Kind::Loitering, &c.name, &c.classes, c.severity, c.cooldown_secs, &c.schedule)?,
                zone: self.zone(&c.zone)?,
                dwell: config::positive("dwell_secs", c.dwell_secs, "seconds")?,
                max_gap: config::secs("max_gap_secs", c.max_gap_secs)?,
                tracks: HashMap::new(),
            }),
            RuleConfig::Crowd(c) => {
                if c.min_count == 0 {
                    return Err("min_count: must be at least 1".into());
                }
                if c.count_step == Some(0) {
                    return Err("count_step: must be at least 1".into());
                }
                Rule::Crowd(Crowd {
                    c: self.common(Kind::Crowd, &c.name, &c.classes, c.severity, c.cooldown_secs, &c.schedule)?,
                    zone: self.zone(&c.zone)?,
                    min_count: c.min_count,
                    min_secs: config::secs("min_secs", c.min_secs)?,
                    step: c.count_step.unwrap_or((c.min_count / 2).max(1)),
                    above: None,
                    below: None,
                    change: None,
                    ep: None,
                    reported: 0,
                })
            }
            RuleConfig::StationaryObject(c) => Rule::Still(Still {
                c: self.common(
                    Kind::StationaryObject,
                    &c.name,
                    &c.classes,
                    c.severity,
                    c.cooldown_secs,
                    &c.schedule,
                )?,
                zone: c.zone.as_deref().map(|z| self.zone(z)).transpose()?,
                min_secs: config::secs("min_secs", c.min_secs)?,
                ground: self.has_ground,
                max_speed: config::positive("max_speed_mps", c.max_speed_mps, "metres a second")?,
                max_disp: config::positive("max_displacement_boxes", c.max_displacement_boxes, "box heights")?,
                owner: None,
                tracks: HashMap::new(),
            }),
            RuleConfig::AbandonedObject(c) => Rule::Still(Still {
                c: self.common(Kind::AbandonedObject, &c.name, &c.classes, c.severity, c.cooldown_secs, &c.schedule)?,
                zone: c.zone.as_deref().map(|z| self.zone(z)).transpose()?,
                min_secs: config::secs("min_secs", c.min_secs)?,
                ground: self.has_ground,
                max_speed: config::positive("max_speed_mps", c.max_speed_mps, "metres a second")?,
                max_disp: config::positive("max_displacement_boxes", c.max_displacement_boxes, "box heights")?,
                owner: Some(Owner {
                    classes: self.classes("owner_classes", &c.owner_classes)?,
                    distance_m: config::positive("owner_distance_m", c.owner_distance_m, "metres")?,
                    distance_boxes: config::positive("owner_distance_boxes", c.owner_distance_boxes, "box heights")?,
                }),
                tracks: HashMap::new(),
            }),
            RuleConfig::WrongWay(c) => {
                let heading = match (c.heading_deg, c.image_heading_deg) {
                    (Some(_), Some(_)) => {
                        return Err("heading_deg: give heading_deg or image_heading_deg, not both".into());
                    }
                    (None, None) => {
                        return Err(
                            "heading_deg: missing; give heading_deg (on the ground) or image_heading_deg".into()
                        );
                    }
                    (Some(_), None) if !self.has_ground => {
                        return Err("heading_deg: a heading on the ground needs the scene's [ground] tie points; \
                             use image_heading_deg without them"
                            .into());
                    }
                    (Some(h), None) => Heading::Ground(degrees("heading_deg", h)?),
                    (None, Some(h)) => Heading::Image(degrees("image_heading_deg", h)?),
                };
                if !(c.tolerance_deg.is_finite() && (0.0..180.0).contains(&c.tolerance_deg)) {
                    return Err(format!("tolerance_deg: {} is not within 0–180", c.tolerance_deg));
                }
                Rule::WrongWay(WrongWay {
                    c: self.common(Kind::WrongWay, &c.name, &c.classes, c.severity, c.cooldown_secs, &c.schedule)?,
                    zone: c.zone.as_deref().map(|z| self.zone(z)).transpose()?,
                    heading,
                    tolerance: c.tolerance_deg,
                    min_speed_mps: config::positive("min_speed_mps", c.min_speed_mps, "metres a second")?,
                    min_speed_boxes: config::positive(
                        "min_speed_boxes_per_sec",
                        c.min_speed_boxes_per_sec,
                        "box heights a second",
                    )?,
                    min_secs: config::secs("min_secs", c.min_secs)?,
                    ground: self.has_ground,
                    tracks: HashMap::new(),
                })
            }
        })
    }

    fn common(
        &self,
        kind: Kind,
        name: &Option<String>,
        classes: &[String],
        severity: Severity,
        cooldown: f64,
        schedule: &[Window],
    ) -> Result<Common, String> {
        if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err("name: empty".into());
        }
        Ok(Common {
            kind,
            name: name.clone(),
            classes: self.classes("classes", classes)?,
            severity,
            cooldown: config::secs("cooldown_secs", cooldown)?,
            schedule: Schedule::new(schedule)?,
            cooling: HashMap::new(),
        })
    }

    fn classes(&self, field: &str, names: &[String]) -> Result<Vec<u32>, String> {
        if names.is_empty() {
            return Err(format!("{field}: empty"));
        }
        names
            .iter()
            .map(|c| {
                self.labels
                    .iter()
                    .position(|l| l == c)
                    .map(|i| i as u32)
                    .ok_or_else(|| format!("{field}: {c:?} is not a label of the detector's model"))
            })
            .collect()
    }

    fn zone(&self, name: &str) -> Result<SceneZone, String> {
        self.zones.iter().find(|z| z.name == name).cloned().ok_or_else(|| {
            format!("zone: {name:?} is not a zone of this scene ({})", names(self.zones.iter().map(|z| &z.name)))
        })
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<String> = it.map(|n| format!("{n:?}")).collect();
    if v.is_empty() { "it has none".into() } else { format!("it has {}", v.join(", ")) }
}

fn degrees(field: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && (-360.0..=360.0).contains(&v) {
        Ok(v.rem_euclid(360.0))
    } else {
        Err(format!("{field}: {v} is not an angle in degrees within ±360"))
    }
}

/// Seconds rounded to milliseconds, for attributes.
fn ms(v: f64) -> serde_json::Value {
    ((v * 1000.0).round() / 1000.0).into()
}

/// What every rule has: its kind, classes, severity, cooldown and schedule.
pub(super) struct Common {
    kind: Kind,
    name: Option<String>,
    classes: Vec<u32>,
    severity: Severity,
    cooldown: f64,
    schedule: Schedule,
    /// Until when (event time) each object (or zone, key 0) may not begin a new episode.
    cooling: HashMap<u64, f64>,
}

impl Common {
    fn wants(&self, class: u32) -> bool {
        self.classes.contains(&class)
    }

    fn cooling(&self, key: u64, t: f64) -> bool {
        self.cooling.get(&key).is_some_and(|until| t < until - TIME_EPS)
    }

    fn cool(&mut self, key: u64, t: f64) {
        if self.cooldown > 0.0 {
            // Tracks that ended while the scene was suspended never say so: drop what has
            // run out now and then, so the map stays small.
            if self.cooling.len() >= 64 {
                self.cooling.retain(|_, until| *until > t);
            }
            self.cooling.insert(key, t + self.cooldown);
        }
    }

    /// The attributes every alert of the rule carries.
    fn attributes(&self) -> Attributes {
        let mut a = Attributes::new();
        if let Some(n) = &self.name {
            a.insert("rule_name".into(), n.clone().into());
        }
        a
    }

    fn open(&self, sink: &mut Sink, t: f64) -> Episode {
        sink.open(self.kind, self.severity, t)
    }

    /// Sends one message about one object, with the rule's attributes and `extra`.
    fn send_one(&self, sink: &mut Sink, ep: &Episode, phase: Phase, o: &Obj, extra: impl FnOnce(&mut Attributes)) {
        sink.send(
            ep,
            self.kind,
            phase,
            self.severity,
            o.score,
            |s| vec![s.object(o)],
            || {
                let mut a = self.attributes();
                extra(&mut a);
                a
            },
        );
    }

    /// Ends an object's episode: sends the end (with `reason` and `duration_secs`) and
    /// starts the object's cooldown.
    fn end_one(
        &mut self,
        sink: &mut Sink,
        ep: &Episode,
        o: &Obj,
        t: f64,
        reason: &str,
        extra: impl FnOnce(&mut Attributes),
    ) {
        self.send_one(sink, ep, Phase::End, o, |a| {
            a.insert("reason".into(), reason.into());
            a.insert("duration_secs".into(), ms(t - ep.began));
            extra(a);
        });
        self.cool(o.id, t);
    }
}

/// One rule of a scene, with its state.
pub(super) enum Rule {
    ZoneIntrusion(ZoneIntrusion),
    LineCrossing(LineCrossing),
    Loitering(Loitering),
    Crowd(Crowd),
    Still(Still),
    WrongWay(WrongWay),
}

impl Rule {
    fn common(&self) -> &Common {
        match self {
            Rule::ZoneIntrusion(r) => &r.c,
            Rule::LineCrossing(r) => &r.c,
            Rule::Loitering(r) => &r.c,
            Rule::Crowd(r) => &r.c,
            Rule::Still(r) => &r.c,
            Rule::WrongWay(r) => &r.c,
        }
    }

    /// When the rule is armed.
    pub fn schedule(&self) -> &Schedule {
        &self.common().schedule
    }

    /// One frame: `objs` are the objects seen (and passing the filters) at `t`. A rule
    /// that is not `armed` begins nothing and ends what is open.
    pub fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        if !armed {
            match self {
                Rule::Crowd(r) => r.close(sink, t, "disarmed", Some(objs)),
                _ => self.close_all(sink, t, "disarmed"),
            }
        }
        match self {
            Rule::ZoneIntrusion(r) => r.step(objs, armed, t, sink),
            Rule::LineCrossing(r) => r.step(objs, armed, t, sink),
            Rule::Loitering(r) => r.step(objs, armed, t, sink),
            Rule::Crowd(r) => r.step(objs, armed, t, sink),
            Rule::Still(r) => r.step(objs, armed, t, sink),
            Rule::WrongWay(r) => r.step(objs, armed, t, sink),
        }
    }

    /// A track ended at `t`: its episode ends and its state goes.
    pub fn track_ended(&mut self, id: u64, t: f64, sink: &mut Sink) {
        fn end<S>(
            c: &mut Common,
            tracks: &mut HashMap<u64, S>,
            id: u64,
            t: f64,
            sink: &mut Sink,
            part: fn(&S) -> (Option<Episode>, Obj),
        ) {
            if let Some(st) = tracks.remove(&id)
                && let (Some(ep), last) = part(&st)
            {
                c.end_one(sink, &ep, &last, t, "track_ended", |_| {});
            }
            c.cooling.remove(&id);
        }
        match self {
            Rule::ZoneIntrusion(r) => end(&mut r.c, &mut r.tracks, id, t, sink, |s| (s.ep, s.last)),
            Rule::LineCrossing(r) => {
                r.tracks.remove(&id);
            }
            Rule::Loitering(r) => end(&mut r.c, &mut r.tracks, id, t, sink, |s| (s.ep, s.last)),
            Rule::Crowd(_) => {}
            Rule::Still(r) => end(&mut r.c, &mut r.tracks, id, t, sink, |s| (s.ep, s.last)),
            Rule::WrongWay(r) => end(&mut r.c, &mut r.tracks, id, t, sink, |s| (s.ep, s.last)),
        }
    }

    /// Ends every open episode (disarmed, suspended, stream over) at event time `t`.
    pub fn close_all(&mut self, sink: &mut Sink, t: f64, reason: &str) {
        fn close<S>(
            c: &mut Common,
            tracks: &mut HashMap<u64, S>,
            t: f64,
            sink: &mut Sink,
            reason: &str,
            ep: fn(&mut S) -> (&mut Option<Episode>, Obj),
        ) {
            if !tracks.values_mut().any(|s| ep(s).0.is_some()) {
                return;
            }
            // In track order, so a replay sends the same messages in the same order.
            let mut ids: Vec<u64> = tracks.iter_mut().filter_map(|(id, s)| ep(s).0.is_some().then_some(*id)).collect();
            ids.sort_unstable();
            for id in ids {
                let (slot, last) = ep(tracks.get_mut(&id).expect("listed above"));
                if let Some(e) = slot.take() {
                    c.end_one(sink, &e, &last, t, reason, |_| {});
                }
            }
        }
        match self {
            Rule::ZoneIntrusion(r) => close(&mut r.c, &mut r.tracks, t, sink, reason, |s| (&mut s.ep, s.last)),
            Rule::LineCrossing(_) => {}
            Rule::Loitering(r) => close(&mut r.c, &mut r.tracks, t, sink, reason, |s| (&mut s.ep, s.last)),
            Rule::Crowd(r) => r.close(sink, t, reason, None),
            Rule::Still(r) => close(&mut r.c, &mut r.tracks, t, sink, reason, |s| (&mut s.ep, s.last)),
            Rule::WrongWay(r) => close(&mut r.c, &mut r.tracks, t, sink, reason, |s| (&mut s.ep, s.last)),
        }
    }

    /// Forgets everything seen (after a suspension), keeping cooldowns. Call after
    /// [`Rule::close_all`].
    pub fn forget(&mut self) {
        match self {
            Rule::ZoneIntrusion(r) => r.tracks.clear(),
            Rule::LineCrossing(r) => r.tracks.clear(),
            Rule::Loitering(r) => r.tracks.clear(),
            Rule::Crowd(r) => {
                (r.above, r.below, r.change) = (None, None, None);
            }
            Rule::Still(r) => r.tracks.clear(),
            Rule::WrongWay(r) => r.tracks.clear(),
        }
    }
}

/// `zone_intrusion`.
pub(super) struct ZoneIntrusion {
    c: Common,
    zone: SceneZone,
    inertia: f64,
    tracks: HashMap<u64, Presence>,
}

struct Presence {
    inside_since: Option<f64>,
    outside_since: Option<f64>,
    ep: Option<Episode>,
    last: Obj,
}

impl ZoneIntrusion {
    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        for o in objs {
            if !self.c.wants(o.class) {
                continue;
            }
            let inside = self.zone.zone.contains(o.foot);
            if !inside && !self.tracks.contains_key(&o.id) {
                continue;
            }
            let st = self.tracks.entry(o.id).or_insert(Presence {
                inside_since: None,
                outside_since: None,
                ep: None,
                last: *o,
            });
            st.last = *o;
            let zone = &self.zone.name;
            match st.ep {
                None if inside => {
                    let since = *st.inside_since.get_or_insert(t);
                    if armed && held(since, t, self.inertia) && !self.c.cooling(o.id, t) {
                        let ep = self.c.open(sink, t);
                        self.c.send_one(sink, &ep, Phase::Begin, o, |a| {
                            a.insert("zone".into(), zone.clone().into());
                        });
                        st.ep = Some(ep);
                        st.outside_since = None;
                    }
                }
                None => st.inside_since = None,
                Some(_) if inside => st.outside_since = None,
                Some(ep) => {
                    let since = *st.outside_since.get_or_insert(t);
                    if held(since, t, self.inertia) {
                        self.c.end_one(sink, &ep, o, t, "left", |a| {
                            a.insert("zone".into(), zone.clone().into());
                        });
                        st.ep = None;
                        st.inside_since = None;
                    }
                }
            }
            if st.ep.is_none() && st.inside_since.is_none() {
                self.tracks.remove(&o.id);
            }
        }
    }
}

/// `line_crossing`.
pub(super) struct LineCrossing {
    c: Common,
    line: SceneLine,
    accept: Crossings,
    margin: f64,
    tracks: HashMap<u64, Crossing>,
}

struct Crossing {
    /// The latest foot point clear of the line, and whether it was on the right side.
    settled: Option<([f64; 2], bool)>,
    counted: bool,
}

impl LineCrossing {
    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        for o in objs {
            if !self.c.wants(o.class) {
                continue;
            }
            let s = self.line.line.signed_distance(o.foot);
            if s.abs() < self.margin {
                continue;
            }
            let side = s > 0.0;
            let st = self.tracks.entry(o.id).or_insert(Crossing { settled: None, counted: false });
            if let Some((from, was)) = st.settled
                && was != side
                && !st.counted
                && armed
                && let Some(dir) = self.line.line.crossing(from, o.foot)
            {
                let forward = dir == self.line.forward;
                let wanted = match self.accept {
                    Crossings::Forward => forward,
                    Crossings::Backward => !forward,
                    Crossings::Both => true,
                };
                if wanted {
                    st.counted = true;
                    // An instantaneous episode: begin and end in this frame.
                    let ep = self.c.open(sink, t);
                    for phase in [Phase::Begin, Phase::End] {
                        self.c.send_one(sink, &ep, phase, o, |a| {
                            a.insert("line".into(), self.line.name.clone().into());
                            a.insert("direction".into(), if forward { "forward" } else { "backward" }.into());
                        });
                    }
                }
            }
            st.settled = Some((o.foot, side));
        }
    }
}

/// `loitering`.
pub(super) struct Loitering {
    c: Common,
    zone: SceneZone,
    dwell: f64,
    max_gap: f64,
    tracks: HashMap<u64, Visit>,
}

struct Visit {
    start: f64,
    last_in: f64,
    ep: Option<Episode>,
    /// Dwell time of the next update.
    next: f64,
    last: Obj,
}

impl Loitering {
    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        for o in objs {
            if !self.c.wants(o.class) {
                continue;
            }
            let inside = self.zone.zone.contains(o.foot);
            if !inside && !self.tracks.contains_key(&o.id) {
                continue;
            }
            let st = self.tracks.entry(o.id).or_insert(Visit { start: t, last_in: t, ep: None, next: 0.0, last: *o });
            let zone = &self.zone.name;
            let gone = t - st.last_in > self.max_gap + TIME_EPS;
            if gone {
                // Away longer than the gap allows: that visit is over.
                if let Some(ep) = st.ep.take() {
                    let dwell = st.last_in - st.start;
                    self.c.end_one(sink, &ep, &st.last, t, "left", |a| {
                        a.insert("zone".into(), zone.clone().into());
                        a.insert("dwell_secs".into(), ms(dwell));
                    });
                }
                if !inside {
                    self.tracks.remove(&o.id);
                    continue;
                }
                (st.start, st.last_in) = (t, t);
            }
            st.last = *o;
            if !inside {
                continue;
            }
            st.last_in = t;
            let dwell = t - st.start;
            match st.ep {
                None if armed && held(st.start, t, self.dwell) && !self.c.cooling(o.id, t) => {
                    let ep = self.c.open(sink, t);
                    self.c.send_one(sink, &ep, Phase::Begin, o, |a| {
                        a.insert("zone".into(), zone.clone().into());
                        a.insert("dwell_secs".into(), ms(dwell));
                    });
                    st.ep = Some(ep);
                    st.next = 2.0 * self.dwell;
                }
                Some(ep) if dwell >= st.next - TIME_EPS => {
                    self.c.send_one(sink, &ep, Phase::Update, o, |a| {
                        a.insert("zone".into(), zone.clone().into());
                        a.insert("dwell_secs".into(), ms(dwell));
                    });
                    st.next *= 2.0;
                }
                _ => {}
            }
        }
    }
}

/// `crowd`: one state per rule (its zone), not per object.
pub(super) struct Crowd {
    c: Common,
    zone: SceneZone,
    min_count: u32,
    min_secs: f64,
    step: u32,
    above: Option<f64>,
    below: Option<f64>,
    change: Option<f64>,
    ep: Option<Episode>,
    reported: u32,
}

impl Crowd {
    fn members<'a>(&'a self, objs: &'a [Obj]) -> impl Iterator<Item = &'a Obj> + 'a {
        objs.iter().filter(|o| self.c.wants(o.class) && self.zone.zone.contains(o.foot))
    }

    fn send(
        &self,
        sink: &mut Sink,
        ep: &Episode,
        phase: Phase,
        objs: &[Obj],
        count: Option<u32>,
        extra: impl FnOnce(&mut Attributes),
    ) {
        let (n, sum) = self.members(objs).fold((0u32, 0.0f32), |(n, s), o| (n + 1, s + o.score));
        let confidence = if n > 0 { sum / n as f32 } else { 1.0 };
        sink.send(
            ep,
            self.c.kind,
            phase,
            self.c.severity,
            confidence,
            |s| self.members(objs).take(MAX_CROWD_OBJECTS).map(|o| s.object(o)).collect(),
            || {
                let mut a = self.c.attributes();
                a.insert("zone".into(), self.zone.name.clone().into());
                if let Some(n) = count {
                    a.insert("count".into(), n.into());
                }
                a.insert("min_count".into(), self.min_count.into());
                extra(&mut a);
                a
            },
        );
    }

    /// Ends the episode; `objs` are this frame's objects where the end comes from a frame
    /// (the count is then known), `None` for a suspension or the stream's end.
    fn close(&mut self, sink: &mut Sink, t: f64, reason: &str, objs: Option<&[Obj]>) {
        if let Some(ep) = self.ep.take() {
            let count = objs.map(|o| self.members(o).count() as u32);
            self.send(sink, &ep, Phase::End, objs.unwrap_or(&[]), count, |a| {
                a.insert("reason".into(), reason.into());
                a.insert("duration_secs".into(), ms(t - ep.began));
            });
            self.c.cool(0, t);
            (self.above, self.below, self.change) = (None, None, None);
        }
    }

    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        let count = self.members(objs).count() as u32;
        match self.ep {
            None if count >= self.min_count => {
                let since = *self.above.get_or_insert(t);
                if armed && held(since, t, self.min_secs) && !self.c.cooling(0, t) {
                    let ep = self.c.open(sink, t);
                    self.send(sink, &ep, Phase::Begin, objs, Some(count), |_| {});
                    (self.ep, self.reported, self.below, self.change) = (Some(ep), count, None, None);
                }
            }
            None => self.above = None,
            Some(_) if count < self.min_count => {
                self.change = None;
                let since = *self.below.get_or_insert(t);
                if held(since, t, self.min_secs) {
                    self.close(sink, t, "dispersed", Some(objs));
                }
            }
            Some(ep) => {
                self.below = None;
                if count.abs_diff(self.reported) >= self.step {
                    let since = *self.change.get_or_insert(t);
                    if held(since, t, self.min_secs) {
                        self.send(sink, &ep, Phase::Update, objs, Some(count), |_| {});
                        (self.reported, self.change) = (count, None);
                    }
                } else {
                    self.change = None;
                }
            }
        }
    }
}

/// `stationary_object`, and with an owner check `abandoned_object`.
pub(super) struct Still {
    c: Common,
    zone: Option<SceneZone>,
    min_secs: f64,
    /// Judge stillness by ground speed (the scene has a ground mapping), else by image
    /// displacement from where the object stopped.
    ground: bool,
    max_speed: f64,
    max_disp: f64,
    owner: Option<Owner>,
    tracks: HashMap<u64, Stop>,
}

struct Owner {
    classes: Vec<u32>,
    distance_m: f64,
    distance_boxes: f64,
}

impl Owner {
    fn near(&self, bag: &Obj, p: &Obj) -> bool {
        match (bag.local, p.local) {
            (Some(a), Some(b)) => (a[0] - b[0]).hypot(a[1] - b[1]) <= self.distance_m,
            _ => {
                (bag.foot_px[0] - p.foot_px[0]).hypot(bag.foot_px[1] - p.foot_px[1]) <= self.distance_boxes * p.box_h_px
            }
        }
    }
}

struct Stop {
    /// Where (pixels) the object stopped; image mode only.
    anchor: [f64; 2],
    still_since: Option<f64>,
    unattended_since: Option<f64>,
    /// The last owner-class track seen near it.
    owner: Option<u64>,
    ep: Option<Episode>,
    last: Obj,
}

impl Still {
    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        for o in objs {
            if !self.c.wants(o.class) {
                continue;
            }
            if let Some(z) = &self.zone
                && !z.zone.contains(o.foot)
            {
                if let Some(st) = self.tracks.remove(&o.id)
                    && let Some(ep) = st.ep
                {
                    self.c.end_one(sink, &ep, o, t, "left_zone", |_| {});
                }
                continue;
            }
            let st = self.tracks.entry(o.id).or_insert(Stop {
                anchor: o.foot_px,
                still_since: (!self.ground).then_some(t),
                unattended_since: None,
                owner: None,
                ep: None,
                last: *o,
            });
            st.last = *o;
            let moved = if self.ground {
                match o.speed_mps() {
                    Some(v) if v >= self.max_speed => {
                        st.still_since = None;
                        true
                    }
                    Some(_) => {
                        st.still_since.get_or_insert(t);
                        false
                    }
                    None => false,
                }
            } else {
                let d = (o.foot_px[0] - st.anchor[0]).hypot(o.foot_px[1] - st.anchor[1]);
                let moved = d > self.max_disp * o.box_h_px;
                if moved {
                    // It is at its new place from now on.
                    st.anchor = o.foot_px;
                    st.still_since = Some(t);
                }
                moved
            };
            if moved {
                st.unattended_since = None;
                if let Some(ep) = st.ep.take() {
                    self.c.end_one(sink, &ep, o, t, "moved", |_| {});
                }
                continue;
            }
            let Some(still_since) = st.still_since else { continue };
            match &self.owner {
                None => {
                    if st.ep.is_none() && armed && held(still_since, t, self.min_secs) && !self.c.cooling(o.id, t) {
                        let ep = self.c.open(sink, t);
                        self.c.send_one(sink, &ep, Phase::Begin, o, |a| {
                            a.insert("still_secs".into(), ms(t - still_since));
                            if let Some(z) = &self.zone {
                                a.insert("zone".into(), z.name.clone().into());
                            }
                        });
                        st.ep = Some(ep);
                    }
                }
                Some(owner) => {
                    let near =
                        objs.iter().find(|p| p.id != o.id && owner.classes.contains(&p.class) && owner.near(o, p));
                    if let Some(p) = near {
                        st.owner = Some(p.id);
                        st.unattended_since = None;
                        if let Some(ep) = st.ep.take() {
                            let id = p.id;
                            self.c.end_one(sink, &ep, o, t, "owner_returned", |a| {
                                a.insert("owner_track_id".into(), id.into());
                            });
                        }
                        continue;
                    }
                    let since = *st.unattended_since.get_or_insert(t);
                    if st.ep.is_none() && armed && held(since, t, self.min_secs) && !self.c.cooling(o.id, t) {
                        let ep = self.c.open(sink, t);
                        let owner_id = st.owner;
                        self.c.send_one(sink, &ep, Phase::Begin, o, |a| {
                            a.insert("unattended_secs".into(), ms(t - since));
                            if let Some(id) = owner_id {
                                a.insert("owner_track_id".into(), id.into());
                            }
                            if let Some(z) = &self.zone {
                                a.insert("zone".into(), z.name.clone().into());
                            }
                        });
                        st.ep = Some(ep);
                    }
                }
            }
        }
    }
}

/// `wrong_way`.
pub(super) struct WrongWay {
    c: Common,
    zone: Option<SceneZone>,
    heading: Heading,
    tolerance: f64,
    min_speed_mps: f64,
    min_speed_boxes: f64,
    min_secs: f64,
    ground: bool,
    tracks: HashMap<u64, Way>,
}

#[derive(Debug, Clone, Copy)]
enum Heading {
    /// Compass bearing on the ground, degrees.
    Ground(f64),
    /// Direction on screen, degrees clockwise from up.
    Image(f64),
}

struct Way {
    wrong_since: Option<f64>,
    right_since: Option<f64>,
    ep: Option<Episode>,
    last: Obj,
}

impl WrongWay {
    /// `(wrong, heading seen, allowed heading)`, or `None` when the object's motion is not
    /// known yet.
    fn judge(&self, o: &Obj) -> Option<(bool, f64, f64)> {
        let (seen, allowed) = match self.heading {
            Heading::Ground(h) => {
                let v = o.ground_vel?;
                (v[0].atan2(v[1]).to_degrees(), h)
            }
            Heading::Image(h) => {
                let v = o.image_vel?;
                (v[0].atan2(-v[1]).to_degrees(), h)
            }
        };
        let moving = if self.ground {
            o.speed_mps()? >= self.min_speed_mps
        } else {
            let v = o.image_vel?;
            v[0].hypot(v[1]) / o.box_h_px >= self.min_speed_boxes
        };
        let off = (seen - allowed).rem_euclid(360.0);
        let off = off.min(360.0 - off);
        let in_zone = self.zone.as_ref().is_none_or(|z| z.zone.contains(o.foot));
        Some((in_zone && moving && off > self.tolerance, seen.rem_euclid(360.0), allowed))
    }

    fn step(&mut self, objs: &[Obj], armed: bool, t: f64, sink: &mut Sink) {
        for o in objs {
            if !self.c.wants(o.class) {
                continue;
            }
            let Some((wrong, seen, allowed)) = self.judge(o) else { continue };
            if !wrong && !self.tracks.contains_key(&o.id) {
                continue;
            }
            let st =
                self.tracks.entry(o.id).or_insert(Way { wrong_since: None, right_since: None, ep: None, last: *o });
            st.last = *o;
            if wrong {
                st.right_since = None;
                let since = *st.wrong_since.get_or_insert(t);
                if st.ep.is_none() && armed && held(since, t, self.min_secs) && !self.c.cooling(o.id, t) {
                    let ep = self.c.open(sink, t);
                    self.c.send_one(sink, &ep, Phase::Begin, o, |a| {
                        a.insert("heading_deg".into(), ms(seen));
                        a.insert("allowed_heading_deg".into(), allowed.into());
                        a.insert(
                            "heading_on".into(),
                            if matches!(self.heading, Heading::Ground(_)) { "ground" } else { "image" }.into(),
                        );
                        if let Some(z) = &self.zone {
                            a.insert("zone".into(), z.name.clone().into());
                        }
                    });
                    st.ep = Some(ep);
                }
            } else {
                st.wrong_since = None;
                match st.ep {
                    Some(ep) => {
                        let since = *st.right_since.get_or_insert(t);
                        if held(since, t, self.min_secs) {
                            self.c.end_one(sink, &ep, o, t, "no_longer_wrong_way", |_| {});
                            self.tracks.remove(&o.id);
                        }
                    }
                    None => {
                        self.tracks.remove(&o.id);
                    }
                }
            }
        }
    }
}
