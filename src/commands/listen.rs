//! `qorovul listen`: an integrator's subscriber. Prints every message under a key
//! expression as one JSON line (key and payload).

use super::io_runtime;
use pipeline::bus::BusConfig;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// zenoh endpoints to connect to, e.g. tcp/127.0.0.1:7447.
    #[arg(long, required = true)]
    pub connect: Vec<String>,
    /// Key expression to subscribe to.
    #[arg(long, default_value = "qv/**")]
    pub key: String,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
}

pub fn run(args: ListenArgs) -> Result<(), String> {
    let bus = BusConfig { mode: "peer".into(), connect: args.connect.clone(), ..Default::default() };
    let rt = io_runtime()?;
    rt.block_on(async {
        use std::io::Write;
        let session = pipeline::bus::open(&bus).await?;
        let sub = session
            .declare_subscriber(args.key.clone())
            .await
            .map_err(|e| format!("subscribing to {}: {e}", args.key))?;
        // Tells a supervising process (or a test) that the subscription is in place.
        eprintln!("listening on {} via {}", args.key, args.connect.join(", "));
        let mut n = 0;
        while let Ok(sample) = sub.recv_async().await {
            let payload = String::from_utf8_lossy(&sample.payload().to_bytes()).into_owned();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{payload}");
            let _ = out.flush();
            n += 1;
            if args.count.is_some_and(|c| n >= c) {
                break;
            }
        }
        let _ = session.close().await;
        Ok(())
    })
}
