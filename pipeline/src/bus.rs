//! The zenoh fabric alerts travel on (docs/ARCHITECTURE.md, "Route of an alert").
//!
//! Multicast scouting is off unless asked for: nodes join by explicit endpoints, so no
//! traffic leaves the machine or post network by accident. Alerts are put with
//! congestion control `Block`, because zenoh's default drops under load.
//!
//! Off loopback, links are `tls/` with mutual authentication ([`TlsConfig`]): a plain `tcp/`
//! endpoint off loopback is refused at start, since it would let anyone speak as any node. The
//! router enforces zenoh access control ([`AccessConfig`]): each node is known by its
//! certificate's common name (CN), and what a CN may send or receive is allowed key
//! expression by key expression; everything else is denied. Personal data lives only
//! under `qv/{site}/pii/**`, so one rule decides who can read it.

use crate::alert::Alert;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zenoh::Wait;
use zenoh::qos::CongestionControl;

/// `[bus]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `peer` (embedded default), `client` (through a router) or `router`.
    pub mode: String,
    /// Endpoints to listen on, e.g. `tcp/127.0.0.1:7447` (loopback only) or `tls/0.0.0.0:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to (routers or peers).
    pub connect: Vec<String>,
    /// Multicast scouting on the LAN; off by default.
    pub multicast_scouting: bool,
    /// `[bus.tls]`: certificates for `tls/` endpoints; required when any endpoint is `tls/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// `[bus.access]`: access control on this node's links (set on routers); absent: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessConfig>,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            mode: "peer".into(),
            listen: vec![],
            connect: vec![],
            multicast_scouting: false,
            tls: None,
            access: None,
        }
    }
}

/// `[bus.tls]`: this node's TLS identity, used both when listening and when connecting.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA that signs every node's certificate; peers are checked against it.
    pub root_ca: PathBuf,
    /// PEM certificate of this node; its CN is the node's name in `[bus.access]`. Needed
    /// to listen, and to connect when `mtls` is on.
    pub certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `certificate`.
    pub private_key: Option<PathBuf>,
    /// Mutual TLS: a listener accepts only clients with a certificate from `root_ca`, and
    /// this node presents its own when connecting. On by default: without it, access
    /// control has no CN to go by.
    #[serde(default = "yes")]
    pub mtls: bool,
}

fn yes() -> bool {
    true
}

/// `[bus.access]`: zenoh access control. Deny by default; each `[[bus.access.allow]]`
/// rule lets some certificate CNs send or receive some messages on some key expressions.
///
/// ```toml
/// [[bus.access.allow]]
/// cert_common_names = ["integrator"]
/// messages = ["put"]
/// flows = ["egress"]                 # the router may deliver to it ...
/// key_exprs = ['qv/*/alert/**']      # ... alerts, and nothing under qv/*/pii/**
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// The rules; a message no rule allows is dropped.
    #[serde(default)]
    pub allow: Vec<AllowRule>,
}

/// One `[[bus.access.allow]]` rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// TLS certificate common names the rule is for (exact match).
    pub cert_common_names: Vec<String>,
    /// Which messages, by zenoh's names.
    pub messages: Vec<AclMessage>,
    /// `ingress`: sent by the node to the router; `egress`: sent by the router to the
    /// node (deliveries, replies, declarations). Both when left out.
    #[serde(default = "both_flows")]
    pub flows: Vec<AclFlow>,
    /// Key expressions; a message is allowed when one of them includes its key. A
    /// subscriber on `qv/s1/**` needs `declare_subscriber` on e.g. `qv/**`, and what it
    /// receives is still filtered by `put` `egress`.
    pub key_exprs: Vec<String>,
}

/// A zenoh message kind an [`AllowRule`] can allow (zenoh's `AclMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AclMessage {
    /// A sample (`session.put`, a publisher's put).
    Put,
    /// A delete sample.
    Delete,
    /// Declaring (or learning of) a subscriber.
    DeclareSubscriber,
    /// A `get`.
    Query,
    /// Declaring (or learning of) a queryable.
    DeclareQueryable,
    /// A reply to a query.
    Reply,
    /// Declaring a liveliness token.
    LivelinessToken,
    /// A liveliness `get`.
    LivelinessQuery,
    /// Subscribing to liveliness changes.
    DeclareLivelinessSubscriber,
}

/// Direction of a message, seen from the node enforcing the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AclFlow {
    /// From the node to the enforcing node (what it sends).
    Ingress,
    /// From the enforcing node to the node (what it receives).
    Egress,
}

/// `127.0.0.1:7447`, `[::1]:7447`, `localhost:7447`: an endpoint address on this machine.
/// True when `address` (`host:port`, or a host) is on this machine: 127.0.0.0/8, ::1, localhost.
pub fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(host, _port)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn both_flows() -> Vec<AclFlow> {
    vec![AclFlow::Ingress, AclFlow::Egress]
}

impl BusConfig {
    /// Checks mode, endpoint syntax, TLS files and access rules; `Err` names the field
    /// (and the file).
    pub fn validate(&self) -> Result<(), String> {
        self.check_shape()?;
        if let Some(tls) = &self.tls {
            tls.check_files()?;
        }
        Ok(())
    }

    /// Reads a file whose only table is `[bus]` (a router's config) and validates it.
    pub fn load_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("config {}: cannot read: {e}", path.display()))?;
        let bus = Self::parse_file(&text, &path.display().to_string())?;
        bus.validate().map_err(|e| format!("config {}: bus.{e}", path.display()))?;
        Ok(bus)
    }

    /// Parses the text of a `[bus]`-only file, without validating it.
    pub fn parse_file(text: &str, origin: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            bus: BusConfig,
        }
        toml::from_str::<File>(text).map(|f| f.bus).map_err(|e| format!("config {origin}: {e}"))
    }

    /// Everything `validate` checks except the file system.
    fn check_shape(&self) -> Result<(), String> {
        if !matches!(self.mode.as_str(), "peer" | "client" | "router") {
            return Err(format!("mode: {:?} is not one of peer, client, router", self.mode));
        }
        for (field, list) in [("listen", &self.listen), ("connect", &self.connect)] {
            for ep in list.iter() {
                let parsed = ep.parse::<zenoh::config::EndPoint>().map_err(|e| format!("{field}: {ep:?}: {e}"))?;
                match parsed.protocol().as_str() {
                    "tls" => {}
                    // Plain TCP carries no identity: anyone on the network could speak as any node.
                    "tcp" if is_loopback(parsed.address().as_str()) => continue,
                    "tcp" => {
                        return Err(format!(
                            "{field}: {ep:?}: plain tcp/ is for this machine only (127.0.0.1, ::1, localhost); \
                             off it, use tls/ with [bus.tls]"
                        ));
                    }
                    other => {
                        return Err(format!("{field}: {ep:?}: protocol {other:?} is not one of tcp (loopback), tls"));
                    }
                }
                let Some(tls) = &self.tls else {
                    return Err(format!("tls: endpoint {ep:?} in {field} needs a [bus.tls] section"));
                };
                if field == "listen" && tls.certificate.is_none() {
                    return Err(format!("tls.certificate: needed to listen on {ep:?}"));
                }
            }
        }
        if let Some(tls) = &self.tls {
            match (&tls.certificate, &tls.private_key) {
                (Some(_), None) => return Err("tls.private_key: needed with tls.certificate".into()),
                (None, Some(_)) => return Err("tls.certificate: needed with tls.private_key".into()),
                (None, None) if tls.mtls => return Err("tls.certificate: needed when tls.mtls is on".into()),
                _ => {}
            }
        }
        if let Some(access) = &self.access {
            access.check()?;
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
        if let Some(tls) = &self.tls {
            let path = |p: &Path| json(&p.display().to_string());
            set(&mut c, "transport/link/tls/root_ca_certificate", path(&tls.root_ca))?;
            if let (Some(cert), Some(key)) = (&tls.certificate, &tls.private_key) {
                // One identity for both directions: a router that also dials other
                // routers is the same node either way.
                set(&mut c, "transport/link/tls/listen_certificate", path(cert))?;
                set(&mut c, "transport/link/tls/listen_private_key", path(key))?;
                set(&mut c, "transport/link/tls/connect_certificate", path(cert))?;
                set(&mut c, "transport/link/tls/connect_private_key", path(key))?;
            }
            set(&mut c, "transport/link/tls/enable_mtls", json(&tls.mtls))?;
            // The server's certificate must name the host we dial; never turned off.
            set(&mut c, "transport/link/tls/verify_name_on_connect", "true".into())?;
        }
        if let Some(access) = &self.access {
            set(&mut c, "access_control", access.to_zenoh_json().to_string())?;
        }
        Ok(c)
    }
}

impl TlsConfig {
    /// Each file named exists, is readable and holds PEM.
    fn check_files(&self) -> Result<(), String> {
        let files = [
            ("root_ca", Some(&self.root_ca)),
            ("certificate", self.certificate.as_ref()),
            ("private_key", self.private_key.as_ref()),
        ];
        for (field, path) in files {
            let Some(path) = path else { continue };
            let text = std::fs::read(path).map_err(|e| format!("tls.{field}: {}: {e}", path.display()))?;
            // zenoh's own error for a non-PEM file does not say which file it was.
            if !text.windows(11).any(|w| w == b"-----BEGIN ") {
                return Err(format!("tls.{field}: {}: not a PEM file", path.display()));
            }
        }
        Ok(())
    }
}

impl AccessConfig {
    fn check(&self) -> Result<(), String> {
        for (i, rule) in self.allow.iter().enumerate() {
            let field = |name: &str| format!("access.allow[{i}].{name}");
            if rule.cert_common_names.is_empty() || rule.cert_common_names.iter().any(|cn| cn.trim().is_empty()) {
                return Err(format!("{}: must list at least one non-empty CN", field("cert_common_names")));
            }
            if rule.messages.is_empty() {
                return Err(format!("{}: must list at least one message", field("messages")));
            }
            if rule.flows.is_empty() {
                return Err(format!("{}: must list ingress, egress or both", field("flows")));
            }
            if rule.key_exprs.is_empty() {
                return Err(format!("{}: must list at least one key expression", field("key_exprs")));
            }
            for k in &rule.key_exprs {
                zenoh::key_expr::KeyExpr::try_from(k.as_str())
                    .map_err(|e| format!("{}: {k:?}: {e}", field("key_exprs")))?;
            }
        }
        Ok(())
    }

    /// zenoh's `access_control` section: one rule, one subject and one policy per
    /// `allow` entry, default deny.
    pub fn to_zenoh_json(&self) -> serde_json::Value {
        let id = |i: usize| format!("allow-{i}");
        let rules: Vec<_> = self
            .allow
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "id": id(i), "permission": "allow", "messages": r.messages,
                    "flows": r.flows, "key_exprs": r.key_exprs,
                })
            })
            .collect();
        let subjects: Vec<_> = self
            .allow
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::json!({ "id": id(i), "cert_common_names": r.cert_common_names }))
            .collect();
        let policies: Vec<_> = (0..self.allow.len())
            .map(|i| serde_json::json!({ "id": id(i), "rules": [id(i)], "subjects": [id(i)] }))
            .collect();
        serde_json::json!({
            "enabled": true,
            "default_permission": "deny",
            "rules": rules,
            "subjects": subjects,
            "policies": policies,
        })
    }
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

/// Opens a zenoh session from config.
pub async fn open(cfg: &BusConfig) -> Result<zenoh::Session, String> {
    let config = cfg.to_zenoh()?;
    zenoh::open(config).await.map_err(|e| open_error(cfg, e))
}

/// [`open`] for plain threads, blocking until the session is open.
pub fn open_blocking(cfg: &BusConfig) -> Result<zenoh::Session, String> {
    let config = cfg.to_zenoh()?;
    zenoh::open(config).wait().map_err(|e| open_error(cfg, e))
}

fn open_error(cfg: &BusConfig, e: impl std::fmt::Display) -> String {
    format!("opening zenoh session (listen {:?}, connect {:?}): {e}", cfg.listen, cfg.connect)
}

/// Publishes one alert as a node's uplink does: whole on its `pii` key (what a control room
/// takes in), its public form on its own key; waiting (not dropping) under congestion.
pub async fn publish_alert(session: &zenoh::Session, alert: &Alert) -> Result<(), String> {
    for (key, json) in
        [(alert.pii_key_expr(), alert.to_json()), (alert.key_expr(), crate::personal::public(alert).to_json())]
    {
        session
            .put(&key, json)
            .congestion_control(CongestionControl::Block)
            .encoding(zenoh::bytes::Encoding::APPLICATION_JSON)
            .await
            .map_err(|e| format!("publishing on {key}: {e}"))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests;
