//! Scripted plate reading: tracks built directly, reads coming back at uneven times, and
//! the exact episodes (kind, phase, track, event time) the rule must raise. Every alert is
//! checked against the alert JSON Schema and the episode contract (begin first, nothing
//! after the end). No model: the reads are made here, as the reader would return them.

use super::*;
use crate::detect::BBox;
use crate::detect::manifest::COCO80;
use crate::plates::PlatesConfig;
use crate::plates::ocr::PlateRead;
use crate::plates::{WatchEntry, normalise};
use crate::rules::AlertContext;
use crate::rules::expected::{Ev, ev};
use crate::rules::object_detected::FrameFacts;
use crate::rules::ts_from_secs;
use crate::track::Track;
use pipeline::alert::{Alert, AlertObject, Phase, Severity};
use pipeline::alert::{AlertSource, ClockState, SourceKind};
use serde_json::{Map, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// 2024-06-03 00:00:00 UTC.
const T0: f64 = 1_717_372_800.0;
const W: f32 = 1920.0;
const H: f32 = 1080.0;

fn facts(t: f64) -> FrameFacts {
    let ts = ts_from_secs(T0 + t);
    FrameFacts { t_secs: T0 + t, event_ts: ts, ingest_ts: ts, clock: ClockState::Synced, frame_w: W, frame_h: H }
}

fn context() -> AlertContext {
    let mut provenance = Map::new();
    provenance.insert("config".into(), "sha256:0123".into());
    AlertContext {
        site: "post-1".into(),
        source: AlertSource { kind: SourceKind::Camera, id: "gate-1".into(), name: "Gate 1".into(), location: None },
        provenance,
    }
}

fn class(label: &str) -> u32 {
    COCO80.iter().position(|l| *l == label).unwrap() as u32
}

/// A track of `label` whose box is `height` pixels tall, seen at `t`.
fn track(id: u64, label: &str, height: f32, t: f64) -> Track {
    Track::scripted(id, class(label), BBox::new(800.0, 500.0, 1100.0, 500.0 + height), 0.9, T0, T0 + t)
}

/// What the reader returns for a crop: the plate it read, each character fairly sure.
fn read(text: &str) -> PlateRead {
    PlateRead {
        text: text.into(),
        plate: normalise(text),
        confidence: 0.9,
        char_confidence: [0.9; 8],
        quad: [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]],
    }
}

fn config(watch: &[(&str, &str)]) -> PlatesConfig {
    PlatesConfig {
        enabled: true,
        watch_list: watch.iter().map(|(p, r)| WatchEntry { plate: p.to_string(), reason: r.to_string() }).collect(),
        ..Default::default()
    }
}

use Phase::{Begin, End};

struct Run {
    rule: PlateEpisodes,
    ctx: AlertContext,
    begun: HashSet<Uuid>,
    ended: HashSet<Uuid>,
    all: Vec<Alert>,
    schema: jsonschema::Validator,
}

impl Run {
    fn new(cfg: &PlatesConfig) -> Run {
        let schema: Value = serde_json::from_str(pipeline::alert::JSON_SCHEMA).unwrap();
        Run {
            rule: PlateEpisodes::new(cfg, &COCO80).unwrap(),
            ctx: context(),
            begun: HashSet::new(),
            ended: HashSet::new(),
            all: vec![],
            schema: jsonschema::validator_for(&schema).unwrap(),
        }
    }

    /// A read of `track` comes back, taken from the frame at `t`.
    fn read(&mut self, t: f64, track: &Track, text: &str) -> Vec<Ev> {
        let out = self.rule.read(&self.ctx, track.id, Some(track), &read(text), &facts(t));
        self.take(out)
    }

    fn end(&mut self, t: f64, ended: &[u64]) -> Vec<Ev> {
        let mut out = vec![];
        self.rule.end(&self.ctx, ended, &facts(t), &mut out);
        self.take(out)
    }

    fn take(&mut self, out: Vec<Alert>) -> Vec<Ev> {
        let mut evs = vec![];
        for a in out {
            let json: Value = serde_json::from_str(&a.to_json()).unwrap();
            let errors: Vec<String> = self.schema.iter_errors(&json).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{json}");
            assert_eq!(a.provenance["rule"], format!("{}/1", a.kind));
            assert!(a.correlation.plate.is_some(), "every plate alert carries its plate: {json}");
            match a.phase {
                Begin => assert!(self.begun.insert(a.episode), "a second begin of {}", a.episode),
                End => {
                    assert!(self.begun.contains(&a.episode), "an end without a begin: {json}");
                    assert!(self.ended.insert(a.episode), "a second end");
                }
                Phase::Update => panic!("plate episodes have no updates: {json}"),
            }
            evs.push(Ev::of(&a, T0));
            self.all.push(a);
        }
        evs
    }
}

#[test]
fn a_plate_settles_when_two_reads_agree_and_lasts_as_long_as_its_track() {
    let mut run = Run::new(&config(&[]));
    let car = track(7, "car", 200.0, 0.0);
    // The first read is not enough; a misread (one letter off) does not add to it.
    assert_eq!(run.read(0.31, &car, "01 A 123 BC"), vec![]);
    assert_eq!(run.read(0.87, &car, "01 A 123 BE"), vec![]);
    assert_eq!(run.read(1.42, &car, "01A123BC"), vec![ev(1.42, "plate_read", Begin, 7)]);
    // Settled: later reads change nothing, and a read of a track that is gone begins nothing.
    assert_eq!(run.read(2.0, &car, "01A123BC"), vec![]);
    assert!(run.rule.read(&run.ctx, 9, None, &read("01A999BC"), &facts(2.1)).is_empty());
    assert!(run.end(3.0, &[9, 11]).is_empty(), "tracks without a settled plate end silently");
    assert_eq!(run.end(5.23, &[7]), vec![ev(5.23, "plate_read", End, 7)]);

    let begin = &run.all[0];
    assert_eq!(begin.correlation.plate.as_deref(), Some("01A123BC"));
    assert_eq!((begin.attributes["support"].as_u64(), begin.attributes["reads"].as_u64()), (Some(2), Some(3)));
    assert_eq!(begin.severity, Severity::Info);
    let bbox = begin.objects[0].bbox.unwrap();
    assert!((bbox[0] - 800.0 / W).abs() < 1e-6 && (bbox[3] - 700.0 / H).abs() < 1e-6, "{bbox:?}");
    assert_eq!(run.all[1].objects[0].bbox, None, "the end names the track, not a box");
}

#[test]
fn a_listed_plate_begins_a_watchlist_episode_beside_the_read_and_both_end_with_the_track() {
    let mut run = Run::new(&config(&[("01 A 777 BC", "stolen")]));
    let truck = track(3, "truck", 300.0, 0.0);
    run.read(0.5, &truck, "01A777BC");
    let begun = run.read(1.1, &truck, "O1A777BC");
    assert_eq!(begun, vec![ev(1.1, "plate_read", Begin, 3), ev(1.1, "plate_watchlist", Begin, 3)]);
    let hit = run.all[1].clone();
    assert_eq!((hit.severity, hit.attributes["reason"].as_str()), (Severity::High, Some("stolen")));
    assert_eq!(hit.attributes["listed"], "01 A 777 BC", "as the watch list writes it");
    assert_eq!(hit.attributes["plate"], "01A777BC", "as it was read, in canonical form");
    let ended = run.end(9.0, &[3]);
    assert_eq!(ended, vec![ev(9.0, "plate_read", End, 3), ev(9.0, "plate_watchlist", End, 3)]);
    assert_eq!(run.all[3].episode, hit.episode);
}

#[test]
fn reads_are_asked_of_large_vehicles_at_most_every_interval_and_never_once_settled() {
    let mut run = Run::new(&config(&[]));
    let t = |s: f64| T0 + s;
    let car = track(1, "car", 200.0, 0.0);
    assert!(!run.rule.wants_read(t(0.0), &track(2, "person", 400.0, 0.0)), "not a vehicle class");
    assert!(!run.rule.wants_read(t(0.0), &track(4, "car", 60.0, 0.0)), "too small to read (80 px)");
    assert!(run.rule.wants_read(t(0.0), &car));
    run.rule.asked(1, t(0.0));
    assert!(!run.rule.wants_read(t(0.3), &car), "within interval_secs (0.5)");
    assert!(run.rule.wants_read(t(0.5), &car));
    run.rule.asked(1, t(0.5));
    run.read(0.6, &car, "01A123BC");
    run.read(1.2, &car, "01A123BC");
    assert!(!run.rule.wants_read(t(5.0), &car), "its plate is settled");
    // A new track with the same box is asked at once; an ended one starts over.
    run.end(6.0, &[1]);
    assert!(run.rule.wants_read(t(6.0), &car), "the ended track's state is gone");
}

#[test]
fn later_alerts_about_the_track_carry_its_plate_and_the_stream_end_closes_every_episode() {
    let mut run = Run::new(&config(&[]));
    let (a, b) = (track(1, "car", 200.0, 0.0), track(2, "bus", 250.0, 0.0));
    for (t, tr, text) in [(0.2, &a, "01A123BC"), (0.4, &b, "10 456 ABC"), (0.9, &a, "01A123BC"), (1.3, &b, "10456ABC")]
    {
        run.read(t, tr, text);
    }
    let about = |track: u64| {
        let mut x = Alert::minimal("post-1", SourceKind::Camera, "gate-1", "zone_dwell");
        x.objects.push(AlertObject {
            class: "car".into(),
            track_id: Some(track),
            score: 0.9,
            bbox: None,
            ground: None,
            speed_mps: None,
        });
        x
    };
    let mut alerts = vec![about(1), about(2), about(5)];
    run.rule.tag(&mut alerts);
    let plates: Vec<Option<&str>> = alerts.iter().map(|x| x.correlation.plate.as_deref()).collect();
    assert_eq!(plates, [Some("01A123BC"), Some("10456ABC"), None]);

    let mut out = vec![];
    run.rule.finish(&run.ctx, &facts(4.0), &mut out);
    let mut evs = run.take(out);
    evs.sort_by_key(|e| e.track);
    assert_eq!(evs, vec![ev(4.0, "plate_read", End, 1), ev(4.0, "plate_read", End, 2)]);
    assert_eq!(run.begun, run.ended, "every episode begun has ended");
}

#[test]
fn the_rule_runs_without_a_model_a_socket_or_a_thread() {
    crate::isolation::run_alone("rules::plate_episodes::tests::every_rule_test_in_isolation");
}

#[test]
#[ignore = "run by the_rule_runs_without_a_model_a_socket_or_a_thread, alone in a child process"]
fn every_rule_test_in_isolation() {
    crate::isolation::without_threads_or_sockets(|| {
        a_plate_settles_when_two_reads_agree_and_lasts_as_long_as_its_track();
        a_listed_plate_begins_a_watchlist_episode_beside_the_read_and_both_end_with_the_track();
        reads_are_asked_of_large_vehicles_at_most_every_interval_and_never_once_settled();
        later_alerts_about_the_track_carry_its_plate_and_the_stream_end_closes_every_episode();
    });
}
