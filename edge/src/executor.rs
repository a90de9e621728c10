//! The inference executor (docs/ARCHITECTURE.md, "Threads and queues"): one plain thread
//! owns the node's two detectors, the camera detector and the X-ray threat detector, so one
//! GPU (or one CPU) is shared fairly between cameras and the X-ray lane. The other models
//! belong to the threads that load them (face redaction: the snapshot worker; plate text:
//! the plate reader; call embeddings: the feed thread's call desk).
//!
//! The camera detector's sessions run on runner threads of their own (on a CPU one per
//! core, each frame on one core; on a GPU one, taking a batch). A turn starts frames on
//! every runner with room, then hands downstream the oldest frames started, waiting for
//! their detections if need be: frames leave in the order they were taken, and while one
//! frame's detections are awaited the next frames already run. Frames are taken round
//! robin, one from each stream in turn (up to a GPU batch's size per run), so a busy
//! camera cannot starve a quiet one. Between two camera turns the thread runs at most one
//! queued X-ray scan ([`ScanQueue`]): a scan waits for one camera turn at most, and a
//! camera for one scan at most.
//!
//! Before a frame reaches the detector, its stream's motion gate looks at it
//! ([`operators::motion`]): frames of a still scene skip the detector and go straight to
//! analytics, where the tracker coasts.

use crossbeam_channel::Sender;
use operators::detect::runtime::Provider;
use operators::detect::{Detection, Detector};
use operators::motion::{GateDecision, MotionConfig, MotionGate, SmallGrey};
use operators::xray::threats::{Threat, ThreatDetector};
use pipeline::frame::Frame;
use pipeline::metrics::{self, Metric};
use pipeline::slot::{FullPolicy, Slot, Wakeup};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The executor thread's name; a [`ScanReply`] says which thread ran the detector.
pub const THREAD_NAME: &str = "inference";

/// Scans that may wait for the threat detector before a lane's submit waits for room.
const SCAN_QUEUE: usize = 4;

/// A frame with what the detector found in it.
pub struct DetectedFrame {
    pub frame: Arc<Frame>,
    /// Empty when the detector did not run (see `gate`).
    pub detections: Vec<Detection>,
    /// Whether the detector ran, and why.
    pub gate: GateDecision,
    /// The small grey copy the gate made; camera-tamper checks read it. `None` only if
    /// the frame's pixels could not be read.
    pub grey: Option<SmallGrey>,
}

/// What the executor sends downstream, in order per stream.
pub enum ExecutorOutput {
    Frame(DetectedFrame),
    /// The stream's slot is closed and every frame of it was sent before this.
    StreamDone(Arc<str>),
}

/// The streams the executor serves; sources are added and removed while it runs.
#[derive(Default)]
pub struct StreamSet {
    streams: Mutex<Vec<Stream>>,
}

struct Stream {
    id: Arc<str>,
    slot: Arc<Slot<Arc<Frame>>>,
    /// Gate the detector on motion (a static camera).
    gated: bool,
    counters: Counters,
}

/// Per-stream metrics.
#[derive(Clone)]
struct Counters {
    analysed: Metric,
    detector_runs: Metric,
}

/// A frame taken for this turn, with its stream's settings.
struct Taken {
    frame: Arc<Frame>,
    gated: bool,
    counters: Counters,
}

impl StreamSet {
    /// Adds a stream; `gated` turns motion gating on for it (static cameras).
    pub fn add(&self, id: Arc<str>, slot: Arc<Slot<Arc<Frame>>>, gated: bool) {
        let labels = [("source", &*id)];
        let counters = Counters {
            analysed: metrics::global().metric("qv_frames_analysed_total", &labels),
            detector_runs: metrics::global().metric("qv_detector_frames_total", &labels),
        };
        self.streams.lock().unwrap().push(Stream { id, slot, gated, counters });
    }
    pub fn len(&self) -> usize {
        self.streams.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Closes every stream's slot (a blocked source is released) and forgets them all:
    /// analytics is gone, so no frame of theirs can be delivered.
    fn close_all(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            s.slot.close();
        }
    }
    /// Takes up to `max` frames, one per stream per pass, starting after the stream served
    /// last (each stream's frames stay in order); forgets streams whose slot is closed and
    /// drained, naming them in `done`.
    fn take_turn(&self, cursor: &mut usize, max: usize, batch: &mut Vec<Taken>, done: &mut Vec<Arc<str>>) {
        let mut streams = self.streams.lock().unwrap();
        streams.retain(|s| {
            let finished = s.slot.is_finished();
            if finished {
                done.push(s.id.clone());
            }
            !finished
        });
        let n = streams.len();
        let mut took = true;
        while took && batch.len() < max {
            took = false;
            for k in 0..n {
                if batch.len() >= max {
                    break;
                }
                let s = &streams[(*cursor + k) % n];
                if let Some(frame) = s.slot.pop() {
                    batch.push(Taken { frame, gated: s.gated, counters: s.counters.clone() });
                    took = true;
                }
            }
        }
        if n > 0 {
            *cursor = (*cursor + 1) % n;
        }
    }
}

/// What the executor does for cameras: their detector (each stream's motion gate set by
/// `motion`), the streams to serve, and where detected frames go (bounded: when analytics
/// falls behind, the executor waits and the slots drop the oldest frames).
pub struct CameraWork {
    pub detector: Detector,
    pub motion: MotionConfig,
    pub streams: Arc<StreamSet>,
    pub out: Sender<ExecutorOutput>,
}

/// One X-ray scan for the threat detector, and where its answer goes.
pub struct ScanJob {
    /// The scanner, for metrics and logs.
    pub source: String,
    /// Low- and high-energy transmission, row-major, 65535 = air ([`ThreatDetector::detect`]).
    pub low: Vec<u16>,
    pub high: Vec<u16>,
    pub width: usize,
    pub height: usize,
    /// Answered once; dropped unanswered only when the executor stops before the scan's turn.
    pub reply: Sender<Result<ScanReply, String>>,
}

/// The threat detector's answer to a [`ScanJob`].
#[derive(Debug)]
pub struct ScanReply {
    /// In scan pixels; classes index [`ScanQueue::labels`].
    pub threats: Vec<Threat>,
    /// The thread that ran the detector: the executor's ([`THREAD_NAME`]).
    pub served_by: String,
}

/// Why a scan got no answer: said the same way whether it was refused or dropped.
const STOPPED: &str = "the inference executor has stopped: the scan was not run through the threat detector";

/// Where X-ray lanes hand scans to the executor's threat detector (clone one per lane).
/// Bounded: a lane waits for room rather than lose a scan.
#[derive(Clone)]
pub struct ScanQueue {
    slot: Arc<Slot<ScanJob>>,
    labels: &'static [&'static str],
    provider: Provider,
}

impl ScanQueue {
    /// Queues `job`, waiting while the queue is full; `Err` once the executor has stopped.
    pub fn submit(&self, job: ScanJob) -> Result<(), String> {
        self.slot.push(job).map_err(|_| STOPPED.to_string())
    }

    /// Runs the threat detector on one scan on the executor thread and waits for the answer.
    pub fn detect(
        &self,
        source: &str,
        low: Vec<u16>,
        high: Vec<u16>,
        width: usize,
        height: usize,
    ) -> Result<ScanReply, String> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.submit(ScanJob { source: source.into(), low, high, width, height, reply })?;
        answer.recv().map_err(|_| STOPPED.to_string())?
    }

    /// The threat detector's class names, in its output order.
    pub fn labels(&self) -> &'static [&'static str] {
        self.labels
    }

    /// The execution provider that runs the threat detector.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Scans waiting for their turn.
    pub fn len(&self) -> usize {
        self.slot.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot.is_empty()
    }
}

/// The running executor thread.
pub struct Executor {
    stop: Arc<AtomicBool>,
    wakeup: Arc<Wakeup>,
    scans: Option<ScanQueue>,
    thread: Option<JoinHandle<()>>,
}

impl Executor {
    /// Starts the inference thread serving `cameras`, X-ray scans with `threats`
    /// ([`Executor::scans`] hands them in), or both. `wakeup` is the one the camera slots
    /// notify; the scan queue notifies it too. The thread runs until stopped, or until it
    /// has nothing left to serve (analytics gone and no threat detector).
    pub fn spawn(cameras: Option<CameraWork>, threats: Option<ThreatDetector>, wakeup: Arc<Wakeup>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let scans = threats.map(|d| ScanServe::new(d, wakeup.clone()));
        let queue = scans.as_ref().map(ScanServe::queue);
        let mut cameras = cameras.map(CameraServe::new);
        let thread = {
            let stop = stop.clone();
            let wakeup = wakeup.clone();
            std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || {
                    // Dropped however the thread ends: the queue then refuses scans.
                    let mut scans = scans;
                    while !stop.load(Ordering::Relaxed) {
                        let seen = wakeup.generation();
                        let mut served = false;
                        if let Some(c) = &mut cameras {
                            match c.turn() {
                                Ok(ran) => served |= ran,
                                Err(()) => {
                                    c.streams.close_all();
                                    cameras = None;
                                }
                            }
                        }
                        if let Some(s) = &mut scans {
                            served |= s.serve_one();
                        }
                        if cameras.is_none() && scans.is_none() {
                            return;
                        }
                        if !served {
                            wakeup.wait_past(seen, Duration::from_millis(100));
                        }
                    }
                })
                .expect("spawning the inference thread")
        };
        Self { stop, wakeup, scans: queue, thread: Some(thread) }
    }

    /// Where X-ray lanes submit scans; `None` when started without a threat detector.
    pub fn scans(&self) -> Option<ScanQueue> {
        self.scans.clone()
    }

    /// Whether the thread is still serving (it ends early only if analytics is gone and it
    /// has no threat detector).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread after its current run.
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wakeup.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The inference thread's X-ray side: the threat detector and its queue.
struct ScanServe {
    detector: ThreatDetector,
    slot: Arc<Slot<ScanJob>>,
}

impl ScanServe {
    fn new(detector: ThreatDetector, wakeup: Arc<Wakeup>) -> Self {
        // The queue blocks when full, so its drop counter never moves: it is not exported.
        let depth = metrics::global().metric("qv_scan_queue_depth", &[]);
        let slot = Arc::new(Slot::new(SCAN_QUEUE, FullPolicy::Block, wakeup, Metric::default(), depth));
        Self { detector, slot }
    }

    fn queue(&self) -> ScanQueue {
        ScanQueue { slot: self.slot.clone(), labels: self.detector.labels(), provider: self.detector.provider() }
    }

    /// Runs the detector on the oldest waiting scan, if any; `true` if there was one.
    fn serve_one(&mut self) -> bool {
        let Some(job) = self.slot.pop() else { return false };
        let labels = [("source", job.source.as_str())];
        let answer = match self.detector.detect(&job.low, &job.high, job.width, job.height) {
            Ok(threats) => {
                metrics::global().metric("qv_detector_scans_total", &labels).inc();
                let served_by = std::thread::current().name().unwrap_or_default().to_string();
                Ok(ScanReply { threats, served_by })
            }
            Err(e) => {
                metrics::global().metric("qv_detector_scan_errors_total", &labels).inc();
                tracing::error!(source = %job.source, "threat detector: {e}");
                Err(e)
            }
        };
        // A lane that stopped waiting has nothing to be told.
        let _ = job.reply.send(answer);
        true
    }
}

impl Drop for ScanServe {
    /// No lane waits for ever on a stopped executor: new scans are refused, and waiting
    /// ones are dropped, which their lanes read as [`STOPPED`].
    fn drop(&mut self) {
        self.slot.close();
        while self.slot.pop().is_some() {}
    }
}

/// The inference thread's camera side: the detector, the streams and each one's motion gate.
struct CameraServe {
    detector: Detector,
    motion: MotionConfig,
    streams: Arc<StreamSet>,
    out: Sender<ExecutorOutput>,
    gates: std::collections::HashMap<Arc<str>, MotionGate>,
    errors: Metric,
    runs: Metric,
    cursor: usize,
    done: Vec<Arc<str>>,
    /// Frames taken and not yet sent, oldest first, each run's frames together.
    pending: VecDeque<Run>,
}

/// The frames taken for one run of the detector, in order, and whether it was submitted
/// (no frame of it needed the detector, or the submission failed: nothing to collect).
struct Run {
    frames: Vec<Gated>,
    submitted: bool,
}

/// A frame with its gate decision and grey copy.
struct Gated {
    taken: Taken,
    decision: GateDecision,
    grey: Option<SmallGrey>,
}

impl CameraServe {
    fn new(work: CameraWork) -> Self {
        Self {
            detector: work.detector,
            motion: work.motion,
            streams: work.streams,
            out: work.out,
            gates: Default::default(),
            errors: metrics::global().metric("qv_inference_errors_total", &[]),
            runs: metrics::global().metric("qv_inference_runs_total", &[]),
            cursor: 0,
            done: Vec::new(),
            pending: VecDeque::new(),
        }
    }

    /// One turn: frames started on every idle runner, then the oldest sent downstream
    /// (waiting for one run's detections at most). `Ok(true)` when frames were served,
    /// `Err` when analytics is gone.
    fn turn(&mut self) -> Result<bool, ()> {
        let mut served = false;
        // As many takes as runners are idle: frames the gate keeps from the detector take
        // no runner, and must not keep the turn taking.
        for _ in 0..self.detector.idle() {
            if self.detector.idle() == 0 {
                break;
            }
            let mut batch = Vec::with_capacity(self.detector.max_batch());
            self.streams.take_turn(&mut self.cursor, self.detector.max_batch(), &mut batch, &mut self.done);
            if !self.done.is_empty() {
                // A finished stream's frames all go downstream before it is said done.
                while !self.pending.is_empty() {
                    self.send_oldest()?;
                }
                for id in std::mem::take(&mut self.done) {
                    self.gates.remove(&id);
                    self.out.send(ExecutorOutput::StreamDone(id)).map_err(|_| ())?;
                }
            }
            if batch.is_empty() {
                break;
            }
            served = true;
            self.start(batch);
        }
        let mut waited = false;
        while let Some(run) = self.pending.front() {
            if run.submitted {
                if waited {
                    break;
                }
                waited = true;
            }
            self.send_oldest()?;
            served = true;
        }
        Ok(served)
    }

    /// Gates the frames and submits those the detector must see as one run.
    fn start(&mut self, batch: Vec<Taken>) {
        let frames: Vec<Gated> = batch
            .into_iter()
            .map(|taken| {
                let (decision, grey) = self.gate(&taken);
                Gated { taken, decision, grey }
            })
            .collect();
        let detect: Vec<&Gated> = frames.iter().filter(|g| g.decision.runs_detector()).collect();
        let mut submitted = false;
        if !detect.is_empty() {
            let images = detect.iter().map(|g| g.taken.frame.model_input.clone()).collect();
            let sizes = detect.iter().map(|g| (g.taken.frame.full_width, g.taken.frame.full_height)).collect();
            self.runs.inc();
            match self.detector.submit(images, sizes) {
                Ok(()) => submitted = true,
                Err(e) => self.inference_failed(detect.len(), &e),
            }
        }
        self.pending.push_back(Run { frames, submitted });
    }

    /// Sends the oldest run's frames downstream, waiting for its detections if need be.
    /// Frames whose detection failed are not sent (the failure is counted and logged).
    fn send_oldest(&mut self) -> Result<(), ()> {
        let Some(run) = self.pending.pop_front() else { return Ok(()) };
        let mut detections = match run.submitted.then(|| self.detector.collect()) {
            Some(Ok(d)) => Some(d.into_iter()),
            Some(Err(e)) => {
                self.inference_failed(run.frames.iter().filter(|g| g.decision.runs_detector()).count(), &e);
                None
            }
            None => Some(Vec::new().into_iter()),
        };
        for Gated { taken, decision, grey } in run.frames {
            let dets = if decision.runs_detector() {
                let Some(d) = detections.as_mut().and_then(|d| d.next()) else { continue };
                taken.counters.detector_runs.inc();
                d
            } else {
                Vec::new()
            };
            taken.counters.analysed.inc();
            let df = DetectedFrame { frame: taken.frame, detections: dets, gate: decision, grey };
            self.out.send(ExecutorOutput::Frame(df)).map_err(|_| ())?;
        }
        Ok(())
    }

    fn inference_failed(&self, frames: usize, e: &str) {
        self.errors.inc();
        tracing::error!("inference failed on {frames} frame(s): {e}");
    }

    /// The frame's grey copy and its stream's gate decision. A frame the gate cannot
    /// read goes to the detector: gating only ever saves work, never loses a frame.
    fn gate(&mut self, taken: &Taken) -> (GateDecision, Option<SmallGrey>) {
        let frame = &taken.frame;
        let grey = match SmallGrey::of(&frame.model_input, self.motion.width) {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(source = %frame.source_id, "motion gate: {e}");
                return (GateDecision::Always, None);
            }
        };
        let gate = match self.gates.entry(frame.source_id.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match MotionGate::new(self.motion.clone(), taken.gated) {
                Ok(g) => v.insert(g),
                Err(e) => {
                    tracing::warn!(source = %frame.source_id, "motion gate: {e}");
                    return (GateDecision::Always, Some(grey));
                }
            },
        };
        match gate.decide(&grey, frame.t_secs()) {
            Ok(d) => (d, Some(grey)),
            Err(e) => {
                tracing::warn!(source = %frame.source_id, "motion gate: {e}");
                (GateDecision::Always, Some(grey))
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operators::detect::Manifest;

    /// A 320 × 240 kV-style scan: air with a dense block (low energy absorbed more).
    fn scan() -> (Vec<u16>, Vec<u16>, usize, usize) {
        let (w, h) = (320, 240);
        let mut low = vec![65535u16; w * h];
        let mut high = low.clone();
        for y in 80..160 {
            for x in 100..220 {
                (low[y * w + x], high[y * w + x]) = (6000, 14000);
            }
        }
        (low, high, w, h)
    }

    fn scans_only() -> Executor {
        let d = ThreatDetector::load(&Manifest::builtin(), 1).unwrap_or_else(|e| panic!("{e}"));
        Executor::spawn(None, Some(d), Arc::new(Wakeup::default()))
    }

    #[test]
    fn executor_runs_scans_on_its_thread_and_refuses_them_once_stopped() {
        let ex = scans_only();
        let queue = ex.scans().expect("started with a threat detector");
        assert_eq!(queue.labels(), ["knife", "gun", "ammunition", "dense_organic"]);
        let runs = || metrics::global().value("qv_detector_scans_total", &[("source", "unit-kv")]);
        let before = runs();
        let (low, high, w, h) = scan();
        let reply = queue.detect("unit-kv", low.clone(), high.clone(), w, h).unwrap();
        assert_eq!(reply.served_by, THREAD_NAME, "the detector ran on the executor's thread");
        assert_ne!(std::thread::current().name(), Some(THREAD_NAME));
        assert_eq!(runs(), before + 1);

        // A scan the detector refuses is answered with the reason, and counted.
        let e = queue.detect("unit-kv", low.clone(), high[1..].to_vec(), w, h).unwrap_err();
        assert!(e.contains("pixels per channel"), "{e}");
        assert_eq!(metrics::global().value("qv_detector_scan_errors_total", &[("source", "unit-kv")]), 1);

        // Stopped: a lane is told so at once, never left waiting.
        ex.stop();
        let e = queue.detect("unit-kv", low, high, w, h).unwrap_err();
        assert!(e.contains("inference executor has stopped"), "{e}");
        assert_eq!(runs(), before + 1);
    }

    #[test]
    fn executor_without_cameras_or_detector_ends_and_has_no_scan_queue() {
        let ex = Executor::spawn(None, None, Arc::new(Wakeup::default()));
        assert!(ex.scans().is_none());
        // Nothing to serve: the thread ends by itself; `stop` joins it.
        ex.stop();
    }
}
