//! The inference executor (DESIGN.md, "Threads and ownership"): one plain thread owns the
//! detector and serves every stream's slot in turn.
//!
//! Round robin, one frame per stream per turn, so a busy camera cannot starve a quiet
//! one. When the detector takes a batch (dynamic batch on a GPU), one turn gathers up to
//! `max_batch` frames from different streams into one run.
//!
//! Before a frame reaches the detector, its stream's motion gate looks at it
//! ([`crate::motion`]): frames of a still scene skip the detector and go straight to
//! analytics, where the tracker coasts.

use crate::detect::{Detection, Detector};
use crate::motion::{GateDecision, MotionConfig, MotionGate, SmallGrey};
use crossbeam_channel::Sender;
use pipeline::frame::{Frame, RgbImage};
use pipeline::metrics::{self, Metric};
use pipeline::slot::{Slot, Wakeup};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// Takes up to `max` frames, one per stream, starting after the stream served last;
    /// forgets streams whose slot is closed and drained, naming them in `done`.
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
        for k in 0..n {
            if batch.len() >= max {
                break;
            }
            let s = &streams[(*cursor + k) % n];
            if let Some(frame) = s.slot.pop() {
                batch.push(Taken { frame, gated: s.gated, counters: s.counters.clone() });
            }
        }
        if n > 0 {
            *cursor = (*cursor + 1) % n;
        }
    }
}

/// The running executor thread.
pub struct Executor {
    stop: Arc<AtomicBool>,
    wakeup: Arc<Wakeup>,
    thread: Option<JoinHandle<()>>,
}

impl Executor {
    /// Starts serving `streams` with `detector`, sending results to `out` (bounded: when
    /// analytics falls behind, the executor waits and the slots drop the oldest frames).
    pub fn spawn(
        detector: Detector,
        motion: MotionConfig,
        streams: Arc<StreamSet>,
        wakeup: Arc<Wakeup>,
        out: Sender<ExecutorOutput>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let wakeup = wakeup.clone();
            let mut serve = Serve::new(detector, motion);
            std::thread::Builder::new()
                .name("inference".into())
                .spawn(move || {
                    let max = serve.detector.max_batch();
                    let mut cursor = 0;
                    let mut batch = Vec::with_capacity(max);
                    let mut done = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let seen = wakeup.generation();
                        batch.clear();
                        streams.take_turn(&mut cursor, max, &mut batch, &mut done);
                        for id in done.drain(..) {
                            serve.gates.remove(&id);
                            if out.send(ExecutorOutput::StreamDone(id)).is_err() {
                                return;
                            }
                        }
                        if batch.is_empty() {
                            wakeup.wait_past(seen, Duration::from_millis(100));
                            continue;
                        }
                        if serve.turn(&mut batch, &out).is_err() {
                            return;
                        }
                    }
                })
                .expect("spawning the inference thread")
        };
        Self { stop, wakeup, thread: Some(thread) }
    }

    /// Whether the thread is still serving (it ends early only if analytics is gone).
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

/// The inference thread's state: the detector and each stream's motion gate.
struct Serve {
    detector: Detector,
    motion: MotionConfig,
    gates: std::collections::HashMap<Arc<str>, MotionGate>,
    errors: Metric,
    runs: Metric,
    // Per-turn scratch, reused.
    to_detect: Vec<(Taken, GateDecision, Option<SmallGrey>)>,
    results: Vec<Vec<Detection>>,
}

impl Serve {
    fn new(detector: Detector, motion: MotionConfig) -> Self {
        Self {
            detector,
            motion,
            gates: Default::default(),
            errors: metrics::global().metric("qv_inference_errors_total", &[]),
            runs: metrics::global().metric("qv_inference_runs_total", &[]),
            to_detect: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Gates, detects and sends one turn's frames; `Err` when analytics is gone.
    fn turn(&mut self, batch: &mut Vec<Taken>, out: &Sender<ExecutorOutput>) -> Result<(), ()> {
        self.to_detect.clear();
        for taken in batch.drain(..) {
            let (decision, grey) = self.gate(&taken);
            if decision.runs_detector() {
                self.to_detect.push((taken, decision, grey));
            } else {
                taken.counters.analysed.inc();
                let df = DetectedFrame { frame: taken.frame, detections: Vec::new(), gate: decision, grey };
                out.send(ExecutorOutput::Frame(df)).map_err(|_| ())?;
            }
        }
        if self.to_detect.is_empty() {
            return Ok(());
        }
        let images: Vec<&RgbImage> = self.to_detect.iter().map(|(t, ..)| &t.frame.model_input).collect();
        let sizes: Vec<(u32, u32)> =
            self.to_detect.iter().map(|(t, ..)| (t.frame.full_width, t.frame.full_height)).collect();
        self.runs.inc();
        if let Err(e) = self.detector.detect(&images, &sizes, &mut self.results) {
            self.errors.inc();
            tracing::error!("inference failed on {} frame(s): {e}", images.len());
            self.to_detect.clear();
            return Ok(());
        }
        for ((taken, gate, grey), dets) in self.to_detect.drain(..).zip(self.results.iter_mut()) {
            taken.counters.analysed.inc();
            taken.counters.detector_runs.inc();
            let df = DetectedFrame { frame: taken.frame, detections: std::mem::take(dets), gate, grey };
            out.send(ExecutorOutput::Frame(df)).map_err(|_| ())?;
        }
        Ok(())
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
