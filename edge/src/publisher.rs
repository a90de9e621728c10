//! Alerts published straight on zenoh, for one-shot tools (`qorovul analyze`). An edge node
//! sends through its durable outbox instead ([`crate::uplink`]).

use crossbeam_channel::Receiver;
use pipeline::alert::Alert;
use pipeline::bus::BusConfig;

/// How a running pipeline's alerts leave the process besides zenoh.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AlertOutput {
    /// One JSON object per line on stdout (for scripts).
    JsonLines,
    /// A readable log line each (for people).
    Log,
}

/// The thread that publishes alerts; it owns the I/O runtime, so nothing else can shut
/// that runtime down under it.
pub struct Publisher {
    thread: std::thread::JoinHandle<u64>,
    /// For other async work (signals) while the publisher runs.
    pub handle: tokio::runtime::Handle,
}

impl Publisher {
    /// Publishes every alert from `alerts` on zenoh (congestion control `Block`) and writes
    /// it to `output`, until the channel closes.
    pub fn start(bus: &BusConfig, alerts: Receiver<Alert>, output: AlertOutput) -> Result<Self, String> {
        let rt = pipeline::bus::io_runtime()?;
        let session = rt.block_on(pipeline::bus::open(bus))?;
        let handle = rt.handle().clone();
        let runtime_handle = handle.clone();
        let published = pipeline::metrics::global().metric("qv_alerts_published_total", &[]);
        let failed = pipeline::metrics::global().metric("qv_alerts_publish_errors_total", &[]);
        std::thread::Builder::new()
            .name("alert-publisher".into())
            .spawn(move || {
                use std::io::Write;
                let mut n = 0;
                for alert in alerts.iter() {
                    match output {
                        AlertOutput::JsonLines => {
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(out, "{}", alert.to_json());
                            let _ = out.flush();
                        }
                        AlertOutput::Log => log(&alert),
                    }
                    // A failed put is retried a few times, then logged and counted, never silent.
                    let mut tries = 0;
                    loop {
                        match handle.block_on(pipeline::bus::publish_alert(&session, &alert)) {
                            Ok(()) => {
                                published.inc();
                                n += 1;
                                break;
                            }
                            Err(e) if tries < 3 => {
                                tries += 1;
                                tracing::warn!("alert {}: {e}; retrying", alert.id);
                            }
                            Err(e) => {
                                failed.inc();
                                tracing::error!("alert {} not published: {e}", alert.id);
                                break;
                            }
                        }
                    }
                }
                let _ = handle.block_on(async { session.close().await });
                drop(rt);
                n
            })
            .map(|thread| Publisher { thread, handle: runtime_handle })
            .map_err(|e| format!("spawning the alert publisher: {e}"))
    }

    /// Waits until the alert channel is closed and everything is published; returns the count.
    pub fn finish(self) -> u64 {
        self.thread.join().unwrap_or(0)
    }
}

/// One readable log line for an alert.
pub fn log(alert: &Alert) {
    tracing::info!(
        key = %alert.key_expr(),
        phase = ?alert.phase,
        severity = ?alert.severity,
        objects = ?alert.objects.iter().map(|o| format!("{}#{}", o.class, o.track_id.unwrap_or(0))).collect::<Vec<_>>(),
        "alert {}", alert.kind
    );
}
