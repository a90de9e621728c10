//! The bare video loop the benchmarks' limits are measured with (`video`, `gating`): a
//! GStreamer pipeline alone decoding a file to the model's input, and an ONNX Runtime
//! session alone (default session options but the thread count and spinning) running
//! CenterNet on it, fetching only its detections. Nothing of qorovul's own settings.

#![allow(dead_code)] // each benchmark that includes this file uses part of it

use gstreamer as gst;
use gstreamer::prelude::*;
use operators::detect::Manifest;
use ort::environment::Environment;
use ort::session::{OutputSelector, RunOptions, Session};
use ort::value::TensorRef;
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

/// A bare ONNX Runtime session: default options but these two.
#[derive(Clone, Copy)]
pub struct OrtSettings {
    pub threads: usize,
    pub spinning: bool,
}

pub struct Bare {
    session: Session,
    input: String,
    options: RunOptions<ort::session::HasSelectedOutputs>,
    pub size: usize,
    tensor: Vec<f32>,
}

impl Bare {
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
        Self { session, input: input.name.clone(), options, size: input.shape[1] as usize, tensor: Vec::new() }
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

/// GStreamer alone: decode a file and scale to the model's input, RGB.
pub struct BareDecode {
    pipeline: gst::Pipeline,
    sink: gstreamer_app::AppSink,
}

impl BareDecode {
    pub fn start(file: &str, size: usize) -> Self {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "filesrc location={file} ! decodebin ! videoconvertscale \
             ! video/x-raw,format=RGB,width={size},height={size} ! appsink name=sink sync=false max-buffers=8"
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

/// Bare decode and bare inference in one loop on `frames` frames; frames/s.
/// Bare decode and bare inference in one loop on `frames` frames of `file`.
pub fn one_loop(bare: &mut Bare, file: &str, frames: usize) -> Rate {
    let decode = BareDecode::start(file, bare.size);
    let mut rate = Rate::default();
    while (rate.ticks as usize) < frames {
        let Some(buf) = decode.next() else { break };
        let map = buf.map_readable().unwrap();
        bare.detect(map.as_slice());
        rate.tick();
    }
    rate
}

/// The fastest thread count and spinning for the one loop on the first `frames` frames of
/// `file`, trying 1 thread and every core, each with spinning on and off; prints each.
pub fn sweep(env: &Environment, file: &str, frames: usize) -> OrtSettings {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut tried = Vec::new();
    for threads in [1, cores] {
        for spinning in [true, false] {
            let s = OrtSettings { threads, spinning };
            let fps = one_loop(&mut Bare::new(env, s), file, frames).per_sec();
            println!("ONNX Runtime sweep: {threads} threads, spinning {spinning}: {fps:.1} frames/s in one loop");
            tried.push((fps, s));
        }
    }
    tried.into_iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap().1
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
