//! The inference executor (DESIGN.md, "Threads and ownership"): one plain thread owns the
//! detector and serves every stream's slot in turn.
//!
//! Round robin, one frame per stream per turn, so a busy camera cannot starve a quiet
//! one. When the detector takes a batch (dynamic batch on a GPU), one turn gathers up to
//! `max_batch` frames from different streams into one run.

use crate::detect::{Detection, Detector};
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
    pub detections: Vec<Detection>,
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
    analysed: Metric,
}

impl StreamSet {
    pub fn add(&self, id: Arc<str>, slot: Arc<Slot<Arc<Frame>>>) {
        let analysed = metrics::global().metric("qv_frames_analysed_total", &[("source", &id)]);
        self.streams.lock().unwrap().push(Stream { id, slot, analysed });
    }
    pub fn len(&self) -> usize {
        self.streams.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Takes up to `max` frames, one per stream, starting after the stream served last;
    /// forgets streams whose slot is closed and drained, naming them in `done`.
    fn take_turn(
        &self,
        cursor: &mut usize,
        max: usize,
        batch: &mut Vec<(Arc<Frame>, Metric)>,
        done: &mut Vec<Arc<str>>,
    ) {
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
                batch.push((frame, s.analysed.clone()));
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
        mut detector: Detector,
        streams: Arc<StreamSet>,
        wakeup: Arc<Wakeup>,
        out: Sender<ExecutorOutput>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let wakeup = wakeup.clone();
            std::thread::Builder::new()
                .name("inference".into())
                .spawn(move || {
                    let errors = metrics::global().metric("qv_inference_errors_total", &[]);
                    let runs = metrics::global().metric("qv_inference_runs_total", &[]);
                    let max = detector.max_batch();
                    let mut cursor = 0;
                    let mut batch = Vec::with_capacity(max);
                    let mut results: Vec<Vec<Detection>> = Vec::with_capacity(max);
                    let mut done = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let seen = wakeup.generation();
                        batch.clear();
                        streams.take_turn(&mut cursor, max, &mut batch, &mut done);
                        for id in done.drain(..) {
                            if out.send(ExecutorOutput::StreamDone(id)).is_err() {
                                return;
                            }
                        }
                        if batch.is_empty() {
                            wakeup.wait_past(seen, Duration::from_millis(100));
                            continue;
                        }
                        let images: Vec<&RgbImage> = batch.iter().map(|(f, _)| &f.model_input).collect();
                        let sizes: Vec<(u32, u32)> = batch.iter().map(|(f, _)| (f.full_width, f.full_height)).collect();
                        runs.inc();
                        if let Err(e) = detector.detect(&images, &sizes, &mut results) {
                            errors.inc();
                            tracing::error!("inference failed on {} frame(s): {e}", batch.len());
                            continue;
                        }
                        for ((frame, analysed), dets) in batch.drain(..).zip(results.iter_mut()) {
                            analysed.inc();
                            let detections = std::mem::take(dets);
                            if out.send(ExecutorOutput::Frame(DetectedFrame { frame, detections })).is_err() {
                                return;
                            }
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

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown();
    }
}
