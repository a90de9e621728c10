//! Reading plates in an image: PP-OCRv4 text detection and recognition (ONNX Runtime),
//! then the Uzbek normaliser.
//!
//! The one idea: a plate is a *line* of characters, not one text box. The detector may give
//! the region code (in its own frame on the left), the rest of the number, and the `UZ`
//! under the flag as separate boxes, or one box with all of them; the reader groups boxes
//! on a line, reads each, and looks for the eight consecutive characters that are most
//! likely a plate, reading each position as the kind (digit or letter) the format needs.
//!
//! Stages, as in PaddleOCR: the detector's probability map is thresholded, each connected
//! region becomes a minimum-area rectangle, kept when its mean probability is high enough,
//! grown ("unclipped") by `area × ratio / perimeter` on every side, and cut out of the
//! image with a perspective transform to a straight strip. The recogniser reads strips
//! 48 px tall; its output is decoded greedily (CTC) with the character list stored in the
//! model's metadata, keeping Latin letters and digits.
//!
//! What the plate's layout adds: the frame's bars (rim, region separator) and the flag are
//! painted over in each strip before it is read (the recogniser reads them as `I`, `1`,
//! `V`…); where a line reads like a plate without its region code, the place left of it is
//! read too (the code in its frame is sometimes not seen as text); the two formats are told
//! apart by the recogniser's probabilities and by where it puts spaces (`01 A 123 BC`
//! against `01 123 ABC`).
//!
//! A [`PlateReader`] owns two ONNX sessions and its buffers; one thread uses it at a time
//! (the edge's plate reader, beside the camera path's analytics).
//!
//! This file is long because the reading is one pipeline ported step by step from
//! PaddleOCR's (detection post-processing, strips, CTC decoding, the plate's layout), and
//! each step reads best next to the one that feeds it.

use super::{Format, Plate, Unread, normalise};
use crate::detect::manifest::{Manifest, ModelEntry};
use crate::detect::runtime::{self, Provider, ProviderChoice};
use crate::image::cv;
use opencv::core::{self, Mat, Point, Point2f, RotatedRect, Scalar, Size, Size2f, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[plates]` OCR settings in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlateReaderConfig {
    /// Text detection model, a manifest name.
    pub det_model: String,
    /// Text recognition model, a manifest name.
    pub rec_model: String,
    /// Files to use instead of the cached ones (same models).
    pub det_model_path: Option<PathBuf>,
    pub rec_model_path: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (the global pool all models share).
    pub threads: usize,
    /// `auto`, `cpu` or `cuda`.
    pub provider: ProviderChoice,
    /// Images are scaled down so their longer side is at most this before detection.
    pub det_max_side: u32,
    /// Smaller images are scaled up so their shorter side is at least this (within
    /// `det_max_side`); 0 never scales up. Costs time; small text is read without it.
    pub det_min_side: u32,
    /// Probability above which a pixel is text.
    pub det_threshold: f32,
    /// Mean probability a text box needs.
    pub box_threshold: f32,
    /// How much a box grows around its core (PaddleOCR's `unclip_ratio`).
    pub unclip_ratio: f32,
    /// Widest strip the recogniser reads, in pixels at height 48.
    pub rec_max_width: u32,
}

impl Default for PlateReaderConfig {
    fn default() -> Self {
        Self {
            det_model: "ppocr_det".into(),
            rec_model: "ppocr_rec".into(),
            det_model_path: None,
            rec_model_path: None,
            threads: 1,
            provider: ProviderChoice::Auto,
            det_max_side: 960,
            det_min_side: 0,
            det_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            rec_max_width: 960,
        }
    }
}

impl PlateReaderConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self, manifest: &Manifest) -> Result<(), String> {
        for (field, name, task) in
            [("det_model", &self.det_model, "text_det"), ("rec_model", &self.rec_model, "text_rec")]
        {
            manifest.entry_for(name, task).map_err(|e| format!("{field}: {e}"))?;
        }
        if self.threads == 0 {
            return Err("threads: must be at least 1".into());
        }
        if !(64..=4096).contains(&self.det_max_side) {
            return Err(format!("det_max_side: {} is outside 64–4096", self.det_max_side));
        }
        for (field, v) in [("det_threshold", self.det_threshold), ("box_threshold", self.box_threshold)] {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("{field}: {v} is not within 0–1"));
            }
        }
        if self.det_min_side > self.det_max_side {
            return Err(format!("det_min_side: {} is above det_max_side {}", self.det_min_side, self.det_max_side));
        }
        if !(0.5..=4.0).contains(&self.unclip_ratio) {
            return Err(format!("unclip_ratio: {} is outside 0.5–4", self.unclip_ratio));
        }
        if !(64..=4096).contains(&self.rec_max_width) {
            return Err(format!("rec_max_width: {} is outside 64–4096", self.rec_max_width));
        }
        Ok(())
    }
}

/// One line of text found in an image, read as a plate or with the reason it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateRead {
    /// What was read on the line: each box's text, left to right, separated by spaces.
    pub text: String,
    /// The plate, or why the line is not one.
    pub plate: Result<Plate, Unread>,
    /// Mean probability of the characters the plate was made of (of the whole line when
    /// it is not a plate), 0–1.
    pub confidence: f32,
    /// Probability of each of the plate's eight characters, in order (zeros when unread).
    pub char_confidence: [f32; 8],
    /// The plate's (or line's) corners in image pixels: top-left, top-right, bottom-right,
    /// bottom-left.
    pub quad: [[f32; 2]; 4],
}

impl PlateRead {
    /// The line's axis-aligned box `[x1, y1, x2, y2]` in image pixels.
    pub fn bbox(&self) -> [f32; 4] {
        let xs = self.quad.map(|p| p[0]);
        let ys = self.quad.map(|p| p[1]);
        let min = |v: [f32; 4]| v.into_iter().fold(f32::MAX, f32::min);
        let max = |v: [f32; 4]| v.into_iter().fold(f32::MIN, f32::max);
        [min(xs), min(ys), max(xs), max(ys)]
    }
}

/// What a recogniser class stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Symbol {
    Blank,
    /// A Latin letter (uppercased) or a digit.
    Char(char),
    /// Space and punctuation: dropped, but they split repeated characters.
    Separator,
    /// A vertical bar: the region separator, or an `I` or `1`.
    Bar,
    /// Anything else (CJK, other scripts): read as the most likely letter or digit.
    Other,
}

impl Symbol {
    fn of(s: &str) -> Symbol {
        let mut chars = s.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Symbol::Other;
        };
        let c = match c {
            // Full-width forms read as their ASCII letters and digits.
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            c => c,
        };
        match c {
            '|' | '｜' | '丨' | '!' => Symbol::Bar,
            // Lower-case `l` is a bar, like `I` (upper-casing it to `L` would misread plates).
            'l' => Symbol::Char('I'),
            c if c.is_ascii_alphanumeric() => Symbol::Char(c.to_ascii_uppercase()),
            c if c.is_ascii_punctuation() || c.is_whitespace() => Symbol::Separator,
            '—' | '–' | '·' | '•' | '一' | '．' | '，' | '：' | '、' | '。' => Symbol::Separator,
            _ => Symbol::Other,
        }
    }
}

/// A detected text box in image pixels.
#[derive(Debug, Clone, Copy)]
struct TextBox {
    /// tl, tr, br, bl.
    quad: [Point2f; 4],
    centre: Point2f,
    /// Unit vector along the text.
    along: Point2f,
    length: f32,
    height: f32,
}

/// One character read: the most likely letter or digit, and the most likely of each kind
/// (so a plate format can pick the kind its position needs).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Glyph {
    c: char,
    p: f32,
    digit: (char, f32),
    letter: (char, f32),
    /// The recogniser step (8 px of the 48-px strip) it starts at, and how many it spans.
    step: u16,
    span: u16,
    /// A vertical bar (`|`): the region separator, or an `I` or `1`.
    bar: bool,
    /// The recogniser put a space (or punctuation) between it and the glyph before.
    spaced: bool,
}

/// One box's recognised characters, left to right.
#[derive(Debug, Default, Clone)]
struct BoxText {
    glyphs: Vec<Glyph>,
}

/// PP-OCRv4 detection + recognition, and the Uzbek normaliser.
pub struct PlateReader {
    det: Session,
    det_io: (String, String),
    rec: Session,
    rec_io: (String, String),
    provider: Provider,
    cfg: PlateReaderConfig,
    /// Per recogniser class.
    symbols: Vec<Symbol>,
    /// Classes that are letters or digits: (class, char).
    alnum: Vec<(usize, char)>,
    // Buffers kept between calls.
    bgr: Mat,
    padded: Mat,
    resized: Mat,
    det_input: Vec<f32>,
    prob: Vec<f32>,
    bitmap: Vec<u8>,
    dilated: Mat,
    crops: Vec<Mat>,
    strip: Mat,
    scaled: Mat,
    rec_input: Vec<f32>,
    boxes: Vec<TextBox>,
    /// Lines of boxes, each left to right (indices into `boxes`).
    lines: Vec<Vec<usize>>,
    texts: Vec<BoxText>,
}

/// PaddleOCR's detector normalisation (ImageNet), applied to B, G, R in that order as
/// PaddleOCR does with images read by OpenCV.
const DET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const DET_STD: [f32; 3] = [0.229, 0.224, 0.225];
const REC_HEIGHT: i32 = 48;
/// Narrowest padded recogniser input (PaddleOCR's 48 × 320).
const REC_MIN_WIDTH: usize = 320;
/// Images smaller than this on either side cannot hold a readable plate.
const MIN_IMAGE_SIDE: i32 = 8;
/// The detector sees at least this much around small images (they are padded).
const MIN_DET_SIDE: i32 = 64;
/// Text boxes read per image at most (the most certain ones).
const MAX_BOXES: usize = 48;
/// Strips per recogniser run.
const REC_BATCH: usize = 8;
/// Plate-coloured margin added on each side of a 48-px strip.
const STRIP_MARGIN: i32 = 8;

impl PlateReader {
    /// Loads both models from the model cache (or the configured paths).
    pub fn load(cfg: &PlateReaderConfig, manifest: &Manifest) -> Result<Self, String> {
        cfg.validate(manifest).map_err(|e| format!("plate reader: {e}"))?;
        let path = |name: &str, given: &Option<PathBuf>| -> Result<PathBuf, String> {
            let entry: &ModelEntry = manifest.get(name).expect("validated");
            let path = given.clone().unwrap_or_else(|| entry.cached_path());
            if path.exists() {
                Ok(path)
            } else {
                Err(format!("model {name:?}: {} does not exist: run `qorovul models fetch`", path.display()))
            }
        };
        let det = path(&cfg.det_model, &cfg.det_model_path)?;
        let rec = path(&cfg.rec_model, &cfg.rec_model_path)?;
        Self::load_files(&det, &rec, cfg)
    }

    /// Loads the two model files; the recogniser must carry its character list in its
    /// metadata (key `character`).
    pub fn load_files(det_path: &Path, rec_path: &Path, cfg: &PlateReaderConfig) -> Result<Self, String> {
        let env = runtime::environment(cfg.threads)?;
        let open = |path: &Path| -> Result<(Session, Provider, (String, String)), String> {
            let what = format!("text model {}", path.display());
            let (mut builder, provider) =
                runtime::session_builder(&env, cfg.provider).map_err(|e| format!("{what}: {e}"))?;
            let session =
                builder.commit_from_file(path).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
            let (Some(i), Some(o)) = (session.inputs().first(), session.outputs().first()) else {
                return Err(format!("{what}: has no input or no output"));
            };
            let io = (i.name().to_string(), o.name().to_string());
            Ok((session, provider, io))
        };
        let (det, provider, det_io) = open(det_path)?;
        let (rec, _, rec_io) = open(rec_path)?;
        let list = rec
            .metadata()
            .map_err(|e| format!("text model {}: metadata: {e}", rec_path.display()))?
            .custom("character")
            .ok_or_else(|| {
                format!(
                    "text model {}: no `character` list in its metadata: is it a PP-OCR recogniser?",
                    rec_path.display()
                )
            })?;
        // Class 0 is the CTC blank, then the list, then a space.
        let mut symbols = vec![Symbol::Blank];
        symbols.extend(list.lines().map(Symbol::of));
        symbols.push(Symbol::Separator);
        let alnum: Vec<(usize, char)> = symbols
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Symbol::Char(c) => Some((i, *c)),
                _ => None,
            })
            .collect();
        if alnum.len() < 36 {
            return Err(format!(
                "text model {}: its character list has {} Latin letters and digits; plates need 36",
                rec_path.display(),
                alnum.len()
            ));
        }
        tracing::info!(provider = provider.as_str(), classes = symbols.len(), "plate reader loaded");
        Ok(Self {
            det,
            det_io,
            rec,
            rec_io,
            provider,
            cfg: cfg.clone(),
            symbols,
            alnum,
            bgr: Mat::default(),
            padded: Mat::default(),
            resized: Mat::default(),
            det_input: Vec::new(),
            prob: Vec::new(),
            bitmap: Vec::new(),
            dilated: Mat::default(),
            crops: Vec::new(),
            strip: Mat::default(),
            scaled: Mat::default(),
            rec_input: Vec::new(),
            boxes: Vec::new(),
            lines: Vec::new(),
            texts: Vec::new(),
        })
    }

    /// Where the models run.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The settings it was loaded with.
    pub fn config(&self) -> &PlateReaderConfig {
        &self.cfg
    }

    /// Reads every text line of `image` (8-bit BGR, grey or BGRA; a vehicle crop or any
    /// image). `Ok` holds at least one line, each a plate or an [`Unread`] with the reason;
    /// `Err` says why there is nothing to read: [`Unread::Image`] (empty, tiny or not an
    /// 8-bit picture), [`Unread::NoText`], or [`Unread::Inference`] when a model failed.
    pub fn read(&mut self, image: &Mat) -> Result<Vec<PlateRead>, Unread> {
        self.prepare(image)?;
        self.detect().map_err(Unread::Inference)?;
        if self.boxes.is_empty() {
            return Err(Unread::NoText);
        }
        self.group_lines();
        self.recognise(0).map_err(Unread::Inference)?;
        let mut reads: Vec<PlateRead> = self.lines.iter().map(|members| self.read_line(members)).collect();
        // The region code in its frame is sometimes not found as text: for a line that
        // reads like a plate without it, read the place where it would be.
        let first_probe = self.boxes.len();
        let mut probes = Vec::new();
        for (line, read) in reads.iter().enumerate() {
            let n = read.text.chars().filter(|c| c.is_ascii_alphanumeric()).count();
            if read.plate.is_err()
                && (5..=7).contains(&n)
                && let Some(probe) = self.probe_left(self.lines[line][0])
            {
                probes.push((line, self.boxes.len()));
                self.boxes.push(probe);
            }
        }
        if !probes.is_empty() {
            self.recognise(first_probe).map_err(Unread::Inference)?;
            for (line, probe) in probes {
                let mut members = Vec::with_capacity(self.lines[line].len() + 1);
                members.push(probe);
                members.extend_from_slice(&self.lines[line]);
                let read = self.read_line(&members);
                if read.plate.is_ok() {
                    reads[line] = read;
                }
            }
        }
        reads.sort_by(|a, b| {
            (a.quad[0][1], a.quad[0][0]).partial_cmp(&(b.quad[0][1], b.quad[0][0])).unwrap_or(std::cmp::Ordering::Equal)
        });
        if reads.is_empty() { Err(Unread::NoText) } else { Ok(reads) }
    }

    /// The most confident line that is a plate; else why none is (the reason given for
    /// the line with the most characters).
    pub fn read_plate(&mut self, image: &Mat) -> Result<PlateRead, Unread> {
        let reads = self.read(image)?;
        best_plate(reads)
    }

    /// Checks the image and puts it, as BGR, in `self.bgr`.
    fn prepare(&mut self, image: &Mat) -> Result<(), Unread> {
        if image.empty() {
            return Err(Unread::Image("the image is empty".into()));
        }
        let (w, h) = (image.cols(), image.rows());
        if w < MIN_IMAGE_SIDE || h < MIN_IMAGE_SIDE {
            return Err(Unread::Image(format!(
                "{w}×{h} px is too small to hold a plate (at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE})"
            )));
        }
        if image.depth() != core::CV_8U {
            return Err(Unread::Image(format!("8-bit pixels expected, the image has OpenCV depth {}", image.depth())));
        }
        let code = match image.channels() {
            3 => None,
            1 => Some(imgproc::COLOR_GRAY2BGR),
            4 => Some(imgproc::COLOR_BGRA2BGR),
            n => return Err(Unread::Image(format!("{n} channels; BGR, grey or BGRA expected"))),
        };
        let res = match code {
            Some(code) => imgproc::cvt_color(image, &mut self.bgr, code, 0),
            None => image.copy_to(&mut self.bgr),
        };
        res.map_err(|e| Unread::Image(cv(e)))
    }

    /// Text detection on `self.bgr` into `self.boxes` (image pixels).
    fn detect(&mut self) -> Result<(), String> {
        self.boxes.clear();
        let (w, h) = (self.bgr.cols(), self.bgr.rows());
        // Small or very flat images (a tight plate crop) get room around them.
        let pad_x = (MIN_DET_SIDE - w).max(0) / 2 + 8;
        let pad_y = ((MIN_DET_SIDE - h).max(0) / 2).max((w / 8 - h).max(0) / 2) + 8;
        core::copy_make_border(
            &self.bgr,
            &mut self.padded,
            pad_y,
            pad_y,
            pad_x,
            pad_x,
            core::BORDER_REPLICATE,
            Scalar::all(0.0),
        )
        .map_err(cv)?;
        let (pw, ph) = (self.padded.cols(), self.padded.rows());
        let up = (self.cfg.det_min_side as f64 / pw.min(ph) as f64).max(1.0);
        let ratio = (self.cfg.det_max_side as f64 / pw.max(ph) as f64).min(up);
        let round32 = |v: f64| (((v / 32.0).round() as i32) * 32).max(32);
        let (dw, dh) = (round32(pw as f64 * ratio), round32(ph as f64 * ratio));
        imgproc::resize(&self.padded, &mut self.resized, Size::new(dw, dh), 0.0, 0.0, imgproc::INTER_LINEAR)
            .map_err(cv)?;
        let (dwu, dhu) = (dw as usize, dh as usize);
        let plane = dwu * dhu;
        self.det_input.resize(3 * plane, 0.0);
        {
            let px = self.resized.data_bytes().map_err(cv)?;
            let (c0, rest) = self.det_input.split_at_mut(plane);
            let (c1, c2) = rest.split_at_mut(plane);
            for (i, p) in px.chunks_exact(3).enumerate() {
                c0[i] = (p[0] as f32 / 255.0 - DET_MEAN[0]) / DET_STD[0];
                c1[i] = (p[1] as f32 / 255.0 - DET_MEAN[1]) / DET_STD[1];
                c2[i] = (p[2] as f32 / 255.0 - DET_MEAN[2]) / DET_STD[2];
            }
        }
        let tensor = TensorRef::from_array_view(([1usize, 3, dhu, dwu], &self.det_input[..]))
            .map_err(|e| format!("text detection input: {e}"))?;
        let outputs =
            self.det.run(ort::inputs![self.det_io.0.as_str() => tensor]).map_err(|e| format!("text detection: {e}"))?;
        let (shape, data) = outputs[self.det_io.1.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("text detection output: {e}"))?;
        let (mh, mw) = match shape[..] {
            [1, 1, mh, mw] if mh as usize * mw as usize == data.len() => (mh as usize, mw as usize),
            _ => return Err(format!("text detection output has shape {:?}, expected [1, 1, H, W]", &shape[..])),
        };
        self.prob.clear();
        self.prob.extend_from_slice(data);
        drop(outputs);

        let thresh = self.cfg.det_threshold;
        self.bitmap.clear();
        self.bitmap.extend(self.prob.iter().map(|&p| if p > thresh { 255u8 } else { 0 }));
        let bitmap = Mat::new_rows_cols_with_data(mh as i32, mw as i32, &self.bitmap[..]).map_err(cv)?;
        let kernel = Mat::new_rows_cols_with_default(2, 2, core::CV_8UC1, Scalar::all(1.0)).map_err(cv)?;
        imgproc::dilate(
            &bitmap,
            &mut self.dilated,
            &kernel,
            Point::new(-1, -1),
            1,
            core::BORDER_CONSTANT,
            imgproc::morphology_default_border_value().map_err(cv)?,
        )
        .map_err(cv)?;
        let mut contours = Vector::<Vector<Point>>::new();
        imgproc::find_contours(
            &self.dilated,
            &mut contours,
            imgproc::RETR_LIST,
            imgproc::CHAIN_APPROX_SIMPLE,
            Point::new(0, 0),
        )
        .map_err(cv)?;
        // Map coordinates back: map pixel → padded image pixel → image pixel.
        let (sx, sy) = (pw as f32 / mw as f32, ph as f32 / mh as f32);
        let mut scored: Vec<(f32, TextBox)> = Vec::new();
        for contour in contours.iter().take(1000) {
            let rect = imgproc::min_area_rect(&contour).map_err(cv)?;
            let (rw, rh) = (rect.size.width, rect.size.height);
            if rw.min(rh) < 3.0 {
                continue;
            }
            let mut pts = [Point2f::default(); 4];
            rect.points(&mut pts).map_err(cv)?;
            let score = box_score(&self.prob, mw, mh, &pts);
            if score < self.cfg.box_threshold {
                continue;
            }
            let grow = rw * rh * self.cfg.unclip_ratio / (2.0 * (rw + rh));
            let grown =
                RotatedRect::new(rect.center, Size2f::new(rw + 2.0 * grow, rh + 2.0 * grow), rect.angle).map_err(cv)?;
            if grown.size.width.min(grown.size.height) < 5.0 {
                continue;
            }
            grown.points(&mut pts).map_err(cv)?;
            let pts = pts.map(|p| {
                Point2f::new(
                    (p.x * sx - pad_x as f32).clamp(0.0, (w - 1) as f32),
                    (p.y * sy - pad_y as f32).clamp(0.0, (h - 1) as f32),
                )
            });
            if let Some(b) = text_box(order_quad(pts)) {
                scored.push((score, b));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.boxes.extend(scored.into_iter().take(MAX_BOXES).map(|(_, b)| b));
        Ok(())
    }

    /// Cuts boxes `from..` out straight and reads them into `self.texts`, a few at a time.
    fn recognise(&mut self, from: usize) -> Result<(), String> {
        let total = self.boxes.len();
        self.crops.resize_with(total, Mat::default);
        self.texts.resize_with(total, BoxText::default);
        for i in from..total {
            self.cut(i).map_err(cv)?;
        }
        let mut start = from;
        while start < total {
            let end = (start + REC_BATCH).min(total);
            self.recognise_batch(start..end)?;
            start = end;
        }
        Ok(())
    }

    /// Box `i` as a 48-px strip in `self.crops[i]`: straightened, frame bars and flag
    /// painted over, with a margin.
    fn cut(&mut self, i: usize) -> opencv::Result<()> {
        let b = &self.boxes[i];
        let [tl, tr, br, bl] = b.quad;
        let cw = dist(tl, tr).max(dist(bl, br)).round().max(1.0);
        let ch = dist(tl, bl).max(dist(tr, br)).round().max(1.0);
        let dst = [Point2f::new(0.0, 0.0), Point2f::new(cw, 0.0), Point2f::new(cw, ch), Point2f::new(0.0, ch)];
        let m = imgproc::get_perspective_transform_slice(b.quad, dst, core::DECOMP_LU)?;
        imgproc::warp_perspective(
            &self.bgr,
            &mut self.strip,
            &m,
            Size::new(cw as i32, ch as i32),
            imgproc::INTER_CUBIC,
            core::BORDER_REPLICATE,
            Scalar::all(0.0),
        )?;
        let rw = ((REC_HEIGHT as f32 * cw / ch).ceil() as i32).clamp(8, self.cfg.rec_max_width as i32);
        imgproc::resize(&self.strip, &mut self.scaled, Size::new(rw, REC_HEIGHT), 0.0, 0.0, imgproc::INTER_LINEAR)?;
        let paper = paper_colour(&self.scaled)?;
        erase_frame_bars(&mut self.scaled, paper)?;
        erase_flag(&mut self.scaled, paper)?;
        // A margin of plate colour on both sides, as a character at the very end of a strip
        // reads worse.
        let fill = Scalar::new(paper[0] as f64, paper[1] as f64, paper[2] as f64, 0.0);
        core::copy_make_border(
            &self.scaled,
            &mut self.crops[i],
            0,
            0,
            STRIP_MARGIN,
            STRIP_MARGIN,
            core::BORDER_CONSTANT,
            fill,
        )
    }

    /// Runs the recogniser on the strips `range` (padded to the widest) and decodes them.
    fn recognise_batch(&mut self, range: std::ops::Range<usize>) -> Result<(), String> {
        let n = range.len();
        let hh = REC_HEIGHT as usize;
        let widths = |crops: &[Mat]| crops.iter().map(|c| c.cols() as usize).max().unwrap_or(0);
        let width = widths(&self.crops[range.clone()]).max(REC_MIN_WIDTH).div_ceil(8) * 8;
        let per = 3 * hh * width;
        self.rec_input.clear();
        self.rec_input.resize(n * per, 0.0);
        for (j, crop) in self.crops[range.clone()].iter().enumerate() {
            let px = crop.data_bytes().map_err(cv)?;
            let cw = crop.cols() as usize;
            let (c0, rest) = self.rec_input[j * per..(j + 1) * per].split_at_mut(hh * width);
            let (c1, c2) = rest.split_at_mut(hh * width);
            for y in 0..hh {
                let row = &px[y * cw * 3..(y + 1) * cw * 3];
                for (x, p) in row.chunks_exact(3).enumerate() {
                    let k = y * width + x;
                    c0[k] = p[0] as f32 / 127.5 - 1.0;
                    c1[k] = p[1] as f32 / 127.5 - 1.0;
                    c2[k] = p[2] as f32 / 127.5 - 1.0;
                }
            }
        }
        let tensor = TensorRef::from_array_view(([n, 3, hh, width], &self.rec_input[..]))
            .map_err(|e| format!("text recognition input: {e}"))?;
        let outputs = self
            .rec
            .run(ort::inputs![self.rec_io.0.as_str() => tensor])
            .map_err(|e| format!("text recognition: {e}"))?;
        let (shape, data) = outputs[self.rec_io.1.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("text recognition output: {e}"))?;
        let (steps, classes) = match shape[..] {
            [b, t, c] if b as usize == n && c as usize == self.symbols.len() && (b * t * c) as usize == data.len() => {
                (t as usize, c as usize)
            }
            _ => {
                return Err(format!(
                    "text recognition output has shape {:?}, expected [{n}, T, {}]",
                    &shape[..],
                    self.symbols.len()
                ));
            }
        };
        for (j, i) in range.enumerate() {
            // Steps past the strip's own width only see padding.
            let used = (self.crops[i].cols() as usize).div_ceil(8).min(steps);
            let sample = &data[j * steps * classes..(j * steps + used) * classes];
            ctc_decode(sample, classes, &self.symbols, &self.alnum, &mut self.texts[i].glyphs);
        }
        Ok(())
    }

    /// Groups `self.boxes` into lines (`self.lines`, each left to right), and trims boxes
    /// on a line that overlap so no character is read twice.
    fn group_lines(&mut self) {
        let boxes = &mut self.boxes;
        // Longest boxes first: they anchor their lines.
        let mut order: Vec<usize> = (0..boxes.len()).collect();
        order.sort_by(|&a, &b| boxes[b].length.total_cmp(&boxes[a].length));
        // Per line: anchor, extent along the anchor's direction; members in `self.lines`.
        let mut anchors: Vec<(usize, f32, f32)> = Vec::new();
        self.lines.clear();
        for &i in &order {
            let b = boxes[i];
            let mut joined = false;
            for ((anchor, lo, hi), members) in anchors.iter_mut().zip(self.lines.iter_mut()) {
                let a = &boxes[*anchor];
                let t = a.along_of(b.centre);
                let across = a.across_of(b.centre).abs();
                let gap = (t - b.length / 2.0 - *hi).max(*lo - (t + b.length / 2.0)).max(0.0);
                if across <= 0.6 * a.height && gap <= 1.2 * a.height && b.height <= 1.5 * a.height {
                    members.push(i);
                    *lo = lo.min(t - b.length / 2.0);
                    *hi = hi.max(t + b.length / 2.0);
                    joined = true;
                    break;
                }
            }
            if !joined {
                anchors.push((i, -b.length / 2.0, b.length / 2.0));
                self.lines.push(vec![i]);
            }
        }
        for ((anchor, _, _), members) in anchors.iter().zip(self.lines.iter_mut()) {
            let a = boxes[*anchor];
            members.sort_by(|x, y| a.along_of(boxes[*x].centre).total_cmp(&a.along_of(boxes[*y].centre)));
            // Grown boxes of neighbouring words can overlap by a character: cut both at the
            // middle of the overlap, which is the middle of the gap between the words.
            for k in 1..members.len() {
                let (l, r) = (members[k - 1], members[k]);
                let l_hi = boxes[l].quad.iter().map(|p| a.along_of(*p)).fold(f32::MIN, f32::max);
                let r_lo = boxes[r].quad.iter().map(|p| a.along_of(*p)).fold(f32::MAX, f32::min);
                if l_hi <= r_lo {
                    continue;
                }
                let cut = (l_hi + r_lo) / 2.0;
                let mut lq = boxes[l].quad;
                let mut rq = boxes[r].quad;
                for j in [1, 2] {
                    let p = &mut lq[j];
                    let over = a.along_of(*p) - cut;
                    if over > 0.0 {
                        *p = Point2f::new(p.x - a.along.x * over, p.y - a.along.y * over);
                    }
                }
                for j in [0, 3] {
                    let p = &mut rq[j];
                    let under = cut - a.along_of(*p);
                    if under > 0.0 {
                        *p = Point2f::new(p.x + a.along.x * under, p.y + a.along.y * under);
                    }
                }
                if let (Some(lb), Some(rb)) = (text_box(lq), text_box(rq)) {
                    boxes[l] = lb;
                    boxes[r] = rb;
                }
            }
        }
    }

    /// The place left of box `first` where a region code in its own frame would be: as
    /// tall as the box and 1.7 heights wide.
    fn probe_left(&self, first: usize) -> Option<TextBox> {
        let b = &self.boxes[first];
        let (w, h) = (self.bgr.cols() as f32, self.bgr.rows() as f32);
        let reach = 1.7 * b.height;
        let shift = |p: Point2f| {
            Point2f::new((p.x - b.along.x * reach).clamp(0.0, w - 1.0), (p.y - b.along.y * reach).clamp(0.0, h - 1.0))
        };
        let [tl, _, _, bl] = b.quad;
        let probe = text_box([shift(tl), tl, bl, shift(bl)])?;
        (probe.length >= 0.8 * b.height).then_some(probe)
    }

    /// The eight consecutive characters of the line (boxes left to right) that form the
    /// most likely plate: each window is read in each format, taking at every position the
    /// recogniser's best character of the kind the format needs there.
    fn read_line(&self, members: &[usize]) -> PlateRead {
        let mut text = String::new();
        // (glyph, index into members)
        let mut line: Vec<(Glyph, usize)> = Vec::with_capacity(16);
        for (k, &i) in members.iter().enumerate() {
            if k > 0 {
                text.push(' ');
            }
            text.extend(self.texts[i].glyphs.iter().map(|g| if g.bar { '|' } else { g.c }));
            line.extend(self.texts[i].glyphs.iter().map(|g| (*g, k)));
        }
        let quad_of = |first: usize, last: usize| {
            let (a, b) = (&self.boxes[members[first]].quad, &self.boxes[members[last]].quad);
            [a[0], b[1], b[2], a[3]].map(|p| [p.x, p.y])
        };
        // A bar is the region separator or an `I`: try the line with and without each (a
        // few at most).
        let bars: Vec<usize> = line.iter().enumerate().filter(|(_, (g, _))| g.bar).map(|(k, _)| k).take(3).collect();
        let mut best: Option<Window> = None;
        let mut variant: Vec<(Glyph, usize)> = Vec::with_capacity(line.len() + 1);
        for mask in 0..1u32 << bars.len() {
            variant.clear();
            variant.extend(line.iter().enumerate().filter_map(|(k, g)| match bars.iter().position(|&b| b == k) {
                Some(j) if mask & (1 << j) == 0 => None,
                _ => Some(*g),
            }));
            best_window(&variant, 0.0, &mut best);
        }
        // CTC cannot tell a doubled character (`JJ`) from a long one unless the recogniser
        // put a blank between: when nothing fits, try the longest glyph doubled.
        if best.is_none()
            && let Some((k, _)) =
                line.iter().enumerate().filter(|(_, (g, _))| !g.bar && g.span >= 3).max_by_key(|(_, (g, _))| g.span)
        {
            variant.clear();
            variant.extend_from_slice(&line);
            let mut twin = line[k];
            twin.0.spaced = false;
            variant.insert(k + 1, twin);
            best_window(&variant, DOUBLE_PENALTY, &mut best);
        }
        if let Some(w) = best {
            let confidence = w.conf.iter().sum::<f32>() / 8.0;
            let quad = quad_of(w.members.0, w.members.1);
            return PlateRead { text, plate: Ok(w.plate), confidence, char_confidence: w.conf, quad };
        }
        // Not a plate: say why for the line without the `UZ` mark at its ends.
        let is_mark = |i: usize| {
            let g = &self.texts[i].glyphs;
            g.len() == 2 && g[0].c == 'U' && g[1].c == 'Z'
        };
        let mut first = 0;
        let mut last = members.len() - 1;
        while first < last && is_mark(members[first]) {
            first += 1;
        }
        while last > first && is_mark(members[last]) {
            last -= 1;
        }
        let mut chars = String::with_capacity(16);
        let mut sum = 0.0;
        let mut count = 0;
        for &i in &members[first..=last] {
            for g in self.texts[i].glyphs.iter().filter(|g| !g.bar) {
                chars.push(g.c);
                sum += g.p;
                count += 1;
            }
        }
        // (Eight characters that normalise were taken above; the fallback keeps this total.)
        let plate = Err(normalise(&chars).err().unwrap_or_else(|| Unread::NoFormat(chars.clone())));
        PlateRead {
            text,
            plate,
            confidence: if count > 0 { sum / count as f32 } else { 0.0 },
            char_confidence: [0.0; 8],
            quad: quad_of(first, last),
        }
    }
}

/// The best plate found in a line so far.
struct Window {
    log_p: f32,
    plate: Plate,
    conf: [f32; 8],
    /// First and last box (indices into the line's members) the plate's characters are in.
    members: (usize, usize),
}

/// Reads every eight consecutive glyphs of `line` in each format and keeps the most likely
/// valid plate in `best` (`penalty` is subtracted from this line's log-probabilities).
fn best_window(line: &[(Glyph, usize)], penalty: f32, best: &mut Option<Window>) {
    let mut chars = String::with_capacity(8);
    for start in 0..line.len().saturating_sub(7) {
        let window = &line[start..start + 8];
        // A plate starts a box (the region code leads its box, or has its own); junk a box
        // picked up on the right (the flag) may be left out.
        let mid_box = start > 0 && line[start - 1].1 == line[start].1;
        for format in Format::ALL {
            chars.clear();
            let mut conf = [0.0f32; 8];
            let mut log_p = -penalty - if mid_box { MID_BOX_PENALTY } else { 0.0 };
            for (k, ((g, _), &kind)) in window.iter().zip(format.pattern()).enumerate() {
                let (c, p) = of_kind(g, kind == b'D');
                chars.push(c);
                conf[k] = p.max(0.0);
                log_p += p.max(1e-6).ln();
                // The recogniser's spaces (or a box boundary) say where the groups are.
                if matches!(k, 3 | 5 | 6) {
                    let spaced = g.spaced || window[k - 1].1 != window[k].1;
                    if spaced != format.groups().contains(&k) {
                        log_p -= SPACING_PENALTY;
                    }
                }
            }
            // So do the distances between characters, when one box holds them all.
            if (3..8).all(|k| window[k].1 == window[2].1) {
                let gap = |k: usize| window[k].0.step as f32 - window[k - 1].0.step as f32;
                let private = ((gap(3) + gap(6)) / 2.0 - gap(5)) / 2.0;
                let e = private.clamp(-1.0, 1.0) * GAP_WEIGHT;
                log_p += if format == Format::Private { e } else { -e };
            }
            // Every character must plausibly be of the kind its position needs: otherwise any
            // eight letters and digits could be bent into a plate.
            if conf.iter().all(|&p| p >= MIN_CHAR_CONFIDENCE)
                && let Ok(plate) = normalise(&chars)
                && plate.format == format
                && best.as_ref().is_none_or(|b| log_p > b.log_p)
            {
                *best = Some(Window { log_p, plate, conf, members: (window[0].1, window[7].1) });
            }
        }
    }
}

/// The most confident plate among `reads`; else the reason for the line with the most
/// characters.
pub fn best_plate(reads: Vec<PlateRead>) -> Result<PlateRead, Unread> {
    let mut best: Option<PlateRead> = None;
    let mut reason: Option<(usize, Unread)> = None;
    for r in reads {
        match &r.plate {
            Ok(_) => {
                if best.as_ref().is_none_or(|b| r.confidence > b.confidence) {
                    best = Some(r);
                }
            }
            Err(e) => {
                let n = r.text.chars().filter(|c| c.is_ascii_alphanumeric()).count();
                if reason.as_ref().is_none_or(|(m, _)| n > *m) {
                    reason = Some((n, e.clone()));
                }
            }
        }
    }
    best.ok_or_else(|| reason.map(|(_, e)| e).unwrap_or(Unread::NoText))
}

/// Log-probability cost of a plate that starts inside a box rather than at its start.
const MID_BOX_PENALTY: f32 = 2.0;
/// Log-probability cost of a space where the format has none, or none where it has one,
/// at the positions that tell the formats apart (`01 A 123 BC` / `01 123 ABC`).
const SPACING_PENALTY: f32 = 1.0;
/// A plate's characters each need at least this probability (of the kind the format
/// puts there).
const MIN_CHAR_CONFIDENCE: f32 = 0.1;
/// Log-probability cost of reading a glyph twice (see `read_line`).
const DOUBLE_PENALTY: f32 = 1.0;
/// Weight of the character distances as evidence for a format (wider gaps between groups).
const GAP_WEIGHT: f32 = 0.5;
/// The same glyph shape read as the other kind (`1` for `I`, `0` for `O`) counts at half
/// the recogniser's probability.
const CONFUSION_WEIGHT: f32 = 0.5;

/// The glyph as a digit (or a letter): the recogniser's best of that kind, or its best
/// character mapped through the shape confusions the normaliser knows, if likelier.
fn of_kind(g: &Glyph, digit: bool) -> (char, f32) {
    let (own, mapped) = if digit { (g.digit, super::as_digit(g.c)) } else { (g.letter, super::as_letter(g.c)) };
    match mapped {
        Some(m) if m != g.c && g.p * CONFUSION_WEIGHT > own.1 => (m, g.p * CONFUSION_WEIGHT),
        _ => own,
    }
}

/// Greedy CTC decoding of one sample's `[T, classes]` probabilities into letters and
/// digits. A step whose best class is a character of another script is read as the most
/// likely letter or digit. Each glyph keeps, over the steps it spans, its best
/// probability and the best digit and best letter.
fn ctc_decode(probs: &[f32], classes: usize, symbols: &[Symbol], alnum: &[(usize, char)], out: &mut Vec<Glyph>) {
    out.clear();
    let mut prev = Symbol::Blank;
    let mut spaced = false;
    for (step, row) in probs.chunks_exact(classes).enumerate() {
        let (mut best, mut p) = (0, f32::MIN);
        for (k, &v) in row.iter().enumerate() {
            if v > p {
                best = k;
                p = v;
            }
        }
        let mut digit = (' ', f32::MIN);
        let mut letter = (' ', f32::MIN);
        let mut any = (' ', f32::MIN);
        for &(k, c) in alnum {
            let v = row[k];
            let slot = if c.is_ascii_digit() { &mut digit } else { &mut letter };
            if v > slot.1 {
                *slot = (c, v);
            }
            if v > any.1 {
                any = (c, v);
            }
        }
        let sym = match symbols[best] {
            Symbol::Other => {
                p = any.1;
                Symbol::Char(any.0)
            }
            s => s,
        };
        if sym == prev {
            if let (Symbol::Char(_), Some(g)) = (sym, out.last_mut())
                && !g.bar
            {
                g.p = g.p.max(p);
                g.span += 1;
                if digit.1 > g.digit.1 {
                    g.digit = digit;
                }
                if letter.1 > g.letter.1 {
                    g.letter = letter;
                }
            }
            continue;
        }
        match sym {
            Symbol::Char(c) => {
                out.push(Glyph { c, p, digit, letter, step: step as u16, span: 1, bar: false, spaced });
                spaced = false;
            }
            Symbol::Bar => {
                let w = p * CONFUSION_WEIGHT;
                out.push(Glyph {
                    c: 'I',
                    p: w,
                    digit: ('1', w),
                    letter: ('I', w),
                    step: step as u16,
                    span: 1,
                    bar: true,
                    spaced,
                });
                // Left out, a bar separates like a space.
                spaced = true;
            }
            Symbol::Separator => spaced = true,
            Symbol::Blank | Symbol::Other => {}
        }
        prev = sym;
    }
}

/// The plate's colour in a strip: the mean of its lightest fifth.
fn paper_colour(strip: &Mat) -> opencv::Result<[u8; 3]> {
    let px = strip.data_bytes()?;
    let mut hist = [0u32; 766];
    for p in px.chunks_exact(3) {
        hist[p[0] as usize + p[1] as usize + p[2] as usize] += 1;
    }
    let want = (px.len() / 3 / 5).max(1) as u32;
    let (mut sum, mut cut) = (0, 0);
    for v in (0..766).rev() {
        sum += hist[v];
        if sum >= want {
            cut = v;
            break;
        }
    }
    let (mut acc, mut n) = ([0u64; 3], 0u64);
    for p in px.chunks_exact(3) {
        if p[0] as usize + p[1] as usize + p[2] as usize >= cut {
            for c in 0..3 {
                acc[c] += p[c] as u64;
            }
            n += 1;
        }
    }
    let n = n.max(1);
    Ok([(acc[0] / n) as u8, (acc[1] / n) as u8, (acc[2] / n) as u8])
}

/// Paints over thin dark bars that run the whole height of a 48-px strip: the separator
/// after the region code and the plate's rim. Characters never fill the strip's height (the
/// box leaves a margin above and below them), so only frame lines do; the recogniser reads
/// a bar as `I`, `1` or `L`, or drops a real `I` beside it.
fn erase_frame_bars(strip: &mut Mat, paper: [u8; 3]) -> opencv::Result<()> {
    let (w, h) = (strip.cols() as usize, strip.rows() as usize);
    if w < 3 || h < 8 {
        return Ok(());
    }
    let px = strip.data_bytes_mut()?;
    let grey = |px: &[u8], x: usize, y: usize| {
        let k = (y * w + x) * 3;
        ((px[k] as u16 + px[k + 1] as u16 + px[k + 2] as u16) / 3) as u8
    };
    let mut hist = [0u32; 256];
    for y in 0..h {
        for x in 0..w {
            hist[grey(px, x, y) as usize] += 1;
        }
    }
    let level = |share: f32| {
        let want = (share * (w * h) as f32) as u32;
        let mut sum = 0;
        for (v, &n) in hist.iter().enumerate() {
            sum += n;
            if sum > want {
                return v as u8;
            }
        }
        255
    };
    let (ink, light) = (level(0.1), level(0.8));
    if light < ink.saturating_add(40) {
        return Ok(());
    }
    let threshold = ((ink as u16 + light as u16) / 2) as u8;
    let full = h - h / 24;
    // A run of bar columns: start, and whether we are in one.
    let mut run: Option<usize> = None;
    for x in 0..=w {
        let bar = x < w
            && (0..h).filter(|&y| (x.saturating_sub(1)..(x + 2).min(w)).any(|xx| grey(px, xx, y) < threshold)).count()
                >= full;
        match (bar, run) {
            (true, None) => run = Some(x),
            (false, Some(start)) => {
                run = None;
                // Bars only: a wide dark band is something else (the car around the plate).
                if x - start <= h / 5 {
                    for xx in start.saturating_sub(1)..(x + 1).min(w) {
                        for y in 0..h {
                            let k = (y * w + xx) * 3;
                            px[k..k + 3].copy_from_slice(&paper);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Paints over the flag (and the `UZ` under it) when a strip ends with it: the only
/// strongly coloured thing on a plate. The recogniser reads its stripes as `V`, `N` or `3`,
/// or swallows a letter beside it.
fn erase_flag(strip: &mut Mat, paper: [u8; 3]) -> opencv::Result<()> {
    let (w, h) = (strip.cols() as usize, strip.rows() as usize);
    if w < 8 || h < 8 {
        return Ok(());
    }
    let px = strip.data_bytes_mut()?;
    let coloured = |px: &[u8], x: usize, y: usize| {
        let k = (y * w + x) * 3;
        let (b, g, r) = (px[k] as i16, px[k + 1] as i16, px[k + 2] as i16);
        let (hi, lo) = (b.max(g).max(r), b.min(g).min(r));
        hi - lo >= 30 && (hi - lo) * 10 >= hi * 3
    };
    // The flag's left edge: the first of three coloured columns in a row, in the right half.
    let mut streak = 0;
    let mut edge = None;
    for x in w / 2..w {
        let n = (0..h).filter(|&y| coloured(px, x, y)).count();
        streak = if n >= h / 5 { streak + 1 } else { 0 };
        if streak == 3 {
            edge = Some(x - 2);
            break;
        }
    }
    let Some(edge) = edge else { return Ok(()) };
    // Blur spreads the flag's edge by a pixel or two; the gap before it is wider.
    for y in 0..h {
        for x in edge.saturating_sub(3)..w {
            let k = (y * w + x) * 3;
            px[k..k + 3].copy_from_slice(&paper);
        }
    }
    Ok(())
}

/// Mean of `prob` (an `mw`×`mh` map) inside the convex quadrilateral `pts`.
fn box_score(prob: &[f32], mw: usize, mh: usize, pts: &[Point2f; 4]) -> f32 {
    let x0 = pts.iter().map(|p| p.x).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let x1 = (pts.iter().map(|p| p.x).fold(f32::MIN, f32::max).ceil() as usize).min(mw - 1);
    let y0 = pts.iter().map(|p| p.y).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let y1 = (pts.iter().map(|p| p.y).fold(f32::MIN, f32::max).ceil() as usize).min(mh - 1);
    let (mut sum, mut n) = (0.0f32, 0u32);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(pts, x as f32, y as f32) {
                sum += prob[y * mw + x];
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { sum / n as f32 }
}

/// Whether (x, y) is inside (or on) the convex polygon `pts`, either winding.
fn inside(pts: &[Point2f; 4], x: f32, y: f32) -> bool {
    let mut sign = 0.0f32;
    for k in 0..4 {
        let (a, b) = (pts[k], pts[(k + 1) % 4]);
        let cross = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x);
        if cross.abs() < 1e-3 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// tl, tr, br, bl: the two leftmost points are the left side, the upper of them top-left.
fn order_quad(mut pts: [Point2f; 4]) -> [Point2f; 4] {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (l, r) = pts.split_at(2);
    let (tl, bl) = if l[0].y <= l[1].y { (l[0], l[1]) } else { (l[1], l[0]) };
    let (tr, br) = if r[0].y <= r[1].y { (r[0], r[1]) } else { (r[1], r[0]) };
    [tl, tr, br, bl]
}

fn dist(a: Point2f, b: Point2f) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

impl TextBox {
    /// Where `p` is along this box's direction, from its centre.
    fn along_of(&self, p: Point2f) -> f32 {
        (p.x - self.centre.x) * self.along.x + (p.y - self.centre.y) * self.along.y
    }

    /// How far `p` is across this box's direction (signed), from its centre.
    fn across_of(&self, p: Point2f) -> f32 {
        -(p.x - self.centre.x) * self.along.y + (p.y - self.centre.y) * self.along.x
    }
}

fn text_box(quad: [Point2f; 4]) -> Option<TextBox> {
    let [tl, tr, br, bl] = quad;
    let length = (dist(tl, tr) + dist(bl, br)) / 2.0;
    let height = (dist(tl, bl) + dist(tr, br)) / 2.0;
    if length < 2.0 || height < 2.0 {
        return None;
    }
    let dx = (tr.x - tl.x) + (br.x - bl.x);
    let dy = (tr.y - tl.y) + (br.y - bl.y);
    let norm = (dx * dx + dy * dy).sqrt().max(1e-6);
    let centre = Point2f::new(quad.iter().map(|p| p.x).sum::<f32>() / 4.0, quad.iter().map(|p| p.y).sum::<f32>() / 4.0);
    Some(TextBox { quad, centre, along: Point2f::new(dx / norm, dy / norm), length, height })
}
