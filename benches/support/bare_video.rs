//! The bare video loop the benchmarks' limits are measured with (`video`, `gating`): a
//! GStreamer pipeline alone decoding a file to the model's input (with the faster of two
//! stock conversions, measured), and an ONNX Runtime session alone (default session
//! options but the thread count and spinning) running CenterNet on it, fetching only its
//! detections. Nothing of qorovul's own settings.

#![allow(dead_code)] // each benchmark that includes this file uses part of it

use gstreamer as gst;
use gstreamer::prelude::*;
use operators::detect::Manifest;
use ort::environment::Environment;
use ort::session::{OutputSelector, RunOptions, Session};
use ort::value::TensorRef;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub const MODEL: &str = "centernet";

/// Frames per second between the first and the last tick, and the process's CPU time per
/// frame over the same span (a figure steal and drift on a shared machine move less).
#[derive(Default)]
pub struct Rate {
    first: Option<Instant>,
    last: Option<Instant>,
    pub ticks: u64,
    cpu_first: f64,
    cpu_last: f64,
}

impl Rate {
    pub fn tick(&mut self) {
        let now = Instant::now();
        let cpu = cpu_secs();
        if self.first.is_none() {
            self.first = Some(now);
            self.cpu_first = cpu;
        }
        self.last = Some(now);
        self.cpu_last = cpu;
        self.ticks += 1;
    }
    /// Milliseconds of CPU (all threads, user + system) per frame after the first.
    pub fn cpu_ms_per_frame(&self) -> f64 {
        if self.ticks > 1 { (self.cpu_last - self.cpu_first) * 1000.0 / (self.ticks - 1) as f64 } else { 0.0 }
    }
    pub fn per_sec(&self) -> f64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) if self.ticks > 1 => (self.ticks - 1) as f64 / l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Bare ONNX Runtime sessions: default options but these. `sessions` above 1 run frames
/// side by side, each session on a thread of its own.
#[derive(Clone, Copy)]
pub struct OrtSettings {
    pub sessions: usize,
    pub threads: usize,
    pub spinning: bool,
}

impl std::fmt::Display for OrtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.sessions {
            1 => write!(f, "1 session, {} threads, spinning {}", self.threads, self.spinning),
            n => write!(f, "{n} sessions side by side, {} thread(s) each, spinning {}", self.threads, self.spinning),
        }
    }
}

/// The sessions `s` asks for.
pub fn sessions(env: &Environment, s: OrtSettings) -> Vec<Bare> {
    (0..s.sessions).map(|_| Bare::new(env, s)).collect()
}

pub struct Bare {
    session: Session,
    input: String,
    options: RunOptions<ort::session::HasSelectedOutputs>,
    pub size: usize,
    tensor: Vec<f32>,
}

impl Bare {
    /// The model's input side, in pixels.
    pub fn input_size() -> usize {
        let entry = Manifest::builtin().get(MODEL).expect("centernet in the manifest").clone();
        entry.detector_tensors().expect("detector tensors").0.shape[1] as usize
    }

    pub fn new(env: &Environment, s: OrtSettings) -> Self {
        let entry = Manifest::builtin().get(MODEL).expect("centernet in the manifest").clone();
        let (input, output) = entry.detector_tensors().expect("detector tensors");
        let mut builder = Session::builder(env)
            .unwrap()
            .with_intra_threads(s.threads)
            .unwrap()
            .with_intra_op_spinning(s.spinning)
            .unwrap();
        let session = builder.commit_from_file(entry.cached_path()).expect("run `qorovul models fetch` first");
        let options = RunOptions::new().unwrap().with_outputs(OutputSelector::no_default().with(&output.name));
        Self { session, input: input.name.clone(), options, size: Self::input_size(), tensor: Vec::new() }
    }

    /// Runs the model on one RGB frame and counts the detections over 0.4.
    pub fn detect(&mut self, rgb: &[u8]) -> usize {
        self.tensor.clear();
        self.tensor.extend(rgb.iter().map(|&b| b as f32));
        let t = TensorRef::from_array_view(([1, self.size, self.size, 3], &self.tensor[..])).unwrap();
        let out = self.session.run_with_options(ort::inputs![self.input.as_str() => t], &self.options).unwrap();
        let (_, rows) = out[0].try_extract_tensor::<f32>().unwrap();
        rows.chunks_exact(6).filter(|r| r[4] >= 0.4).count()
    }
}

/// How a bare GStreamer pipeline turns the decoder's frames into the model's RGB input.
/// Both are stock elements at their defaults; which is faster is measured, not assumed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Conversion {
    /// `videoconvertscale`: convert and scale in one element.
    OneElement,
    /// `videoscale ! videoconvert`: scale the decoder's YUV, then convert the smaller frame.
    ScaleThenConvert,
}

impl Conversion {
    pub const ALL: [Conversion; 2] = [Conversion::OneElement, Conversion::ScaleThenConvert];

    fn elements(self, size: usize) -> String {
        match self {
            Conversion::OneElement => format!("videoconvertscale ! video/x-raw,format=RGB,width={size},height={size}"),
            Conversion::ScaleThenConvert => {
                format!("videoscale ! video/x-raw,width={size},height={size} ! videoconvert ! video/x-raw,format=RGB")
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Conversion::OneElement => "videoconvertscale",
            Conversion::ScaleThenConvert => "videoscale ! videoconvert",
        }
    }
}

/// GStreamer alone: decode a file and scale to the model's input, RGB.
pub struct BareDecode {
    pipeline: gst::Pipeline,
    sink: gstreamer_app::AppSink,
}

impl BareDecode {
    pub fn start(file: &str, size: usize, conversion: Conversion) -> Self {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "filesrc location={file} ! decodebin ! {} ! appsink name=sink sync=false max-buffers=8",
            conversion.elements(size)
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, sink }
    }
    /// The next frame's bytes; `None` at the end (an error fails the benchmark).
    pub fn next(&self) -> Option<gst::Buffer> {
        match self.sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
            Some(s) => s.buffer_owned(),
            None if self.sink.is_eos() => None,
            None => panic!("bare decode: no frame within 30 s"),
        }
    }
}

impl Drop for BareDecode {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Bare decode alone: the first `frames` frames of `file`, kept for inference alone.
pub fn decode_alone(file: &str, size: usize, conversion: Conversion, frames: usize) -> (Rate, Vec<gst::Buffer>) {
    let decode = BareDecode::start(file, size, conversion);
    let (mut rate, mut decoded) = (Rate::default(), Vec::new());
    while decoded.len() < frames {
        let Some(buf) = decode.next() else { break };
        rate.tick();
        decoded.push(buf);
    }
    (rate, decoded)
}

/// The faster conversion for decode alone on the first `frames` frames of `file`, with
/// each one's frames/s.
pub fn fastest_conversion(file: &str, size: usize, frames: usize) -> (Conversion, Vec<(Conversion, f64)>) {
    let tried: Vec<(Conversion, f64)> =
        Conversion::ALL.iter().map(|&c| (c, decode_alone(file, size, c, frames).0.per_sec())).collect();
    let best = tried.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    (best, tried)
}

/// Every session on a thread of its own, each taking the next frame from `next` until it
/// gives none: one rate over all of them.
fn side_by_side(bares: &mut [Bare], next: &(dyn Fn() -> Option<gst::Buffer> + Sync)) -> Rate {
    let rate = Mutex::new(Rate::default());
    std::thread::scope(|scope| {
        for bare in bares.iter_mut() {
            let rate = &rate;
            scope.spawn(move || {
                while let Some(buf) = next() {
                    bare.detect(buf.map_readable().unwrap().as_slice());
                    rate.lock().unwrap().tick();
                }
            });
        }
    });
    rate.into_inner().unwrap()
}

/// Bare inference alone on frames decoded beforehand.
pub fn inference_alone(bares: &mut [Bare], decoded: &[gst::Buffer]) -> Rate {
    let taken = AtomicUsize::new(0);
    side_by_side(bares, &|| decoded.get(taken.fetch_add(1, Ordering::Relaxed)).cloned())
}

/// Bare decode and bare inference in one loop (one per session) on `frames` frames of `file`.
pub fn one_loop(bares: &mut [Bare], file: &str, conversion: Conversion, frames: usize) -> Rate {
    let decode = BareDecode::start(file, bares[0].size, conversion);
    let taken = AtomicUsize::new(0);
    side_by_side(bares, &|| if taken.fetch_add(1, Ordering::Relaxed) < frames { decode.next() } else { None })
}

/// The fastest ONNX Runtime settings for the one loop on the first `frames` frames of
/// `file`: one session with 1 thread or every core, each with spinning on and off, and a
/// session per core side by side. Two passes, the second in reverse order, each setting's
/// better one counting (a busy moment only ever slows a run); prints each.
pub fn sweep(env: &Environment, file: &str, conversion: Conversion, frames: usize) -> OrtSettings {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut candidates = Vec::new();
    for threads in [1, cores] {
        for spinning in [true, false] {
            candidates.push(OrtSettings { sessions: 1, threads, spinning });
        }
    }
    if cores > 1 {
        candidates.push(OrtSettings { sessions: cores, threads: 1, spinning: false });
    }
    let mut fps = vec![Vec::new(); candidates.len()];
    let order: Vec<usize> = (0..candidates.len()).chain((0..candidates.len()).rev()).collect();
    for i in order {
        fps[i].push(one_loop(&mut sessions(env, candidates[i]), file, conversion, frames).per_sec());
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    for (s, f) in candidates.iter().zip(&fps) {
        let each = f.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ");
        println!("ONNX Runtime sweep: {s}: {:.1} frames/s in one loop [{each}]", best(f));
    }
    let i = (0..candidates.len()).max_by(|&a, &b| best(&fps[a]).total_cmp(&best(&fps[b]))).unwrap();
    candidates[i]
}

/// The bare ONNX Runtime environment: the library set-up unpacked, nothing configured.
pub fn environment() -> Environment {
    ort::init_from(operators::detect::runtime::dylib_path()).expect("ONNX Runtime library").build().unwrap()
}

/// This process's CPU time so far, user + system, all threads; seconds.
pub fn cpu_secs() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
