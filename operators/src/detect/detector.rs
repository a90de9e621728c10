//! An object detector: one ONNX session, checked against its manifest entry at load, that
//! turns a batch of frames into detections.

use super::Detection;
use super::decode::{self, DecodeParams};
use super::manifest::{DecoderKind, InputSpec, Layout, Manifest, ModelEntry, OutputSpec};
use super::runtime::{self, Provider, ProviderChoice};
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::{TensorRef, ValueType};
use pipeline::frame::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[detector]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// A model name from `models/manifest.toml`.
    pub model: String,
    /// A model file to use instead of the cached one (same tensors as the manifest's).
    pub model_path: Option<PathBuf>,
    /// Minimum score; defaults to the manifest's threshold for the model.
    pub score_threshold: Option<f32>,
    /// ONNX Runtime intra-op threads (the global pool all models share).
    pub threads: usize,
    /// `auto` (CUDA when present), `cpu` or `cuda`.
    pub provider: ProviderChoice,
    /// Frames of different streams run together when the model takes a batch and a GPU
    /// runs it; on CPU, streams take turns one frame at a time.
    pub max_batch: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            model: "centernet".into(),
            model_path: None,
            score_threshold: None,
            threads,
            provider: ProviderChoice::Auto,
            max_batch: 4,
        }
    }
}

impl DetectorConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self, manifest: &Manifest) -> Result<(), String> {
        let entry = manifest.entry(&self.model).map_err(|e| format!("model: {e}"))?;
        entry.detector_tensors().map_err(|e| format!("model: {e}"))?;
        if let Some(t) = self.score_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(format!("score_threshold: {t} is not within 0–1"));
        }
        if self.threads == 0 || self.max_batch == 0 {
            return Err("threads and max_batch: must be at least 1".into());
        }
        Ok(())
    }
}

/// A loaded detector. Owned by one thread: the edge's inference executor.
pub struct Detector {
    session: Session,
    entry: ModelEntry,
    input_spec: InputSpec,
    output_spec: OutputSpec,
    provider: Provider,
    threshold: f32,
    input_w: u32,
    input_h: u32,
    /// The model's batch dimension is dynamic.
    dynamic_batch: bool,
    max_batch: usize,
    /// Reused input tensor storage: no allocation per frame.
    input: Vec<f32>,
    /// Fetches the manifest's output only: a model's other outputs (CenterNet's heat maps,
    /// 5 MB a frame) would be copied out for nothing.
    run_options: RunOptions<HasSelectedOutputs>,
}

impl Detector {
    /// Loads the model `cfg.model` from the cache (or `cfg.model_path`).
    pub fn load(cfg: &DetectorConfig, manifest: &Manifest) -> Result<Self, String> {
        cfg.validate(manifest).map_err(|e| format!("detector: {e}"))?;
        let entry = manifest.get(&cfg.model).expect("validated").clone();
        let path = cfg.model_path.clone().unwrap_or_else(|| entry.cached_path());
        if !path.exists() {
            return Err(format!(
                "model {:?}: {} does not exist: run `qorovul models fetch`",
                entry.name,
                path.display()
            ));
        }
        Self::load_file(&path, entry, cfg)
    }

    /// Loads `path` and checks its tensors against `entry`.
    pub fn load_file(path: &Path, entry: ModelEntry, cfg: &DetectorConfig) -> Result<Self, String> {
        let what = format!("model {:?} ({})", entry.name, path.display());
        let (input_spec, output_spec) = entry.detector_tensors().map(|(i, o)| (i.clone(), o.clone()))?;
        let env = runtime::environment(cfg.threads)?;
        let (builder, provider) = runtime::session_builder(&env, cfg.provider).map_err(|e| format!("{what}: {e}"))?;
        let mut builder = builder;
        let session = builder.commit_from_file(path).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
        let input_shape = tensor_shape(&session, true, &input_spec.name).map_err(|e| format!("{what}: {e}"))?;
        check_shape("input", &input_spec.name, &input_shape, &input_spec.shape).map_err(|e| format!("{what}: {e}"))?;
        let output_shape = tensor_shape(&session, false, &output_spec.name).map_err(|e| format!("{what}: {e}"))?;
        check_shape("output", &output_spec.name, &output_shape, &output_spec.shape)
            .map_err(|e| format!("{what}: {e}"))?;
        let (h, w) = match input_spec.layout {
            Layout::Nhwc => (input_spec.shape[1], input_spec.shape[2]),
            Layout::Nchw => (input_spec.shape[2], input_spec.shape[3]),
        };
        if h <= 0 || w <= 0 {
            return Err(format!("{what}: the manifest must give a fixed input height and width"));
        }
        let channels = match input_spec.layout {
            Layout::Nhwc => input_spec.shape.get(3),
            Layout::Nchw => input_spec.shape.get(1),
        };
        if channels != Some(&3) {
            return Err(format!("{what}: its input is not an RGB image (the model has a loader of its own)"));
        }
        let dynamic_batch = input_shape[0] < 0;
        let max_batch = if dynamic_batch && provider == Provider::Cuda { cfg.max_batch } else { 1 };
        let threshold = cfg.score_threshold.unwrap_or(output_spec.score_threshold);
        let run_options = RunOptions::new()
            .map_err(|e| format!("{what}: run options: {e}"))?
            .with_outputs(OutputSelector::no_default().with(&output_spec.name));
        tracing::info!(
            model = %entry.name, provider = provider.as_str(), max_batch, threshold,
            "detector loaded: inference runs on {}", provider.as_str()
        );
        Ok(Self {
            session,
            entry,
            input_spec,
            output_spec,
            provider,
            threshold,
            input_w: w as u32,
            input_h: h as u32,
            dynamic_batch,
            max_batch,
            input: Vec::new(),
            run_options,
        })
    }

    /// The image size frames must be scaled to, `(width, height)`.
    pub fn input_size(&self) -> (u32, u32) {
        (self.input_w, self.input_h)
    }
    /// Frames per run: above 1 only for a dynamic-batch model on a GPU.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    pub fn entry(&self) -> &ModelEntry {
        &self.entry
    }
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
    pub fn labels(&self) -> &'static [&'static str] {
        self.entry.labels()
    }
    /// Detects objects in each image; `out[i]` gets image i's detections in pixels of a
    /// `full_size[i]` frame. Images must be the model's input size.
    pub fn detect(
        &mut self,
        images: &[&RgbImage],
        full_size: &[(u32, u32)],
        out: &mut Vec<Vec<Detection>>,
    ) -> Result<(), String> {
        let (w, h) = (self.input_w as usize, self.input_h as usize);
        let per_image = w * h * 3;
        let n = images.len();
        if n == 0 || n > self.max_batch.max(1) && !self.dynamic_batch {
            return Err(format!("batch of {n} frames; this model takes 1"));
        }
        self.input.resize(n * per_image, 0.0);
        for (i, img) in images.iter().enumerate() {
            if (img.width as usize, img.height as usize) != (w, h) {
                return Err(format!("frame is {}x{}, the model needs {w}x{h}", img.width, img.height));
            }
            let map = img.map().map_err(|e| format!("frame pixels: {e}"))?;
            let pixels = map.as_slice();
            if pixels.len() < per_image {
                return Err(format!("frame has {} bytes, {w}x{h} RGB needs {per_image}", pixels.len()));
            }
            fill_input(
                &mut self.input[i * per_image..(i + 1) * per_image],
                &pixels[..per_image],
                w * h,
                self.input_spec.layout,
                self.input_spec.scale,
            );
        }
        let shape = match self.input_spec.layout {
            Layout::Nhwc => [n, h, w, 3],
            Layout::Nchw => [n, 3, h, w],
        };
        let tensor = TensorRef::from_array_view((shape, &self.input[..])).map_err(|e| format!("input tensor: {e}"))?;
        let outputs = self
            .session
            .run_with_options(ort::inputs![self.input_spec.name.as_str() => tensor], &self.run_options)
            .map_err(|e| format!("model {:?} inference: {e}", self.entry.name))?;
        let (out_shape, data) = outputs[self.output_spec.name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("model {:?} output: {e}", self.entry.name))?;
        let per_out = data.len() / n.max(1);
        out.resize_with(n, Vec::new);
        for i in 0..n {
            let (fw, fh) = full_size[i];
            let params = DecodeParams {
                score_threshold: self.threshold,
                nms_iou: self.output_spec.nms_iou,
                scale_x: fw as f32 / w as f32,
                scale_y: fh as f32 / h as f32,
                frame_w: fw as f32,
                frame_h: fh as f32,
            };
            let rows = &data[i * per_out..(i + 1) * per_out];
            out[i].clear();
            match self.output_spec.decoder {
                DecoderKind::Centernet => decode::centernet(rows, &params, &mut out[i]),
                DecoderKind::Yolo => {
                    let classes = out_shape.get(1).copied().unwrap_or(0) as usize;
                    decode::yolo(rows, classes.saturating_sub(4), &params, &mut out[i])
                }
            }
        }
        Ok(())
    }
}

/// RGB bytes into the model's float layout, scaled.
fn fill_input(dst: &mut [f32], rgb: &[u8], pixels: usize, layout: Layout, scale: f32) {
    match layout {
        Layout::Nhwc => {
            for (d, &s) in dst.iter_mut().zip(rgb) {
                *d = s as f32 * scale;
            }
        }
        Layout::Nchw => {
            let (r, rest) = dst.split_at_mut(pixels);
            let (g, b) = rest.split_at_mut(pixels);
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                r[i] = px[0] as f32 * scale;
                g[i] = px[1] as f32 * scale;
                b[i] = px[2] as f32 * scale;
            }
        }
    }
}

/// The shape of the session's float tensor `name`, or an error listing what the model has.
fn tensor_shape(session: &Session, input: bool, name: &str) -> Result<Vec<i64>, String> {
    let (side, outlets) = if input { ("input", session.inputs()) } else { ("output", session.outputs()) };
    let Some(outlet) = outlets.iter().find(|o| o.name() == name) else {
        let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
        return Err(format!("has no {side} named {name:?}; its {side}s are {names:?}"));
    };
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => {
            if *ty != ort::value::TensorElementType::Float32 {
                return Err(format!("{side} {name:?} is {ty:?}, expected float32"));
            }
            Ok(shape.iter().copied().collect())
        }
        other => Err(format!("{side} {name:?} is {other}, expected a tensor")),
    }
}

/// Compares a model's tensor shape with the manifest's; -1 on either side matches anything.
fn check_shape(side: &str, name: &str, actual: &[i64], expected: &[i64]) -> Result<(), String> {
    let ok = actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| *a < 0 || *e < 0 || a == e);
    if ok { Ok(()) } else { Err(format!("{side} {name:?} has shape {actual:?}, the manifest expects {expected:?}")) }
}
