//! An object detector, checked against its manifest entry at load, that turns frames into
//! detections. Its sessions run on threads of their own ("runners"): a caller submits
//! frames to a runner with room and collects the answers in the order it submitted them,
//! so on a CPU several frames run side by side, one per core (see [`DetectorConfig`]), and
//! on a GPU one runner takes a batch.

use super::Detection;
use super::decode::{self, DecodeParams};
use super::manifest::{DecoderKind, InputSpec, Layout, Manifest, ModelEntry, OutputSpec};
use super::runtime::{self, Provider, ProviderChoice};
use crossbeam_channel::{Receiver, Sender};
use ort::session::builder::PrepackedWeights;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::{TensorRef, ValueType};
use pipeline::frame::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

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
    /// Frames run together in one batch when the model takes a batch and a GPU runs it.
    pub max_batch: usize,
    /// On a CPU: this many frames run at once, each on a session of its own with one
    /// thread. One frame on every core's thread spends a share of each frame waiting at the
    /// operators' joins; frames side by side do not (`cargo bench --bench video` measures
    /// both). 1: one frame at a time on the global pool, the lowest latency per frame.
    pub frames_in_parallel: usize,
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
            frames_in_parallel: threads,
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
        if self.threads == 0 || self.max_batch == 0 || self.frames_in_parallel == 0 {
            return Err("threads, max_batch and frames_in_parallel: must be at least 1".into());
        }
        Ok(())
    }
}

/// A loaded detector. Owned by one thread: the edge's inference executor.
pub struct Detector {
    /// One on a GPU (or with `frames_in_parallel = 1`); else one per frame run at once.
    runners: Vec<RunnerThread>,
    model: Arc<Model>,
    provider: Provider,
    /// Frames per submission.
    max_batch: usize,
    /// The runner of each submission not yet collected, oldest first.
    busy: VecDeque<usize>,
}

/// Jobs a runner holds at once: the one it runs and the next, so it never waits for its
/// owner between two frames.
const RUNNER_DEPTH: usize = 2;

/// What every runner reads: the model's tensors and how its output is decoded.
struct Model {
    entry: ModelEntry,
    input_spec: InputSpec,
    output_spec: OutputSpec,
    threshold: f32,
    input_w: u32,
    input_h: u32,
    /// The model's batch dimension is dynamic.
    dynamic_batch: bool,
}

/// One session and its reused storage.
struct Runner {
    session: Session,
    /// Reused input tensor storage: no allocation per frame.
    input: Vec<f32>,
    /// Fetches the manifest's output only: a model's other outputs (CenterNet's heat maps,
    /// 5 MB a frame) would be copied out for nothing.
    run_options: RunOptions<HasSelectedOutputs>,
}

/// Frames for one run, and the full frame sizes detections are scaled to.
struct Job {
    images: Vec<RgbImage>,
    full_size: Vec<(u32, u32)>,
}

type Answer = Result<Vec<Vec<Detection>>, String>;

/// A runner on its thread: jobs in, answers out, in order.
struct RunnerThread {
    jobs: Option<Sender<Job>>,
    answers: Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
}

impl RunnerThread {
    fn spawn(mut runner: Runner, model: Arc<Model>, name: String) -> Result<Self, String> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<Job>(RUNNER_DEPTH);
        let (answer_tx, answers) = crossbeam_channel::bounded(RUNNER_DEPTH);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                for job in job_rx {
                    let images: Vec<&RgbImage> = job.images.iter().collect();
                    let mut out = vec![Vec::new(); images.len()];
                    let answer = runner.detect(&model, &images, &job.full_size, &mut out).map(|()| out);
                    if answer_tx.send(answer).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("starting an inference runner: {e}"))?;
        Ok(Self { jobs: Some(jobs), answers, thread: Some(thread) })
    }
}

impl Drop for RunnerThread {
    /// The runner finishes the jobs it holds and ends.
    fn drop(&mut self) {
        self.jobs.take();
        // Answers nobody collects would block it: drained while it finishes.
        while self.answers.recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
        let (first, provider) = runtime::session_builder(&env, cfg.provider).map_err(|e| format!("{what}: {e}"))?;
        let sessions = if provider == Provider::Cpu { cfg.frames_in_parallel } else { 1 };
        let mut builders = vec![first];
        for _ in 1..sessions {
            builders.push(runtime::session_builder(&env, ProviderChoice::Cpu).map_err(|e| format!("{what}: {e}"))?.0);
        }
        // Sessions side by side share the weights ONNX Runtime pre-packs, once in memory.
        let weights = PrepackedWeights::new();
        let mut runners = Vec::with_capacity(sessions);
        for mut builder in builders {
            if sessions > 1 {
                let options = |e: ort::Error<_>| format!("{what}: session options: {e}");
                builder = builder.with_independent_thread_pool().map_err(options)?;
                builder = builder.with_intra_threads(1).map_err(options)?;
                builder = builder.with_prepacked_weights(&weights).map_err(options)?;
            }
            let session =
                builder.commit_from_file(path).map_err(|e| format!("{what}: not a loadable ONNX model: {e}"))?;
            let run_options = RunOptions::new()
                .map_err(|e| format!("{what}: run options: {e}"))?
                .with_outputs(OutputSelector::no_default().with(&output_spec.name));
            runners.push(Runner { session, input: Vec::new(), run_options });
        }
        let runner_count = runners.len();
        let session = &runners[0].session;
        let input_shape = tensor_shape(session, true, &input_spec.name).map_err(|e| format!("{what}: {e}"))?;
        check_shape("input", &input_spec.name, &input_shape, &input_spec.shape).map_err(|e| format!("{what}: {e}"))?;
        let output_shape = tensor_shape(session, false, &output_spec.name).map_err(|e| format!("{what}: {e}"))?;
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
        tracing::info!(
            model = %entry.name, provider = provider.as_str(), max_batch, runners = runner_count, threshold,
            "detector loaded: inference runs on {}", provider.as_str()
        );
        let model = Arc::new(Model {
            entry,
            input_spec,
            output_spec,
            threshold,
            input_w: w as u32,
            input_h: h as u32,
            dynamic_batch,
        });
        let runners = runners
            .into_iter()
            .enumerate()
            .map(|(i, r)| RunnerThread::spawn(r, model.clone(), format!("inference-{}", i + 1)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { busy: VecDeque::new(), runners, model, provider, max_batch })
    }

    /// The image size frames must be scaled to, `(width, height)`.
    pub fn input_size(&self) -> (u32, u32) {
        (self.model.input_w, self.model.input_h)
    }
    /// Frames per submission: a GPU's batch for a dynamic-batch model, else 1.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }
    /// Submissions the runners can take now.
    pub fn idle(&self) -> usize {
        self.runners.len() * RUNNER_DEPTH - self.busy.len()
    }

    /// Submissions runner `r` holds.
    fn held(&self, r: usize) -> usize {
        self.busy.iter().filter(|&&b| b == r).count()
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    pub fn entry(&self) -> &ModelEntry {
        &self.model.entry
    }
    pub fn threshold(&self) -> f32 {
        self.model.threshold
    }
    pub fn labels(&self) -> &'static [&'static str] {
        self.model.entry.labels()
    }

    /// Starts detection on `images` (at most [`Detector::max_batch`], each the model's
    /// input size) on the least busy runner; `full_size[i]` is image i's frame size, which
    /// its detections are given in. [`Detector::collect`] answers submissions oldest first.
    pub fn submit(&mut self, images: Vec<RgbImage>, full_size: Vec<(u32, u32)>) -> Result<(), String> {
        let n = images.len();
        if n == 0 || n > self.max_batch || full_size.len() != n {
            return Err(format!("batch of {n} frames; this detector takes 1 to {}", self.max_batch));
        }
        let r = (0..self.runners.len()).min_by_key(|&r| self.held(r)).expect("a runner");
        if self.held(r) >= RUNNER_DEPTH {
            return Err("every inference runner is busy".into());
        }
        let sent = self.runners[r].jobs.as_ref().is_some_and(|jobs| jobs.send(Job { images, full_size }).is_ok());
        if !sent {
            return Err("an inference runner has stopped".into());
        }
        self.busy.push_back(r);
        Ok(())
    }

    /// Waits for the oldest submission's answer: `out[i]` for image i. `Err` when nothing
    /// was submitted, or the run failed.
    pub fn collect(&mut self) -> Result<Vec<Vec<Detection>>, String> {
        let r = self.busy.pop_front().ok_or("nothing submitted to collect")?;
        self.runners[r].answers.recv().unwrap_or_else(|_| Err("an inference runner has stopped".into()))
    }

    /// Detects objects in each image and waits for the answer (nothing may be in flight);
    /// `out[i]` gets image i's detections in pixels of a `full_size[i]` frame.
    pub fn detect(
        &mut self,
        images: &[&RgbImage],
        full_size: &[(u32, u32)],
        out: &mut Vec<Vec<Detection>>,
    ) -> Result<(), String> {
        if !self.busy.is_empty() {
            return Err("detect with submissions in flight: collect them first".into());
        }
        self.submit(images.iter().map(|&i| i.clone()).collect(), full_size.to_vec())?;
        *out = self.collect()?;
        Ok(())
    }
}

impl Runner {
    /// Runs the session once on `images` (a batch the model takes); `out[i]` gets image i's
    /// detections.
    fn detect(
        &mut self,
        model: &Model,
        images: &[&RgbImage],
        full_size: &[(u32, u32)],
        out: &mut [Vec<Detection>],
    ) -> Result<(), String> {
        let (w, h) = (model.input_w as usize, model.input_h as usize);
        let per_image = w * h * 3;
        let n = images.len();
        if n > 1 && !model.dynamic_batch {
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
                model.input_spec.layout,
                model.input_spec.scale,
            );
        }
        let shape = match model.input_spec.layout {
            Layout::Nhwc => [n, h, w, 3],
            Layout::Nchw => [n, 3, h, w],
        };
        let tensor = TensorRef::from_array_view((shape, &self.input[..])).map_err(|e| format!("input tensor: {e}"))?;
        let name = &model.entry.name;
        let outputs = self
            .session
            .run_with_options(ort::inputs![model.input_spec.name.as_str() => tensor], &self.run_options)
            .map_err(|e| format!("model {name:?} inference: {e}"))?;
        let (out_shape, data) = outputs[model.output_spec.name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("model {name:?} output: {e}"))?;
        let per_out = data.len() / n.max(1);
        for i in 0..n {
            let (fw, fh) = full_size[i];
            let params = DecodeParams {
                score_threshold: model.threshold,
                nms_iou: model.output_spec.nms_iou,
                scale_x: fw as f32 / w as f32,
                scale_y: fh as f32 / h as f32,
                frame_w: fw as f32,
                frame_h: fh as f32,
            };
            let rows = &data[i * per_out..(i + 1) * per_out];
            out[i].clear();
            match model.output_spec.decoder {
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
