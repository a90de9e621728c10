//! Heartbeats: every node says it is alive on `qv/{site}/health/{node}` at an interval,
//! with what an operator needs to judge it (queue depths, dead letters, source states,
//! versions). A node that falls silent is turned into an alert by the control room.

use crate::keys;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::{CongestionControl, Priority};

/// The version of the heartbeat message.
pub const SCHEMA_VERSION: &str = "1.0";

/// One heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub schema_version: String,
    pub site: String,
    pub node: String,
    /// `edge` or `control-room`.
    pub role: String,
    /// The qorovul version and the alert schema version the node speaks.
    pub version: String,
    pub alert_schema: String,
    pub ts: DateTime<Utc>,
    pub uptime_secs: u64,
    /// The node's promise of its next heartbeat: silence for a few of these means trouble.
    pub interval_secs: f64,
    /// Alerts waiting to be sent (edge) per lane.
    #[serde(default)]
    pub outbox_live: u64,
    #[serde(default)]
    pub outbox_backlog: u64,
    /// Evidence files not yet replicated (edge).
    #[serde(default)]
    pub evidence_pending: u64,
    /// Messages parked in the dead-letter store (control room).
    #[serde(default)]
    pub dead_letters: u64,
    /// Each source and its state, e.g. `playing`, `reconnecting`.
    #[serde(default)]
    pub sources: Vec<SourceHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub id: String,
    pub state: String,
}

impl Heartbeat {
    /// A heartbeat with everything but the identity zeroed.
    pub fn new(site: &str, node: &str, role: &str, interval: Duration) -> Self {
        Self {
            schema_version: SCHEMA_VERSION.into(),
            site: site.into(),
            node: node.into(),
            role: role.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            alert_schema: crate::alert::SCHEMA_VERSION.into(),
            ts: Utc::now(),
            uptime_secs: 0,
            interval_secs: interval.as_secs_f64(),
            outbox_live: 0,
            outbox_backlog: 0,
            evidence_pending: 0,
            dead_letters: 0,
            sources: vec![],
        }
    }
}

/// A thread putting a heartbeat every `interval`; stops when dropped.
pub struct HeartbeatSender {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeartbeatSender {
    /// `fill` completes each heartbeat with the node's current figures.
    pub fn start(
        session: zenoh::Session,
        site: &str,
        node: &str,
        role: &str,
        interval: Duration,
        fill: impl Fn(&mut Heartbeat) + Send + 'static,
    ) -> Result<Self, String> {
        let key = keys::health(site, node);
        let template = Heartbeat::new(site, node, role, interval);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let started = std::time::Instant::now();
        let thread = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || {
                loop {
                    let mut hb = template.clone();
                    hb.ts = Utc::now();
                    hb.uptime_secs = started.elapsed().as_secs();
                    fill(&mut hb);
                    // A heartbeat lost under congestion is replaced by the next one.
                    let json = serde_json::to_string(&hb).expect("a heartbeat serialises");
                    if let Err(e) = session
                        .put(&key, json)
                        .congestion_control(CongestionControl::Drop)
                        .priority(Priority::InteractiveLow)
                        .wait()
                    {
                        tracing::warn!("heartbeat on {key}: {e}");
                    }
                    // Dropping the sender disconnects the channel: that is the stop.
                    if stop_rx.recv_timeout(interval) != Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                        break;
                    }
                }
            })
            .map_err(|e| format!("spawning the heartbeat: {e}"))?;
        Ok(Self { stop: Some(stop_tx), thread: Some(thread) })
    }
}

impl Drop for HeartbeatSender {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
