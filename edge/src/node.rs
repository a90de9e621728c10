//! An edge node's services around its analysers and feeds: the outbox and uplink, the
//! evidence store and server, the disk quota, the heartbeat, and an optional periodic test
//! signal. The `qorovul edge` command and the demo start one.

use crate::evidence_server::{self, EvidenceServer};
use crate::evidence_store::EvidenceStore;
use crate::outbox::Outbox;
use crate::uplink::{Uplink, UplinkConfig};
use crossbeam_channel::Sender;
use pipeline::alert::{Alert, Severity, SourceKind};
use pipeline::health::{HeartbeatSender, SourceHealth};
use pipeline::personal::CorrelationKey;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `[edge]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// Where the outbox (`outbox.sqlite`) and evidence live.
    pub data_dir: PathBuf,
    /// Seconds between heartbeats on `qv/{site}/health/{node}`.
    pub heartbeat_secs: f64,
    /// Alerts not acknowledged within this many seconds are sent again.
    pub ack_timeout_secs: f64,
    /// Disk the node may use for evidence and alerts together, in MiB. When full, evidence
    /// is evicted (replicated files first, oldest first); alerts never are.
    pub disk_quota_mb: u64,
    /// The evidence server's bandwidth cap towards the control room, in kB/s.
    pub evidence_kbytes_per_sec: u64,
    /// When set, a `test_signal` alert (severity info) every this many seconds, so the
    /// control room sees the whole chain work (as alarm receiving centres expect of panels).
    pub test_signal_secs: Option<f64>,
    /// The deployment's correlation key: 32 raw bytes, mode 0600, the same file at every node
    /// of a deployment so one vehicle gets one keyed hash everywhere (docs/personal-data.md).
    /// Default `correlation.key` in `data_dir`, made when absent.
    pub correlation_key_file: Option<PathBuf>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("qorovul-data/edge"),
            heartbeat_secs: 5.0,
            ack_timeout_secs: 3.0,
            disk_quota_mb: 4096,
            evidence_kbytes_per_sec: 500,
            test_signal_secs: None,
            correlation_key_file: None,
        }
    }
}

impl EdgeConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name}: {v} must be a positive number of seconds"))
            }
        };
        positive("heartbeat_secs", self.heartbeat_secs)?;
        positive("ack_timeout_secs", self.ack_timeout_secs)?;
        if self.evidence_kbytes_per_sec == 0 {
            return Err("evidence_kbytes_per_sec: must be at least 1".into());
        }
        if let Some(t) = self.test_signal_secs {
            positive("test_signal_secs", t)?;
        }
        Ok(())
    }
}

/// A running edge node.
pub struct EdgeNode {
    uplink: Uplink,
    evidence: Arc<EvidenceStore>,
    _evidence_server: EvidenceServer,
    heartbeat: HeartbeatSender,
    test_signal: Option<(Sender<()>, std::thread::JoinHandle<()>)>,
    sources: Arc<Mutex<Vec<SourceHealth>>>,
}

impl EdgeNode {
    /// Opens the outbox in `cfg.data_dir` and starts sending on `session`.
    pub fn start(session: zenoh::Session, site: &str, node: &str, cfg: &EdgeConfig) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("edge.{e}"))?;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| format!("edge.data_dir {}: {e}", cfg.data_dir.display()))?;
        let outbox = Outbox::open(&cfg.data_dir.join("outbox.sqlite"))?;
        let (live, backlog) = outbox.depth()?;
        if live + backlog > 0 {
            tracing::info!(live, backlog, "outbox holds alerts from before; sending them first");
        }
        let key_file = cfg.correlation_key_file.clone().unwrap_or_else(|| cfg.data_dir.join("correlation.key"));
        let correlation_key =
            CorrelationKey::load_or_create(&key_file).map_err(|e| format!("edge.correlation_key_file: {e}"))?;
        let uplink_cfg = UplinkConfig {
            ack_timeout: Duration::from_secs_f64(cfg.ack_timeout_secs),
            correlation_key: Arc::new(correlation_key),
            ..UplinkConfig::new(site, node)
        };
        let uplink = Uplink::start(session.clone(), outbox, uplink_cfg)?;

        let evidence = Arc::new(EvidenceStore::open(&cfg.data_dir.join("evidence"))?);
        let evidence_server =
            evidence_server::serve(&session, site, node, evidence.clone(), cfg.evidence_kbytes_per_sec * 1000)?;

        let stats = uplink.stats.clone();
        let sources = Arc::new(Mutex::new(Vec::new()));
        let sources_for_beat = sources.clone();
        let store = evidence.clone();
        let quota = cfg.disk_quota_mb << 20;
        let heartbeat = HeartbeatSender::start(
            session,
            site,
            node,
            "edge",
            Duration::from_secs_f64(cfg.heartbeat_secs),
            move |hb| {
                hb.outbox_live = stats.live.load(Ordering::Relaxed);
                hb.outbox_backlog = stats.backlog.load(Ordering::Relaxed);
                hb.sources = sources_for_beat.lock().unwrap_or_else(|e| e.into_inner()).clone();
                // The quota is for alerts and evidence together; only evidence gives way.
                let for_evidence = quota.saturating_sub(stats.disk_bytes.load(Ordering::Relaxed));
                if let Err(e) = store.enforce_quota(for_evidence) {
                    tracing::error!("evidence quota: {e}");
                }
                hb.evidence_pending = store.pending().map(|u| u.files).unwrap_or(0);
            },
        )?;

        let test_signal = match cfg.test_signal_secs {
            Some(every) => Some(start_test_signal(site, node, Duration::from_secs_f64(every), uplink.sender())?),
            None => None,
        };
        Ok(Self { uplink, evidence, _evidence_server: evidence_server, heartbeat, test_signal, sources })
    }

    /// Where the pipeline hands its alerts.
    pub fn alerts(&self) -> Sender<Alert> {
        self.uplink.sender()
    }

    /// Where the pipeline keeps evidence files (snapshots, clips) by content hash; alerts
    /// name them in `evidence`, and the control room fetches them from the evidence server.
    pub fn evidence(&self) -> Arc<EvidenceStore> {
        self.evidence.clone()
    }

    /// The sources' states, reported in the next heartbeats.
    pub fn set_sources(&self, sources: Vec<SourceHealth>) {
        *self.sources.lock().unwrap_or_else(|e| e.into_inner()) = sources;
    }

    /// Outbox depths `(live, backlog)` as last read.
    pub fn outbox_depth(&self) -> (u64, u64) {
        (self.uplink.stats.live.load(Ordering::Relaxed), self.uplink.stats.backlog.load(Ordering::Relaxed))
    }

    /// Stops the test signal, sends what it can within `drain`, and returns how many alerts
    /// stay in the outbox for the next start.
    pub fn stop(self, drain: Duration) -> Result<u64, String> {
        if let Some((stop, thread)) = self.test_signal {
            drop(stop);
            let _ = thread.join();
        }
        let left = self.uplink.stop(drain);
        drop(self.heartbeat);
        left
    }
}

fn start_test_signal(
    site: &str,
    node: &str,
    every: Duration,
    alerts: Sender<Alert>,
) -> Result<(Sender<()>, std::thread::JoinHandle<()>), String> {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (site, node) = (site.to_string(), node.to_string());
    let thread = std::thread::Builder::new()
        .name("test-signal".into())
        .spawn(move || {
            let mut n: u64 = 0;
            let ticks = crossbeam_channel::tick(every);
            loop {
                crossbeam_channel::select! {
                    recv(ticks) -> _ => {}
                    recv(stop_rx) -> _ => break,
                }
                n += 1;
                let mut a = Alert::minimal(&site, SourceKind::Sensor, &node, "test_signal");
                a.severity = Severity::Info;
                a.source.name = format!("periodic test signal of {node}");
                a.attributes.insert("number".into(), n.into());
                if alerts.send(a).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("spawning the test signal: {e}"))?;
    Ok((stop_tx, thread))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::bus::BusConfig;

    /// The quota covers alerts and evidence together; only evidence gives way.
    #[test]
    fn a_full_disk_evicts_evidence_never_alerts() {
        let dir = std::env::temp_dir().join(format!("qorovul-edge-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A session alone: no control room ever acknowledges, so every alert stays.
        let session = pipeline::bus::open_blocking(&BusConfig::default()).unwrap();
        let cfg = EdgeConfig { data_dir: dir, heartbeat_secs: 0.05, disk_quota_mb: 1, ..Default::default() };
        let node = EdgeNode::start(session, "s1", "quota-node", &cfg).unwrap();
        let evidence = node.evidence();
        for i in 0..3u8 {
            evidence.put(&vec![i; 600_000]).unwrap();
        }
        let alerts: Vec<Alert> =
            (0..2000).map(|_| Alert::minimal("s1", SourceKind::Sensor, "rpm-1", "radiation_alarm")).collect();
        for a in &alerts {
            node.alerts().send(a.clone()).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while evidence.used_bytes().unwrap() > 0 || node.outbox_depth().1 < 2000 {
            assert!(std::time::Instant::now() < deadline, "evidence {} bytes", evidence.used_bytes().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(node.stop(Duration::ZERO).unwrap(), 2000, "every alert is still in the outbox");
    }
}
