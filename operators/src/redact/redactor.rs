//! The redactor: blurs every face the detector finds and the head region of every person
//! box, in place, so the copy that is stored and forwarded shows no recognisable face.

use super::config::RedactConfig;
use super::faces::{Face, FaceDetector, check_image};
use crate::detect::manifest::Manifest;
use opencv::core::{Mat, Rect, Size};
use opencv::prelude::*;
use std::path::Path;
use std::time::Instant;

/// What [`Redactor::redact`] did to one image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedactReport {
    /// Faces the detector found (before the margin), pixels.
    pub faces: Vec<Face>,
    /// Every region blurred (faces with their margin, then head regions), pixels,
    /// clipped to the image: `x, y, width, height`. Overlapping regions are blurred as
    /// one (their bounding rectangle), so no seam crosses a face.
    pub regions: Vec<[i32; 4]>,
    /// Head regions among `regions` (one per person box that overlaps the image).
    pub heads: usize,
    /// Person boxes that lie wholly outside the image (nothing to blur).
    pub boxes_outside: usize,
    /// Face detection time, ms.
    pub detect_ms: f64,
    /// Blurring time, ms.
    pub blur_ms: f64,
}

/// The face detector plus the blurring rules. Owned by one thread: the edge's snapshot
/// worker.
pub struct Redactor {
    detector: FaceDetector,
    cfg: RedactConfig,
}

impl Redactor {
    /// Loads the face model named in `cfg` from the model cache.
    pub fn load(cfg: &RedactConfig, manifest: &Manifest) -> Result<Self, String> {
        Ok(Self { detector: FaceDetector::load(cfg, manifest)?, cfg: cfg.clone() })
    }

    /// Loads the face model from `path` (the manifest's entry is not consulted).
    pub fn load_file(path: &Path, cfg: &RedactConfig) -> Result<Self, String> {
        Ok(Self { detector: FaceDetector::load_file(path, cfg)?, cfg: cfg.clone() })
    }

    /// The face detector, e.g. to check a redacted image.
    pub fn detector_mut(&mut self) -> &mut FaceDetector {
        &mut self.detector
    }

    pub fn config(&self) -> &RedactConfig {
        &self.cfg
    }

    /// Blurs, in `image` (BGR, 8-bit), every detected face and the head region of every
    /// person box (`[x1, y1, x2, y2]` in pixels of `image`). Boxes are checked before the
    /// image is touched: a non-finite or inverted box is an error and leaves `image` as it
    /// was; a box partly outside is clipped, one wholly outside is counted and skipped.
    pub fn redact(&mut self, image: &mut Mat, person_boxes: &[[f32; 4]]) -> Result<RedactReport, String> {
        check_image(image)?;
        for (i, b) in person_boxes.iter().enumerate() {
            if !b.iter().all(|v| v.is_finite()) {
                return Err(format!("person box {i}: {b:?} is not finite"));
            }
            if b[2] < b[0] || b[3] < b[1] {
                return Err(format!("person box {i}: {b:?} has x2 < x1 or y2 < y1 (expected [x1, y1, x2, y2])"));
            }
        }
        let (w, h) = (image.cols(), image.rows());
        let mut report = RedactReport::default();
        let t0 = Instant::now();
        report.faces = self.detector.detect(image)?;
        report.detect_ms = t0.elapsed().as_secs_f64() * 1e3;

        let t1 = Instant::now();
        let m = self.cfg.face_margin;
        for f in &report.faces {
            let [x1, y1, x2, y2] = f.bbox;
            let (dx, dy) = ((x2 - x1) * m, (y2 - y1) * m);
            if let Some(r) = clip([x1 - dx, y1 - dy, x2 + dx, y2 + dy], w, h) {
                report.regions.push(r);
            }
        }
        for b in person_boxes {
            match clip(head_region(b, &self.cfg), w, h) {
                Some(r) => {
                    report.regions.push(r);
                    report.heads += 1;
                }
                None => report.boxes_outside += 1,
            }
        }
        for r in merge_overlapping(&report.regions) {
            blur_rect(image, Rect::new(r[0], r[1], r[2], r[3])).map_err(|e| format!("blurring {r:?}: {e}"))?;
        }
        report.blur_ms = t1.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }
}

/// The head region of a person box `[x1, y1, x2, y2]`: the top `head_height` of it,
/// `head_width` of its width, centred, starting `head_above` of its height above it.
pub fn head_region(b: &[f32; 4], cfg: &RedactConfig) -> [f32; 4] {
    let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
    let cx = (b[0] + b[2]) / 2.0;
    let half = bw * cfg.head_width / 2.0;
    [cx - half, b[1] - bh * cfg.head_above, cx + half, b[1] + bh * cfg.head_height]
}

/// `[x1, y1, x2, y2]` → `[x, y, w, h]` in whole pixels covering it, clipped to a `w × h`
/// image; `None` when nothing is left.
fn clip(b: [f32; 4], w: i32, h: i32) -> Option<[i32; 4]> {
    let x1 = (b[0].floor().max(0.0) as i64).min(w as i64) as i32;
    let y1 = (b[1].floor().max(0.0) as i64).min(h as i64) as i32;
    let x2 = (b[2].ceil().max(0.0) as i64).min(w as i64) as i32;
    let y2 = (b[3].ceil().max(0.0) as i64).min(h as i64) as i32;
    (x2 > x1 && y2 > y1).then(|| [x1, y1, x2 - x1, y2 - y1])
}

/// Cells across the longer side of a region when it is pixelated.
const PIXEL_CELLS: i32 = 4;
/// A cell's size at the reduced scale the blur works at.
const WORK_CELL: i32 = 4;

/// Pixelates `r` to about [`PIXEL_CELLS`] cells across its longer side (each cell its
/// mean colour), Gaussian-blurs that with a kernel four cells wide and scales it back
/// smoothly: no edge of the original face survives, no blocky edge invites a second look,
/// and the face detector no longer finds a face there (with 6 cells or a kernel two cells
/// wide it still found some at the default threshold: operators/src/redact/tests.rs).
/// The blur runs at a scale where a cell is [`WORK_CELL`] pixels, so a large region costs
/// about what a small one does.
pub fn blur_rect(image: &mut Mat, r: Rect) -> opencv::Result<()> {
    use opencv::imgproc::{INTER_AREA, INTER_LINEAR, INTER_NEAREST, gaussian_blur, resize};
    let region = Mat::roi(image, r)?.try_clone()?;
    let cell = ((r.width.max(r.height) + PIXEL_CELLS - 1) / PIXEL_CELLS).max(2);
    let grid = Size::new((r.width + cell - 1) / cell, (r.height + cell - 1) / cell);
    let (work_cell, work) = if cell > WORK_CELL {
        let f = WORK_CELL as f64 / cell as f64;
        (
            WORK_CELL,
            Size::new(((r.width as f64 * f).ceil() as i32).max(1), ((r.height as f64 * f).ceil() as i32).max(1)),
        )
    } else {
        (cell, r.size())
    };
    let mut cells = Mat::default();
    resize(&region, &mut cells, grid, 0.0, 0.0, INTER_AREA)?;
    let mut blocky = Mat::default();
    resize(&cells, &mut blocky, work, 0.0, 0.0, INTER_NEAREST)?;
    let k = 4 * work_cell + 1;
    let mut smooth = Mat::default();
    gaussian_blur(&blocky, &mut smooth, Size::new(k, k), 0.0, 0.0, opencv::core::BORDER_REPLICATE)?;
    let mut dst = Mat::roi_mut(image, r)?;
    if work == r.size() {
        smooth.copy_to(&mut dst)?;
    } else {
        let mut full = Mat::default();
        resize(&smooth, &mut full, r.size(), 0.0, 0.0, INTER_LINEAR)?;
        full.copy_to(&mut dst)?;
    }
    Ok(())
}

/// Overlapping or touching `[x, y, w, h]` rectangles merged into their bounding
/// rectangles, until none overlap: blurring each separately would leave a seam (an edge)
/// where two blurred regions meet, across the face they both cover.
pub(crate) fn merge_overlapping(rects: &[[i32; 4]]) -> Vec<[i32; 4]> {
    let mut out: Vec<[i32; 4]> = rects.to_vec();
    let touch = |a: &[i32; 4], b: &[i32; 4]| {
        a[0] <= b[0] + b[2] && b[0] <= a[0] + a[2] && a[1] <= b[1] + b[3] && b[1] <= a[1] + a[3]
    };
    loop {
        let mut merged = false;
        'outer: for i in 0..out.len() {
            for j in i + 1..out.len() {
                if touch(&out[i], &out[j]) {
                    let (a, b) = (out[i], out.swap_remove(j));
                    let (x1, y1) = (a[0].min(b[0]), a[1].min(b[1]));
                    let (x2, y2) = ((a[0] + a[2]).max(b[0] + b[2]), (a[1] + a[3]).max(b[1] + b[3]));
                    out[i] = [x1, y1, x2 - x1, y2 - y1];
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            return out;
        }
    }
}
