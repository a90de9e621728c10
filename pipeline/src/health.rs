//! Heartbeats: every node says it is alive on `qv/{site}/health/{node}` at an interval,
//! with what an operator needs to judge it (queue depths, dead letters, source states,
//! versions). A node that falls silent is turned into an alert by the control room.
//!
//! A heartbeat speaks only for the node its key names: [`decode`] refuses one whose payload
//! names another site or node. The router's access rules let each certificate put only on
//! its own health key; together, no node can keep another "alive" or mark it as its own.

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

/// Bytes a heartbeat may take; a larger one is refused unread.
pub const MAX_HEARTBEAT_BYTES: usize = 64 * 1024;

/// Why a received heartbeat was refused; [`Refused::reason`] is its metric label.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Over [`MAX_HEARTBEAT_BYTES`] (its size).
    TooLarge(usize),
    /// Not a heartbeat (serde's message).
    NotJson(String),
    /// The payload's site and node are not those of the key it came on.
    KeyMismatch { site: String, node: String },
}

impl Refused {
    /// Short label: `too_large`, `not_json`, `key_mismatch`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::TooLarge(_) => "too_large",
            Refused::NotJson(_) => "not_json",
            Refused::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLarge(n) => write!(f, "{n} bytes exceeds the {MAX_HEARTBEAT_BYTES}-byte limit"),
            Refused::NotJson(e) => write!(f, "not a heartbeat: {e}"),
            Refused::KeyMismatch { site, node } => {
                write!(
                    f,
                    "the payload speaks for site {site:?} node {node:?}, whose key is {}",
                    keys::health(site, node)
                )
            }
        }
    }
}

/// The heartbeat in `payload`, received on `key`, when it is one and speaks for the node the
/// key names: its `site` and `node` must give back exactly `key` (`qv/{site}/health/{node}`).
pub fn decode(key: &str, payload: &[u8]) -> Result<Heartbeat, Refused> {
    if payload.len() > MAX_HEARTBEAT_BYTES {
        return Err(Refused::TooLarge(payload.len()));
    }
    let hb: Heartbeat = serde_json::from_slice(payload).map_err(|e| Refused::NotJson(e.to_string()))?;
    // Built from the payload and compared, so a site or node with a '/' or a wildcard cannot match.
    if !(keys::is_segment(&hb.site) && keys::is_segment(&hb.node) && keys::health(&hb.site, &hb.node) == key) {
        return Err(Refused::KeyMismatch { site: hb.site, node: hb.node });
    }
    Ok(hb)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json(hb: &Heartbeat) -> Vec<u8> {
        serde_json::to_vec(hb).unwrap()
    }

    #[test]
    fn a_heartbeat_speaks_only_for_the_node_its_key_names() {
        let hb = Heartbeat::new("post1", "edge-1", "edge", Duration::from_secs(5));
        assert_eq!(decode("qv/post1/health/edge-1", &json(&hb)), Ok(hb.clone()), "its own key");
        for key in ["qv/post1/health/edge-2", "qv/post2/health/edge-1"] {
            let e = decode(key, &json(&hb)).unwrap_err();
            assert_eq!(e.reason(), "key_mismatch", "{key}");
            assert!(e.to_string().contains("\"edge-1\""), "{e}");
        }
        let sneaky = Heartbeat { node: "*".into(), ..hb.clone() };
        assert_eq!(decode("qv/post1/health/*", &json(&sneaky)).unwrap_err().reason(), "key_mismatch");
        assert_eq!(decode("qv/post1/health/edge-1", b"{").unwrap_err().reason(), "not_json");
        let big = vec![b' '; MAX_HEARTBEAT_BYTES + 1];
        assert_eq!(decode("qv/post1/health/edge-1", &big).unwrap_err().reason(), "too_large");
    }
}
