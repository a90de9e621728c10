//! The camera path, wired: cameras → slots → inference executor → per-stream analytics
//! (track → rules) → alerts.
//!
//! Threads: one per camera (GStreamer pull), one inference thread (which also runs the
//! X-ray lane's threat detector when given one), one analytics thread.
//! Cameras can be added and removed while it runs; each stream ends with an ordered
//! "stream done" marker, so its open episodes end after its last frame, never before.

use crate::config::PipelineConfig;
use crate::evidence_path::{EvidenceWorker, SnapshotJob};
use crate::plates_path::{PlateJob, PlateResult, PlateWorker, PlatesConfig};
use crossbeam_channel::{Receiver, Sender, select};
use operators::detect::{Detector, Manifest};
use operators::executor::{CameraWork, DetectedFrame, Executor, ExecutorOutput, ScanQueue, StreamSet};
use operators::plates::WatchList;
use operators::plates::vote::PlateVoter;
use operators::rules::AlertParts;
use operators::rules::object_detected::FrameFacts;
use operators::rules::scene::{Scene, SceneConfig};
use operators::rules::tamper::{Tamper, TamperConfig};
use operators::rules::{AlertContext, ObjectDetected, RulesConfig, VideoLoss};
use operators::track::{Tracker, TrackerConfig};
use operators::xray::threats::ThreatDetector;
use pipeline::alert::{Alert, AlertSource, SourceKind};
use pipeline::alert::{AlertObject, Phase, Severity};
use pipeline::clock::{Clock, SystemClock};
use pipeline::frame::{EventTimeSource, Frame};
use pipeline::metrics;
use pipeline::slot::{Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, CameraHandle, spawn_camera};
use pipeline::sources::{SourceEvent, SourceState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What observers of the camera path see (tests, benchmarks, the demo's status line).
#[derive(Debug, Clone)]
pub enum PathEvent {
    Source(SourceEvent),
    /// One frame went through detection (unless the motion gate skipped it), tracking
    /// and rules.
    Analysed {
        source: Arc<str>,
        seq: u64,
        time: EventTimeSource,
        event_ts: chrono::DateTime<chrono::Utc>,
        /// Whether the detector ran on it.
        detected: bool,
        detections: usize,
        tracks: usize,
    },
    /// A stream's last frame was analysed (file ended, camera failed or removed).
    StreamDone(Arc<str>),
}

type Observers = Arc<Mutex<Vec<Sender<PathEvent>>>>;
type Contexts = Arc<Mutex<HashMap<Arc<str>, Arc<StreamSetup>>>>;

/// What analytics needs to know about a camera besides its frames.
struct StreamSetup {
    ctx: Arc<AlertContext>,
    static_view: bool,
}

/// A running camera path.
pub struct CameraPath {
    site: String,
    model_size: (u32, u32),
    provenance: serde_json::Map<String, serde_json::Value>,
    streams: Arc<StreamSet>,
    wakeup: Arc<Wakeup>,
    cameras: Mutex<HashMap<String, CameraHandle>>,
    contexts: Contexts,
    events_tx: Option<Sender<SourceEvent>>,
    observers: Observers,
    clock: Arc<dyn Clock>,
    executor: Option<Executor>,
    analytics: Option<JoinHandle<()>>,
}

impl CameraPath {
    /// Loads the detector, starts the executor and analytics, and adds the configured
    /// cameras. Alerts go to `alerts` (unbounded: alerts are never dropped).
    pub fn start(cfg: &PipelineConfig, alerts: Sender<Alert>) -> Result<Self, String> {
        Self::start_with_evidence(cfg, alerts, None)
    }

    /// Same, with snapshots of alerts stored in `evidence` (`cfg.evidence` says how).
    pub fn start_with_evidence(
        cfg: &PipelineConfig,
        alerts: Sender<Alert>,
        evidence: Option<Arc<edge::evidence::EvidenceStore>>,
    ) -> Result<Self, String> {
        Self::start_serving(cfg, alerts, evidence, None)
    }

    /// Same, with the X-ray `threats` detector on the same inference executor: the node's
    /// one executor serves cameras and scans in turn, and [`CameraPath::scans`] is where
    /// the X-ray lane submits ([`crate::lanes`] wires it).
    pub fn start_serving(
        cfg: &PipelineConfig,
        alerts: Sender<Alert>,
        evidence: Option<Arc<edge::evidence::EvidenceStore>>,
        threats: Option<ThreatDetector>,
    ) -> Result<Self, String> {
        // OpenCV's own thread pool would fight ONNX Runtime's for the cores over images a
        // few hundred pixels wide (motion, tamper, snapshots): it gets one thread.
        if let Err(e) = opencv::core::set_num_threads(1) {
            tracing::warn!("opencv threads: {e}");
        }
        let manifest = Manifest::builtin();
        let detector = Detector::load(&cfg.detector, &manifest)?;
        let model_size = detector.input_size();
        let labels = detector.labels();
        let mut provenance = serde_json::Map::new();
        let entry = detector.entry();
        provenance.insert("model".into(), format!("{}@sha256:{}", entry.name, entry.sha256).into());
        provenance.insert("config".into(), format!("sha256:{}", cfg.hash()).into());
        provenance.insert("provider".into(), detector.provider().as_str().into());

        let streams = Arc::new(StreamSet::default());
        let wakeup = Arc::new(Wakeup::default());
        // Analytics is cheap; a short queue keeps latency low and pushes back on the executor.
        let (detected_tx, detected_rx) = crossbeam_channel::bounded(8);
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        let cameras = CameraWork { detector, motion: cfg.motion.clone(), streams: streams.clone(), out: detected_tx };
        let executor = Executor::spawn(Some(cameras), threats, wakeup.clone());
        let contexts: Contexts = Default::default();
        let observers: Observers = Default::default();
        let evidence = match evidence {
            Some(store) if cfg.evidence.snapshots => {
                let key = cfg.evidence.key_file.clone().unwrap_or_else(|| cfg.edge.data_dir.join("evidence.key"));
                Some(EvidenceWorker::start(&cfg.evidence, key, store, alerts.clone())?)
            }
            _ => None,
        };
        // Without plate reading, nothing ever arrives (a dropped sender would make the
        // analytics loop's select spin on a disconnected channel).
        let (plates, plate_results) = if cfg.plates.enabled {
            let (tx, rx) = crossbeam_channel::unbounded();
            (Some(PlateWorker::start(&cfg.plates, tx)?), rx)
        } else {
            (None, crossbeam_channel::never())
        };
        let plate_classes =
            cfg.plates.classes.iter().filter_map(|c| labels.iter().position(|l| l == c).map(|i| i as u32)).collect();
        let watch = cfg.plates.watch_list()?;
        let analytics = Analytics {
            tracker: cfg.tracker.clone(),
            rules: cfg.rules.clone(),
            scenes: cfg.scenes.clone(),
            labels,
            contexts: contexts.clone(),
            observers: observers.clone(),
            alerts,
            evidence,
            snapshots: Vec::new(),
            plates,
            plate_results,
            plates_cfg: cfg.plates.clone(),
            plate_classes,
            watch,
            streams: HashMap::new(),
            loss: HashMap::new(),
            clock: Arc::new(SystemClock),
        };
        let analytics = std::thread::Builder::new()
            .name("analytics".into())
            .spawn(move || analytics.run(detected_rx, events_rx))
            .map_err(|e| format!("spawning the analytics thread: {e}"))?;
        let path = Self {
            site: cfg.site.clone(),
            model_size,
            provenance,
            streams,
            wakeup,
            cameras: Mutex::new(HashMap::new()),
            contexts,
            events_tx: Some(events_tx),
            observers,
            clock: Arc::new(SystemClock),
            executor: Some(executor),
            analytics: Some(analytics),
        };
        for cam in &cfg.cameras {
            path.add_camera(cam.clone())?;
        }
        Ok(path)
    }

    /// Where X-ray scans go to the executor's threat detector; `None` when started without one.
    pub fn scans(&self) -> Option<ScanQueue> {
        self.executor.as_ref().and_then(Executor::scans)
    }

    /// Starts a camera without disturbing the others.
    pub fn add_camera(&self, cam: CameraConfig) -> Result<(), String> {
        let mut cameras = self.cameras.lock().unwrap();
        if cameras.contains_key(&cam.id) {
            return Err(format!("camera {:?} is already running", cam.id));
        }
        let id: Arc<str> = cam.id.as_str().into();
        let labels = [("source", cam.id.as_str())];
        let slot = Arc::new(Slot::new(
            cam.slot_capacity.max(1),
            cam.full_policy(),
            self.wakeup.clone(),
            metrics::global().metric("qv_frames_dropped_total", &labels),
            metrics::global().metric("qv_slot_depth", &labels),
        ));
        let ctx = AlertContext {
            site: self.site.clone(),
            source: AlertSource {
                kind: SourceKind::Camera,
                id: cam.id.clone(),
                name: cam.display_name().to_string(),
                location: cam.location,
            },
            provenance: self.provenance.clone(),
        };
        let setup = StreamSetup { ctx: Arc::new(ctx), static_view: cam.static_view };
        self.contexts.lock().unwrap().insert(id.clone(), Arc::new(setup));
        let events = self.events_tx.clone().expect("running");
        let handle = spawn_camera(cam.clone(), self.model_size, slot.clone(), events, self.clock.clone())?;
        self.streams.add(id, slot, cam.static_view);
        cameras.insert(cam.id, handle);
        Ok(())
    }

    /// Stops and removes a camera; its frames already queued are still analysed.
    pub fn remove_camera(&self, id: &str) -> Result<(), String> {
        let handle = self.cameras.lock().unwrap().remove(id);
        match handle {
            Some(h) => {
                h.stop();
                Ok(())
            }
            None => Err(format!("no camera {id:?} is running")),
        }
    }

    /// Each camera's latest state.
    pub fn camera_states(&self) -> Vec<(String, SourceState)> {
        let mut v: Vec<_> = self.cameras.lock().unwrap().iter().map(|(id, h)| (id.clone(), h.state())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Each camera's latest state, as heartbeats report it (`playing`, `reconnecting`, …).
    pub fn source_health(&self) -> Vec<pipeline::health::SourceHealth> {
        self.camera_states()
            .into_iter()
            .map(|(id, s)| pipeline::health::SourceHealth { id, state: format!("{s:?}").to_lowercase() })
            .collect()
    }

    /// A channel of everything that happens from now on.
    pub fn observe(&self) -> Receiver<PathEvent> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.observers.lock().unwrap().push(tx);
        rx
    }

    /// Stops cameras, then inference, then analytics (which ends open episodes).
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let cameras: Vec<CameraHandle> = self.cameras.lock().unwrap().drain().map(|(_, h)| h).collect();
        for h in cameras {
            h.stop();
        }
        // Let the executor drain what the stopped cameras left, then stop it.
        if let Some(ex) = self.executor.take() {
            while !self.streams.is_empty() && ex.is_running() {
                let seen = self.wakeup.generation();
                self.wakeup.wait_past(seen, std::time::Duration::from_millis(50));
            }
            ex.stop();
        }
        self.events_tx = None;
        if let Some(t) = self.analytics.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CameraPath {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Per-stream state of the analytics thread.
struct StreamAnalytics {
    ctx: Arc<AlertContext>,
    tracker: Tracker,
    rules: Vec<ObjectDetected>,
    tamper: Option<Tamper>,
    scene: Option<Scene>,
    plates: StreamPlates,
    last: Option<FrameFacts>,
}

/// A stream's plate reading: votes per track, when each was last tried, and the plate
/// episodes of tracks whose plate has settled.
#[derive(Default)]
struct StreamPlates {
    voter: PlateVoter,
    tried: HashMap<u64, f64>,
    settled: HashMap<u64, PlateEpisode>,
}

struct PlateEpisode {
    key: String,
    read: uuid::Uuid,
    watch: Option<(uuid::Uuid, serde_json::Map<String, serde_json::Value>)>,
    object: AlertObject,
}

/// The analytics thread: tracking and rules for every stream.
struct Analytics {
    tracker: TrackerConfig,
    rules: RulesConfig,
    scenes: HashMap<String, SceneConfig>,
    labels: &'static [&'static str],
    contexts: Contexts,
    observers: Observers,
    alerts: Sender<Alert>,
    /// Snapshots for alerts (edge nodes and the demo); alerts pass through it in order.
    evidence: Option<EvidenceWorker>,
    /// Alerts raised by the frame being analysed, with what their snapshots need.
    snapshots: Vec<(Alert, Option<SnapshotJob>)>,
    /// Plate reading (`[plates]`): the worker, its results, classes, watch list.
    plates: Option<PlateWorker>,
    plate_results: Receiver<PlateResult>,
    plates_cfg: PlatesConfig,
    plate_classes: Vec<u32>,
    watch: WatchList,
    streams: HashMap<Arc<str>, StreamAnalytics>,
    loss: HashMap<Arc<str>, VideoLoss>,
    clock: Arc<dyn Clock>,
}

/// A vehicle track ended: its plate episodes end, and its votes are dropped.
fn end_plate(ctx: &AlertContext, plates: &mut StreamPlates, track: u64, f: &FrameFacts, out: &mut Vec<Alert>) {
    plates.voter.end(track);
    plates.tried.remove(&track);
    let Some(ep) = plates.settled.remove(&track) else { return };
    let mut end = |kind, rule, episode, attributes: serde_json::Map<String, serde_json::Value>, severity| {
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
    let mut attributes = serde_json::Map::new();
    attributes.insert("plate".into(), ep.key.clone().into());
    end("plate_read", "plate_read/1", ep.read, attributes, Severity::Info);
    if let Some((id, a)) = &ep.watch {
        end("plate_watchlist", "plate_watchlist/1", *id, a.clone(), Severity::High);
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
    fn run(mut self, detected: Receiver<ExecutorOutput>, events: Receiver<SourceEvent>) {
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
                recv(self.plate_results) -> r => match r {
                    Ok(r) => self.on_plate(r),
                    // The plate worker is gone (it failed): stop listening to it.
                    Err(_) => self.plate_results = crossbeam_channel::never(),
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
        if let Some(w) = self.evidence.take() {
            w.finish();
        }
    }

    /// Sends the alerts raised so far: frame alerts with their snapshot jobs first (they
    /// were raised first), through the evidence worker when there is one.
    fn emit(&mut self, out: &mut Vec<Alert>, raised: &metrics::Metric) {
        let with_jobs = self.snapshots.drain(..).chain(out.drain(..).map(|a| (a, None)));
        for (a, job) in with_jobs {
            raised.inc();
            match &self.evidence {
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
        if self.evidence.is_some() && fresh.len() > before {
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
                self.snapshots.push((a, job));
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
                    plates: StreamPlates::default(),
                    last: None,
                },
            );
        }
        let s = self.streams.get_mut(&frame.source_id).expect("inserted above");
        let facts = FrameFacts {
            t_secs: frame.t_secs(),
            event_ts: frame.event_ts,
            ingest_ts: frame.ingest_ts,
            clock: frame.clock,
            frame_w: frame.full_width as f32,
            frame_h: frame.full_height as f32,
        };
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
        if let Some(worker) = &self.plates {
            let cfg = &self.plates_cfg;
            for t in s.tracker.reported() {
                let wanted = self.plate_classes.contains(&t.class_id)
                    && t.bbox.height() >= cfg.min_box_height_px
                    && !s.plates.settled.contains_key(&t.id)
                    && s.plates.tried.get(&t.id).is_none_or(|&at| facts.t_secs - at >= cfg.interval_secs);
                if wanted {
                    let job = PlateJob {
                        source: frame.source_id.clone(),
                        track: t.id,
                        frame: df.frame.clone(),
                        bbox: t.bbox,
                    };
                    if worker.submit(job) {
                        s.plates.tried.insert(t.id, facts.t_secs);
                    }
                }
            }
        }
        for id in s.tracker.ended() {
            end_plate(&s.ctx, &mut s.plates, *id, &facts, out);
        }
        // Alerts about a track whose plate is known carry it as their correlation key.
        for a in out.iter_mut() {
            let plate = a.objects.iter().find_map(|o| o.track_id.and_then(|id| s.plates.settled.get(&id)));
            if let Some(p) = plate {
                a.correlation.plate = Some(p.key.clone());
            }
        }
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

    /// A plate read came back: vote, and when the track's plate settles, begin its
    /// `plate_read` episode (and `plate_watchlist` when listed), with a snapshot.
    fn on_plate(&mut self, r: PlateResult) {
        let Some(s) = self.streams.get_mut(&r.source) else { return };
        let read = match r.read {
            Ok(read) => read,
            Err(why) => {
                metrics::global().metric("qv_plate_reads_unread_total", &[("reason", why.code())]).inc();
                return;
            }
        };
        s.plates.voter.add(r.track, &read);
        let Some(voted) = s.plates.voter.best(r.track) else { return };
        let Some(track) = s.tracker.tracks().iter().find(|t| t.id == r.track) else { return };
        if voted.support < self.plates_cfg.settle_reads || s.plates.settled.contains_key(&r.track) {
            return;
        }
        let frame = &r.frame;
        let (fw, fh) = (frame.full_width.max(1) as f32, frame.full_height.max(1) as f32);
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
        let mut attributes = serde_json::Map::new();
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
            event_ts: frame.event_ts,
            ingest_ts: frame.ingest_ts,
            clock: frame.clock,
            objects: vec![object.clone()],
            attributes,
        };
        let read_id = pipeline::alert::new_id();
        let mut alerts =
            vec![s.ctx.alert(parts("plate_read", "plate_read/1", Severity::Info, read_id, attributes.clone()))];
        let mut watch = None;
        if let Some(hit) = voted.watch(&self.watch) {
            let mut a = attributes;
            a.insert("listed".into(), hit.listed.clone().into());
            a.insert("reason".into(), hit.reason.clone().into());
            let id = pipeline::alert::new_id();
            alerts.push(s.ctx.alert(parts(
                "plate_watchlist",
                "plate_watchlist/1",
                self.plates_cfg.watch_severity,
                id,
                a.clone(),
            )));
            watch = Some((id, a));
        }
        s.plates.settled.insert(r.track, PlateEpisode { key: key.clone(), read: read_id, watch, object });
        for mut a in alerts {
            a.correlation.plate = Some(key.clone());
            let job = self.evidence.is_some().then(|| SnapshotJob {
                frame: r.frame.clone(),
                persons: vec![],
                zones: vec![],
                lines: vec![],
            });
            self.snapshots.push((a, job));
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
            let settled: Vec<u64> = s.plates.settled.keys().copied().collect();
            for id in settled {
                end_plate(&s.ctx, &mut s.plates, id, &facts, out);
            }
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
