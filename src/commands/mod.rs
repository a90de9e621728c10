//! The verbs of the `qorovul` command, one file each. Each is a thin function over the
//! libraries; none starts a thread of its own (the libraries own their threads).

#[cfg(feature = "node")]
pub mod analyze;
#[cfg(feature = "control-room")]
pub mod audit;
pub mod check_config;
#[cfg(feature = "control-room")]
pub mod control_room;
pub mod credentials;
#[cfg(feature = "node")]
pub mod edge;
pub mod listen;
#[cfg(feature = "node")]
pub mod models;
#[cfg(feature = "node")]
pub mod replay_decision;
pub mod router;
#[cfg(feature = "node")]
pub mod serve_rtsp;

pub use pipeline::bus::io_runtime;

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
