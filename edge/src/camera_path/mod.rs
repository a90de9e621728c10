//! The camera path, wired: cameras → slots → inference executor → per-stream analytics
//! (track → rules) → alerts.
//!
//! Threads: one per camera (GStreamer pull), one inference thread (which also runs the
//! X-ray lane's threat detector when given one), one analytics thread ([`analytics`]: this
//! module is the path's public face, that one its private state), and the plate reader and
//! snapshot worker ([`plates`], [`snapshots`]) when configured.
//! Cameras can be added and removed while it runs; each stream ends with an ordered
//! "stream done" marker, so its open episodes end after its last frame, never before.

mod analytics;
mod config;
mod plates;
mod snapshots;

pub use config::CameraPathConfig;

use crate::evidence_store::EvidenceStore;
use crate::executor::{CameraWork, Executor, ScanQueue, StreamSet};
use analytics::Analytics;
use crossbeam_channel::{Receiver, Sender};
use operators::detect::{Detector, Manifest};
use operators::rules::{AlertContext, PlateEpisodes};
use operators::xray::threats::ThreatDetector;
use pipeline::alert::{Alert, AlertSource, SourceKind};
use pipeline::clock::{Clock, SystemClock};
use pipeline::frame::EventTimeSource;
use pipeline::metrics;
use pipeline::slot::{Slot, Wakeup};
use pipeline::sources::camera::{CameraConfig, CameraHandle, spawn_camera};
use pipeline::sources::{SourceEvent, SourceState};
use plates::PlateWorker;
use snapshots::SnapshotWorker;
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
    pub fn start(cfg: &CameraPathConfig, alerts: Sender<Alert>) -> Result<Self, String> {
        Self::start_with_evidence(cfg, alerts, None)
    }

    /// Same, with snapshots of alerts stored in `evidence` (`cfg.snapshots` says how).
    pub fn start_with_evidence(
        cfg: &CameraPathConfig,
        alerts: Sender<Alert>,
        evidence: Option<Arc<EvidenceStore>>,
    ) -> Result<Self, String> {
        Self::start_serving(cfg, alerts, evidence, None)
    }

    /// Same, with the X-ray `threats` detector on the same inference executor: the node's
    /// one executor serves cameras and scans in turn, and [`CameraPath::scans`] is where
    /// the X-ray lane submits ([`crate::analysers`] wires it).
    pub fn start_serving(
        cfg: &CameraPathConfig,
        alerts: Sender<Alert>,
        evidence: Option<Arc<EvidenceStore>>,
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
        provenance.insert("config".into(), format!("sha256:{}", cfg.config_sha256).into());
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
        let snapshots = match evidence {
            Some(store) if cfg.snapshots.snapshots => {
                Some(SnapshotWorker::start(&cfg.snapshots, &cfg.seal_key_file, store, alerts.clone())?)
            }
            _ => None,
        };
        // Without plate reading, nothing ever arrives (a dropped sender would make the
        // analytics loop's select spin on a disconnected channel).
        let (plate_reader, plate_reads) = if cfg.plates.enabled {
            let (tx, rx) = crossbeam_channel::unbounded();
            (Some(PlateWorker::start(&cfg.plates, tx)?), rx)
        } else {
            (None, crossbeam_channel::never())
        };
        let plate_episodes = PlateEpisodes::new(&cfg.plates, labels)?;
        let analytics = Analytics {
            tracker: cfg.tracker.clone(),
            rules: cfg.rules.clone(),
            scenes: cfg.scenes.clone(),
            labels,
            contexts: contexts.clone(),
            observers: observers.clone(),
            alerts,
            snapshots,
            raised: Vec::new(),
            plate_reader,
            plate_reads,
            plate_episodes,
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
