//! Threats in a dual-energy X-ray scan: knives, guns, ammunition and blocks of dense
//! organic material, found by the `xray_threats` model (trained on synthetic scans only;
//! `models/xray/CARD.md`).
//!
//! The one idea: the model sees attenuation, not brightness. Each channel's transmission
//! becomes `min(-ln(T), 10) / 10`, so a pixel's value grows with the mass in the beam and
//! overlapping objects add up, as they do physically. This preprocessing, the letterbox and
//! the bilinear rule below are exactly `models/xray/xray_common.py`'s: change both together.
//!
//! A [`ThreatDetector`] owns one ONNX session and its input buffer; one thread uses it at a
//! time (the edge's inference executor, between camera turns).

use crate::detect::decode::{self, DecodeParams};
use crate::detect::manifest::{Layout, Manifest, ModelEntry};
use crate::detect::runtime::{self, Provider, ProviderChoice};
use crate::detect::{BBox, Detection};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

/// The manifest's name of the model.
pub const MODEL: &str = "xray_threats";

/// Attenuation (`-ln T`) at which a pixel's input saturates at 1.
const MAX_ATTENUATION: f32 = 10.0;

/// One threat found in a scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threat {
    /// Index into [`ThreatDetector::labels`] (`knife`, `gun`, `ammunition`, `dense_organic`).
    pub class: u32,
    pub score: f32,
    /// In scan pixels.
    pub bbox: BBox,
}

/// Where the scan sits inside the square model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Size of the scaled scan inside the input.
    pub width: usize,
    pub height: usize,
    /// Offset of its top-left corner.
    pub left: usize,
    pub top: usize,
}

impl Letterbox {
    /// The letterbox of a `width` × `height` scan in a `side` × `side` input.
    pub fn new(width: usize, height: usize, side: usize) -> Self {
        let r = (side as f64 / width as f64).min(side as f64 / height as f64);
        let w = ((width as f64 * r).round() as usize).clamp(1, side);
        let h = ((height as f64 * r).round() as usize).clamp(1, side);
        Self { width: w, height: h, left: (side - w) / 2, top: (side - h) / 2 }
    }
}

/// Source indices and weight of each destination pixel along one axis: half-pixel centres,
/// clamped to the image (OpenCV's INTER_LINEAR rule, as `xray_common.bilinear`).
fn axis(n_src: usize, n_dst: usize) -> Vec<(usize, usize, f32)> {
    let ratio = n_src as f32 / n_dst as f32;
    (0..n_dst)
        .map(|d| {
            let s = ((d as f32 + 0.5) * ratio - 0.5).clamp(0.0, (n_src - 1) as f32);
            let s0 = s.floor() as usize;
            (s0, (s0 + 1).min(n_src - 1), s - s0 as f32)
        })
        .collect()
}

/// Writes one channel of the model input: `side` × `side`, 0 outside the letterbox.
/// `top_value` is the transmission that means no attenuation (65535 for 16-bit scans).
/// `scan` is `(pixels, width, height)`.
pub fn fill_channel(
    dst: &mut [f32],
    side: usize,
    (scan, width, height): (&[u16], usize, usize),
    top_value: f32,
    lb: &Letterbox,
    attenuation: &mut Vec<f32>,
) {
    attenuation.clear();
    attenuation.extend(
        scan.iter().map(|&v| (-(f32::from(v).max(1.0) / top_value).ln()).min(MAX_ATTENUATION) / MAX_ATTENUATION),
    );
    dst.fill(0.0);
    let xs = axis(width, lb.width);
    let ys = axis(height, lb.height);
    for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
        let (r0, r1) = (&attenuation[y0 * width..(y0 + 1) * width], &attenuation[y1 * width..(y1 + 1) * width]);
        let row = &mut dst[(lb.top + dy) * side + lb.left..][..lb.width];
        for (o, &(x0, x1, fx)) in row.iter_mut().zip(&xs) {
            let top = r0[x0] * (1.0 - fx) + r0[x1] * fx;
            let bottom = r1[x0] * (1.0 - fx) + r1[x1] * fx;
            *o = top * (1.0 - fy) + bottom * fy;
        }
    }
}

/// The X-ray threat detector: one ONNX session, checked against its manifest entry at load.
pub struct ThreatDetector {
    session: Session,
    entry: ModelEntry,
    input_name: String,
    output_name: String,
    provider: Provider,
    side: usize,
    threshold: f32,
    nms_iou: f32,
    /// Reused buffers: the input tensor and one channel's attenuation.
    input: Vec<f32>,
    attenuation: Vec<f32>,
}

impl ThreatDetector {
    /// Loads `xray_threats` from the model cache (`qorovul models fetch` puts it there),
    /// with `threads` ONNX Runtime threads if this is the process's first model.
    pub fn load(manifest: &Manifest, threads: usize) -> Result<Self, String> {
        let entry = manifest.entry_for(MODEL, "detect")?.clone();
        let path = entry.cached_path();
        if !path.exists() {
            return Err(format!("model {MODEL:?}: {} does not exist: run `qorovul models fetch`", path.display()));
        }
        Self::load_file(&path, entry, threads, ProviderChoice::Auto)
    }

    /// Loads `path`, which must have `entry`'s tensors.
    pub fn load_file(path: &Path, entry: ModelEntry, threads: usize, provider: ProviderChoice) -> Result<Self, String> {
        let what = format!("model {:?} ({})", entry.name, path.display());
        let (input, output) = entry.detector_tensors().map(|(i, o)| (i.clone(), o.clone()))?;
        let side = match (input.layout, &input.shape[..]) {
            (Layout::Nchw, [1, 2, h, w]) if h == w && *h > 0 => *h as usize,
            _ => return Err(format!("{what}: the manifest must give a [1, 2, S, S] NCHW input (low, high)")),
        };
        if output.shape.get(1) != Some(&(4 + entry.labels().len() as i64)) {
            return Err(format!("{what}: output rows must be 4 + {} classes", entry.labels().len()));
        }
        let env = runtime::environment(threads)?;
        let (mut builder, provider) = runtime::session_builder(&env, provider).map_err(|e| format!("{what}: {e}"))?;
        let session = builder.commit_from_file(path).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
        for (side_name, names, want) in [
            ("input", session.inputs().iter().map(|o| o.name().to_string()).collect::<Vec<_>>(), &input.name),
            ("output", session.outputs().iter().map(|o| o.name().to_string()).collect(), &output.name),
        ] {
            if !names.contains(want) {
                return Err(format!("{what}: has no {side_name} named {want:?}; it has {names:?}"));
            }
        }
        tracing::info!(model = %entry.name, provider = provider.as_str(), "X-ray threat detector loaded");
        Ok(Self {
            session,
            input_name: input.name,
            output_name: output.name,
            provider,
            side,
            threshold: output.score_threshold,
            nms_iou: output.nms_iou,
            entry,
            input: Vec::new(),
            attenuation: Vec::new(),
        })
    }

    /// Class names, in the model's order.
    pub fn labels(&self) -> &'static [&'static str] {
        self.entry.labels()
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    /// Minimum score of a reported threat (the manifest's, unless changed).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// Threats in a 16-bit scan (`low` and `high` transmission, row-major, 65535 = air).
    pub fn detect(&mut self, low: &[u16], high: &[u16], width: usize, height: usize) -> Result<Vec<Threat>, String> {
        self.detect_scaled(low, high, width, height, 65535.0)
    }

    /// As [`detect`](Self::detect) for scans whose "no attenuation" value is `top_value`
    /// (255 for 8-bit scans widened to `u16`).
    pub fn detect_scaled(
        &mut self,
        low: &[u16],
        high: &[u16],
        width: usize,
        height: usize,
        top_value: f32,
    ) -> Result<Vec<Threat>, String> {
        let n = width.checked_mul(height).filter(|&n| n > 0).ok_or("scan: empty or too large")?;
        if low.len() != n || high.len() != n {
            return Err(format!(
                "scan: {width}x{height} needs {n} pixels per channel; got {} low and {} high",
                low.len(),
                high.len()
            ));
        }
        let side = self.side;
        let lb = Letterbox::new(width, height, side);
        self.input.resize(2 * side * side, 0.0);
        let (c_low, c_high) = self.input.split_at_mut(side * side);
        fill_channel(c_low, side, (low, width, height), top_value, &lb, &mut self.attenuation);
        fill_channel(c_high, side, (high, width, height), top_value, &lb, &mut self.attenuation);
        let tensor = TensorRef::from_array_view(([1, 2, side, side], &self.input[..]))
            .map_err(|e| format!("input tensor: {e}"))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| format!("model {MODEL:?} inference: {e}"))?;
        let (_, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("model {MODEL:?} output: {e}"))?;
        // Decode in letterboxed input pixels, then undo the letterbox.
        let params = DecodeParams {
            score_threshold: self.threshold,
            nms_iou: self.nms_iou,
            scale_x: 1.0,
            scale_y: 1.0,
            frame_w: side as f32,
            frame_h: side as f32,
        };
        let mut dets: Vec<Detection> = Vec::new();
        decode::yolo(data, self.entry.labels().len(), &params, &mut dets);
        let (sx, sy) = (width as f32 / lb.width as f32, height as f32 / lb.height as f32);
        let (w, h) = (width as f32, height as f32);
        Ok(dets
            .into_iter()
            .filter_map(|d| {
                let b = d.bbox;
                let bbox = BBox::new(
                    ((b.x1 - lb.left as f32) * sx).clamp(0.0, w),
                    ((b.y1 - lb.top as f32) * sy).clamp(0.0, h),
                    ((b.x2 - lb.left as f32) * sx).clamp(0.0, w),
                    ((b.y2 - lb.top as f32) * sy).clamp(0.0, h),
                );
                (bbox.area() > 0.0).then_some(Threat { class: d.class_id, score: d.score, bbox })
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "threats_tests.rs"]
mod tests;
