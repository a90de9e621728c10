//! `qorovul router`: a zenoh router in our own binary, joining edge nodes and control
//! rooms in the scaled deployment (DESIGN.md, "The bus is zenoh").

use super::io_runtime;
use pipeline::bus::BusConfig;

#[derive(Debug, clap::Args)]
pub struct RouterArgs {
    /// Endpoints to listen on, e.g. tcp/127.0.0.1:7447; repeatable.
    #[arg(long, required = true)]
    pub listen: Vec<String>,
    /// Other routers to connect to; repeatable.
    #[arg(long)]
    pub connect: Vec<String>,
}

pub fn run(args: RouterArgs) -> Result<(), String> {
    let bus =
        BusConfig { mode: "router".into(), listen: args.listen.clone(), connect: args.connect, ..Default::default() };
    let rt = io_runtime()?;
    rt.block_on(async {
        let session = pipeline::bus::open(&bus).await?;
        // Tells a supervising process (or a test) that the router accepts connections.
        eprintln!("router listening on {}", args.listen.join(", "));
        let _ = tokio::signal::ctrl_c().await;
        let _ = session.close().await;
        Ok(())
    })
}
