//! The non-video feeds of a node: 102 call records, patrol unit reports, sensor
//! telemetry, customs declarations, inspection results and officers' lane entries,
//! arriving by HTTP POST, on zenoh, or replayed from JSON-lines files; plus the alerts
//! the desks listen to (camera alerts for verifying calls; plate reads, scans and portal
//! readings for the customs lane).
//!
//! Every route hands raw bytes to one feed thread, which owns the [`CallDesk`], the
//! sensor rules and the [`CustomsDesk`], so a record is checked the same way whichever way
//! it came, and a bad one is answered with its reason (HTTP 400, a log line, a counted
//! metric) while the others keep flowing. Alerts go to the edge node's outbox like the
//! cameras' do. The HTTP routes are in [`http`].
//!
//! No record is taken from anyone unknown: HTTP requests carry a bearer token, records on
//! the zenoh feed keys a signature (`pipeline::credentials`), each checked against the
//! node's credentials file, scoped to its routes and the source ids it may speak for, and
//! the authenticated name goes with the record to the desks (an officer's entry is the
//! officer's).

mod http;

use crate::xray_lane::XrayLane;
use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};
use operators::calls::place::CameraView;
use operators::calls::{CallDesk, CallsConfig};
use operators::customs::{CustomsConfig, CustomsDesk, DeskOutput, OpenDeclarations};
use operators::sensors::{Sensors, SensorsConfig, SensorsOutput, Telemetry};
use pipeline::alert::{Alert, ClockState};
use pipeline::credentials::{Caller, Credentials};
use pipeline::feed::{FeedKind, Outcome};
use pipeline::{keys, metrics};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use zenoh::Wait;

/// `[feeds]` in a pipeline config.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// `host:port` for `POST /v1/calls`, `/v1/units`, `/v1/telemetry`, `/v1/scans`,
    /// `/v1/declarations`, `/v1/inspections`, `/v1/lanes/identity`; none when absent.
    pub http_listen: Option<String>,
    /// Who may write to the feeds (`qorovul credentials`); required: no feed is open to
    /// anyone without a credential, loopback included.
    pub credentials: Option<PathBuf>,
    /// JSON-lines files replayed once at start, as fast as they are read.
    pub replay: Vec<ReplayFile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    pub file: PathBuf,
    pub kind: FeedKind,
}

/// What the feed thread is built from: the sections of a pipeline config it reads
/// (`qorovul`'s `PipelineConfig::feed_thread` gathers them).
#[derive(Debug, Clone)]
pub struct FeedThreadConfig {
    /// The site: the second segment of every key.
    pub site: String,
    /// `[feeds]`: the HTTP address and the replays.
    pub feeds: FeedsConfig,
    /// `[calls]`: the 102 desk.
    pub calls: CallsConfig,
    /// `[sensors]`: radiation portals, alarm contacts, silence.
    pub sensors: SensorsConfig,
    /// `[customs]`: the lane desk.
    pub customs: CustomsConfig,
    /// The node's cameras that have a place and a view, for placing calls.
    pub camera_views: Vec<CameraView>,
}

/// One input for the feed thread, with where to say what became of it.
pub enum Fed {
    Record {
        kind: FeedKind,
        bytes: Vec<u8>,
        /// Who sent it, authenticated at the door.
        from: Caller,
        reply: Option<tokio::sync::oneshot::Sender<Outcome>>,
    },
    CameraAlert(Box<Alert>),
    /// A plate read, scan summary or portal reading for the customs desk.
    LaneAlert(Box<Alert>),
    /// Ends the feed thread (its alert sender with it, so the outbox's drain can finish).
    Stop,
}

/// The running feed thread and its routes.
pub struct Feeds {
    tx: Sender<Fed>,
    thread: Option<JoinHandle<()>>,
    /// The HTTP address actually bound (port 0 picks one).
    pub http_addr: Option<std::net::SocketAddr>,
    _subscribers: Vec<zenoh::pubsub::Subscriber<()>>,
}

impl Feeds {
    /// Starts the feed thread when `[calls]` or `[customs]` is enabled, `[sensors]` has
    /// rules or the node has an X-ray lane, with its zenoh subscriptions, the HTTP routes
    /// and the replays. `None` when none of them.
    pub fn start(
        cfg: &FeedThreadConfig,
        session: &zenoh::Session,
        rt: &tokio::runtime::Handle,
        alerts: Sender<Alert>,
        xray: Option<&XrayLane>,
    ) -> Result<Option<Feeds>, String> {
        let sensors_used = !cfg.sensors.sensor.is_empty()
            || !cfg.sensors.radiation_portal.is_empty()
            || !cfg.sensors.alarm_contact.is_empty();
        if !cfg.calls.enabled && !cfg.customs.enabled && !sensors_used && xray.is_none() {
            return Ok(None);
        }
        let desk = if cfg.calls.enabled {
            Some(CallDesk::new(&cfg.calls, &cfg.site, cfg.camera_views.clone())?)
        } else {
            None
        };
        let sensors = Sensors::new(&cfg.sensors, &cfg.site, Default::default()).map_err(|e| format!("sensors.{e}"))?;
        let customs = if cfg.customs.enabled {
            // The X-ray lane analyses each scan against the declarations the desk holds open.
            let open = xray.map(|x| x.declarations()).unwrap_or_else(OpenDeclarations::shared);
            Some((CustomsDesk::new(&cfg.customs, &cfg.site, open)?, session.clone()))
        } else {
            None
        };
        let creds = match &cfg.feeds.credentials {
            Some(path) => Arc::new(Credentials::open(path, &cfg.site).map_err(|e| format!("feeds.credentials: {e}"))?),
            None => {
                return Err("feeds.credentials: required: every feed takes records only from identities in a \
                            credentials file (`qorovul credentials issue --file F ...`)"
                    .into());
            }
        };
        if let Some(addr) = &cfg.feeds.http_listen {
            check_http_listen(addr)?;
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Fed>();
        let site = cfg.site.clone();
        let thread = std::thread::Builder::new()
            .name("feeds".into())
            .spawn(move || run(desk, sensors, customs, &site, rx, alerts))
            .map_err(|e| format!("starting the feed thread: {e}"))?;
        let xray = xray.map(|x| x.sender());

        let mut subscribers = Vec::new();
        let site = &cfg.site;
        // `kind` none: an alert, for the call desk (`lane` false) or the customs desk.
        let mut subscribe = |key: String, kind: Option<FeedKind>, lane: bool| -> Result<(), String> {
            let tx = tx.clone();
            let creds = creds.clone();
            let sub = session
                .declare_subscriber(&key)
                .callback(move |s| {
                    let bytes = s.payload().to_bytes().to_vec();
                    let fed = match kind {
                        Some(kind) => {
                            let attachment = s.attachment().map(|a| a.to_bytes());
                            match signed_sender(&creds, kind, s.key_expr().as_str(), &bytes, attachment.as_deref()) {
                                Ok(from) => Fed::Record { kind, bytes, from, reply: None },
                                Err(r) => return refuse_unauthorized("zenoh", kind.as_str(), r.reason, &r.note),
                            }
                        }
                        None => match serde_json::from_slice::<Alert>(&bytes) {
                            Ok(a) if lane => Fed::LaneAlert(Box::new(a)),
                            Ok(a) => Fed::CameraAlert(Box::new(a)),
                            Err(_) => return, // the control room dead-letters bad alerts
                        },
                    };
                    let _ = tx.send(fed);
                })
                .wait()
                .map_err(|e| format!("subscribing to {key}: {e}"))?;
            subscribers.push(sub);
            Ok(())
        };
        subscribe(keys::calls_feed(site), Some(FeedKind::Calls), false)?;
        subscribe(keys::units_feed(site), Some(FeedKind::Units), false)?;
        subscribe(keys::telemetry_feed(site), Some(FeedKind::Telemetry), false)?;
        if cfg.calls.enabled {
            subscribe(keys::pii_of(&keys::camera_alerts(site)), None, false)?;
        }
        if cfg.customs.enabled {
            subscribe(keys::declarations_feed(site), Some(FeedKind::Declarations), false)?;
            subscribe(keys::declaration_imports_feed(site), Some(FeedKind::DeclarationImports), false)?;
            subscribe(keys::inspections_feed(site), Some(FeedKind::Inspections), false)?;
            for key in operators::customs::input_keys(site) {
                subscribe(key, None, true)?;
            }
        }

        let http_addr = match &cfg.feeds.http_listen {
            None => None,
            Some(addr) => Some(rt.block_on(http::serve(addr, tx.clone(), xray, creds.clone()))?),
        };
        for r in &cfg.feeds.replay {
            replay(&r.file, r.kind, &tx)?;
        }
        Ok(Some(Feeds { tx, thread: Some(thread), http_addr, _subscribers: subscribers }))
    }

    /// A sender for tests and simulators that feed records in-process.
    pub fn sender(&self) -> Sender<Fed> {
        self.tx.clone()
    }

    /// Stops the subscriptions and the feed thread, after the inputs already queued.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self._subscribers.clear();
        let _ = self.tx.send(Fed::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Reads a JSON-lines file into the feed; a bad line is answered like any bad record
/// (its line number in the log), and the rest of the file goes on. The file is named in
/// the node's own config, so it speaks with the node's authority.
fn replay(file: &std::path::Path, kind: FeedKind, tx: &Sender<Fed>) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("feeds.replay {}: {e}", file.display()))?;
    let from = Caller::local(&format!("replay:{}", file.display()));
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let _ = tx.send(Fed::Record { kind, bytes: line.as_bytes().to_vec(), from: from.clone(), reply: None });
    }
    Ok(())
}

/// Plain HTTP only on this machine: off it, a bearer token would cross the network in clear.
fn check_http_listen(addr: &str) -> Result<(), String> {
    if pipeline::bus::is_loopback(addr) {
        return Ok(());
    }
    Err(format!(
        "feeds.http_listen: {addr:?}: plain HTTP is for this machine only (127.0.0.1, ::1, localhost), \
         or bearer tokens would cross the network in clear; devices elsewhere reach it through a TLS proxy at the post"
    ))
}

/// A refusal at a door, counted and logged (the sender's note says the same).
fn refuse_unauthorized(door: &str, feed: &str, reason: &str, note: &str) {
    metrics::global().metric("qv_feed_unauthorized_total", &[("door", door), ("feed", feed), ("reason", reason)]).inc();
    tracing::warn!(door, feed, reason, "feed record refused: {note}");
}

/// The source a record speaks for, where its feed has one: `(field, id)`. `None` when the
/// record does not parse that far (the desk refuses it with the field named).
fn source_of(kind: FeedKind, bytes: &[u8]) -> Option<(&'static str, String)> {
    #[derive(Deserialize)]
    struct Named {
        sensor: Option<String>,
        unit: Option<String>,
        lane: Option<String>,
    }
    let n: Named = serde_json::from_slice(bytes).ok()?;
    match kind {
        FeedKind::Telemetry => Some(("sensor", n.sensor?)),
        FeedKind::Units => Some(("unit", n.unit?)),
        FeedKind::Identity => Some(("lane", n.lane?)),
        _ => None,
    }
}

/// The signer of a record on a zenoh feed key, allowed its route, speaking for the source
/// its key names (`…/telemetry/{sensor}`, `…/units/{unit}`), which is the record's own.
fn signed_sender(
    creds: &Credentials,
    kind: FeedKind,
    key: &str,
    bytes: &[u8],
    attachment: Option<&[u8]>,
) -> Result<Caller, pipeline::credentials::Refusal> {
    let from = creds.signed(key, bytes, attachment, Utc::now())?;
    from.may_post(kind)?;
    if let Some((field, source)) = source_of(kind, bytes) {
        if matches!(kind, FeedKind::Telemetry | FeedKind::Units) && key.rsplit('/').next() != Some(source.as_str()) {
            return Err(pipeline::credentials::Refusal {
                status: 403,
                reason: "key",
                note: format!("{field}: {source:?} is not the source of its key {key}"),
            });
        }
        from.may_speak_for(field, &source)?;
    }
    Ok(from)
}

/// The feed thread: one input at a time; sensor time moves on every second even when
/// nothing arrives (silence and contacts left open are noticed on time), and so does the
/// customs desk's (a vehicle waiting too long is decided).
fn run(
    mut desk: Option<CallDesk>,
    mut sensors: Sensors,
    mut customs: Option<(CustomsDesk, zenoh::Session)>,
    site: &str,
    rx: Receiver<Fed>,
    alerts: Sender<Alert>,
) {
    let m = metrics::global();
    let mut out = Vec::new();
    let mut sensed = SensorsOutput::default();
    let mut decided = DeskOutput::default();
    let mut last_tick = Utc::now();
    loop {
        let fed = match rx.recv_timeout(Duration::from_secs(1)) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) | Ok(Fed::Stop) => break,
            Ok(f) => Some(f),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
        };
        let now = Utc::now();
        match fed {
            None | Some(Fed::Stop) => {}
            Some(Fed::CameraAlert(a)) => {
                if let Some(d) = desk.as_mut() {
                    d.observe(&a);
                }
            }
            Some(Fed::LaneAlert(a)) => {
                if let Some((c, _)) = customs.as_mut() {
                    c.observe(&a, now, &mut decided);
                }
            }
            Some(Fed::Record { kind, bytes, from, reply }) => {
                m.metric("qv_feed_records_total", &[("feed", kind.as_str())]).inc();
                let customs = customs.as_mut().map(|(c, _)| c);
                let outcome = match kind {
                    FeedKind::Calls | FeedKind::Units => match desk.as_mut() {
                        Some(d) if kind == FeedKind::Calls => d.call_record(&bytes, now, &mut out),
                        Some(d) => d.unit_report(&bytes, now),
                        None => not_enabled("calls are"),
                    },
                    FeedKind::Telemetry => telemetry(&mut sensors, &bytes, now, &mut sensed),
                    FeedKind::Declarations
                    | FeedKind::DeclarationImports
                    | FeedKind::Inspections
                    | FeedKind::Identity => match customs {
                        Some(c) if kind == FeedKind::Declarations => c.declaration(&bytes, now, &mut decided),
                        Some(c) if kind == FeedKind::DeclarationImports => {
                            c.import_declaration(&bytes, now, &from.name)
                        }
                        Some(c) if kind == FeedKind::Inspections => c.inspection(&bytes, now, &from.name),
                        Some(c) => c.identity(&bytes, now, &mut decided, &from.name),
                        None => not_enabled("customs lanes are"),
                    },
                    FeedKind::Scans => Outcome::refused("scans are uploaded to POST /v1/scans".into()),
                };
                if let Some(r) = reply {
                    let _ = r.send(outcome);
                }
            }
        }
        if (now - last_tick).num_milliseconds() >= 1000 {
            sensors.tick(now, &mut sensed);
            if let Some((c, _)) = customs.as_mut() {
                c.tick(now, &mut decided);
            }
            last_tick = now;
        }
        if let Some((_, session)) = &customs {
            for r in decided.decisions.drain(..) {
                publish_decision(session, site, &r);
            }
        }
        for r in sensed.readings.drain(..) {
            tracing::info!(portal = %r.portal, result = ?r.result, "radiation portal reading");
        }
        for a in out.drain(..).chain(sensed.alerts.drain(..)).chain(decided.alerts.drain(..)) {
            if alerts.send(a).is_err() {
                tracing::error!("the outbox is gone; feed alerts cannot be stored");
                return;
            }
        }
    }
}

fn not_enabled(what: &str) -> Outcome {
    Outcome::refused(format!("{what} not enabled on this node"))
}

/// A decision record on its lane's key, with congestion control `Block` like alerts (its
/// `lane_decision` alert goes through the outbox; the record is also in the history).
fn publish_decision(session: &zenoh::Session, site: &str, r: &operators::risk::decision::DecisionRecord) {
    let key = keys::lane_decision(site, &r.lane);
    let body = match serde_json::to_vec(r) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("decision {}: {e}", r.id);
            return;
        }
    };
    let put = session.put(&key, body).congestion_control(zenoh::qos::CongestionControl::Block).wait();
    if let Err(e) = put {
        metrics::global().metric("qv_lane_decisions_unpublished_total", &[("lane", &r.lane)]).inc();
        tracing::error!("decision {} not published on {key}: {e}", r.id);
    }
}

fn telemetry(sensors: &mut Sensors, bytes: &[u8], now: DateTime<Utc>, out: &mut SensorsOutput) -> Outcome {
    let refuse = |reason: &'static str, msg: String| {
        metrics::global().metric("qv_feed_rejected_total", &[("feed", "telemetry"), ("reason", reason)]).inc();
        tracing::warn!("telemetry refused: {msg}");
        Outcome::refused(msg)
    };
    if bytes.len() > 64 << 10 {
        return refuse("too_large", format!("reading is {} bytes, over 64 KiB", bytes.len()));
    }
    let mut t: Telemetry = match serde_json::from_slice(bytes) {
        Ok(t) => t,
        Err(e) => return refuse("malformed", format!("not a telemetry reading: {e}")),
    };
    t.ingest_ts = Some(now);
    t.clock = ClockState::Unsynced;
    match sensors.observe(&t, out) {
        Ok(()) => Outcome::accepted(),
        Err(e) => refuse(e.reason(), e.to_string()),
    }
}

/// For configs: the sections the feed thread is built from.
pub fn validate(feeds: &FeedsConfig, calls: &CallsConfig, sensors: &SensorsConfig) -> Result<(), String> {
    if let Some(addr) = &feeds.http_listen {
        check_http_listen(addr)?;
    }
    if calls.enabled {
        calls.validate().map_err(|e| format!("calls.{e}"))?;
    }
    Sensors::new(sensors, "site", Default::default()).map(|_| ()).map_err(|e| format!("sensors.{e}"))
}
