//! `qorovul analyze <uri>`: run the camera path on one source and print its alerts as
//! JSON lines (also published on zenoh).

use crate::config::PipelineConfig;
use edge::camera_path::{CameraPath, PathEvent};
use edge::publisher::{AlertOutput, Publisher};
use pipeline::sources::camera::CameraConfig;
use pipeline::sources::{SourceState, redacted_uri};
use std::path::PathBuf;

/// Options of `analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A GStreamer URI or a file path.
    pub uri: String,
    /// Pipeline config for detector, tracker, rules and bus (its cameras are ignored).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Play a file at its frame rate instead of as fast as possible.
    #[arg(long)]
    pub realtime: bool,
    /// Live sources: give up after this many failed connection attempts in a row.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Stop after this many analysed frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// zenoh endpoint to listen on (e.g. tcp/127.0.0.1:7447); repeatable.
    #[arg(long)]
    pub listen: Vec<String>,
    /// zenoh endpoint to connect to; repeatable.
    #[arg(long)]
    pub connect: Vec<String>,
}

/// The config `analyze` uses without `--config`.
pub const DEFAULT_CONFIG: &str = r#"
site = "local"
[[rules.object_detected]]
classes = ["person", "car", "bus", "truck", "motorcycle", "bicycle"]
"#;

pub fn run(args: AnalyzeArgs) -> Result<(), String> {
    let mut cfg = match &args.config {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::parse(DEFAULT_CONFIG, "built-in analyze config")?,
    };
    cfg.bus.listen.extend(args.listen.iter().cloned());
    cfg.bus.connect.extend(args.connect.iter().cloned());
    let mut cam = CameraConfig::new("input", &args.uri);
    cam.realtime = args.realtime;
    cam.validate().map_err(|e| format!("{}: {e}", redacted_uri(&args.uri)))?;
    cfg.cameras.clear();

    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
    let publisher = Publisher::start(&cfg.bus, alerts_rx, AlertOutput::JsonLines)?;
    let path = CameraPath::start(&cfg.camera_path(), alerts_tx)?;
    let events = path.observe();
    path.add_camera(cam)?;

    let mut failure = None;
    let mut frames = 0u64;
    for ev in events.iter() {
        match ev {
            PathEvent::Analysed { .. } => {
                frames += 1;
                if args.max_frames.is_some_and(|m| frames >= m) {
                    break;
                }
            }
            PathEvent::Source(ev) => match ev.state {
                SourceState::Failed { error } => failure = Some(error),
                SourceState::Reconnecting { attempt, error, .. } if attempt > args.retries => {
                    failure = Some(format!("{error} (gave up after {attempt} attempts)"));
                    let _ = path.remove_camera("input");
                }
                _ => {}
            },
            PathEvent::StreamDone(_) => break,
        }
    }
    path.shutdown();
    let published = publisher.finish();
    tracing::info!(frames, published, "analysis finished");
    match failure {
        Some(e) => Err(format!("{}: {e}", redacted_uri(&args.uri))),
        None => Ok(()),
    }
}
