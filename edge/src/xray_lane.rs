//! The X-ray lane: the scanner of a customs lane, its scans from the drop folder
//! (`pipeline::scans::ScanFolder`) and from HTTP upload analysed one at a time on a thread
//! of their own (`operators::xray`: materials, cargo findings on MeV scans), kV scans run
//! through the threat detector on the node's inference executor (the lane hands them to its
//! [`ScanQueue`] and waits; [`crate::analysers`] says where that executor is created), their
//! pseudo-colour render stored as evidence, and each finding published
//! as an alert (`xray_threat`, `xray_dense_region`, `xray_void`, `xray_manifest_mismatch`,
//! …) with the scan's container and plate as correlation keys, plus one `xray_scan`
//! summary per scan for the lane decision.
//!
//! A finding is a fact about one scan, not a condition that lasts: its episode begins and
//! ends in the same breath (as a vehicle's `radiation_reading` does).
//!
//! Threat findings are advisory until the site has accepted the running threat model
//! (`threats_accepted` names its sha256): a detector trained on synthetic scans is not
//! trusted on a site's scanner unheard. Advisory findings are recorded on the scan's
//! `xray_scan` summary (`advisory_threats`) and drawn there, but raise no `xray_threat`
//! alert and do not steer the lane decision.

use crate::evidence_store::EvidenceStore;
use crate::executor::ScanQueue;
use crossbeam_channel::{Receiver, Sender};
use opencv::core::{CV_16U, Mat};
use opencv::prelude::*;
use operators::customs::{OpenDeclarations, SharedDeclarations};
use operators::detect::Manifest;
use operators::image::cv;
use operators::rules::{AlertContext, AlertParts};
use operators::xray::threats::Threat;
use operators::xray::{Analysis, Report, Scan, ScanError, ScannerType, XrayConfig};
use pipeline::alert::{self, Alert, AlertObject, AlertSource, ClockState, Correlation, Phase, Severity, SourceKind};
use pipeline::metrics;
use pipeline::scans::{DropOwner, ScanFolder, ScanInput};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// `[xray_lane]` in a pipeline config (the analysis itself is `[xray]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct XrayLaneConfig {
    pub enabled: bool,
    /// The scanner's drop folder: `{id}.json` + its two images; `done/` and `rejected/` beside.
    /// Made 0750 when missing; refused at start when owned by another than this node's user
    /// or `drop_owner`, or writable by group or others.
    pub drop_folder: Option<PathBuf>,
    /// The user the scanner's export runs as (a uid or a user name); scans whose files it
    /// does not own, or that are links, are refused (`reason="owner"`). Default: this node's
    /// own user.
    pub drop_owner: Option<DropOwner>,
    /// How often the folder is looked at.
    pub poll_ms: u64,
    /// Run the threat detector (manifest `xray_threats`) on kV scans, on the node's
    /// inference executor.
    pub threats: bool,
    /// The sha256 of the threat model this site accepted on its own scans. While it is not
    /// the running model's, threat findings are advisory (see the module comment).
    pub threats_accepted: Option<String>,
}

impl Default for XrayLaneConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            drop_folder: None,
            drop_owner: None,
            poll_ms: 500,
            threats: true,
            threats_accepted: None,
        }
    }
}

/// One scan to analyse, and where to say what became of it.
pub struct XrayJob {
    pub input: ScanInput,
    pub reply: Option<tokio::sync::oneshot::Sender<Result<String, String>>>,
}

/// The running lane.
pub struct XrayLane {
    tx: Sender<XrayJob>,
    /// Declarations waiting for their vehicle (the customs desk's): a scan is analysed
    /// against its own.
    declarations: SharedDeclarations,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl XrayLane {
    /// Starts the analysis thread (and the folder watcher) when `[xray_lane]` is enabled.
    /// `threats` is the inference executor's scan queue, given when `xray_lane.threats`
    /// is on (the executor owns the threat detector; [`crate::analysers::Analysers::start`]).
    pub fn start(
        lane: &XrayLaneConfig,
        xray: &XrayConfig,
        site: &str,
        alerts: Sender<Alert>,
        evidence: Option<Arc<EvidenceStore>>,
        threats: Option<ScanQueue>,
    ) -> Result<Option<XrayLane>, String> {
        if !lane.enabled {
            return Ok(None);
        }
        let analysis = Analysis::from_config(xray, std::path::Path::new("."))?;
        let (threats, threat_model, threats_accepted) = match (lane.threats, threats) {
            (true, Some(q)) => {
                let manifest = Manifest::builtin();
                let name = operators::xray::threats::MODEL;
                let entry = manifest.entry(name).ok();
                let sha = entry.map(|m| m.sha256.clone()).unwrap_or_default();
                let threshold = entry.and_then(|m| m.output.as_ref()).map_or(0.0, |o| o.score_threshold);
                let accepted = lane.threats_accepted.as_deref() == Some(sha.as_str());
                match (&lane.threats_accepted, accepted) {
                    (_, true) => tracing::info!("X-ray threat alarms on: model {sha} accepted at this site"),
                    (Some(other), false) => tracing::warn!(
                        "xray_lane.threats_accepted names model {other}, not the running {sha}: threat findings are advisory"
                    ),
                    (None, false) => tracing::info!(
                        "X-ray threat findings are advisory: the model {sha} has not been accepted at this site"
                    ),
                }
                (Some(q), (format!("{name} sha256:{sha}"), threshold), accepted)
            }
            (true, None) => return Err("xray_lane.threats: no inference executor runs the threat detector".into()),
            (false, _) => (None, (String::new(), 0.0), false),
        };
        let (tx, rx) = crossbeam_channel::unbounded::<XrayJob>();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let declarations = OpenDeclarations::shared();
        let worker = Worker {
            site: site.to_string(),
            analysis,
            threats,
            threat_model,
            threats_accepted,
            alerts,
            evidence,
            declarations: declarations.clone(),
        };
        let worker_stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("xray".into())
                .spawn(move || worker.run(rx, &worker_stop))
                .map_err(|e| format!("starting the X-ray thread: {e}"))?,
        );
        if let Some(dir) = &lane.drop_folder {
            let owner = match &lane.drop_owner {
                Some(o) => o.uid().map_err(|e| format!("xray_lane.drop_owner: {e}"))?,
                None => pipeline::scans::node_uid(),
            };
            let folder = ScanFolder::new(dir, owner).map_err(|e| format!("xray_lane.drop_folder: {e}"))?;
            let (tx, stop, every) = (tx.clone(), stop.clone(), Duration::from_millis(lane.poll_ms.max(50)));
            threads.push(
                std::thread::Builder::new()
                    .name("xray-folder".into())
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            let found = folder.take();
                            for (id, e) in found.refused {
                                metrics::global().metric("qv_scans_rejected_total", &[("reason", e.reason())]).inc();
                                // The reason in full is beside the files (`rejected/{id}.reason.txt`): a
                                // metadata error may quote the sidecar, plate and container included.
                                tracing::warn!(reason = e.reason(), "scan {id} refused: see rejected/{id}.reason.txt");
                            }
                            for input in found.scans {
                                if tx.send(XrayJob { input, reply: None }).is_err() {
                                    return;
                                }
                            }
                            std::thread::park_timeout(every);
                        }
                    })
                    .map_err(|e| format!("starting the scan folder watcher: {e}"))?,
            );
        }
        Ok(Some(XrayLane { tx, declarations, stop, threads }))
    }

    /// Where HTTP uploads (and tests) hand scans in.
    pub fn sender(&self) -> Sender<XrayJob> {
        self.tx.clone()
    }

    /// The open declarations scans are analysed against (the customs desk fills them).
    pub fn declarations(&self) -> SharedDeclarations {
        self.declarations.clone()
    }

    /// Stops the watcher, then the analysis thread after the scans already queued (the
    /// HTTP server may still hold a sender, so the thread does not wait for the channel
    /// to close).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

struct Worker {
    site: String,
    analysis: Analysis,
    /// The inference executor's queue for the threat detector.
    threats: Option<ScanQueue>,
    /// `name sha256:…` of the threat model and its score threshold, recorded on each threat
    /// alert.
    threat_model: (String, f32),
    /// The site accepted that model: its findings are alarms, not advisory.
    threats_accepted: bool,
    alerts: Sender<Alert>,
    evidence: Option<Arc<EvidenceStore>>,
    declarations: SharedDeclarations,
}

impl Worker {
    fn run(self, rx: Receiver<XrayJob>, stop: &AtomicBool) {
        loop {
            let job = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => job,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => continue,
                // Stopping: what is queued is still analysed, then the thread ends.
                Err(_) => match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            let id = job.input.meta.scan_id.clone();
            let result = self.scan(job.input);
            match &result {
                Ok(summary) => tracing::info!("scan {id}: {summary}"),
                Err(e) => tracing::warn!("scan {id} refused: {e}"),
            }
            if let Some(r) = job.reply {
                let _ = r.send(result);
            }
        }
    }

    /// Analyses one scan and sends its alerts; `Err` is the reason it was refused. A scan
    /// the threat detector could not run on still publishes its material findings, its
    /// summary saying why there are no threats (`threats_error`).
    fn scan(&self, input: ScanInput) -> Result<String, String> {
        let refuse = |e: ScanError| {
            metrics::global().metric("qv_scans_rejected_total", &[("reason", e.reason())]).inc();
            e.to_string()
        };
        let meta = input.meta;
        let (low_name, high_name) = (meta.low_file(), meta.high_file());
        let scan = Scan::decode(meta, (&low_name, &input.low), (&high_name, &input.high), self.analysis.limits())
            .map_err(refuse)?;
        let declaration = {
            let open = self.declarations.read().unwrap_or_else(|e| e.into_inner());
            let m = &scan.meta;
            open.for_scan(m.declaration_id.as_deref(), m.container.as_deref(), m.plate.as_deref())
        };
        let report = self.analysis.analyse(&scan, declaration.as_ref()).map_err(refuse)?;
        metrics::global().metric("qv_scans_analysed_total", &[("scanner", &report.scanner_id)]).inc();
        let (threats, threats_error) = match (&self.threats, report.scanner_type) {
            (Some(q), ScannerType::Kv) => match self.detect(q, &scan) {
                Ok(t) => (t, None),
                Err(e) => {
                    metrics::global().metric("qv_scans_threats_failed_total", &[("scanner", &report.scanner_id)]).inc();
                    tracing::error!("scan {}: no threat detection: {e}", scan.meta.scan_id);
                    (vec![], Some(e))
                }
            },
            _ => (vec![], None),
        };
        let render_ref = match &self.evidence {
            Some(store) => Some(pipeline::evidence::evidence_ref(&store.put(&report.render)?)),
            None => None,
        };
        let checked = declaration.is_some();
        let alerts = self.alerts_of(&scan, &report, &threats, threats_error.as_deref(), checked, render_ref);
        let n = alerts.len();
        for a in alerts {
            self.alerts.send(a).map_err(|_| "the outbox is gone".to_string())?;
        }
        let threats = match &threats_error {
            None if self.threats_accepted || threats.is_empty() => format!("{} threats", threats.len()),
            None => format!("{} threats (advisory)", threats.len()),
            Some(e) => format!("threats not looked for ({e})"),
        };
        Ok(format!("{} findings, {threats}, {n} alert messages", report.findings.len()))
    }

    /// The scan's threats, found on the inference executor (this thread waits for them).
    fn detect(&self, queue: &ScanQueue, scan: &Scan) -> Result<Vec<(&'static str, Threat)>, String> {
        let (low, high) = (as_u16(&scan.low.mat)?, as_u16(&scan.high.mat)?);
        let (w, h) = (scan.width() as usize, scan.height() as usize);
        let reply = queue.detect(&scan.meta.scanner_id, low, high, w, h)?;
        let labels = queue.labels();
        Ok(reply.threats.into_iter().map(|t| (labels.get(t.class as usize).copied().unwrap_or("unknown"), t)).collect())
    }

    fn alerts_of(
        &self,
        scan: &Scan,
        report: &Report,
        threats: &[(&'static str, Threat)],
        threats_error: Option<&str>,
        declaration_checked: bool,
        render: Option<String>,
    ) -> Vec<Alert> {
        let m = &scan.meta;
        let (w, h) = (scan.width() as f32, scan.height() as f32);
        let norm = |b: [f32; 4]| [b[0] / w, b[1] / h, b[2] / w, b[3] / h].map(|v| v.clamp(0.0, 1.0));
        let source = AlertSource {
            kind: SourceKind::Xray,
            id: m.scanner_id.clone(),
            name: format!("{} lane {} ({})", m.post, m.lane, m.scanner_id),
            location: None,
        };
        let correlation = Correlation { plate: m.plate.clone(), container: m.container.clone(), ..Default::default() };
        let now = chrono::Utc::now();
        let event_ts = if m.event_ts.timestamp() == 0 { now } else { m.event_ts };
        // Every alert of the scan: `kind` is also the rule that raised it.
        let base = |kind: &'static str,
                    severity: Severity,
                    confidence: f32,
                    objects: Vec<AlertObject>,
                    mut attributes: Map<String, Value>,
                    provenance: Value| {
            attributes.insert("scan_id".into(), m.scan_id.clone().into());
            attributes.insert("post".into(), m.post.clone().into());
            attributes.insert("lane".into(), m.lane.clone().into());
            if let Some(d) = &m.declaration_id {
                attributes.insert("declaration_id".into(), d.clone().into());
            }
            let ctx = AlertContext {
                site: self.site.clone(),
                source: source.clone(),
                provenance: provenance.as_object().cloned().unwrap_or_default(),
            };
            let mut a = ctx.alert(AlertParts {
                episode: alert::new_id(),
                kind,
                rule: kind,
                phase: Phase::Begin,
                severity,
                confidence,
                event_ts,
                ingest_ts: now,
                clock: ClockState::Unsynced,
                objects,
                attributes,
            });
            a.evidence = render.iter().cloned().collect();
            a.correlation = correlation.clone();
            a
        };
        let mut out = Vec::new();
        let mut push = |a: Alert| {
            let mut end = a.clone();
            (end.id, end.phase) = (alert::new_id(), Phase::End);
            out.push(a);
            out.push(end);
        };
        let provenance = serde_json::to_value(&report.provenance).unwrap_or_default();
        for f in &report.findings {
            let objects = f
                .bbox_px
                .map(|b| AlertObject {
                    class: f.kind.trim_start_matches("xray_").into(),
                    track_id: None,
                    score: 1.0,
                    bbox: Some(norm(b.map(|v| v as f32))),
                    ground: None,
                    speed_mps: None,
                })
                .into_iter()
                .collect();
            let p = serde_json::to_value(&f.provenance).unwrap_or_default();
            push(base(f.kind, f.severity, 1.0, objects, f.measured.clone(), p));
        }
        let threat_object = |label: &str, t: &Threat| AlertObject {
            class: label.into(),
            track_id: None,
            score: t.score,
            bbox: Some(norm([t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2])),
            ground: None,
            speed_mps: None,
        };
        let mut with_model = provenance.clone();
        if let Some(o) = with_model.as_object_mut().filter(|_| self.threats.is_some()) {
            o.insert("model".into(), self.threat_model.0.clone().into());
            o.insert("threshold".into(), self.threat_model.1.into());
            o.insert("threat_alarms".into(), if self.threats_accepted { "accepted" } else { "advisory" }.into());
        }
        let (alarms, advisory): (&[_], &[_]) = if self.threats_accepted { (threats, &[]) } else { (&[], threats) };
        for (label, t) in alarms {
            let severity = if matches!(*label, "gun" | "ammunition") { Severity::Critical } else { Severity::High };
            let attrs = json!({"class": label}).as_object().cloned().unwrap_or_default();
            push(base("xray_threat", severity, t.score, vec![threat_object(label, t)], attrs, with_model.clone()));
        }
        let mut summary = Map::new();
        summary.insert("scanner_type".into(), report.scanner_type.as_str().into());
        summary.insert("histogram_px".into(), json!(report.histogram));
        summary.insert("findings".into(), report.findings.len().into());
        summary.insert("threats".into(), threats.len().into());
        // What the lane decision needs in one message: each finding's kind, the threats'
        // classes, and whether the load was checked against a declaration.
        let finding_list: Vec<Value> =
            report.findings.iter().map(|f| json!({"kind": f.kind, "severity": f.severity})).collect();
        summary.insert("finding_list".into(), finding_list.into());
        summary.insert("threat_classes".into(), alarms.iter().map(|(label, _)| Value::from(*label)).collect());
        if !advisory.is_empty() {
            summary.insert(
                "advisory_threats".into(),
                advisory.iter().map(|(label, t)| json!({"class": label, "score": t.score})).collect(),
            );
        }
        summary.insert("declaration_checked".into(), declaration_checked.into());
        if let Some(e) = threats_error {
            summary.insert("threats_error".into(), e.into());
        }
        if let Some(load) = &report.load {
            summary.insert("mass_kg".into(), load.mass_kg.into());
        }
        summary.insert("timings_ms".into(), json!(report.timings_ms));
        // advisory threats are drawn on the scan's render through the summary's objects
        let drawn = advisory.iter().map(|(label, t)| threat_object(&format!("{label} (advisory)"), t)).collect();
        push(base("xray_scan", Severity::Info, 1.0, drawn, summary, with_model));
        out
    }
}

/// The image's samples as 16-bit (8-bit scans are scaled by 257, so 255 → 65535).
fn as_u16(mat: &Mat) -> Result<Vec<u16>, String> {
    let m16 = if mat.depth() == CV_16U {
        mat.clone()
    } else {
        let mut m = Mat::default();
        mat.convert_to(&mut m, CV_16U, 257.0, 0.0).map_err(cv)?;
        m
    };
    Ok(m16.data_typed::<u16>().map_err(cv)?.to_vec())
}
