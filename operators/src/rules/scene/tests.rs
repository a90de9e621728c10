//! Scripted scenes: tracks built directly, frames at uneven times, and the exact episodes
//! (kind, phase, track, event time) each rule must raise. Every alert produced here is
//! checked against the alert JSON Schema and the episode contract (begin first, nothing
//! after the end).

use super::*;
use crate::detect::manifest::COCO80;
use crate::rules::expected::{Ev, ev};
use pipeline::alert::{AlertSource, ClockState, SourceKind};
use std::cell::Cell;
use std::collections::HashSet;

/// 2024-06-03 00:00:00 UTC, a Monday (05:00 in Tashkent).
const T0: f64 = 1_717_372_800.0;
const W: f32 = 1000.0;
const H: f32 = 1000.0;

fn facts(t: f64) -> FrameFacts {
    let ts = super::super::ts_from_secs(T0 + t);
    FrameFacts { t_secs: T0 + t, event_ts: ts, ingest_ts: ts, clock: ClockState::Synced, frame_w: W, frame_h: H }
}

fn context() -> AlertContext {
    let mut provenance = serde_json::Map::new();
    provenance.insert("config".into(), "sha256:0123".into());
    AlertContext {
        site: "post-1".into(),
        source: AlertSource { kind: SourceKind::Camera, id: "gate-1".into(), name: "Gate 1".into(), location: None },
        provenance,
    }
}

/// One object of a scripted frame: its track, class, foot point and box size (both
/// normalised) and detection score.
#[derive(Debug, Clone, Copy)]
struct O {
    id: u64,
    class: &'static str,
    foot: [f64; 2],
    size: [f64; 2],
    score: f32,
}

fn person(id: u64, x: f64, y: f64) -> O {
    O { id, class: "person", foot: [x, y], size: [0.05, 0.15], score: 0.9 }
}
fn bag(id: u64, x: f64, y: f64) -> O {
    O { id, class: "backpack", foot: [x, y], size: [0.03, 0.03], score: 0.8 }
}
fn car(id: u64, x: f64, y: f64) -> O {
    O { id, class: "car", foot: [x, y], size: [0.1, 0.08], score: 0.85 }
}

/// A zone-wide alert (no track) as a test expects it.
fn ev_zone(t: f64, kind: &str, phase: Phase) -> Ev {
    Ev { t, kind: kind.into(), phase, track: None }
}

use Phase::{Begin, End, Update};

struct Run {
    scene: Scene,
    ctx: AlertContext,
    first_seen: HashMap<u64, f64>,
    all: Vec<Alert>,
    /// Episodes begun, and those ended.
    begun: HashSet<Uuid>,
    ended: HashSet<Uuid>,
    schema: jsonschema::Validator,
}

impl Run {
    fn new(toml_text: &str) -> Run {
        let cfg: SceneConfig = toml::from_str(toml_text).unwrap();
        let scene = Scene::new(&cfg, &COCO80).unwrap();
        let schema: serde_json::Value = serde_json::from_str(pipeline::alert::JSON_SCHEMA).unwrap();
        Run {
            scene,
            ctx: context(),
            first_seen: HashMap::new(),
            all: vec![],
            begun: HashSet::new(),
            ended: HashSet::new(),
            schema: jsonschema::validator_for(&schema).unwrap(),
        }
    }

    fn tracks(&mut self, t: f64, objs: &[O]) -> Vec<Track> {
        objs.iter()
            .map(|o| {
                let first = *self.first_seen.entry(o.id).or_insert(T0 + t);
                let class = COCO80.iter().position(|l| *l == o.class).unwrap() as u32;
                let (fx, fy) = (o.foot[0] * f64::from(W), o.foot[1] * f64::from(H));
                let (w, h) = (o.size[0] * f64::from(W), o.size[1] * f64::from(H));
                let bbox = BBox::new((fx - w / 2.0) as f32, (fy - h) as f32, (fx + w / 2.0) as f32, fy as f32);
                Track::scripted(o.id, class, bbox, o.score, first, T0 + t)
            })
            .collect()
    }

    fn frame(&mut self, t: f64, objs: &[O]) -> Vec<Ev> {
        self.frame_ended(t, objs, &[])
    }

    fn frame_ended(&mut self, t: f64, objs: &[O], ended: &[u64]) -> Vec<Ev> {
        let tracks = self.tracks(t, objs);
        let mut out = vec![];
        self.scene.update(&self.ctx, &facts(t), &tracks, ended, &mut out);
        self.take(out)
    }

    fn finish(&mut self, t: f64) -> Vec<Ev> {
        let mut out = vec![];
        self.scene.finish(&self.ctx, &facts(t), &mut out);
        self.take(out)
    }

    /// Checks each alert against the schema and the episode contract, keeps it, and
    /// returns what tests compare.
    fn take(&mut self, out: Vec<Alert>) -> Vec<Ev> {
        let mut evs = vec![];
        for a in out {
            let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
            let errors: Vec<String> = self.schema.iter_errors(&json).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{json}");
            assert_eq!(a.provenance["rule"], format!("{}/1", a.kind));
            assert_eq!(a.provenance["config"], "sha256:0123", "the context's provenance is kept");
            match a.phase {
                Begin => assert!(self.begun.insert(a.episode), "a second begin of {}", a.episode),
                Update => assert!(self.begun.contains(&a.episode), "an update without a begin"),
                End => {
                    assert!(self.begun.contains(&a.episode), "an end without a begin: {json}");
                    assert!(self.ended.insert(a.episode), "a second end");
                }
            }
            if a.phase != End {
                assert!(!self.ended.contains(&a.episode), "a message after the end");
            }
            let mut e = Ev::of(&a, T0);
            // Zone-wide kinds name no one track.
            if matches!(a.kind.as_str(), "crowd" | "rate_capped") {
                e.track = None;
            }
            evs.push(e);
            self.all.push(a);
        }
        evs
    }

    /// Plays frames; returns every event.
    fn play(&mut self, frames: &[(f64, Vec<O>)]) -> Vec<Ev> {
        frames.iter().flat_map(|(t, objs)| self.frame(*t, objs)).collect()
    }

    fn attr(&self, i: usize, key: &str) -> serde_json::Value {
        self.all[i].attributes.get(key).cloned().unwrap_or(serde_json::Value::Null)
    }
}

const YARD: &str = r#"
[[zones]]
name = "yard"
points = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
"#;

#[test]
fn zone_intrusion_needs_its_inertia_to_begin_and_to_end() {
    let mut run = Run::new(&format!(
        r#"{YARD}
[[rules]]
kind = "zone_intrusion"
zone = "yard"
classes = ["person"]
inertia_secs = 0.5
cooldown_secs = 5
"#
    ));
    let (i, o) = (0.5, 0.1);
    let p = |x: f64| vec![person(1, x, 0.5)];
    let evs = run.play(&[
        (0.0, p(o)),
        // In for 0.2 s, then out: a flicker, nothing.
        (0.1, p(i)),
        (0.3, p(i)),
        (0.35, p(o)),
        // In from 0.4; 0.55 s later the entry has held.
        (0.4, p(i)),
        (0.7, p(i)),
        (0.95, p(i)),
        // Out for 0.1 s: not an exit.
        (1.2, p(o)),
        (1.3, p(i)),
        // Out from 1.5: ends once that has held 0.5 s.
        (1.5, p(o)),
        (1.9, p(o)),
        (2.05, p(o)),
        (2.5, p(o)),
    ]);
    assert_eq!(evs, vec![ev(0.95, "zone_intrusion", Begin, 1), ev(2.05, "zone_intrusion", End, 1)]);
    assert_eq!(run.attr(0, "zone"), "yard");
    assert_eq!(run.attr(1, "reason"), "left");
    assert_eq!(run.attr(1, "duration_secs"), 1.1);
    let obj = &run.all[0].objects[0];
    assert_eq!(obj.class, "person");
    let b = obj.bbox.unwrap();
    assert!((b[0] - 0.475).abs() < 1e-6 && (b[3] - 0.5).abs() < 1e-6, "normalised box {b:?}");
    assert_eq!(obj.ground, None, "no ground mapping in this scene");
    assert_eq!(run.all[0].severity, Severity::High, "zone_intrusion's default");
}

#[test]
fn a_flicker_shorter_than_the_inertia_raises_nothing() {
    let mut run = Run::new(&format!(
        "{YARD}\n[[rules]]\nkind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\ninertia_secs = 0.5\n"
    ));
    let mut evs = vec![];
    // Every 0.25 s the box jumps in for 0.2 s and out again.
    for k in 0..20 {
        let t = f64::from(k) * 0.45;
        evs.extend(run.frame(t, &[person(1, 0.1, 0.5)]));
        evs.extend(run.frame(t + 0.05, &[person(1, 0.5, 0.5)]));
        evs.extend(run.frame(t + 0.25, &[person(1, 0.5, 0.5)]));
    }
    assert_eq!(evs, vec![]);
}

#[test]
fn cooldown_keeps_the_same_object_from_beginning_again() {
    let mut run = Run::new(&format!(
        "{YARD}\n[[rules]]\nkind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\ninertia_secs = 0.5\ncooldown_secs = 5\n"
    ));
    let p = |id: u64, x: f64| person(id, x, 0.5);
    let evs = run.play(&[
        (0.0, vec![p(1, 0.5)]),
        (0.6, vec![p(1, 0.5)]),
        (1.0, vec![p(1, 0.1)]),
        (1.5, vec![p(1, 0.1)]),
        // Back in at 2.2: the entry holds by 2.8, but the cooldown runs to 6.5.
        (2.2, vec![p(1, 0.5), p(2, 0.5)]),
        (2.8, vec![p(1, 0.5), p(2, 0.5)]),
        (4.0, vec![p(1, 0.5), p(2, 0.5)]),
        (6.4, vec![p(1, 0.5), p(2, 0.5)]),
        (6.55, vec![p(1, 0.5), p(2, 0.5)]),
    ]);
    assert_eq!(
        evs,
        vec![
            ev(0.6, "zone_intrusion", Begin, 1),
            ev(1.5, "zone_intrusion", End, 1),
            // Another object is not held back by the first one's cooldown.
            ev(2.8, "zone_intrusion", Begin, 2),
            ev(6.55, "zone_intrusion", Begin, 1),
        ]
    );
}

#[test]
fn a_schedule_arms_the_rule_only_in_its_local_window() {
    // Monday 08:00–09:00 in Tashkent (UTC+5) is 03:00–04:00 UTC: T0 + 3 h to T0 + 4 h.
    let mut run = Run::new(&format!(
        r#"utc_offset_hours = 5
{YARD}
[[rules]]
kind = "zone_intrusion"
zone = "yard"
classes = ["person"]
inertia_secs = 0.5
schedule = [{{ days = ["mon"], from = "08:00", to = "09:00" }}]
"#
    ));
    let (h3, h4) = (3.0 * 3600.0, 4.0 * 3600.0);
    let p = || vec![person(1, 0.5, 0.5)];
    let evs = run.play(&[
        (0.0, p()),
        (1.0, p()),
        (600.0, p()),
        (h3 - 1.7, p()),
        (h3 - 0.01, p()),
        (h3, p()),
        (h3 + 0.35, p()),
        (h4 - 0.2, p()),
        (h4, p()),
        (h4 + 7.0, p()),
    ]);
    assert_eq!(evs, vec![ev(h3, "zone_intrusion", Begin, 1), ev(h4, "zone_intrusion", End, 1)]);
    assert_eq!(run.attr(1, "reason"), "disarmed");

    // A week-end window raises nothing on a Monday at all.
    let mut quiet = Run::new(&format!(
        "utc_offset_hours = 5\n{YARD}\n[[rules]]\nkind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\n\
         schedule = [{{ days = [\"sat\", \"sun\"], from = \"00:00\", to = \"24:00\" }}]\n"
    ));
    let evs = quiet.play(&[(0.0, p()), (10.0, p()), (h3, p()), (20.0 * 3600.0, p())]);
    assert_eq!(evs, vec![]);
}

#[test]
fn line_crossing_counts_a_track_once_in_the_chosen_direction_despite_jitter() {
    // Drawn top to bottom: forward (left to right of a → b) is right to left on screen.
    let mut run = Run::new(
        r#"
[[lines]]
name = "door"
a = [0.5, 0.1]
b = [0.5, 0.9]

[[rules]]
kind = "line_crossing"
line = "door"
classes = ["person"]
margin = 0.01

[[rules]]
kind = "line_crossing"
name = "any way"
line = "door"
classes = ["person"]
direction = "both"
margin = 0.01
"#,
    );
    let evs = run.play(&[
        (0.0, vec![person(1, 0.7, 0.5), person(2, 0.3, 0.5), person(3, 0.7, 0.95)]),
        (0.1, vec![person(1, 0.6, 0.5), person(2, 0.4, 0.5), person(3, 0.6, 0.95)]),
        // Jitter on the line, within the margin: not on either side.
        (0.35, vec![person(1, 0.505, 0.5), person(2, 0.45, 0.5)]),
        (0.4, vec![person(1, 0.497, 0.5)]),
        (0.5, vec![person(1, 0.505, 0.5)]),
        // Clear on the far side: one forward crossing.
        (1.2, vec![person(1, 0.48, 0.5), person(2, 0.55, 0.5), person(3, 0.3, 0.95)]),
        // Back and forth again: already counted.
        (1.3, vec![person(1, 0.52, 0.5)]),
        (1.45, vec![person(1, 0.4, 0.5)]),
    ]);
    assert_eq!(
        evs,
        vec![
            ev(1.2, "line_crossing", Begin, 1),
            ev(1.2, "line_crossing", End, 1),
            ev(1.2, "line_crossing", Begin, 1),
            ev(1.2, "line_crossing", End, 1),
            // Track 2 went backward: only the rule for both ways counts it. Track 3
            // passed below the line's end.
            ev(1.2, "line_crossing", Begin, 2),
            ev(1.2, "line_crossing", End, 2),
        ]
    );
    assert_eq!(run.attr(0, "line"), "door");
    assert_eq!(run.attr(0, "direction"), "forward");
    assert_eq!(run.attr(2, "rule_name"), "any way");
    assert_eq!(run.attr(4, "direction"), "backward");
    assert_eq!(run.all[0].episode, run.all[1].episode, "begin and end of one instantaneous episode");
}

#[test]
fn loitering_counts_time_in_the_zone_across_short_gaps() {
    let mut run = Run::new(&format!(
        "{YARD}\n[[rules]]\nkind = \"loitering\"\nzone = \"yard\"\nclasses = [\"person\"]\ndwell_secs = 10\nmax_gap_secs = 2\n"
    ));
    let a = |x: f64| person(1, x, 0.5);
    let b = || person(2, 0.6, 0.6);
    let evs = run.play(&[
        (0.0, vec![a(0.5), b()]),
        (1.5, vec![a(0.5), b()]),
        // Track 1 unseen for 1.7 s, then a step out of the zone for 0.9 s: both within
        // the 2 s gap, so the visit goes on.
        (3.2, vec![a(0.5), b()]),
        (4.0, vec![a(0.1)]),
        (4.9, vec![a(0.5)]),
        (5.0, vec![a(0.5), b()]),
        (6.0, vec![a(0.5)]),
        (7.0, vec![a(0.5)]),
        // Track 2 unseen for 3 s: its visit starts again at 8.
        (8.0, vec![a(0.5), b()]),
        (9.9, vec![a(0.5), b()]),
        (10.05, vec![a(0.5), b()]),
        (12.0, vec![a(0.5), b()]),
        (13.5, vec![a(0.5), b()]),
        (15.0, vec![a(0.5), b()]),
        (16.5, vec![a(0.5), b()]),
        (17.9, vec![a(0.5), b()]),
        (18.0, vec![a(0.5), b()]),
        (19.5, vec![a(0.5), b()]),
        (20.3, vec![a(0.5), b()]),
        (21.0, vec![a(0.5), b()]),
        (22.0, vec![a(0.1), b()]),
        (23.0, vec![a(0.1), b()]),
        (23.1, vec![a(0.1), b()]),
    ]);
    assert_eq!(
        evs,
        vec![
            ev(10.05, "loitering", Begin, 1),
            ev(18.0, "loitering", Begin, 2),
            ev(20.3, "loitering", Update, 1),
            ev(23.1, "loitering", End, 1),
        ]
    );
    assert_eq!(run.attr(0, "dwell_secs"), 10.05);
    assert_eq!(run.attr(2, "dwell_secs"), 20.3);
    assert_eq!(run.attr(3, "dwell_secs"), 21.0, "time in the zone: entry to last seen in it");
    assert_eq!(run.all[0].episode, run.all[3].episode);
}

#[test]
fn crowd_begins_updates_and_ends_at_exact_times() {
    let mut run = Run::new(&format!(
        "{YARD}\n[[rules]]\nkind = \"crowd\"\nzone = \"yard\"\nclasses = [\"person\"]\nmin_count = 3\nmin_secs = 2\ncount_step = 2\n"
    ));
    // `n` people in the yard, one outside, and a car in the yard that does not count.
    let crowd = |n: u64| {
        let mut v: Vec<O> = (1..=n).map(|i| person(i, 0.25 + 0.05 * i as f64, 0.5)).collect();
        v.push(person(99, 0.9, 0.9));
        v.push(car(100, 0.5, 0.7));
        v
    };
    let evs = run.play(&[
        (0.0, crowd(2)),
        (0.4, crowd(3)),
        (1.1, crowd(3)),
        (1.5, crowd(2)),
        (1.7, crowd(3)),
        (2.9, crowd(4)),
        (3.69, crowd(3)),
        (3.7, crowd(3)),
        (4.0, crowd(5)),
        (5.5, crowd(5)),
        (6.0, crowd(6)),
        (6.5, crowd(2)),
        (7.0, crowd(3)),
        (7.3, crowd(1)),
        (8.8, crowd(0)),
        (9.3, crowd(2)),
        (12.0, crowd(0)),
    ]);
    assert_eq!(evs, vec![ev_zone(3.7, "crowd", Begin), ev_zone(6.0, "crowd", Update), ev_zone(9.3, "crowd", End)]);
    assert_eq!(run.attr(0, "count"), 3);
    assert_eq!(run.all[0].objects.len(), 3, "the people in the zone");
    assert_eq!(run.attr(1, "count"), 6);
    assert_eq!(run.attr(2, "count"), 2);
    assert_eq!(run.attr(2, "reason"), "dispersed");
}

#[test]
fn a_stopped_car_is_stationary_until_it_moves_on() {
    let mut run = Run::new(
        "[[rules]]\nkind = \"stationary_object\"\nclasses = [\"car\"]\nmin_secs = 5\nmax_displacement_boxes = 0.15\n",
    );
    // The car's box is 80 px high: it has stopped while its foot stays within 12 px.
    let c = |x: f64| vec![car(1, x, 0.7), person(2, 0.2, 0.7)];
    let evs = run.play(&[
        (0.0, c(0.20)),
        (0.3, c(0.25)),
        (0.7, c(0.30)),
        (1.0, c(0.35)),
        (1.4, c(0.355)),
        (2.9, c(0.345)),
        (3.3, c(0.352)),
        (5.95, c(0.35)),
        (6.0, c(0.358)),
        (7.0, c(0.35)),
        // 30 px: it moves on.
        (8.2, c(0.38)),
        (8.5, c(0.41)),
    ]);
    assert_eq!(evs, vec![ev(6.0, "stationary_object", Begin, 1), ev(8.2, "stationary_object", End, 1)]);
    assert_eq!(run.attr(0, "still_secs"), 5.0);
    assert_eq!(run.attr(1, "reason"), "moved");
}

#[test]
fn a_bag_is_abandoned_once_its_owner_has_left_for_long_enough() {
    let mut run = Run::new("[[rules]]\nkind = \"abandoned_object\"\nmin_secs = 4\nowner_distance_boxes = 1.5\n");
    // Person boxes are 150 px high: "near" is within 225 px of the bag's foot point.
    let evs = run.play(&[
        (0.0, vec![person(1, 0.55, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (0.5, vec![person(1, 0.55, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (1.2, vec![person(1, 0.6, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (2.0, vec![person(1, 0.7, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        // 300 px away: the owner has left the bag.
        (2.6, vec![person(1, 0.8, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (3.0, vec![person(1, 0.9, 0.7), bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (4.0, vec![bag(2, 0.501, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (5.5, vec![bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (6.55, vec![bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (6.6, vec![bag(2, 0.5, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (8.0, vec![bag(2, 0.5, 0.7), person(3, 0.75, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        // Someone comes to the bag.
        (9.1, vec![bag(2, 0.5, 0.7), person(3, 0.6, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
        (12.0, vec![bag(2, 0.5, 0.7), person(3, 0.6, 0.7), person(5, 0.15, 0.3), bag(4, 0.2, 0.3)]),
    ]);
    // Bag 4's owner (5) stays with it: nothing.
    assert_eq!(evs, vec![ev(6.6, "abandoned_object", Begin, 2), ev(9.1, "abandoned_object", End, 2)]);
    assert_eq!(run.attr(0, "owner_track_id"), 1, "the person last seen with the bag");
    assert_eq!(run.attr(0, "unattended_secs"), 4.0);
    assert_eq!(run.attr(1, "reason"), "owner_returned");
    assert_eq!(run.all[0].severity, Severity::High);
}

/// The road of `ground.rs`'s tests: the lower half of the image sees a trapezoid 10 m
/// wide at the camera's feet and 30 m wide 30 m away; north is up the image.
const ROAD: &str = r#"
[ground]
tie_points = [
  { image = [0.20, 0.50], lat = 41.3112698, lon = 69.2788204 },
  { image = [0.80, 0.50], lat = 41.3112698, lon = 69.2791796 },
  { image = [0.80, 1.00], lat = 41.3110000, lon = 69.2790599 },
  { image = [0.20, 1.00], lat = 41.3110000, lon = 69.2789401 },
]
"#;

/// The image foot point of a ground position `north` metres up the road from where the
/// image point `from` is, and `east` across.
fn on_road(scene: &Scene, from: Point, east: f64, north: f64) -> Point {
    let g = scene.ground().unwrap();
    let l = g.to_local(from).unwrap();
    g.to_image([l[0] + east, l[1] + north]).unwrap()
}

#[test]
fn ground_speed_of_a_track_moving_10_m_in_2_s_is_5_m_per_s() {
    let mut run = Run::new(ROAD);
    let start = [0.5, 0.95];
    let times = [0.0, 0.1, 0.35, 0.4, 0.8, 1.2, 1.25, 1.6, 1.9, 2.0];
    let mut last = None;
    for t in times {
        let p = on_road(&run.scene, start, 0.0, 5.0 * t);
        run.frame(t, &[person(7, p[0], p[1])]);
        last = run.scene.position(7);
    }
    let pos = last.unwrap();
    let v = pos.speed_mps.unwrap();
    assert!((v - 5.0).abs() <= 0.1, "5 m/s ± 2%: {v}");
    // 10 m north of the start.
    let g = run.scene.ground().unwrap();
    let here = g.geo_to_local(pos.geo);
    let from = g.to_local(start).unwrap();
    assert!(((here[1] - from[1]) - 10.0).abs() < 0.01 && (here[0] - from[0]).abs() < 0.01, "{here:?} {from:?}");
    // Too short a track has no speed yet.
    run.frame(2.05, &[person(8, 0.5, 0.9)]);
    run.frame(2.1, &[person(8, 0.5, 0.9)]);
    assert_eq!(run.scene.position(8).unwrap().speed_mps, None);
}

#[test]
fn wrong_way_on_the_ground_raises_only_for_the_car_against_the_heading() {
    let mut run = Run::new(&format!(
        "{ROAD}\n[[rules]]\nkind = \"wrong_way\"\nclasses = [\"car\"]\nheading_deg = 0\ntolerance_deg = 90\nmin_speed_mps = 1\nmin_secs = 1\n"
    ));
    let (west, east) = ([0.4, 0.6], [0.6, 0.98]);
    let times = [0.0, 0.1, 0.35, 0.4, 0.8, 1.2, 1.34, 1.35, 1.6, 2.0, 2.5];
    let mut evs = vec![];
    for t in times {
        // Car 1 drives south (towards the camera) at 4 m/s, car 2 north at 4 m/s.
        let wrong = on_road(&run.scene, west, 0.0, -4.0 * t);
        let right = on_road(&run.scene, east, 0.0, 4.0 * t);
        evs.extend(run.frame(t, &[car(1, wrong[0], wrong[1]), car(2, right[0], right[1])]));
    }
    evs.extend(run.frame_ended(4.0, &[], &[1, 2]));
    // The speed is known from 0.35 s (0.2 s of positions); wrong way from then, for 1 s.
    assert_eq!(evs, vec![ev(1.35, "wrong_way", Begin, 1), ev(4.0, "wrong_way", End, 1)]);
    let obj = &run.all[0].objects[0];
    let v = obj.speed_mps.unwrap();
    assert!((v - 4.0).abs() < 0.08, "{v}");
    assert!(obj.ground.is_some());
    let heading = run.attr(0, "heading_deg").as_f64().unwrap();
    assert!((heading - 180.0).abs() < 1.0, "driving south: {heading}");
    assert_eq!(run.attr(1, "reason"), "track_ended");
}

#[test]
fn wrong_way_on_the_image_without_a_ground_mapping() {
    // Allowed: up the image. People 150 px high; moving: at least half a box a second.
    let mut run = Run::new(
        "[[rules]]\nkind = \"wrong_way\"\nclasses = [\"person\"]\nimage_heading_deg = 0\ntolerance_deg = 60\nmin_secs = 0.5\n",
    );
    let times = [0.0, 0.1, 0.35, 0.4, 0.55, 0.85, 1.0, 1.4];
    let mut evs = vec![];
    for t in times {
        // 1 walks down at 0.2 frame heights (200 px, 1.3 boxes) a second, 2 up, 3 sideways
        // (90° off), 4 down but barely moving.
        evs.extend(run.frame(
            t,
            &[
                person(1, 0.3, 0.4 + 0.2 * t),
                person(2, 0.5, 0.8 - 0.2 * t),
                person(3, 0.2 + 0.2 * t, 0.3),
                person(4, 0.7, 0.5 + 0.02 * t),
            ],
        ));
    }
    // Speeds are known from 0.35 s: 1 and 3 are wrong from then, for 0.5 s by 0.85 s.
    assert_eq!(evs, vec![ev(0.85, "wrong_way", Begin, 1), ev(0.85, "wrong_way", Begin, 3)]);
    // Turning around: not wrong any more for 0.5 s ends it.
    let mut evs = vec![];
    for t in [1.5, 1.7, 2.0, 2.2, 2.49, 2.5] {
        evs.extend(run.frame(t, &[person(1, 0.3, 0.68 - 0.2 * (t - 1.4))]));
    }
    // Turned at 1.4: the fit over the last second still points down at 1.7 (0.57 boxes a
    // second), is too slow to count at 2.0 (0.32) and points up from 2.2. Not wrong from
    // 2.0, for 0.5 s: ended at 2.5.
    assert_eq!(evs, vec![ev(2.5, "wrong_way", End, 1)]);
    assert_eq!(run.attr(2, "reason"), "no_longer_wrong_way");
}

#[test]
fn a_stopped_car_on_the_ground_is_judged_by_its_speed() {
    let mut run = Run::new(&format!(
        "{ROAD}\n[[rules]]\nkind = \"stationary_object\"\nclasses = [\"car\"]\nmin_secs = 3\nmax_speed_mps = 0.25\n"
    ));
    let at = |run: &Run, north: f64| on_road(&run.scene, [0.5, 0.9], 0.0, north);
    let mut evs = vec![];
    for t in [0.0, 0.1, 0.25, 1.0, 3.2, 3.25, 5.0, 10.0, 10.5] {
        let p = at(&run, 0.0);
        evs.extend(run.frame(t, &[car(1, p[0], p[1])]));
    }
    // Pulls away: 2 m in the last half second of a 1 s window is 2 m/s.
    let p = at(&run, 2.0);
    evs.extend(run.frame(11.0, &[car(1, p[0], p[1])]));
    // Its speed is known from 0.25 s (0.2 s of positions): still from then, for 3 s.
    assert_eq!(evs, vec![ev(3.25, "stationary_object", Begin, 1), ev(11.0, "stationary_object", End, 1)]);
    assert_eq!(run.all[0].objects[0].speed_mps, Some(0.0));
}

#[test]
fn the_rate_cap_summarises_what_it_withholds_and_keeps_episodes_whole() {
    let mut run = Run::new(&format!(
        r#"rate_cap_per_min = 2
{YARD}
[[lines]]
name = "door"
a = [0.9, 0.1]
b = [0.9, 0.9]
[[rules]]
kind = "zone_intrusion"
zone = "yard"
classes = ["person"]
inertia_secs = 0
cooldown_secs = 0
[[rules]]
kind = "line_crossing"
line = "door"
classes = ["person"]
direction = "both"
"#
    ));
    let inside = |id: u64| person(id, 0.3 + 0.05 * id as f64, 0.5);
    let out = |id: u64| person(id, 0.1, 0.5 + 0.01 * id as f64);
    let evs = run.play(&[
        (1.0, vec![inside(1)]),
        (2.0, vec![inside(1), inside(2)]),
        (3.0, vec![inside(1), inside(2), inside(3)]),
        (3.5, vec![inside(1), inside(2), inside(3), person(4, 0.95, 0.5)]),
        (4.0, vec![inside(1), inside(2), inside(3), person(4, 0.85, 0.5)]),
        (5.0, vec![inside(1), inside(2), inside(3), inside(5)]),
        (10.0, vec![out(1), inside(2), inside(3), inside(5)]),
        (11.0, vec![out(1), inside(2), out(3), inside(5)]),
        (61.0, vec![inside(2), inside(5)]),
        (62.0, vec![inside(2), inside(5), inside(6)]),
    ]);
    assert_eq!(
        evs,
        vec![
            ev(1.0, "zone_intrusion", Begin, 1),
            ev(2.0, "zone_intrusion", Begin, 2),
            // Over the cap: 3's intrusion, 4's crossing and 5's intrusion are withheld,
            // and so is 3's end; 1's episode was open, so its end goes out.
            ev(10.0, "zone_intrusion", End, 1),
            ev_zone(61.0, "rate_capped", Begin),
            ev_zone(61.0, "rate_capped", End),
            ev(62.0, "zone_intrusion", Begin, 6),
        ]
    );
    let summary = &run.all[3];
    assert_eq!(summary.attributes["withheld"], serde_json::json!({"zone_intrusion": 2, "line_crossing": 1}));
    assert_eq!(summary.attributes["withheld_total"], 3);
    assert_eq!(summary.attributes["rate_cap_per_min"], 2);
    assert_eq!(summary.attributes["window_start"], "2024-06-03T00:00:00+00:00");
    assert_eq!(summary.severity, Severity::High, "the worst of what was withheld");
    // The stream ends: the open episodes end, the quiet minute has no summary.
    let evs = run.finish(70.0);
    let ended: Vec<u64> = evs.iter().filter_map(|e| e.track).collect();
    assert_eq!(ended, vec![2, 6], "5's episode was withheld, so is its end");
    assert!(evs.iter().all(|e| e.kind == "zone_intrusion" && e.phase == End && e.t == 70.0), "{evs:?}");
}

#[test]
fn suspension_ends_open_episodes_and_begins_none() {
    let mut run = Run::new(&format!(
        "{YARD}\n[[rules]]\nkind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\ninertia_secs = 0.5\ncooldown_secs = 1\n\
         [[rules]]\nkind = \"crowd\"\nzone = \"yard\"\nclasses = [\"person\"]\nmin_count = 1\nmin_secs = 0.5\ncooldown_secs = 0\n"
    ));
    let p1 = || person(1, 0.5, 0.5);
    let mut evs = run.play(&[(0.0, vec![p1()]), (0.6, vec![p1()]), (4.0, vec![p1()])]);
    run.scene.set_suspended(true, T0 + 4.7);
    assert!(run.scene.is_suspended());
    evs.extend(run.play(&[
        (5.2, vec![p1()]),
        (6.0, vec![p1(), person(2, 0.4, 0.4)]),
        (7.5, vec![p1(), person(2, 0.4, 0.4)]),
    ]));
    run.scene.set_suspended(false, T0 + 8.0);
    evs.extend(run.play(&[(8.1, vec![p1()]), (8.55, vec![p1()]), (8.6, vec![p1()])]));
    assert_eq!(
        evs,
        vec![
            ev(0.6, "zone_intrusion", Begin, 1),
            ev_zone(0.6, "crowd", Begin),
            // Ended at the time of the suspension, sent with the next frame.
            ev(4.7, "zone_intrusion", End, 1),
            ev_zone(4.7, "crowd", End),
            // After resuming, the entry has to hold afresh.
            ev(8.6, "zone_intrusion", Begin, 1),
            ev_zone(8.6, "crowd", Begin),
        ]
    );
    assert_eq!(run.attr(2, "reason"), "suspended");
    assert_eq!(run.attr(3, "count"), serde_json::Value::Null, "no frame, no count");
}

#[test]
fn filters_hide_objects_from_every_rule() {
    let mut run = Run::new(&format!(
        "{YARD}\n[filters]\nmin_score = 0.5\nmax_area = 0.05\nmin_aspect = 0.2\n\
         [[rules]]\nkind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\", \"car\"]\ninertia_secs = 0\n"
    ));
    let faint = O { score: 0.3, ..person(1, 0.5, 0.5) };
    let huge = O { size: [0.5, 0.5], ..car(2, 0.5, 0.7) };
    let thin = O { size: [0.01, 0.3], ..person(3, 0.4, 0.6) };
    let fine = person(4, 0.6, 0.6);
    let evs = run.play(&[(0.0, vec![faint, huge, thin, fine]), (1.0, vec![faint, huge, thin, fine])]);
    assert_eq!(evs, vec![ev(0.0, "zone_intrusion", Begin, 4)]);
}

#[test]
fn the_example_config_builds() {
    #[derive(serde::Deserialize)]
    struct File {
        scenes: HashMap<String, SceneConfig>,
    }
    let text = include_str!("../../../../configs/scene-example.toml");
    let file: File = toml::from_str(text).unwrap();
    let cfg = &file.scenes["gate-1"];
    let scene = Scene::new(cfg, &COCO80).unwrap();
    let kinds: Vec<&str> = cfg.rules.iter().map(RuleConfig::kind).collect();
    assert_eq!(
        kinds,
        ["zone_intrusion", "line_crossing", "loitering", "crowd", "stationary_object", "abandoned_object", "wrong_way"]
    );
    assert_eq!(scene.zones().len(), 2);
    assert_eq!(scene.line("entry").unwrap().forward, Direction::LeftToRight);
    assert!(scene.ground().unwrap().rms_residual_m() < 0.01);
    assert!(scene.zone("gate").unwrap().zone.contains([0.5, 0.8]));
}

#[test]
fn stationary_is_also_accepted_as_the_kind() {
    let cfg: SceneConfig =
        toml::from_str("[[rules]]\nkind = \"stationary\"\nclasses = [\"car\"]\nmin_secs = 5\n").unwrap();
    assert_eq!(cfg.rules[0].kind(), "stationary_object");
    assert!(Scene::new(&cfg, &COCO80).is_ok());
}

fn refused(toml_text: &str) -> String {
    let cfg: SceneConfig = match toml::from_str(toml_text) {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    match Scene::new(&cfg, &COCO80) {
        Ok(_) => panic!("accepted:\n{toml_text}"),
        Err(e) => e,
    }
}

#[test]
fn bad_configs_are_refused_naming_the_field() {
    let rule = |body: &str| format!("{YARD}\n[[rules]]\n{body}\n");
    let cases: Vec<(String, &str)> = vec![
        (
            "[[zones]]\nname = \"gate\"\npoints = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]".into(),
            "zones[0] \"gate\".points: edges 0–1 and 2–3 cross",
        ),
        (
            format!("{YARD}\n[[zones]]\nname = \"gate\"\npoints = [[0.1, 0.1], [1.3, 0.1], [0.5, 0.9]]"),
            "zones[1] \"gate\".points: point 1 [1.3, 0.1] is outside the frame",
        ),
        (format!("{YARD}{YARD}"), "zones[1] \"yard\".name: another zone has this name"),
        (
            "[[lines]]\nname = \"l\"\na = [0.5, 0.5]\nb = [0.5, 0.5]".into(),
            "lines[0] \"l\": the line from [0.5, 0.5] to [0.5, 0.5] has no length",
        ),
        (
            rule("kind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"persn\"]"),
            "rules[0] (zone_intrusion).classes: \"persn\" is not a label of the detector's model",
        ),
        (
            rule("kind = \"loitering\"\nzone = \"yard\"\nclasses = [\"person\"]\ndwell_secs = -1"),
            "rules[0] (loitering).dwell_secs: -1 must be a positive number of seconds",
        ),
        (
            rule("kind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\ninertia_secs = -0.5"),
            "rules[0] (zone_intrusion).inertia_secs: -0.5 is not a number of seconds",
        ),
        (
            rule("kind = \"crowd\"\nzone = \"yard\"\nclasses = [\"person\"]\nmin_count = 3\ncooldown_secs = -2"),
            "rules[0] (crowd).cooldown_secs: -2 is not a number of seconds",
        ),
        (
            rule("kind = \"crowd\"\nzone = \"yad\"\nclasses = [\"person\"]\nmin_count = 3"),
            "rules[0] (crowd).zone: \"yad\" is not a zone of this scene (it has \"yard\")",
        ),
        (
            rule("kind = \"line_crossing\"\nline = \"door\"\nclasses = [\"person\"]"),
            "rules[0] (line_crossing).line: \"door\" is not a line of this scene (it has none)",
        ),
        (
            rule("kind = \"wrong_way\"\nclasses = [\"car\"]\nheading_deg = 0"),
            "rules[0] (wrong_way).heading_deg: a heading on the ground needs the scene's [ground] tie points",
        ),
        (
            rule("kind = \"wrong_way\"\nclasses = [\"car\"]"),
            "rules[0] (wrong_way).heading_deg: missing",
        ),
        (
            rule("kind = \"stationary_object\"\nclasses = [\"car\"]\nmin_secs = 5\nschedule = [{ from = \"8\", to = \"9:00\" }]"),
            "rules[0] (stationary_object).schedule[0].from: \"8\" is not a time of day",
        ),
        (
            rule("kind = \"abandoned_object\"\nmin_secs = 5\nowner_classes = []"),
            "rules[0] (abandoned_object).owner_classes: empty",
        ),
        ("utc_offset_hours = 5.3".into(), "utc_offset_hours: 5.3"),
        ("rate_cap_per_min = 0".into(), "rate_cap_per_min: 0"),
        ("[filters]\nmin_area = 0.5\nmax_area = 0.1".into(), "filters.min_area: 0.5 is above max_area 0.1"),
        ("[filters]\nmin_score = 1.5".into(), "filters.min_score: 1.5 is not within 0–1"),
        // Ground: too few, repeated and collinear tie points.
        (
            "[ground]\ntie_points = [{ image = [0.2, 0.5], lat = 41.3, lon = 69.2 }, { image = [0.8, 0.5], lat = 41.3, lon = 69.201 }, \
             { image = [0.8, 1.0], lat = 41.2999, lon = 69.2005 }]"
                .into(),
            "ground.tie_points: 3 given, at least 4 are needed",
        ),
        (
            ROAD.replace("{ image = [0.20, 1.00]", "{ image = [0.80, 1.00]"),
            "ground.tie_points[3].image repeats tie_points[2].image",
        ),
        (
            ROAD.replace("image = [0.80, 1.00]", "image = [0.50, 0.50]"),
            "ground.tie_points[0], [1] and [2] are in a line on the image",
        ),
        // A zone reaching above the horizon of the road's mapping.
        (
            format!("{ROAD}\n[[zones]]\nname = \"sky\"\npoints = [[0.2, 0.05], [0.8, 0.05], [0.8, 0.9], [0.2, 0.9]]"),
            "zones[0] \"sky\".points[0]: [0.2, 0.05] is beyond the ground mapping's horizon",
        ),
        // Serde: an unknown field and an unknown kind are named too.
        (rule("kind = \"zone_intrusion\"\nzone = \"yard\"\nclasses = [\"person\"]\ninertia = 1"), "unknown field `inertia`"),
        (rule("kind = \"teleport\""), "unknown variant `teleport`"),
        ("zone = []".into(), "unknown field `zone`"),
    ];
    for (text, want) in cases {
        let got = refused(&text);
        assert!(got.contains(want), "want {want:?}\n got {got:?}");
    }
}

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts this thread's allocations, so a test can show a frame allocates nothing.
struct Counting;

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn a_frame_that_raises_nothing_allocates_nothing() {
    let text = include_str!("../../../../configs/scene-example.toml").replace("[scenes.gate-1", "[scene");
    #[derive(serde::Deserialize)]
    struct File {
        scene: SceneConfig,
    }
    let cfg = toml::from_str::<File>(&text).unwrap().scene;
    let mut run = Run { scene: Scene::new(&cfg, &COCO80).unwrap(), ..Run::new("") };
    // Twenty objects walking about and a parked car, seen long enough for every rule
    // to hold state about them (and the first alerts to be out of the way).
    let base = 3600.0;
    let objs = |t: f64| -> Vec<O> {
        let mut v: Vec<O> = (0..20).map(|i| person(i, 0.25 + 0.02 * i as f64, 0.6 + 0.01 * (t - base))).collect();
        v.push(car(50, 0.35, 0.9));
        v.push(bag(51, 0.4, 0.9));
        v
    };
    // 06:00 local (T0 + 1 h): the intrusion rule is disarmed; the rest run.
    for k in 0..40 {
        let t = base + f64::from(k) * 0.07;
        run.frame(t, &objs(t));
    }
    let frames: Vec<(f64, Vec<Track>)> = (40..60)
        .map(|k| {
            let t = base + f64::from(k) * 0.07;
            (t, run.tracks(t, &objs(t)))
        })
        .collect();
    let mut out = Vec::with_capacity(16);
    let all_facts: Vec<FrameFacts> = frames.iter().map(|(t, _)| facts(*t)).collect();
    let before = ALLOCATIONS.with(Cell::get);
    for ((_, tracks), f) in frames.iter().zip(&all_facts) {
        run.scene.update(&run.ctx, f, tracks, &[], &mut out);
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert!(out.is_empty(), "these frames raise nothing: {out:?}");
    assert_eq!(allocations, 0);
    // The counter does count.
    let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(8));
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 1);
    drop(v);
}
