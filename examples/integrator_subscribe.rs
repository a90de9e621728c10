//! An integrator's subscriber to qorovul's alerts and incidents (docs/integrators.md).
//! It depends on zenoh, serde_json, clap and chrono only, not on qorovul's crates.
//!
//! ```sh
//! cargo run --example integrator_subscribe -- --connect tcp/127.0.0.1:7447 --site demo
//! # at a post's router, with the integrator's own certificate:
//! cargo run --example integrator_subscribe -- --connect tls/router.post1:7447 --site post1 \
//!     --root-ca ca.pem --certificate integrator.pem --private-key integrator.key
//! ```
//!
//! Prints one line per message, `<key> <compact JSON>`, and refuses (on stderr, then goes
//! on) a message whose `schema_version` has a newer MAJOR than this code was written for.
//!
//! Personal fields arrive masked (`01****BC`); the same vehicle is recognised by its keyed
//! hash, `correlation.plate_key` (an incident's `keys.plate_key`), which this example counts
//! on stderr: `vehicle <plate_key> (<masked plate>): <n> messages`.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Parser;
use std::collections::HashMap;
use std::time::Duration;
use zenoh::Wait;
use zenoh::sample::Sample;

/// The contract MAJOR this subscriber understands. A newer MINOR only adds fields: accepted.
const SUPPORTED_MAJOR: u32 = 1;

/// Prints qorovul's alerts and incidents as they are published (docs/integrators.md).
#[derive(Parser)]
struct Args {
    /// A router (or control-room) endpoint on this machine, e.g. tcp/127.0.0.1:7447 (plain
    /// tcp/ is loopback only; a post's router is tls/ with a certificate); repeatable.
    #[arg(long, required = true)]
    connect: Vec<String>,
    /// The site to follow; `*` for every site.
    #[arg(long, default_value = "*")]
    site: String,
    /// Exit after this many live messages (refused ones do not count).
    #[arg(long)]
    count: Option<u64>,
    /// First ask the control room's store for the alerts since this time (RFC 3339).
    #[arg(long, value_parser = DateTime::parse_from_rfc3339)]
    history_since: Option<DateTime<chrono::FixedOffset>>,
    /// For a `tls/` router: the CA that signed its certificate.
    #[arg(long, requires_all = ["certificate", "private_key"])]
    root_ca: Option<String>,
    /// This integrator's identity: the certificate (PEM) whose CN the router's rules name.
    #[arg(long, requires = "root_ca")]
    certificate: Option<String>,
    /// The private key (PEM) of `--certificate`.
    #[arg(long, requires = "root_ca")]
    private_key: Option<String>,
}

fn main() -> zenoh::Result<()> {
    let args = Args::parse();
    // Client of a router, at explicit endpoints; no multicast scouting on the network.
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", r#""client""#)?;
    config.insert_json5("connect/endpoints", &serde_json::to_string(&args.connect)?)?;
    config.insert_json5("scouting/multicast/enabled", "false")?;
    // The integrator's identity, checked by the router (mutual TLS); its CN is what the
    // router's access rules let read `alert/**` and `incident/**`, never `pii/**`.
    if let (Some(ca), Some(cert), Some(key)) = (&args.root_ca, &args.certificate, &args.private_key) {
        config.insert_json5("transport/link/tls/root_ca_certificate", &serde_json::to_string(ca)?)?;
        config.insert_json5("transport/link/tls/connect_certificate", &serde_json::to_string(cert)?)?;
        config.insert_json5("transport/link/tls/connect_private_key", &serde_json::to_string(key)?)?;
        config.insert_json5("transport/link/tls/enable_mtls", "true")?;
    }
    let session = zenoh::open(config).wait()?;

    // Both subscriptions feed one channel, read by one loop below.
    let (tx, rx) = std::sync::mpsc::channel::<Sample>();
    let mut subscribers = Vec::new();
    for key in [format!("qv/{}/alert/**", args.site), format!("qv/{}/incident/**", args.site)] {
        let tx = tx.clone();
        let forward = move |sample: Sample| {
            let _ = tx.send(sample); // fails only once main has stopped reading
        };
        subscribers.push(session.declare_subscriber(key).callback(forward).wait()?);
    }
    eprintln!("subscribed");

    // Messages per vehicle, by keyed hash (plate_key).
    let mut vehicles: HashMap<String, usize> = HashMap::new();

    // Subscribed first, then the history: nothing falls in between (an alert may come twice;
    // `id` tells).
    if let Some(since) = args.history_since {
        let since = since.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let selector = format!("qv/{}/alert/**?since={since}", args.site);
        // No consolidation: zenoh's default keeps one reply per key, but every alert of a
        // camera and kind shares its key.
        let replies = session
            .get(selector)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .timeout(Duration::from_secs(10))
            .wait()?;
        let mut received = 0;
        while let Ok(reply) = replies.recv() {
            match reply.result() {
                Ok(sample) => {
                    received += 1;
                    print_message("history ", sample, &mut vehicles);
                }
                Err(e) => eprintln!("history query refused: {}", String::from_utf8_lossy(&e.payload().to_bytes())),
            }
        }
        eprintln!("history: {received} replies");
    }

    let mut printed = 0;
    while args.count.is_none_or(|n| printed < n) {
        let Ok(sample) = rx.recv() else { break };
        if print_message("", &sample, &mut vehicles) {
            printed += 1;
        }
    }
    drop(subscribers);
    session.close().wait()?;
    Ok(())
}

/// Prints `<prefix><key> <compact JSON>`, or says on stderr why the message is refused.
fn print_message(prefix: &str, sample: &Sample, vehicles: &mut HashMap<String, usize>) -> bool {
    let key = sample.key_expr().as_str();
    let json: serde_json::Value = match serde_json::from_slice(&sample.payload().to_bytes()) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("refused {key}: not JSON: {e}");
            return false;
        }
    };
    let version = json["schema_version"].as_str().unwrap_or("");
    let id = json["id"].as_str().or(json["incident"]["id"].as_str()).unwrap_or("?");
    let major = version.split_once('.').and_then(|(major, _)| major.parse::<u32>().ok());
    match major {
        Some(SUPPORTED_MAJOR) => {
            // serde_json::Value keeps every field, including those a newer MINOR added.
            println!("{prefix}{key} {json}");
            count_vehicles(&json, vehicles);
            true
        }
        Some(m) if m > SUPPORTED_MAJOR => {
            eprintln!("refused {key}: schema_version {version} is a newer MAJOR than {SUPPORTED_MAJOR}; id {id}");
            false
        }
        _ => {
            eprintln!("refused {key}: schema_version {version:?} is not {SUPPORTED_MAJOR}.MINOR; id {id}");
            false
        }
    }
}

/// Counts the message for each vehicle it names by keyed hash: an alert's
/// `correlation.plate_key`, an incident's `keys.plate_key` (its masked plate beside it).
fn count_vehicles(json: &serde_json::Value, vehicles: &mut HashMap<String, usize>) {
    let c = &json["correlation"];
    let k = &json["incident"]["keys"];
    let mut named = vec![(c["plate_key"].as_str(), c["plate"].as_str())];
    if let Some(keys) = k["plate_key"].as_array() {
        named.extend(keys.iter().enumerate().map(|(i, key)| (key.as_str(), k["plate"][i].as_str())));
    }
    for (key, shown) in named {
        if let Some(key) = key {
            let n = vehicles.entry(key.to_string()).or_default();
            *n += 1;
            eprintln!("vehicle {key} ({}): {n} messages", shown.unwrap_or("?"));
        }
    }
}
