//! The verbs of the `qorovul` command. Each is a thin function over the libraries.

pub mod analyze;
pub mod audit;
pub mod control_room;
pub mod demo;
pub mod edge;
pub mod listen;
pub mod models;
pub mod replay_decision;
pub mod router;
pub mod serve_rtsp;

use pipeline::alert::Alert;
use pipeline::bus::BusConfig;

/// How a running pipeline's alerts leave the process.
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
    /// Waits until the alert channel is closed and everything is published; returns the count.
    pub fn finish(self) -> u64 {
        self.thread.join().unwrap_or(0)
    }
}

/// Publishes every alert from `alerts` on zenoh (congestion control `Block`) and writes
/// it to `output`, until the channel closes.
pub fn publish_alerts(
    bus: &BusConfig,
    alerts: crossbeam_channel::Receiver<Alert>,
    output: AlertOutput,
) -> Result<Publisher, String> {
    let rt = io_runtime()?;
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
                    AlertOutput::Log => tracing::info!(
                        key = %alert.key_expr(),
                        phase = ?alert.phase,
                        severity = ?alert.severity,
                        objects = ?alert.objects.iter().map(|o| format!("{}#{}", o.class, o.track_id.unwrap_or(0))).collect::<Vec<_>>(),
                        "alert {}", alert.kind
                    ),
                }
                // A one-shot tool publishes directly (edge nodes send through the durable
                // outbox, `edge::uplink`): a failed put is retried a few times, then logged
                // and counted, never silent.
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

/// A tokio runtime for zenoh and I/O, kept small: the cores belong to decode and inference.
pub fn io_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("io")
        .enable_all()
        .build()
        .map_err(|e| format!("starting the I/O runtime: {e}"))
}

/// A channel that receives once Ctrl-C or SIGTERM arrives.
pub fn shutdown_signal(rt: &tokio::runtime::Handle) -> crossbeam_channel::Receiver<()> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    rt.spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(());
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(());
    });
    rx
}
