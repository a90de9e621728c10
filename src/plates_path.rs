//! Plates of vehicle tracks, off the analytics thread: analytics sends a crop request for
//! a vehicle track at most every `interval_secs`; the plate worker reads it (PP-OCRv4,
//! `operators::plates::ocr`) and sends the read back; analytics votes across the track's
//! reads (`operators::plates::vote`). When `settle_reads` reads agree, the plate is the
//! track's: a `plate_read` episode (and `plate_watchlist` when listed) begins, it lasts
//! as long as the track, and every later alert of that track carries the plate as its
//! correlation key.
//!
//! Reading costs ~100 ms a crop on a CPU; requests beyond `max_pending` are skipped (and
//! counted): a plate is read a little later, nothing else waits.

use crossbeam_channel::{Receiver, Sender};
use opencv::core::{Mat, Rect};
use opencv::prelude::*;
use operators::detect::{BBox, Manifest};
use operators::evidence::sample_to_bgr;
use operators::plates::ocr::{PlateRead, PlateReader, PlateReaderConfig};
use operators::plates::{Unread, WatchList};
use pipeline::alert::Severity;
use pipeline::frame::Frame;
use pipeline::metrics;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// `[plates]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatesConfig {
    pub enabled: bool,
    /// Track classes whose plates are read.
    pub classes: Vec<String>,
    /// A track's box must be at least this tall (full-frame pixels) to be read.
    pub min_box_height_px: f32,
    /// Seconds between reads of one track.
    pub interval_secs: f64,
    /// Agreeing reads before a plate is the track's.
    pub settle_reads: u32,
    /// Reads waiting at most.
    pub max_pending: usize,
    pub reader: PlateReaderConfig,
    /// Listed plates, e.g. `{ plate = "01 A 777 BC", reason = "stolen" }`.
    pub watch_list: Vec<WatchEntry>,
    pub watch_severity: Severity,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchEntry {
    pub plate: String,
    pub reason: String,
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            classes: ["car", "bus", "truck", "motorcycle"].map(String::from).to_vec(),
            min_box_height_px: 80.0,
            interval_secs: 0.5,
            settle_reads: 2,
            max_pending: 4,
            reader: PlateReaderConfig::default(),
            watch_list: vec![],
            watch_severity: Severity::High,
        }
    }
}

impl PlatesConfig {
    /// `Err` names the field.
    pub fn validate(&self, labels: &[&str]) -> Result<(), String> {
        for c in &self.classes {
            if !labels.contains(&c.as_str()) {
                return Err(format!("classes: {c:?} is not a label of the detector's model"));
            }
        }
        if !(self.interval_secs >= 0.0 && self.interval_secs.is_finite()) {
            return Err(format!("interval_secs: {} must be a number of seconds >= 0", self.interval_secs));
        }
        if self.settle_reads == 0 || self.max_pending == 0 {
            return Err("settle_reads and max_pending: must be at least 1".into());
        }
        self.reader.validate(&Manifest::builtin()).map_err(|e| format!("reader.{e}"))?;
        self.watch_list()?;
        Ok(())
    }

    pub fn watch_list(&self) -> Result<WatchList, String> {
        WatchList::new(self.watch_list.iter().map(|e| (e.plate.as_str(), e.reason.as_str())))
            .map_err(|e| format!("watch_list: {e}"))
    }
}

/// A crop to read.
pub struct PlateJob {
    pub source: Arc<str>,
    pub track: u64,
    pub frame: Arc<Frame>,
    pub bbox: BBox,
}

/// What came of it.
pub struct PlateResult {
    pub source: Arc<str>,
    pub track: u64,
    pub frame: Arc<Frame>,
    pub read: Result<PlateRead, Unread>,
}

/// The running worker.
pub struct PlateWorker {
    tx: Option<Sender<PlateJob>>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
    thread: Option<JoinHandle<()>>,
}

impl PlateWorker {
    /// Loads the text models; results come out on `out`.
    pub fn start(cfg: &PlatesConfig, out: Sender<PlateResult>) -> Result<Self, String> {
        let mut reader = PlateReader::load(&cfg.reader, &Manifest::builtin())?;
        let (tx, rx): (Sender<PlateJob>, Receiver<PlateJob>) = crossbeam_channel::unbounded();
        let pending = Arc::new(AtomicUsize::new(0));
        let left = pending.clone();
        let thread = std::thread::Builder::new()
            .name("plates".into())
            .spawn(move || {
                for job in rx.iter() {
                    let read = crop(&job).map_err(Unread::Image).and_then(|img| reader.read_plate(&img));
                    left.fetch_sub(1, Ordering::Relaxed);
                    let result = PlateResult { source: job.source, track: job.track, frame: job.frame, read };
                    if out.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("spawning the plates thread: {e}"))?;
        Ok(Self { tx: Some(tx), pending, max_pending: cfg.max_pending, thread: Some(thread) })
    }

    /// Queues a read unless `max_pending` are waiting; `false` when skipped.
    pub fn submit(&self, job: PlateJob) -> bool {
        if self.pending.load(Ordering::Relaxed) >= self.max_pending {
            metrics::global().metric("qv_plate_reads_skipped_total", &[]).inc();
            return false;
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Whether reads are still under way.
    pub fn busy(&self) -> bool {
        self.pending.load(Ordering::Relaxed) > 0
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PlateWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The vehicle's box from the full-resolution frame, BGR.
fn crop(job: &PlateJob) -> Result<Mat, String> {
    let img = sample_to_bgr(&job.frame.full)?;
    let (w, h) = (img.cols(), img.rows());
    let b = &job.bbox;
    let x1 = (b.x1.max(0.0) as i32).min(w - 1);
    let y1 = (b.y1.max(0.0) as i32).min(h - 1);
    let x2 = (b.x2.ceil() as i32).clamp(x1 + 1, w);
    let y2 = (b.y2.ceil() as i32).clamp(y1 + 1, h);
    let roi = Mat::roi(&img, Rect::new(x1, y1, x2 - x1, y2 - y1)).map_err(|e| format!("crop: {e}"))?;
    roi.try_clone().map_err(|e| format!("crop: {e}"))
}
