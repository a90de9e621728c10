//! The rule's state and its episodes; see [the module docs](super).

use crate::plates::ocr::PlateRead;
use crate::plates::vote::PlateVoter;
use crate::plates::{PlatesConfig, WatchList};
use crate::rules::object_detected::FrameFacts;
use crate::rules::{AlertContext, AlertParts};
use crate::track::Track;
use pipeline::alert::{Alert, AlertObject, Phase, Severity};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// One stream's plate reading and its episodes; see the module docs.
#[derive(Clone)]
pub struct PlateEpisodes {
    labels: &'static [&'static str],
    /// Class ids whose plates are read.
    classes: Vec<u32>,
    min_box_height_px: f32,
    interval_secs: f64,
    settle_reads: u32,
    watch: WatchList,
    watch_severity: Severity,
    voter: PlateVoter,
    /// When each track was last asked to be read (event seconds).
    tried: HashMap<u64, f64>,
    /// The episodes of tracks whose plate has settled.
    settled: HashMap<u64, Settled>,
}

/// A track's settled plate and its open episodes.
#[derive(Clone)]
struct Settled {
    key: String,
    read: Uuid,
    watch: Option<(Uuid, Map<String, Value>)>,
    object: AlertObject,
}

impl PlateEpisodes {
    /// The rule for one stream, from `[plates]`; `labels` are the detector's class names.
    pub fn new(cfg: &PlatesConfig, labels: &'static [&'static str]) -> Result<Self, String> {
        let classes = cfg.classes.iter().filter_map(|c| labels.iter().position(|l| l == c).map(|i| i as u32)).collect();
        Ok(Self {
            labels,
            classes,
            min_box_height_px: cfg.min_box_height_px,
            interval_secs: cfg.interval_secs,
            settle_reads: cfg.settle_reads,
            watch: cfg.watch_list()?,
            watch_severity: cfg.watch_severity,
            voter: PlateVoter::new(),
            tried: HashMap::new(),
            settled: HashMap::new(),
        })
    }

    /// Whether `track`'s plate should be read at `t_secs`: a vehicle class, tall enough,
    /// its plate not settled, not asked for within `interval_secs`.
    pub fn wants_read(&self, t_secs: f64, track: &Track) -> bool {
        self.classes.contains(&track.class_id)
            && track.bbox.height() >= self.min_box_height_px
            && !self.settled.contains_key(&track.id)
            && self.tried.get(&track.id).is_none_or(|&at| t_secs - at >= self.interval_secs)
    }

    /// A read of `track` was asked for at `t_secs` (a read the reader skipped is not).
    pub fn asked(&mut self, track: u64, t_secs: f64) {
        self.tried.insert(track, t_secs);
    }

    /// A read of track `id` came back, taken from the frame of `facts`; `track` is the
    /// track as it is now (`None` once it is gone). When the plate settles, its episodes
    /// begin: the alerts are returned, each carrying the plate as its correlation key.
    pub fn read(
        &mut self,
        ctx: &AlertContext,
        id: u64,
        track: Option<&Track>,
        read: &PlateRead,
        facts: &FrameFacts,
    ) -> Vec<Alert> {
        self.voter.add(id, read);
        let Some(voted) = self.voter.best(id) else { return vec![] };
        let Some(track) = track else { return vec![] };
        if voted.support < self.settle_reads || self.settled.contains_key(&id) {
            return vec![];
        }
        let (fw, fh) = (facts.frame_w.max(1.0), facts.frame_h.max(1.0));
        let b = track.bbox;
        let object = AlertObject {
            class: self.labels.get(track.class_id as usize).copied().unwrap_or("vehicle").to_string(),
            track_id: Some(track.id),
            score: track.median_score(),
            bbox: Some([b.x1 / fw, b.y1 / fh, b.x2 / fw, b.y2 / fh].map(|v| v.clamp(0.0, 1.0))),
            ground: None,
            speed_mps: None,
        };
        let key = voted.key().to_string();
        let mut attributes = Map::new();
        attributes.insert("plate".into(), key.clone().into());
        attributes.insert("support".into(), voted.support.into());
        attributes.insert("reads".into(), voted.reads.into());
        attributes.insert("agreement".into(), (voted.agreement as f64).into());
        let parts = |kind, rule, severity, episode, attributes| AlertParts {
            episode,
            kind,
            rule,
            phase: Phase::Begin,
            severity,
            confidence: voted.agreement,
            event_ts: facts.event_ts,
            ingest_ts: facts.ingest_ts,
            clock: facts.clock,
            objects: vec![object.clone()],
            attributes,
        };
        let read_id = pipeline::alert::new_id();
        let mut alerts =
            vec![ctx.alert(parts("plate_read", "plate_read/1", Severity::Info, read_id, attributes.clone()))];
        let mut watch = None;
        if let Some(hit) = voted.watch(&self.watch) {
            let mut a = attributes;
            a.insert("listed".into(), hit.listed.clone().into());
            a.insert("reason".into(), hit.reason.clone().into());
            let id = pipeline::alert::new_id();
            alerts.push(ctx.alert(parts("plate_watchlist", "plate_watchlist/1", self.watch_severity, id, a.clone())));
            watch = Some((id, a));
        }
        self.settled.insert(id, Settled { key: key.clone(), read: read_id, watch, object });
        for a in &mut alerts {
            a.correlation.plate = Some(key.clone());
        }
        alerts
    }

    /// The tracks of `ended` are gone: their plate episodes end, their votes are dropped.
    pub fn end(&mut self, ctx: &AlertContext, ended: &[u64], facts: &FrameFacts, out: &mut Vec<Alert>) {
        for &track in ended {
            self.end_track(ctx, track, facts, out);
        }
    }

    /// Every alert of `alerts` about a track whose plate has settled carries the plate.
    pub fn tag(&self, alerts: &mut [Alert]) {
        for a in alerts {
            let plate = a.objects.iter().find_map(|o| o.track_id.and_then(|id| self.settled.get(&id)));
            if let Some(p) = plate {
                a.correlation.plate = Some(p.key.clone());
            }
        }
    }

    /// The stream is done: every open plate episode ends.
    pub fn finish(&mut self, ctx: &AlertContext, facts: &FrameFacts, out: &mut Vec<Alert>) {
        let settled: Vec<u64> = self.settled.keys().copied().collect();
        self.end(ctx, &settled, facts, out);
    }

    fn end_track(&mut self, ctx: &AlertContext, track: u64, f: &FrameFacts, out: &mut Vec<Alert>) {
        self.voter.end(track);
        self.tried.remove(&track);
        let Some(ep) = self.settled.remove(&track) else { return };
        let mut end = |kind, rule, episode, attributes: Map<String, Value>, severity| {
            let mut a = ctx.alert(AlertParts {
                episode,
                kind,
                rule,
                phase: Phase::End,
                severity,
                confidence: 1.0,
                event_ts: f.event_ts,
                ingest_ts: f.ingest_ts,
                clock: f.clock,
                objects: vec![AlertObject { bbox: None, ..ep.object.clone() }],
                attributes,
            });
            a.correlation.plate = Some(ep.key.clone());
            out.push(a);
        };
        let mut attributes = Map::new();
        attributes.insert("plate".into(), ep.key.clone().into());
        end("plate_read", "plate_read/1", ep.read, attributes, Severity::Info);
        if let Some((id, a)) = &ep.watch {
            end("plate_watchlist", "plate_watchlist/1", *id, a.clone(), Severity::High);
        }
    }
}
