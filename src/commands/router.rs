//! `qorovul router`: a zenoh router in our own binary, joining edge nodes and control
//! rooms in the scaled deployment (docs/ARCHITECTURE.md, "Route of an alert").
//!
//! In production it runs from a config file (`--config configs/router.toml`) with
//! mutual TLS and access control; `--listen`/`--connect` are the quick, plain form.

use super::io_runtime;
use pipeline::bus::BusConfig;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RouterArgs {
    /// Endpoints to listen on, e.g. tcp/127.0.0.1:7447; repeatable.
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub listen: Vec<String>,
    /// Other routers to connect to; repeatable.
    #[arg(long, conflicts_with = "config")]
    pub connect: Vec<String>,
    /// A TOML file with a `[bus]` section (mode = "router", endpoints, `[bus.tls]`,
    /// `[bus.access]`), e.g. configs/router.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: RouterArgs) -> Result<(), String> {
    let bus = match &args.config {
        Some(path) => {
            let bus = BusConfig::load_file(path)?;
            // Said in the file rather than forced, so the file reads as what it runs.
            if bus.mode != "router" {
                return Err(format!(
                    "config {}: bus.mode: {:?}, but `qorovul router` needs \"router\"",
                    path.display(),
                    bus.mode
                ));
            }
            if bus.listen.is_empty() {
                return Err(format!("config {}: bus.listen: a router needs at least one endpoint", path.display()));
            }
            bus
        }
        None => BusConfig { mode: "router".into(), listen: args.listen, connect: args.connect, ..Default::default() },
    };
    let rt = io_runtime()?;
    rt.block_on(async {
        let session = pipeline::bus::open(&bus).await?;
        // Tells a supervising process (or a test) that the router accepts connections.
        eprintln!("router listening on {}", bus.listen.join(", "));
        let _ = tokio::signal::ctrl_c().await;
        let _ = session.close().await;
        Ok(())
    })
}
