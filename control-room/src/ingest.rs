//! The control-room service on the bus: receive alerts, store each exactly once, acknowledge
//! them to their edge, fuse them into incidents and publish those, park what the contract
//! refuses, answer history queries, and turn a silent node into an alert.
//!
//! The one idea: one ingest thread owns the store and the fusion engine and works in
//! batches — decode, store (one transaction), acknowledge, fuse, publish — so throughput
//! comes from batching and no alert is acknowledged before it is on disk.
//!
//! Nothing on the bus speaks for another: an alert whose payload is not what its key says
//! (site, source kind, source id, kind) is dead-lettered as `key_mismatch`, and a heartbeat
//! whose payload names another site or node is refused (`pipeline::health::decode`). Each
//! batch is stamped with this control room's clock when it is received; the store keeps that
//! time and fusion bounds every stated event time by it (`FusionConfig::bound`), live and on
//! replay alike, so a node's clock cannot move a site's watermark.

use crate::evidence_fetcher::{EvidenceFetcher, FetcherConfig};
use crate::fusion::{Engine, FusionConfig, IncidentUpdate, TimeMark};
use crate::history;
use crate::live::{Live, NodeView};
use crate::store::{DEAD_LETTER_HEAD, DeadLetter, Incoming, Store};
use crate::workflow::ResponseTargets;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use pipeline::alert::{self, Alert, Phase, Severity, SourceKind};
use pipeline::health::{self, Heartbeat, HeartbeatSender};
use pipeline::{keys, metrics};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;
use zenoh::Wait;
use zenoh::qos::{CongestionControl, Priority};

/// `[control_room]` in a control-room config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlRoomConfig {
    /// Where the store (`control-room.sqlite`) and fetched evidence live.
    pub data_dir: PathBuf,
    /// Seconds between this node's own heartbeats.
    pub heartbeat_secs: f64,
    /// A node is silent after this many seconds without a heartbeat (at least three of its
    /// own intervals).
    pub silent_after_secs: f64,
    /// Fetching evidence files from the edges.
    pub evidence: FetcherConfig,
    /// Seconds within which an incident of each severity should be acknowledged.
    pub response_targets_secs: ResponseTargets,
    /// Days evidence files are kept, per source kind (`camera`, `xray`, `call`, `sensor`).
    pub evidence_retention_days: crate::retention::RetentionDays,
}

impl ControlRoomConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("heartbeat_secs", self.heartbeat_secs), ("silent_after_secs", self.silent_after_secs)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name}: {v} must be a positive number of seconds"));
            }
        }
        self.response_targets_secs.validate()?;
        crate::retention::validate(&self.evidence_retention_days)?;
        self.evidence.validate().map_err(|e| format!("evidence.{e}"))
    }
}

impl Default for ControlRoomConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("qorovul-data/control-room"),
            heartbeat_secs: 5.0,
            silent_after_secs: 15.0,
            evidence: FetcherConfig::default(),
            response_targets_secs: ResponseTargets::default(),
            evidence_retention_days: crate::retention::default_days(),
        }
    }
}

/// Figures for heartbeats and status lines.
#[derive(Debug, Default)]
pub struct ControlRoomStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_letters: AtomicU64,
    pub incident_updates: AtomicU64,
}

/// A running control room.
pub struct ControlRoom {
    stop: Sender<()>,
    ingest: std::thread::JoinHandle<Result<(), String>>,
    history: std::thread::JoinHandle<()>,
    checkpoints: std::thread::JoinHandle<()>,
    retention: std::thread::JoinHandle<()>,
    _heartbeat: HeartbeatSender,
    pub stats: Arc<ControlRoomStats>,
    pub store_path: PathBuf,
    /// The live feed, nodes and mutes, shared with the web server.
    pub live: Arc<Live>,
}

/// A message off the bus.
struct Received {
    key: String,
    payload: Vec<u8>,
    node: Option<String>,
}

/// Messages taken per batch: large enough that a transaction's fsync is shared by many,
/// small enough that a live alert arriving behind a batch waits little.
const BATCH: usize = 1024;

impl ControlRoom {
    /// Starts the service on `session` as node `node` of site `site` (where its own
    /// heartbeat goes; it takes in the alerts of every site).
    pub fn start(
        session: zenoh::Session,
        site: &str,
        node: &str,
        cfg: &ControlRoomConfig,
        fusion: FusionConfig,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| format!("data_dir {}: {e}", cfg.data_dir.display()))?;
        let store_path = cfg.data_dir.join("control-room.sqlite");
        let store = Store::open(&store_path)?;
        let live = Arc::new(Live::default());
        live.set_mutes(store.mutes()?);
        let mut engine = Engine::new(fusion).map_err(|e| format!("fusion: {e}"))?;
        replay(&store, &mut engine)?;

        // Live alerts (sent at a higher zenoh priority) get a queue of their own here too, so
        // they overtake a draining backlog all the way into the store.
        let (live_tx, live_rx) = crossbeam_channel::unbounded::<Received>();
        let (bulk_tx, bulk_rx) = crossbeam_channel::unbounded::<Received>();
        let alerts_sub = session
            // Whole alerts, personal fields included: the public forms are for integrators.
            .declare_subscriber(keys::pii_alerts_of_every_site())
            .callback(move |s| {
                let node = s.attachment().and_then(|a| keys::node_from_attachment(&a.to_bytes()).map(str::to_string));
                let msg =
                    Received { key: s.key_expr().to_string(), payload: s.payload().to_bytes().into_owned(), node };
                let _ = if (s.priority() as u8) <= (Priority::InteractiveHigh as u8) {
                    live_tx.send(msg)
                } else {
                    bulk_tx.send(msg)
                };
            })
            .wait()
            .map_err(|e| format!("subscribing to alerts: {e}"))?;
        let (beats_tx, beats_rx) = crossbeam_channel::unbounded::<(String, Vec<u8>)>();
        let beats_sub = session
            .declare_subscriber(keys::health_of_every_node())
            .callback(move |s| {
                let _ = beats_tx.send((s.key_expr().to_string(), s.payload().to_bytes().into_owned()));
            })
            .wait()
            .map_err(|e| format!("subscribing to heartbeats: {e}"))?;

        let evidence = EvidenceFetcher::start(session.clone(), &cfg.data_dir, cfg.evidence.clone())?;
        let stats = Arc::new(ControlRoomStats::default());
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let history = history::serve(&session, &store_path, node, stop_rx.clone())?;
        let checkpoints = store.checkpoint_in_background(&store_path, stop_rx.clone())?;
        let retention = crate::retention::start(
            store_path.clone(),
            cfg.data_dir.join("evidence"),
            cfg.evidence_retention_days.clone(),
            Duration::from_secs(3600),
            stop_rx.clone(),
        )?;
        let mut ingest = Ingest {
            session: session.clone(),
            store,
            engine,
            stats: stats.clone(),
            nodes: HashMap::new(),
            silent_after: Duration::from_secs_f64(cfg.silent_after_secs),
            self_node: node.to_string(),
            evidence,
            live: live.clone(),
            targets: cfg.response_targets_secs.clone(),
            time_warned: HashMap::new(),
        };
        let ingest = std::thread::Builder::new()
            .name("control-room".into())
            .spawn(move || {
                let r = ingest.run(&live_rx, &bulk_rx, &beats_rx, &stop_rx);
                drop((alerts_sub, beats_sub));
                ingest.evidence.stop();
                r
            })
            .map_err(|e| format!("spawning the control room: {e}"))?;

        let s = stats.clone();
        let heartbeat = HeartbeatSender::start(
            session,
            site,
            node,
            "control-room",
            Duration::from_secs_f64(cfg.heartbeat_secs),
            move |hb: &mut Heartbeat| hb.dead_letters = s.dead_letters.load(Ordering::Relaxed),
        )?;
        tracing::info!("control room {node}: storing alerts in {}", store_path.display());
        Ok(Self {
            stop: stop_tx,
            ingest,
            history,
            checkpoints,
            retention,
            _heartbeat: heartbeat,
            stats,
            store_path,
            live,
        })
    }

    /// Finishes the batch in hand and stops.
    pub fn stop(self) -> Result<(), String> {
        drop(self.stop);
        let r = self.ingest.join().map_err(|_| "the control-room thread panicked".to_string())?;
        drop(self._heartbeat);
        let _ = self.history.join();
        let _ = self.checkpoints.join();
        let _ = self.retention.join();
        r
    }
}

/// Rebuilds fusion's open incidents from the alerts still inside its retention, in the
/// order they were stored and at the times they were received, so a restarted control room
/// carries on where it stopped (and a future-dated alert stays bounded).
fn replay(store: &Store, engine: &mut Engine) -> Result<(), String> {
    let cfg = engine.config().clone();
    let Some(newest) = store.newest_fused_us(|event, received| cfg.bound_us(event, received).0)? else {
        return Ok(());
    };
    let keep_us = (cfg.close_after_secs + cfg.allowed_lateness_secs) as i64 * 1_000_000;
    // Fused times are never later than stated ones: every alert fused within the window is here.
    let alerts = store.alerts_for_replay(newest.saturating_sub(keep_us))?;
    for (a, received) in &alerts {
        engine.ingest_at(a, *received);
    }
    tracing::info!("fusion state rebuilt from {} stored alerts", alerts.len());
    Ok(())
}

/// What the control room knows of a node from its heartbeats.
struct NodeState {
    site: String,
    last: Instant,
    last_ts: chrono::DateTime<chrono::Utc>,
    interval: Duration,
    /// The open `node_silent` episode, while silent.
    silent: Option<Uuid>,
}

struct Ingest {
    session: zenoh::Session,
    store: Store,
    engine: Engine,
    stats: Arc<ControlRoomStats>,
    nodes: HashMap<String, NodeState>,
    silent_after: Duration,
    self_node: String,
    evidence: EvidenceFetcher,
    live: Arc<Live>,
    targets: ResponseTargets,
    /// When each source was last warned about for its stated event time, so a node with a
    /// wrong clock is logged once a minute, not once per alert (it is counted every time).
    time_warned: HashMap<String, Instant>,
}

impl Ingest {
    fn run(
        &mut self,
        live: &Receiver<Received>,
        bulk: &Receiver<Received>,
        beats: &Receiver<(String, Vec<u8>)>,
        stop: &Receiver<()>,
    ) -> Result<(), String> {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            crossbeam_channel::select! {
                recv(live) -> m => if let Ok(m) = m { batch.push(m) },
                recv(bulk) -> m => if let Ok(m) = m { batch.push(m) },
                recv(beats) -> b => if let Ok((key, payload)) = b { self.heartbeat(&key, &payload) },
                recv(stop) -> _ => return Ok(()),
                default(Duration::from_millis(250)) => {}
            }
            batch.extend(live.try_iter().take(BATCH.saturating_sub(batch.len())));
            batch.extend(bulk.try_iter().take(BATCH.saturating_sub(batch.len())));
            for (key, payload) in beats.try_iter() {
                self.heartbeat(&key, &payload);
            }
            let mut own = self.check_silence();
            if !batch.is_empty() || !own.is_empty() {
                // A store failure (disk full) leaves the batch unacknowledged: the edges send
                // it again, so nothing is lost; keep trying rather than exit.
                if let Err(e) = self.process(&mut batch, &mut own) {
                    metrics::global().metric("qv_store_errors_total", &[]).inc();
                    tracing::error!("{e}");
                    if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(Duration::from_secs(1)) {
                        return Err(e);
                    }
                }
                batch.clear();
            }
        }
    }

    /// Decode, store, acknowledge, fuse, publish.
    fn process(&mut self, batch: &mut Vec<Received>, own: &mut Vec<Alert>) -> Result<(), String> {
        let m = metrics::global();
        let mut incoming = Vec::with_capacity(batch.len() + own.len());
        let mut dead = Vec::new();
        for msg in batch.drain(..) {
            match check(&msg) {
                Ok(i) => incoming.push(i),
                Err(d) => {
                    m.metric("qv_dead_letters_total", &[("reason", &d.reason)]).inc();
                    tracing::warn!("dead letter from {} ({} bytes): {}", d.key, d.size, d.detail);
                    dead.push(*d);
                }
            }
        }
        for a in own.drain(..) {
            incoming.push(Incoming { json: a.to_json(), key: a.key_expr(), alert: a, node: None });
        }
        // This control room's clock, once per batch: stored with each alert, so fusion bounds
        // its event time by the same instant now and on replay.
        let received = received_now();
        let fresh = self.store.store_at(&incoming, &dead, received)?;

        // Stored: acknowledge every alert and dead letter that asked, resends included.
        let mut acks: BTreeMap<(String, String), Vec<Uuid>> = BTreeMap::new();
        for i in &incoming {
            if let Some(node) = &i.node {
                acks.entry((i.alert.site.clone(), node.clone())).or_default().push(i.alert.id);
            }
        }
        for d in &dead {
            if let (Some(node), Some(id), Some(site)) = (&d.node, d.id, d.key.split('/').nth(1)) {
                acks.entry((site.to_string(), node.clone())).or_default().push(id);
            }
        }
        for ((site, node), ids) in acks {
            let key = keys::ack(&site, &node);
            if let Err(e) =
                self.session.put(&key, keys::encode_ack(&ids)).congestion_control(CongestionControl::Block).wait()
            {
                // The edge sends again when no acknowledgement comes; the store drops the copy.
                tracing::warn!("acknowledging {} alerts on {key}: {e}", ids.len());
            }
        }

        let new_count = fresh.iter().filter(|f| **f).count() as u64;
        let dup_count = fresh.len() as u64 - new_count;
        self.stats.stored.fetch_add(new_count, Ordering::Relaxed);
        self.stats.duplicates.fetch_add(dup_count, Ordering::Relaxed);
        self.stats.dead_letters.fetch_add(dead.len() as u64, Ordering::Relaxed);
        m.metric("qv_alerts_stored_total", &[]).add(new_count);
        m.metric("qv_alerts_duplicate_total", &[]).add(dup_count);

        let mut updates: Vec<IncidentUpdate> = Vec::new();
        let mut causes: Vec<Option<Uuid>> = Vec::new();
        for (i, fresh) in incoming.iter().zip(&fresh) {
            if !*fresh {
                continue;
            }
            self.mark_time(i, received);
            let src = &i.alert.source;
            // A source muted for maintenance: its alerts are stored (above) but raise no alarm.
            if self.live.muted(&i.alert.site, src.kind.as_str(), &src.id, received).is_some() {
                m.metric("qv_alerts_muted_total", &[]).inc();
            } else {
                updates.extend(self.engine.ingest_at(&i.alert, received));
                causes.resize(updates.len(), Some(i.alert.id));
            }
            // Evidence follows its alert on the slower lane, from the node that holds it.
            if let Some(node) = &i.node {
                // Sealed originals come too: the privacy workflow shows them once approved.
                let originals = i.alert.attributes.get("originals").and_then(|o| o.as_array());
                let originals = originals.into_iter().flatten().filter_map(|o| o.as_str());
                for reference in i.alert.evidence.iter().map(String::as_str).chain(originals) {
                    let hash = pipeline::evidence::evidence_hash(reference).unwrap_or(reference);
                    if let Err(e) = self.evidence.want(&i.alert.site, node, hash) {
                        tracing::warn!("alert {}: evidence {hash:?}: {e}", i.alert.id);
                    }
                }
            }
        }
        let jsons: Vec<String> = updates.iter().map(IncidentUpdate::to_json).collect();
        let summaries = self.store.save_incidents(&updates, &jsons, &causes, &self.targets)?;
        // New alerts to the dashboard's clients (personal fields masked), only while some
        // are connected: the feed costs the ingest thread nothing otherwise.
        if self.live.has_clients() {
            for (i, _) in incoming.iter().zip(&fresh).filter(|(_, f)| **f) {
                if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&i.json) {
                    pipeline::personal::mask_alert_json(&mut v);
                    self.live.publish(&i.alert.site, serde_json::json!({ "type": "alert", "alert": v }).to_string());
                }
            }
        }
        if self.live.has_clients() {
            for s in summaries {
                let json = serde_json::json!({ "type": "incident", "summary": &s }).to_string();
                self.live.publish(&s.site, json);
            }
        }
        for (u, json) in updates.iter().zip(jsons) {
            let key = u.key_expr();
            if let Err(e) = self.session.put(&key, json).congestion_control(CongestionControl::Block).wait() {
                tracing::warn!("publishing {key}: {e}");
            }
        }
        self.stats.incident_updates.fetch_add(updates.len() as u64, Ordering::Relaxed);
        m.metric("qv_incident_updates_total", &[]).add(updates.len() as u64);
        Ok(())
    }

    /// Counts (and logs, once a minute per source) an alert whose stated event time fusion
    /// does not take as it came: beyond this control room's clock, or far behind it.
    fn mark_time(&mut self, i: &Incoming, received: chrono::DateTime<chrono::Utc>) {
        let cfg = self.engine.config();
        let Some(mark) = cfg.bound(i.alert.event_ts, received).1 else { return };
        let reason = match mark {
            TimeMark::Future => "future",
            TimeMark::Past => "past",
        };
        metrics::global().metric("qv_event_time_marked_total", &[("reason", reason)]).inc();
        let last = self.time_warned.get(&i.key);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            let (limit, direction, taken) = match mark {
                TimeMark::Future => (cfg.max_future_secs, "ahead of", "fused at the time received"),
                TimeMark::Past => (cfg.max_past_secs, "behind", "kept at its time, marked"),
            };
            tracing::warn!(
                "alert {} on {} from node {}: event_ts {} is more than {limit} s {direction} this control room's clock ({}); {taken}",
                i.alert.id,
                i.key,
                i.node.as_deref().unwrap_or("-"),
                i.alert.event_ts.to_rfc3339(),
                received.to_rfc3339(),
            );
            self.time_warned.insert(i.key.clone(), Instant::now());
        }
    }

    fn heartbeat(&mut self, key: &str, payload: &[u8]) {
        let hb = match health::decode(key, payload) {
            Ok(hb) => hb,
            Err(e) => {
                metrics::global().metric("qv_bad_heartbeats_total", &[("reason", e.reason())]).inc();
                tracing::warn!("heartbeat on {key} ({} bytes) refused: {e}", payload.len());
                return;
            }
        };
        if hb.node == self.self_node {
            return;
        }
        let interval = Duration::from_secs_f64(hb.interval_secs.clamp(0.05, 3600.0));
        let state = self.nodes.entry(hb.node.clone()).or_insert_with(|| {
            tracing::info!("node {} of site {} heard on {key}", hb.node, hb.site);
            NodeState { site: hb.site.clone(), last: Instant::now(), last_ts: hb.ts, interval, silent: None }
        });
        state.last = Instant::now();
        state.last_ts = hb.ts;
        state.interval = interval;
        state.site = hb.site.clone();
        metrics::global().metric("qv_node_outbox_depth", &[("node", &hb.node)]).set(hb.outbox_live + hb.outbox_backlog);
        self.live.set_node(NodeView { heartbeat: hb, last_seen: chrono::Utc::now(), silent: false });
    }

    /// `node_silent` begin for nodes past their silence limit, end for those heard again.
    fn check_silence(&mut self) -> Vec<Alert> {
        let mut out = Vec::new();
        for (node, s) in &mut self.nodes {
            let limit = self.silent_after.max(s.interval * 3);
            let silent_for = s.last.elapsed();
            match (silent_for > limit, s.silent) {
                (true, None) => {
                    let mut a = Alert::minimal(&s.site, SourceKind::Sensor, node, "node_silent");
                    a.severity = Severity::High;
                    a.source.name = format!("edge node {node}");
                    a.attributes.insert("last_heartbeat".into(), s.last_ts.to_rfc3339().into());
                    a.attributes.insert("silent_secs".into(), silent_for.as_secs_f64().round().into());
                    s.silent = Some(a.episode);
                    self.live.set_node_silent(node, true);
                    tracing::warn!("node {node} of site {} is silent ({:.0} s)", s.site, silent_for.as_secs_f64());
                    out.push(a);
                }
                (false, Some(episode)) => {
                    let mut a = Alert::minimal(&s.site, SourceKind::Sensor, node, "node_silent");
                    a.severity = Severity::High;
                    a.phase = Phase::End;
                    a.episode = episode;
                    a.source.name = format!("edge node {node}");
                    s.silent = None;
                    tracing::info!("node {node} of site {} is heard again", s.site);
                    out.push(a);
                }
                _ => {}
            }
        }
        // Integrators see these like any other alert, and another control room takes them in
        // (nothing personal in them: the same JSON on both keys); this one stores them directly.
        for a in &out {
            for key in [a.pii_key_expr(), a.key_expr()] {
                let _ = self
                    .session
                    .put(key, a.to_json())
                    .congestion_control(CongestionControl::Block)
                    .allowed_destination(zenoh::sample::Locality::Remote)
                    .wait();
            }
        }
        out
    }
}

/// This control room's clock to the microsecond, as the store keeps it: a time fusion uses
/// must read back from the store unchanged, or replay would differ from the live run.
fn received_now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The alert in `msg`, or the dead letter it becomes.
fn check(msg: &Received) -> Result<Incoming, Box<DeadLetter>> {
    let dead = |reason: &str, detail: String| {
        Box::new(DeadLetter {
            key: msg.key.clone(),
            node: msg.node.clone(),
            id: lenient_id(&msg.payload),
            reason: reason.into(),
            detail,
            size: msg.payload.len(),
            head: msg.payload[..msg.payload.len().min(DEAD_LETTER_HEAD)].to_vec(),
        })
    };
    let received = alert::decode(&msg.payload).map_err(|e| dead(e.reason(), e.to_string()))?;
    let key = received.alert.key_expr();
    // A message must be what its key says: the ACL grants keys, not payloads.
    let pii_key = keys::pii_of(&key);
    if pii_key != msg.key {
        return Err(dead("key_mismatch", format!("published on {} but the alert's own key is {pii_key}", msg.key)));
    }
    // Stored as it came (it parsed, so it is UTF-8 JSON): a newer MINOR keeps its unknown
    // fields, and nothing is serialised twice.
    let json = String::from_utf8(msg.payload.clone()).unwrap_or_else(|_| received.to_json());
    Ok(Incoming { json, key, alert: received.alert, node: msg.node.clone() })
}

/// The `id` of a refused message when one can be read, so its sender can be acknowledged
/// (and stops resending) and a resend is parked once.
fn lenient_id(payload: &[u8]) -> Option<Uuid> {
    if payload.len() > alert::MAX_ALERT_BYTES {
        return None;
    }
    #[derive(Deserialize)]
    struct IdOnly {
        id: Uuid,
    }
    serde_json::from_slice::<IdOnly>(payload).ok().map(|x| x.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    /// A restart rebuilds fusion from the store at the times the alerts were received: an
    /// alert a node dated 2100 neither hides the open incidents from replay nor moves the
    /// watermark, and is bounded exactly as it was live.
    #[test]
    fn replay_bounds_a_2100_alert_as_live_and_keeps_the_open_incidents() {
        let dir = std::env::temp_dir().join(format!("qorovul-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("control-room.sqlite")).unwrap();
        let now = received_now();
        let mut camera = Alert::minimal("post1", SourceKind::Camera, "gate", "zone_intrusion");
        camera.event_ts = now;
        let mut odd = Alert::minimal("post1", SourceKind::Camera, "cam-9", "zone_intrusion");
        odd.event_ts = chrono::DateTime::from_timestamp(4_102_444_800, 0).unwrap();
        let incoming = |a: &Alert| Incoming { json: a.to_json(), key: a.key_expr(), alert: a.clone(), node: None };
        store.store_at(&[incoming(&camera)], &[], now).unwrap();
        let received = now + TimeDelta::seconds(1);
        store.store_at(&[incoming(&odd)], &[], received).unwrap();

        let mut live = Engine::new(FusionConfig::default()).unwrap();
        live.ingest_at(&camera, now);
        live.ingest_at(&odd, received);
        let mut restarted = Engine::new(FusionConfig::default()).unwrap();
        replay(&store, &mut restarted).unwrap();
        let open = |e: &Engine| e.open_incidents().cloned().collect::<Vec<_>>();
        assert_eq!(open(&restarted), open(&live));
        assert_eq!(open(&restarted).len(), 2, "the camera's incident and the 2100 alert's");
        let marked = open(&restarted).into_iter().flat_map(|i| i.members).find(|m| m.alert_id == odd.id).unwrap();
        assert_eq!((marked.time_mark, marked.event_ts), (Some(TimeMark::Future), received));
        assert_eq!(restarted.watermark("post1"), live.watermark("post1"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
