//! The plate reader: crops of vehicle tracks read off the analytics thread (PP-OCRv4,
//! `operators::plates::ocr`), the reads sent back for the track's plate episodes
//! (`operators::rules::plate_episodes`).
//!
//! Reading costs ~100 ms a crop on a CPU; requests beyond `[plates] max_pending` are
//! refused ([`WhenFull::Refuse`], counted in `qv_plate_reads_skipped_total`): a plate is
//! read a little later, nothing else waits.

use crate::worker::{WhenFull, Worker};
use crossbeam_channel::Sender;
use opencv::core::{Mat, Rect};
use opencv::prelude::*;
use operators::detect::{BBox, Manifest};
use operators::image::sample_to_bgr;
use operators::plates::ocr::{PlateRead, PlateReader};
use operators::plates::{PlatesConfig, Unread};
use pipeline::frame::Frame;
use pipeline::metrics;
use std::sync::Arc;

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

/// The running reader; its thread owns the text models.
pub struct PlateWorker {
    worker: Worker<PlateJob>,
}

impl PlateWorker {
    /// Loads the text models; results come out on `out`.
    pub fn start(cfg: &PlatesConfig, out: Sender<PlateResult>) -> Result<Self, String> {
        let mut reader = PlateReader::load(&cfg.reader, &Manifest::builtin())?;
        let skipped = metrics::global().metric("qv_plate_reads_skipped_total", &[]);
        let worker = Worker::start("plates", cfg.max_pending, skipped, move |job: PlateJob| {
            let read = crop(&job).map_err(Unread::Image).and_then(|img| reader.read_plate(&img));
            out.send(PlateResult { source: job.source, track: job.track, frame: job.frame, read }).is_ok()
        })?;
        Ok(Self { worker })
    }

    /// Queues a read unless `max_pending` are waiting; `false` when skipped.
    pub fn submit(&self, job: PlateJob) -> bool {
        self.worker.submit(job, WhenFull::Refuse).is_ok()
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
