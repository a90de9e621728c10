//! Snapshots for alerts, off the analytics thread: the evidence worker takes each alert
//! in order, and for those that come with a frame it builds the snapshot (faces and
//! person heads blurred, boxes, zone and line drawn; the unblurred original sealed),
//! stores both copies in the edge's evidence store by content hash, names them in the
//! alert (`evidence`, and `attributes.originals` for the sealed one, both `sha256:<hex>`
//! as the contract writes them) and passes the alert
//! on. Every alert goes through it, so alerts of one camera keep their order.
//!
//! A snapshot costs tens of milliseconds (face detection). Jobs waiting beyond
//! `max_pending` go on without a snapshot rather than hold frames and delay alerts:
//! alerts are never dropped or held back for evidence, and the skip is counted.

use crossbeam_channel::{Receiver, Sender};
use edge::evidence::EvidenceStore;
use operators::detect::Manifest;
use operators::evidence::{SealKey, Snapshot, sample_to_bgr};
use operators::redact::{RedactConfig, Redactor};
use pipeline::alert::Alert;
use pipeline::frame::Frame;
use pipeline::metrics;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// `[evidence]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Take a snapshot for each alert episode's begin.
    pub snapshots: bool,
    /// JPEG quality of the stored (blurred) copy, 1–100.
    pub jpeg_quality: u8,
    /// The 32-byte key originals are sealed with; created (mode 0600) if missing.
    /// Default: `evidence.key` in the edge's data folder. The control room needs the same
    /// key to show an approved original.
    pub key_file: Option<PathBuf>,
    /// Snapshots waiting at most; beyond, alerts go on without one.
    pub max_pending: usize,
    /// Face blurring.
    pub redact: RedactConfig,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self { snapshots: true, jpeg_quality: 85, key_file: None, max_pending: 8, redact: RedactConfig::default() }
    }
}

impl EvidenceConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(format!("jpeg_quality: {} is not within 1–100", self.jpeg_quality));
        }
        if self.max_pending == 0 {
            return Err("max_pending: must be at least 1".into());
        }
        self.redact.validate(&Manifest::builtin()).map_err(|e| format!("redact.{e}"))
    }
}

/// What a snapshot is made of, captured when the alert is raised.
pub struct SnapshotJob {
    pub frame: Arc<Frame>,
    /// Every person box in the frame, pixels (their heads are blurred too).
    pub persons: Vec<[f32; 4]>,
    /// The zone and line the alert concerns, normalised.
    pub zones: Vec<Vec<[f32; 2]>>,
    pub lines: Vec<[[f32; 2]; 2]>,
}

/// The running worker.
pub struct EvidenceWorker {
    tx: Option<Sender<(Alert, Option<SnapshotJob>)>>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
    thread: Option<JoinHandle<()>>,
}

impl EvidenceWorker {
    /// Loads the face model and the key; alerts come out on `out`.
    pub fn start(
        cfg: &EvidenceConfig,
        key_file: PathBuf,
        store: Arc<EvidenceStore>,
        out: Sender<Alert>,
    ) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("evidence.{e}"))?;
        let redactor = Redactor::load(&cfg.redact, &Manifest::builtin())?;
        if let Some(dir) = key_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("evidence key folder {}: {e}", dir.display()))?;
        }
        let key = SealKey::load_or_create(&key_file)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let pending = Arc::new(AtomicUsize::new(0));
        let worker = Worker { redactor, key, store, quality: cfg.jpeg_quality, pending: pending.clone() };
        let thread = std::thread::Builder::new()
            .name("evidence".into())
            .spawn(move || worker.run(rx, out))
            .map_err(|e| format!("spawning the evidence thread: {e}"))?;
        Ok(Self { tx: Some(tx), pending, max_pending: cfg.max_pending, thread: Some(thread) })
    }

    /// Queues an alert, with what its snapshot needs (if it gets one).
    pub fn submit(&self, alert: Alert, job: Option<SnapshotJob>) {
        let job = job.filter(|_| {
            if self.pending.load(Ordering::Relaxed) >= self.max_pending {
                metrics::global().metric("qv_snapshots_skipped_total", &[("reason", "backlog")]).inc();
                false
            } else {
                self.pending.fetch_add(1, Ordering::Relaxed);
                true
            }
        });
        if let Some(tx) = &self.tx {
            let _ = tx.send((alert, job));
        }
    }

    /// Finishes what is queued, then stops.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EvidenceWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    redactor: Redactor,
    key: SealKey,
    store: Arc<EvidenceStore>,
    quality: u8,
    pending: Arc<AtomicUsize>,
}

impl Worker {
    fn run(mut self, rx: Receiver<(Alert, Option<SnapshotJob>)>, out: Sender<Alert>) {
        let made = metrics::global().metric("qv_snapshots_total", &[]);
        let failed = metrics::global().metric("qv_snapshots_skipped_total", &[("reason", "error")]);
        for (mut alert, job) in rx.iter() {
            if let Some(job) = job {
                match self.snapshot(&mut alert, &job) {
                    Ok(()) => made.inc(),
                    Err(e) => {
                        failed.inc();
                        tracing::warn!(alert = %alert.id, kind = %alert.kind, "snapshot: {e}");
                    }
                }
                self.pending.fetch_sub(1, Ordering::Relaxed);
            }
            if out.send(alert).is_err() {
                return;
            }
        }
    }

    fn snapshot(&mut self, alert: &mut Alert, job: &SnapshotJob) -> Result<(), String> {
        let frame = sample_to_bgr(&job.frame.full)?;
        let mut snap = Snapshot::new(&frame)
            .alert_objects(&alert.objects)
            .persons(&job.persons)
            .caption(&format!("{} - {}", alert.kind, alert.source.name))
            .jpeg_quality(self.quality);
        for z in &job.zones {
            snap = snap.zone(z);
        }
        for [a, b] in &job.lines {
            snap = snap.line(*a, *b);
        }
        let ev = snap.build(&mut self.redactor, &self.key)?;
        let stored = self.store.put(&ev.jpeg)?;
        let sealed = self.store.put(&ev.sealed_original)?;
        alert.evidence.push(pipeline::keys::evidence_ref(&stored));
        alert.attributes.insert("originals".into(), serde_json::json!([pipeline::keys::evidence_ref(&sealed)]));
        Ok(())
    }
}
