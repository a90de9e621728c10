//! The zenoh fabric alerts travel on (DESIGN.md, "The bus is zenoh").
//!
//! Multicast scouting is off unless asked for: nodes join by explicit endpoints, so no
//! traffic leaves the machine or post network by accident. Alerts are put with
//! congestion control `Block`, because zenoh's default drops under load.

use crate::alert::Alert;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

/// `[bus]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `peer` (embedded default) or `client` (through a router).
    pub mode: String,
    /// Endpoints to listen on, e.g. `tcp/127.0.0.1:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to (routers or peers).
    pub connect: Vec<String>,
    /// Multicast scouting on the LAN; off by default.
    pub multicast_scouting: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self { mode: "peer".into(), listen: vec![], connect: vec![], multicast_scouting: false }
    }
}

impl BusConfig {
    /// Checks mode and endpoint syntax; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.mode.as_str(), "peer" | "client" | "router") {
            return Err(format!("mode: {:?} is not one of peer, client, router", self.mode));
        }
        for (field, list) in [("listen", &self.listen), ("connect", &self.connect)] {
            for ep in list.iter() {
                ep.parse::<zenoh::config::EndPoint>().map_err(|e| format!("{field}: {ep:?}: {e}"))?;
            }
        }
        Ok(())
    }

    fn to_zenoh(&self) -> Result<zenoh::Config, String> {
        self.validate()?;
        let mut c = zenoh::Config::default();
        fn json<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).expect("config values serialise")
        }
        let set = |c: &mut zenoh::Config, k: &str, v: String| {
            c.insert_json5(k, &v).map_err(|e| format!("zenoh config {k}: {e}"))
        };
        set(&mut c, "mode", json(&self.mode))?;
        set(&mut c, "listen/endpoints", json(&self.listen))?;
        set(&mut c, "connect/endpoints", json(&self.connect))?;
        set(&mut c, "scouting/multicast/enabled", json(&self.multicast_scouting))?;
        Ok(c)
    }
}

/// Opens a zenoh session from config.
pub async fn open(cfg: &BusConfig) -> Result<zenoh::Session, String> {
    let config = cfg.to_zenoh()?;
    zenoh::open(config).await.map_err(|e| format!("opening zenoh session ({:?}): {e}", cfg.listen))
}

/// Publishes one alert on its key expression, waiting (not dropping) under congestion.
pub async fn publish_alert(session: &zenoh::Session, alert: &Alert) -> Result<(), String> {
    let key = alert.key_expr();
    session
        .put(&key, alert.to_json())
        .congestion_control(CongestionControl::Block)
        .encoding(zenoh::bytes::Encoding::APPLICATION_JSON)
        .await
        .map_err(|e| format!("publishing on {key}: {e}"))
}

/// Waits until some subscriber matches `key` (e.g. before a test publishes), or the timeout.
pub fn wait_for_subscriber(session: &zenoh::Session, key: &str, timeout: Duration) -> Result<bool, String> {
    let publisher = session.declare_publisher(key.to_string()).wait().map_err(|e| format!("{key}: {e}"))?;
    let listener = publisher.matching_listener().wait().map_err(|e| format!("{key}: {e}"))?;
    if publisher.matching_status().wait().map_err(|e| e.to_string())?.matching() {
        return Ok(true);
    }
    let deadline = std::time::Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match listener.recv_timeout(left) {
            Ok(Some(status)) if status.matching() => return Ok(true),
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
    Ok(false)
}
