//! The edge uplink: alerts go into the durable outbox first, then out on zenoh, and leave
//! the outbox only when the control room acknowledges them.
//!
//! The one idea: sending is a window over the outbox, not a queue in memory. The thread
//! keeps a cursor per priority and the set of alerts in flight; an acknowledgement deletes
//! from the outbox, and an alert not acknowledged within `ack_timeout` (router down,
//! control room restarting) makes the window start again from the oldest unacknowledged
//! alert. Duplicates this may cause are removed by the control room, which stores on `id`.
//!
//! Every alert is sealed with the deployment's correlation key before it is appended (its
//! plate and container get keyed hashes, `personal::CorrelationKey::seal`), then sent twice:
//! whole on `qv/{site}/pii/alert/…`, which the control room takes in and acknowledges, and its
//! public form on `qv/{site}/alert/…` for integrators.
//!
//! Live (high, critical) alerts have a window of their own and a higher zenoh priority, so
//! they overtake a draining backlog both here and inside the transport.
//!
//! An acknowledgement can only remove what this node sent: it is taken only on this node's
//! own site (`qv/{site}/ack/{node}`; another site's is refused and counted), and only ids
//! this process has in flight are deleted; any other id is ignored. What stops another node
//! from putting acknowledgements at all is the router's access rules (only the control
//! room's certificate may put on `qv/*/ack/**`): without them, anyone on the bus who learns
//! the ids this node has in flight can make it forget them.

use crate::outbox::{self, Outbox};
use crossbeam_channel::{Receiver, Sender, select};
use pipeline::alert::Alert;
use pipeline::personal::CorrelationKey;
use pipeline::{keys, metrics};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uuid::Uuid;
use zenoh::Wait;
use zenoh::qos::{CongestionControl, Priority};

/// How the uplink sends.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    pub site: String,
    pub node: String,
    /// Alerts not acknowledged within this are sent again.
    pub ack_timeout: Duration,
    /// Backlog alerts in flight (sent, not yet acknowledged) at most.
    pub window: usize,
    /// Live alerts in flight at most, on top of the backlog's window.
    pub live_window: usize,
    /// The deployment's correlation key (`[edge] correlation_key_file`).
    pub correlation_key: Arc<CorrelationKey>,
}

impl UplinkConfig {
    pub fn new(site: &str, node: &str) -> Self {
        Self {
            site: site.into(),
            node: node.into(),
            ack_timeout: Duration::from_secs(3),
            window: 4096,
            live_window: 1024,
            // A key of this process alone until the node sets the deployment's.
            correlation_key: Arc::new(CorrelationKey::generate()),
        }
    }
}

/// Outbox depths as last seen by the uplink thread, for heartbeats.
#[derive(Debug, Default)]
pub struct UplinkStats {
    pub live: AtomicU64,
    pub backlog: AtomicU64,
    pub in_flight: AtomicU64,
    /// Bytes the outbox takes on disk.
    pub disk_bytes: AtomicU64,
}

/// A running uplink. Alerts sent to [`Uplink::sender`] are appended to the outbox by the
/// uplink's own thread, so a producer (the video path) never waits for the disk.
pub struct Uplink {
    alerts: Sender<Alert>,
    stop: Sender<Duration>,
    thread: JoinHandle<Result<(), String>>,
    pub stats: Arc<UplinkStats>,
}

impl Uplink {
    /// Starts the uplink thread on `session` with `outbox`.
    pub fn start(session: zenoh::Session, outbox: Outbox, cfg: UplinkConfig) -> Result<Self, String> {
        if !keys::is_segment(&cfg.site) || !keys::is_segment(&cfg.node) {
            return Err(format!("uplink: site {:?} and node {:?} must be key-expression chunks", cfg.site, cfg.node));
        }
        let (alerts_tx, alerts_rx) = crossbeam_channel::unbounded();
        let (acks_tx, acks_rx) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        // Every site, so one addressed to this node under another site is seen and counted.
        let ack_key = keys::acks_for(&cfg.node);
        let own_key = keys::ack(&cfg.site, &cfg.node);
        let bad = |reason| metrics::global().metric("qv_uplink_bad_acks_total", &[("reason", reason)]);
        let (not_ids, other_site) = (bad("not_ids"), bad("other_site"));
        let subscriber = session
            .declare_subscriber(ack_key.clone())
            .callback(move |sample| {
                let key = sample.key_expr().as_str();
                if key != own_key {
                    other_site.inc();
                    tracing::warn!("acknowledgement on {key} refused: this node's acknowledgements come on {own_key}");
                    return;
                }
                match keys::decode_ack(&sample.payload().to_bytes()) {
                    Some(ids) => {
                        let _ = acks_tx.send(ids);
                    }
                    None => {
                        not_ids.inc();
                        tracing::warn!(
                            "acknowledgement on {key} of {} bytes is not a list of ids",
                            sample.payload().len()
                        );
                    }
                }
            })
            .wait()
            .map_err(|e| format!("subscribing to {ack_key}: {e}"))?;
        let stats = Arc::new(UplinkStats::default());
        let mut sender = Sending::new(session, outbox, cfg, stats.clone());
        let thread = std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || {
                let result = sender.run(&alerts_rx, &acks_rx, &stop_rx);
                drop(subscriber);
                result
            })
            .map_err(|e| format!("spawning the uplink: {e}"))?;
        Ok(Self { alerts: alerts_tx, stop: stop_tx, thread, stats })
    }

    /// Where producers hand alerts to the outbox.
    pub fn sender(&self) -> Sender<Alert> {
        self.alerts.clone()
    }

    /// Stops taking new alerts once those already handed over are in the outbox, keeps
    /// sending until the outbox is empty or `drain` has passed, and returns how many alerts
    /// stay in the outbox for next time.
    pub fn stop(self, drain: Duration) -> Result<u64, String> {
        let _ = self.stop.send(drain);
        drop(self.alerts);
        let stats = self.stats.clone();
        self.thread.join().map_err(|_| "the uplink thread panicked".to_string())??;
        Ok(stats.live.load(Ordering::Relaxed) + stats.backlog.load(Ordering::Relaxed))
    }
}

/// The uplink thread's state.
struct Sending {
    session: zenoh::Session,
    outbox: Outbox,
    cfg: UplinkConfig,
    stats: Arc<UplinkStats>,
    attachment: String,
    /// Highest outbox position sent, per priority.
    cursor: [i64; 2],
    /// Every alert sent and not yet acknowledged, with its outbox position (acknowledgements
    /// name ids; the outbox deletes by position). Kept across window restarts, so a late
    /// acknowledgement of an earlier send still removes its alert.
    unacked: HashMap<Uuid, Sent>,
    in_flight_per_priority: [usize; 2],
    /// Send order, for finding the oldest alert in flight; stale entries are skipped lazily.
    sent: VecDeque<(Instant, Uuid)>,
    depth_read: Instant,
    sent_total: metrics::Metric,
    acked_total: metrics::Metric,
    resent_total: metrics::Metric,
    appended_total: metrics::Metric,
    errors_total: metrics::Metric,
}

struct Sent {
    priority: outbox::Priority,
    seq: i64,
    /// Counted in its priority's window (false once a window restart gave up on it).
    in_window: bool,
}

/// Alerts taken from the channel per outbox transaction.
const APPEND_BATCH: usize = 4096;

impl Sending {
    fn new(session: zenoh::Session, outbox: Outbox, cfg: UplinkConfig, stats: Arc<UplinkStats>) -> Self {
        let m = metrics::global();
        Self {
            session,
            outbox,
            attachment: keys::node_attachment(&cfg.node),
            cfg,
            stats,
            cursor: [0, 0],
            unacked: HashMap::new(),
            in_flight_per_priority: [0, 0],
            sent: VecDeque::new(),
            depth_read: Instant::now() - Duration::from_secs(60),
            sent_total: m.metric("qv_uplink_sent_total", &[]),
            acked_total: m.metric("qv_uplink_acked_total", &[]),
            resent_total: m.metric("qv_uplink_window_restarts_total", &[]),
            appended_total: m.metric("qv_outbox_appended_total", &[]),
            errors_total: m.metric("qv_uplink_errors_total", &[]),
        }
    }

    fn run(
        &mut self,
        alerts: &Receiver<Alert>,
        acks: &Receiver<Vec<Uuid>>,
        stop: &Receiver<Duration>,
    ) -> Result<(), String> {
        let mut drain_until: Option<Instant> = None;
        let mut more_to_send = true;
        loop {
            // Wait for work unless the outbox may hold more to send now.
            let tick = if more_to_send { Duration::ZERO } else { Duration::from_millis(100) };
            if drain_until.is_none() {
                select! {
                    recv(alerts) -> a => if let Ok(a) = a { self.append(Some(a), alerts)? },
                    recv(acks) -> ids => if let Ok(ids) = ids { self.acknowledged(&ids)? },
                    recv(stop) -> d => drain_until = Some(Instant::now() + d.unwrap_or_default()),
                    default(tick) => {}
                }
            } else {
                if let Ok(ids) = acks.recv_timeout(tick) {
                    self.acknowledged(&ids)?;
                }
            }
            self.append(None, alerts)?;
            while let Ok(ids) = acks.try_recv() {
                self.acknowledged(&ids)?;
            }
            self.restart_window_if_stale();
            more_to_send = self.send()?;
            self.refresh_depth(drain_until.is_some())?;
            if let Some(until) = drain_until {
                let (live, backlog) =
                    (self.stats.live.load(Ordering::Relaxed), self.stats.backlog.load(Ordering::Relaxed));
                if (live + backlog == 0 && alerts.is_empty()) || Instant::now() >= until {
                    // Whatever was handed over is kept for the next start, never dropped.
                    while !alerts.is_empty() {
                        self.append(None, alerts)?;
                    }
                    self.refresh_depth(true)?;
                    return Ok(());
                }
            }
        }
    }

    /// Appends `first` and up to a batch of whatever else waits on the channel. One batch
    /// per turn, so a burst is sent while it is still being appended.
    fn append(&mut self, first: Option<Alert>, alerts: &Receiver<Alert>) -> Result<(), String> {
        let mut batch: Vec<Alert> = first.into_iter().collect();
        batch.extend(alerts.try_iter().take(APPEND_BATCH - batch.len()));
        for a in &mut batch {
            self.cfg.correlation_key.seal(a);
        }
        if !batch.is_empty() {
            let added = self.outbox.append(&batch)?;
            self.appended_total.add(added as u64);
        }
        Ok(())
    }

    /// Deletes what the control room acknowledged, and nothing else: only ids this process
    /// sent and has not yet seen acknowledged. An id it never sent (an acknowledgement meant
    /// for a previous run, or a forged one) is ignored: that alert, if it is in the outbox at
    /// all, will be sent again and acknowledged again.
    fn acknowledged(&mut self, ids: &[Uuid]) -> Result<(), String> {
        let mut seqs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.unacked.remove(id) {
                seqs.push(s.seq);
                if s.in_window {
                    self.in_flight_per_priority[s.priority as usize] -= 1;
                }
            }
        }
        let removed = self.outbox.ack(&seqs)?;
        self.acked_total.add(removed as u64);
        Ok(())
    }

    /// When the oldest alert in flight has waited past the timeout, everything in flight
    /// is presumed lost and sending starts again from the oldest unacknowledged alert.
    fn restart_window_if_stale(&mut self) {
        while let Some((_, id)) = self.sent.front() {
            if self.unacked.get(id).is_some_and(|s| s.in_window) {
                break;
            }
            self.sent.pop_front();
        }
        let Some((at, _)) = self.sent.front() else { return };
        if at.elapsed() < self.cfg.ack_timeout {
            return;
        }
        tracing::warn!(
            in_flight = self.in_flight_per_priority.iter().sum::<usize>(),
            "no acknowledgement for {:?}; sending again from the oldest unacknowledged alert",
            self.cfg.ack_timeout
        );
        self.resent_total.inc();
        for s in self.unacked.values_mut() {
            s.in_window = false;
        }
        self.in_flight_per_priority = [0, 0];
        self.sent.clear();
        self.cursor = [0, 0];
    }

    /// Fills both windows from the outbox, live alerts first. Returns true when a window was
    /// filled completely (there may be more to send as soon as acknowledgements arrive).
    fn send(&mut self) -> Result<bool, String> {
        let mut more = false;
        for (level, window, priority) in [
            (outbox::Priority::Live, self.cfg.live_window, Priority::InteractiveHigh),
            (outbox::Priority::Backlog, self.cfg.window, Priority::Data),
        ] {
            let free = window.saturating_sub(self.in_flight_per_priority[level as usize]);
            // Small refills cost a query each; wait for a few acknowledgements first.
            if free == 0 || (free < window / 8 && self.in_flight_per_priority.iter().sum::<usize>() > 0) {
                continue;
            }
            let batch = self.outbox.after(level, self.cursor[level as usize], free)?;
            more |= batch.len() == free;
            for p in batch {
                let put = |key: String, json: String| {
                    let put = self
                        .session
                        .put(&key, json)
                        .congestion_control(CongestionControl::Block)
                        .priority(priority)
                        .encoding(zenoh::bytes::Encoding::APPLICATION_JSON)
                        .attachment(self.attachment.as_str())
                        .wait();
                    if let Err(e) = put {
                        // Stays in the outbox; the window restart sends it again.
                        self.errors_total.inc();
                        tracing::warn!("sending alert {} on {key}: {e}", p.id);
                    }
                };
                let (whole, public) = match p.public {
                    Some(public) => (p.json, public),
                    None => (p.json.clone(), p.json),
                };
                put(keys::pii_of(&p.key), whole);
                put(p.key.clone(), public);
                self.cursor[level as usize] = p.seq;
                let was = self.unacked.insert(p.id, Sent { priority: level, seq: p.seq, in_window: true });
                // A resend follows a window restart, which stopped counting the first send;
                // should one still be counted, count the alert once.
                if let Some(was) = was.filter(|w| w.in_window) {
                    self.in_flight_per_priority[was.priority as usize] -= 1;
                }
                self.in_flight_per_priority[level as usize] += 1;
                self.sent.push_back((Instant::now(), p.id));
                self.sent_total.inc();
            }
        }
        Ok(more)
    }

    /// Reads the outbox depth for heartbeats and metrics; a count over a large backlog
    /// costs a scan, so at most once a second unless draining.
    fn refresh_depth(&mut self, draining: bool) -> Result<(), String> {
        if !draining && self.depth_read.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.depth_read = Instant::now();
        let (live, backlog) = self.outbox.depth()?;
        self.stats.live.store(live, Ordering::Relaxed);
        self.stats.backlog.store(backlog, Ordering::Relaxed);
        self.stats.in_flight.store(self.in_flight_per_priority.iter().sum::<usize>() as u64, Ordering::Relaxed);
        self.stats.disk_bytes.store(self.outbox.disk_bytes(), Ordering::Relaxed);
        let m = metrics::global();
        // The label keeps its published name.
        m.metric("qv_outbox_depth", &[("lane", "live")]).set(live);
        m.metric("qv_outbox_depth", &[("lane", "backlog")]).set(backlog);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::alert::SourceKind;

    /// A plate read goes whole on the pii key and masked on the public one, both with the
    /// keyed hash fusion joins on; an alert with nothing personal is the same on both.
    #[test]
    fn an_alert_goes_whole_on_its_pii_key_and_masked_on_its_public_key() {
        let dir = std::env::temp_dir().join(format!("qorovul-uplink-pii-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let session = pipeline::bus::open_blocking(&pipeline::bus::BusConfig::default()).unwrap();
        let public = session.declare_subscriber(keys::alerts("post1")).wait().unwrap();
        let whole = session.declare_subscriber(keys::pii("post1")).wait().unwrap();
        let key = Arc::new(CorrelationKey::from_bytes([9; 32]));
        let cfg = UplinkConfig { correlation_key: key.clone(), ..UplinkConfig::new("post1", "edge-1") };
        let uplink = Uplink::start(session.clone(), Outbox::open(&dir.join("outbox.sqlite")).unwrap(), cfg).unwrap();
        let mut read = Alert::minimal("post1", SourceKind::Camera, "gate", "plate_read");
        read.correlation.plate = Some("01A777BC".into());
        read.attributes.insert("plate".into(), "01A777BC".into());
        uplink.sender().send(read.clone()).unwrap();
        let recv = |s: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>| {
            let sample = s.recv_timeout(Duration::from_secs(30)).unwrap().expect("sent");
            let a: Alert = serde_json::from_slice(&sample.payload().to_bytes()).unwrap();
            (sample.key_expr().to_string(), a)
        };
        let (k, w) = recv(&whole);
        assert_eq!(k, "qv/post1/pii/alert/camera/gate/plate_read");
        assert_eq!(w.correlation.plate.as_deref(), Some("01A777BC"));
        let (k, p) = recv(&public);
        assert_eq!(k, "qv/post1/alert/camera/gate/plate_read");
        assert_eq!(
            (p.correlation.plate.as_deref(), p.attributes["plate"].as_str()),
            (Some("01****BC"), Some("01****BC"))
        );
        let join = Some(key.hash("plate", "01A777BC"));
        assert_eq!((&w.correlation.plate_key, &p.correlation.plate_key), (&join, &join));
        uplink.stop(Duration::ZERO).unwrap();
    }

    /// An acknowledgement under another site, or of ids this node never sent, removes nothing;
    /// the control room's, on this node's own key, removes exactly what it names.
    #[test]
    fn an_ack_removes_only_alerts_this_node_has_in_flight_on_its_own_site() {
        let dir = std::env::temp_dir().join(format!("qorovul-uplink-acks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("outbox.sqlite");
        // A session alone: puts stay inside it, and only this test acknowledges.
        let session = pipeline::bus::open_blocking(&pipeline::bus::BusConfig::default()).unwrap();
        let sent = session.declare_subscriber(keys::alerts("post1")).wait().unwrap();
        let cfg = UplinkConfig { ack_timeout: Duration::from_secs(600), ..UplinkConfig::new("post1", "edge-1") };
        let uplink = Uplink::start(session.clone(), Outbox::open(&path).unwrap(), cfg).unwrap();
        let alerts: Vec<Alert> =
            (0..2).map(|_| Alert::minimal("post1", SourceKind::Sensor, "rpm-1", "radiation_alarm")).collect();
        for a in &alerts {
            uplink.sender().send(a.clone()).unwrap();
        }
        for _ in &alerts {
            sent.recv_timeout(Duration::from_secs(30)).unwrap().expect("the uplink sends each alert");
        }
        let (a, b) = (alerts[0].id, alerts[1].id);
        let ack =
            |site: &str, ids: &[Uuid]| session.put(keys::ack(site, "edge-1"), keys::encode_ack(ids)).wait().unwrap();
        ack("post2", &[a]); // another site's key
        ack("post1", &[Uuid::now_v7()]); // an id this node never sent
        ack("post1", &[b]); // the control room's, rightful
        let deadline = Instant::now() + Duration::from_secs(30);
        while Outbox::open(&path).unwrap().depth().map(|(l, b)| l + b).unwrap() > 1 {
            assert!(Instant::now() < deadline, "the rightful acknowledgement was never taken");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Stopping takes every acknowledgement already received; the forged one came first.
        assert_eq!(uplink.stop(Duration::ZERO).unwrap(), 1, "only the acknowledged alert left the outbox");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
