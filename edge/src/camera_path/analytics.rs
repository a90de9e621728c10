//! The camera path's analytics thread (the private side of [`super::CameraPath`], as
//! gst-plugins-rs keeps an element's `imp.rs`): for every stream, tracking, the rules
//! (object, scene, tamper, video loss, plate episodes), and the hand-off of each alert to
//! the snapshot worker, in order. It owns every stream's rule state; nothing else touches it.

use super::plates::{PlateJob, PlateResult, PlateWorker};
use super::snapshots::{SnapshotJob, SnapshotWorker};
use super::{Contexts, Observers, PathEvent, StreamSetup};
use crate::executor::{DetectedFrame, ExecutorOutput};
use crossbeam_channel::{Receiver, Sender, select};
use operators::rules::object_detected::FrameFacts;
use operators::rules::scene::{Scene, SceneConfig};
use operators::rules::tamper::{Tamper, TamperConfig};
use operators::rules::{AlertContext, ObjectDetected, PlateEpisodes, RulesConfig, VideoLoss};
use operators::track::{Tracker, TrackerConfig};
use pipeline::alert::Alert;
use pipeline::clock::Clock;
use pipeline::frame::Frame;
use pipeline::metrics;
use pipeline::sources::{SourceEvent, SourceState};
use std::collections::HashMap;
use std::sync::Arc;

/// Per-stream state of the analytics thread.
pub(super) struct StreamAnalytics {
    ctx: Arc<AlertContext>,
    tracker: Tracker,
    rules: Vec<ObjectDetected>,
    tamper: Option<Tamper>,
    scene: Option<Scene>,
    plates: PlateEpisodes,
    last: Option<FrameFacts>,
}

/// The analytics thread: tracking and rules for every stream.
pub(super) struct Analytics {
    pub(super) tracker: TrackerConfig,
    pub(super) rules: RulesConfig,
    pub(super) scenes: HashMap<String, SceneConfig>,
    pub(super) labels: &'static [&'static str],
    pub(super) contexts: Contexts,
    pub(super) observers: Observers,
    pub(super) alerts: Sender<Alert>,
    /// Snapshots for alerts (edge nodes and the demo); alerts pass through it in order.
    pub(super) snapshots: Option<SnapshotWorker>,
    /// Alerts raised by the frame being analysed, with what their snapshots need.
    pub(super) raised: Vec<(Alert, Option<SnapshotJob>)>,
    /// The plate reader (`[plates]`) and what it sends back.
    pub(super) plate_reader: Option<PlateWorker>,
    pub(super) plate_reads: Receiver<PlateResult>,
    /// Each new stream's plate episodes start as a copy of this.
    pub(super) plate_episodes: PlateEpisodes,
    pub(super) streams: HashMap<Arc<str>, StreamAnalytics>,
    pub(super) loss: HashMap<Arc<str>, VideoLoss>,
    pub(super) clock: Arc<dyn Clock>,
}

/// What the rules need to know of a frame.
fn facts_of(frame: &Frame) -> FrameFacts {
    FrameFacts {
        t_secs: frame.t_secs(),
        event_ts: frame.event_ts,
        ingest_ts: frame.ingest_ts,
        clock: frame.clock,
        frame_w: frame.full_width as f32,
        frame_h: frame.full_height as f32,
    }
}

/// Episodes get a snapshot when they begin; summaries and source states do not.
fn wants_snapshot(a: &Alert) -> bool {
    a.phase == pipeline::alert::Phase::Begin && !matches!(a.kind.as_str(), "rate_capped" | "video_loss")
}

/// The zone an alert names (`attributes.zone`), as normalised points for drawing.
fn scene_zones(scene: Option<&Scene>, a: &Alert) -> Vec<Vec<[f32; 2]>> {
    let name = a.attributes.get("zone").and_then(|z| z.as_str());
    match (scene, name) {
        (Some(s), Some(n)) => s
            .zone(n)
            .map(|z| vec![z.zone.points().iter().map(|p| [p[0] as f32, p[1] as f32]).collect()])
            .unwrap_or_default(),
        _ => vec![],
    }
}

/// The line an alert names (`attributes.line`).
fn scene_lines(scene: Option<&Scene>, a: &Alert) -> Vec<[[f32; 2]; 2]> {
    let name = a.attributes.get("line").and_then(|z| z.as_str());
    match (scene, name) {
        (Some(s), Some(n)) => s
            .line(n)
            .map(|l| {
                let (a, b) = (l.line.a(), l.line.b());
                vec![[[a[0] as f32, a[1] as f32], [b[0] as f32, b[1] as f32]]]
            })
            .unwrap_or_default(),
        _ => vec![],
    }
}

impl Analytics {
    pub(super) fn run(mut self, detected: Receiver<ExecutorOutput>, events: Receiver<SourceEvent>) {
        let raised = metrics::global().metric("qv_alerts_raised_total", &[]);
        let mut out = Vec::new();
        let mut events_open = true;
        loop {
            select! {
                recv(detected) -> msg => match msg {
                    Ok(ExecutorOutput::Frame(df)) => self.on_frame(df, &mut out),
                    Ok(ExecutorOutput::StreamDone(id)) => {
                        // The source's last states (ended, failed) come before its end marker.
                        for ev in events.try_iter() {
                            self.on_source_event(ev, &mut out);
                        }
                        self.on_stream_done(id, &mut out)
                    }
                    Err(_) => break,
                },
                recv(events) -> ev => match ev {
                    Ok(ev) => self.on_source_event(ev, &mut out),
                    Err(_) => { events_open = false; break; }
                },
                recv(self.plate_reads) -> r => match r {
                    Ok(r) => self.on_plate(r),
                    // The plate reader is gone (it failed): stop listening to it.
                    Err(_) => self.plate_reads = crossbeam_channel::never(),
                },
            }
            self.emit(&mut out, &raised);
        }
        // Shutting down: what is still queued is handled, nothing is dropped.
        for msg in detected.try_iter() {
            match msg {
                ExecutorOutput::Frame(df) => self.on_frame(df, &mut out),
                ExecutorOutput::StreamDone(id) => self.on_stream_done(id, &mut out),
            }
        }
        if events_open {
            for ev in events.iter() {
                self.on_source_event(ev, &mut out);
            }
        }
        let ids: Vec<Arc<str>> = self.streams.keys().cloned().collect();
        for id in ids {
            self.on_stream_done(id, &mut out);
        }
        self.emit(&mut out, &raised);
        if let Some(w) = self.snapshots.take() {
            w.finish();
        }
    }

    /// Sends the alerts raised so far: frame alerts with their snapshot jobs first (they
    /// were raised first), through the snapshot worker when there is one.
    fn emit(&mut self, out: &mut Vec<Alert>, raised: &metrics::Metric) {
        let with_jobs = self.raised.drain(..).chain(out.drain(..).map(|a| (a, None)));
        for (a, job) in with_jobs {
            raised.inc();
            match &self.snapshots {
                Some(w) => w.submit(a, job),
                None => {
                    let _ = self.alerts.send(a);
                }
            }
        }
    }

    fn notify(&self, ev: PathEvent) {
        self.observers.lock().unwrap().retain(|o| o.send(ev.clone()).is_ok());
    }

    fn setup(&self, id: &Arc<str>) -> Option<Arc<StreamSetup>> {
        self.contexts.lock().unwrap().get(id).cloned()
    }

    fn on_frame(&mut self, df: DetectedFrame, out: &mut Vec<Alert>) {
        // Alerts of this frame are collected apart: they may get its snapshot.
        let mut fresh = std::mem::take(out);
        let before = fresh.len();
        self.analyse(&df, &mut fresh);
        if self.snapshots.is_some() && fresh.len() > before {
            let raised: Vec<Alert> = fresh.drain(before..).collect();
            let person = self.labels.iter().position(|l| *l == "person").map(|i| i as u32);
            let persons: Vec<[f32; 4]> = df
                .detections
                .iter()
                .filter(|d| Some(d.class_id) == person)
                .map(|d| [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2])
                .collect();
            let scene = self.streams.get(&df.frame.source_id).and_then(|s| s.scene.as_ref());
            for a in raised {
                let job = wants_snapshot(&a).then(|| SnapshotJob {
                    frame: df.frame.clone(),
                    persons: persons.clone(),
                    zones: scene_zones(scene, &a),
                    lines: scene_lines(scene, &a),
                });
                self.raised.push((a, job));
            }
        }
        *out = fresh;
    }

    fn analyse(&mut self, df: &DetectedFrame, out: &mut Vec<Alert>) {
        let frame: &Frame = &df.frame;
        if !self.streams.contains_key(&frame.source_id) {
            let Some(setup) = self.setup(&frame.source_id) else { return };
            let ctx = setup.ctx.clone();
            let rules =
                self.rules.object_detected.iter().map(|r| ObjectDetected::new(r.clone(), self.labels)).collect();
            // Validated with the config; a moving camera has no reference view to keep.
            let tamper_cfg = TamperConfig { check_moved: setup.static_view, ..self.rules.tamper.clone() };
            let tamper = Tamper::new(tamper_cfg).ok().filter(|_| self.rules.tamper.enabled);
            let scene = match self.scenes.get(&*frame.source_id).map(|c| Scene::new(c, self.labels)) {
                Some(Ok(scene)) => Some(scene),
                Some(Err(e)) => {
                    // Checked when the config was loaded; a camera added later may bring a bad one.
                    tracing::error!(source = %frame.source_id, "scenes.{}: {e}; no scene rules for it", frame.source_id);
                    None
                }
                None => None,
            };
            self.streams.insert(
                frame.source_id.clone(),
                StreamAnalytics {
                    ctx,
                    tracker: Tracker::new(self.tracker.clone()),
                    rules,
                    tamper,
                    scene,
                    plates: self.plate_episodes.clone(),
                    last: None,
                },
            );
        }
        let s = self.streams.get_mut(&frame.source_id).expect("inserted above");
        let facts = facts_of(frame);
        let detected = df.gate.runs_detector();
        let tracks =
            if detected { s.tracker.update(facts.t_secs, &df.detections) } else { s.tracker.coast(facts.t_secs) };
        let n_tracks = tracks.len();
        if let (Some(tamper), Some(grey)) = (&mut s.tamper, &df.grey) {
            let area = (facts.frame_w * facts.frame_h).max(1.0);
            let occupied = s.tracker.reported().iter().map(|t| t.bbox.area() / area).sum::<f32>() as f64;
            if let Err(e) = tamper.update(&s.ctx, &facts, grey, occupied, out) {
                tracing::warn!(source = %frame.source_id, "tamper check: {e}");
            }
            // Zones drawn on the reference view do not apply to a moved camera.
            if let Some(scene) = &mut s.scene
                && scene.is_suspended() != tamper.moved()
            {
                scene.set_suspended(tamper.moved(), facts.t_secs);
            }
        }
        if let Some(scene) = &mut s.scene {
            scene.update(&s.ctx, &facts, s.tracker.reported(), s.tracker.ended(), out);
        }
        if let Some(reader) = &self.plate_reader {
            for t in s.tracker.reported() {
                if s.plates.wants_read(facts.t_secs, t) {
                    let job = PlateJob {
                        source: frame.source_id.clone(),
                        track: t.id,
                        frame: df.frame.clone(),
                        bbox: t.bbox,
                    };
                    if reader.submit(job) {
                        s.plates.asked(t.id, facts.t_secs);
                    }
                }
            }
        }
        s.plates.end(&s.ctx, s.tracker.ended(), &facts, out);
        // Alerts about a track whose plate is known carry it as their correlation key.
        s.plates.tag(out);
        for rule in &mut s.rules {
            rule.update(&s.ctx, &facts, s.tracker.reported(), s.tracker.ended(), out);
        }
        s.last = Some(facts);
        let ev = PathEvent::Analysed {
            source: frame.source_id.clone(),
            seq: frame.seq,
            time: frame.event_time_source,
            event_ts: frame.event_ts,
            detected,
            detections: df.detections.len(),
            tracks: n_tracks,
        };
        self.notify(ev);
    }

    /// A plate read came back: the track's plate episodes take it, and when its plate
    /// settles, `plate_read` (and `plate_watchlist` when listed) begin, with a snapshot.
    fn on_plate(&mut self, r: PlateResult) {
        let Some(s) = self.streams.get_mut(&r.source) else { return };
        let read = match r.read {
            Ok(read) => read,
            Err(why) => {
                metrics::global().metric("qv_plate_reads_unread_total", &[("reason", why.code())]).inc();
                return;
            }
        };
        let frame = &r.frame;
        let facts = facts_of(frame);
        let track = s.tracker.tracks().iter().find(|t| t.id == r.track);
        for a in s.plates.read(&s.ctx, r.track, track, &read, &facts) {
            let job = self.snapshots.is_some().then(|| SnapshotJob {
                frame: r.frame.clone(),
                persons: vec![],
                zones: vec![],
                lines: vec![],
            });
            self.raised.push((a, job));
        }
        let raised = metrics::global().metric("qv_alerts_raised_total", &[]);
        let mut none = Vec::new();
        self.emit(&mut none, &raised);
    }

    /// The stream's last frame is analysed: every object episode of it ends.
    fn on_stream_done(&mut self, id: Arc<str>, out: &mut Vec<Alert>) {
        if let Some(mut s) = self.streams.remove(&id)
            && let Some(facts) = s.last.take()
        {
            let alive: Vec<u64> = s.tracker.tracks().iter().map(|t| t.id).collect();
            for rule in &mut s.rules {
                rule.update(&s.ctx, &facts, &[], &alive, out);
            }
            if let Some(tamper) = &mut s.tamper {
                tamper.finish(&s.ctx, &facts, out);
            }
            if let Some(scene) = &mut s.scene {
                scene.finish(&s.ctx, &facts, out);
            }
            s.plates.finish(&s.ctx, &facts, out);
        }
        self.notify(PathEvent::StreamDone(id));
    }

    fn on_source_event(&mut self, ev: SourceEvent, out: &mut Vec<Alert>) {
        if let Some(setup) = self.setup(&ev.source_id) {
            let ctx = &setup.ctx;
            let cfg = self.rules.video_loss.clone();
            let rule = self.loss.entry(ev.source_id.clone()).or_insert_with(|| VideoLoss::new(cfg));
            if let Some(a) = rule.update(ctx, &ev, self.clock.state()) {
                out.push(a);
            }
            if matches!(ev.state, SourceState::Stopped | SourceState::Failed { .. } | SourceState::Ended) {
                self.loss.remove(&ev.source_id);
            }
        }
        self.notify(PathEvent::Source(ev));
    }
}
