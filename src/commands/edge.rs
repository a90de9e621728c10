//! `qorovul edge`: what runs at a post. The pipeline's alerts go into the durable outbox
//! and up to the control room; heartbeats say how the node is doing.

use super::{io_runtime, shutdown_signal};
use crate::config::PipelineConfig;
use edge::analysers::Analysers;
use edge::feeds::Feeds;
use edge::node::EdgeNode;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct EdgeArgs {
    /// The node's config (site, node, bus, cameras, `[edge]`).
    #[arg(long)]
    pub config: PathBuf,
    /// On stop, keep sending the outbox for up to this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
}

pub fn run(args: EdgeArgs) -> Result<(), String> {
    let cfg = PipelineConfig::load(&args.config)?;
    let rt = io_runtime()?;
    let session = rt.block_on(pipeline::bus::open(&cfg.bus))?;
    let node = EdgeNode::start(session.clone(), &cfg.site, &cfg.node, &cfg.edge)?;
    // The camera path (when cameras are configured) and the X-ray lane, over the node's
    // one inference executor.
    let with_cameras = !cfg.cameras.is_empty();
    let analysers = Analysers::start(
        &cfg.camera_path(),
        &cfg.xray_lane,
        &cfg.xray,
        node.alerts(),
        Some(node.evidence()),
        with_cameras,
    )?;
    let feeds = Feeds::start(&cfg.feed_thread(), &session, rt.handle(), node.alerts(), analysers.xray())?;
    if let Some(addr) = feeds.as_ref().and_then(|f| f.http_addr) {
        eprintln!("feeds: POST http://{addr}/v1/calls, /v1/units, /v1/telemetry");
    }
    // Tells a supervising process (or a test) that alerts are being taken in.
    eprintln!("edge {} of site {} running; outbox in {}", cfg.node, cfg.site, cfg.edge.data_dir.display());

    let stop = shutdown_signal(rt.handle());
    while stop.recv_timeout(Duration::from_secs(1)).is_err() {
        if let Some(p) = analysers.cameras() {
            node.set_sources(p.source_health());
        }
    }
    if let Some(f) = feeds {
        f.stop();
    }
    analysers.stop();
    let left = node.stop(Duration::from_secs_f64(args.drain_secs))?;
    rt.block_on(async { session.close().await }).map_err(|e| format!("closing the zenoh session: {e}"))?;
    eprintln!("edge stopped: {left} alerts left in the outbox for next time");
    Ok(())
}
