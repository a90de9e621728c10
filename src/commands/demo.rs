//! `qorovul demo`: the whole system on one machine, on the embedded default (one process,
//! zenoh peer on loopback). Says where to look, then logs alerts and a status line.

use super::{AlertOutput, publish_alerts};
use crate::camera_path::CameraPath;
use crate::config::PipelineConfig;
use pipeline::metrics;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Pipeline config; defaults to configs/demo.toml as built in.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
}

/// The demo config built into the binary.
pub const DEMO_CONFIG: &str = include_str!("../../configs/demo.toml");

pub fn run(args: DemoArgs) -> Result<(), String> {
    let cfg = match &args.config {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::parse(DEMO_CONFIG, "configs/demo.toml (built in)")?,
    };
    let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
    let publisher = publish_alerts(&cfg.bus, alerts_rx, AlertOutput::Log)?;
    let path = CameraPath::start(&cfg, alerts_tx)?;

    let endpoint = cfg.bus.listen.first().cloned().unwrap_or_else(|| "(no listen endpoint)".into());
    println!();
    println!("  qorovul demo is running (site {:?}, node {:?})", cfg.site, cfg.node);
    for c in &cfg.cameras {
        println!("  camera {:<14} {}", c.id, c.uri);
    }
    println!("  alerts on zenoh      qv/{}/alert/**  at {endpoint}", cfg.site);
    println!("  watch them           qorovul listen --connect {endpoint}");
    println!("                       (or: cargo run --release -- listen --connect {endpoint})");
    println!("  log lines            alert …, and a status line every 10 s; Ctrl-C stops");
    println!();

    let stop = Instant::now() + Duration::from_secs(args.duration.unwrap_or(u64::MAX / 4));
    let (ctrl_c_tx, ctrl_c_rx) = crossbeam_channel::bounded::<()>(1);
    publisher.handle.spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = ctrl_c_tx.send(());
    });
    let mut last = (Instant::now(), analysed_total(&path));
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if ctrl_c_rx.recv_timeout(left.min(Duration::from_secs(10))).is_ok() {
            break;
        }
        let now = (Instant::now(), analysed_total(&path));
        let fps = (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        last = now;
        for (id, state) in path.camera_states() {
            let dropped = metrics::global().value("qv_frames_dropped_total", &[("source", &id)]);
            tracing::info!(camera = %id, ?state, analysed_fps = format!("{fps:.1}"), dropped, "status");
        }
        tracing::info!(alerts = metrics::global().value("qv_alerts_published_total", &[]), "alerts published so far");
    }
    println!("stopping…");
    path.shutdown();
    let n = publisher.finish();
    println!("demo stopped: {n} alerts published");
    Ok(())
}

fn analysed_total(path: &CameraPath) -> u64 {
    path.camera_states()
        .iter()
        .map(|(id, _)| metrics::global().value("qv_frames_analysed_total", &[("source", id)]))
        .sum()
}
