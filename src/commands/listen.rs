//! `qorovul listen`: an integrator's subscriber. Prints every message under a key
//! expression as one JSON line. Messages on alert keys are decoded by the contract's
//! rules first: a newer MINOR is printed with its unknown fields kept; anything refused
//! (not JSON, a missing field, a newer MAJOR, oversized) is reported on stderr with its
//! reason and counted, and the next message is processed as usual.

use super::io_runtime;
use pipeline::bus::{BusConfig, TlsConfig};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// zenoh endpoints to connect to, e.g. tcp/127.0.0.1:7447.
    #[arg(long, required = true)]
    pub connect: Vec<String>,
    /// Key expression to subscribe to.
    #[arg(long, default_value = pipeline::keys::EVERYTHING)]
    pub key: String,
    /// Session mode: `peer`, or `client` of a router.
    #[arg(long, default_value = "peer")]
    pub mode: String,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// The CA that signs the router's certificate (for `tls/` endpoints).
    #[arg(long, requires_all = ["tls_certificate", "tls_private_key"])]
    pub tls_root_ca: Option<PathBuf>,
    /// This subscriber's identity: the certificate whose CN the router's access rules name.
    #[arg(long, requires = "tls_root_ca")]
    pub tls_certificate: Option<PathBuf>,
    /// The private key of `--tls-certificate`.
    #[arg(long, requires = "tls_root_ca")]
    pub tls_private_key: Option<PathBuf>,
}

pub fn run(args: ListenArgs) -> Result<(), String> {
    // Off this machine a router takes only a certificate it knows: the subscriber's identity.
    let (certificate, private_key) = (args.tls_certificate.clone(), args.tls_private_key.clone());
    let tls = args.tls_root_ca.clone().map(|root_ca| TlsConfig { root_ca, certificate, private_key, mtls: true });
    let bus = BusConfig { mode: args.mode.clone(), connect: args.connect.clone(), tls, ..Default::default() };
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
            let key = sample.key_expr().as_str().to_string();
            let bytes = sample.payload().to_bytes();
            let line = if key.split('/').nth(2) == Some("alert") {
                match pipeline::alert::decode(&bytes) {
                    Ok(received) => received.to_json(),
                    Err(e) => {
                        pipeline::metrics::global().metric("qv_bus_rejected_total", &[("reason", e.reason())]).inc();
                        eprintln!("rejected message on {key} ({} bytes): {e}", bytes.len());
                        continue;
                    }
                }
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
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
