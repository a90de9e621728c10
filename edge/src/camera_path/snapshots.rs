//! The snapshot worker, off the analytics thread: it takes each alert in order, and for
//! those that come with a frame it builds the snapshot (`operators::snapshot`: faces and
//! person heads blurred, boxes, zone and line drawn; the unblurred original sealed),
//! stores both copies in the edge's evidence store by content hash, names them in the
//! alert (`evidence`, and `attributes.originals` for the sealed one, both `sha256:<hex>`
//! as the contract writes them) and passes the alert on. Every alert goes through it, so
//! alerts of one camera keep their order.
//!
//! A snapshot costs tens of milliseconds (face detection). Beyond `[evidence] max_pending`
//! snapshots waiting, an alert goes on without one ([`WhenFull::Refuse`] for the snapshot,
//! [`WhenFull::Queue`] for the alert, counted in `qv_snapshots_skipped_total{reason="backlog"}`):
//! alerts are never dropped or held back for evidence.

use crate::evidence_store::EvidenceStore;
use crate::worker::{WhenFull, Worker};
use crossbeam_channel::Sender;
use operators::detect::Manifest;
use operators::image::sample_to_bgr;
use operators::redact::Redactor;
use operators::snapshot::{Snapshot, SnapshotConfig};
use pipeline::alert::Alert;
use pipeline::evidence::{SealKey, evidence_ref};
use pipeline::frame::Frame;
use pipeline::metrics;
use std::path::Path;
use std::sync::Arc;

/// What a snapshot is made of, captured when the alert is raised.
pub struct SnapshotJob {
    pub frame: Arc<Frame>,
    /// Every person box in the frame, pixels (their heads are blurred too).
    pub persons: Vec<[f32; 4]>,
    /// The zone and line the alert concerns, normalised.
    pub zones: Vec<Vec<[f32; 2]>>,
    pub lines: Vec<[[f32; 2]; 2]>,
}

/// The running worker; its thread owns the face model.
pub struct SnapshotWorker {
    worker: Worker<(Alert, Option<SnapshotJob>)>,
}

impl SnapshotWorker {
    /// Loads the face model and the sealing key (`key_file`, created if missing); alerts
    /// come out on `out`.
    pub fn start(
        cfg: &SnapshotConfig,
        key_file: &Path,
        store: Arc<EvidenceStore>,
        out: Sender<Alert>,
    ) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("evidence.{e}"))?;
        let redactor = Redactor::load(&cfg.redact, &Manifest::builtin())?;
        if let Some(dir) = key_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("evidence key folder {}: {e}", dir.display()))?;
        }
        let key = SealKey::load_or_create(key_file)?;
        let mut maker = Maker { redactor, key, store, quality: cfg.jpeg_quality };
        let made = metrics::global().metric("qv_snapshots_total", &[]);
        let failed = metrics::global().metric("qv_snapshots_skipped_total", &[("reason", "error")]);
        let skipped = metrics::global().metric("qv_snapshots_skipped_total", &[("reason", "backlog")]);
        let worker = Worker::start("snapshots", cfg.max_pending, skipped, move |(mut alert, job): (Alert, _)| {
            if let Some(job) = job {
                match maker.snapshot(&mut alert, &job) {
                    Ok(()) => made.inc(),
                    Err(e) => {
                        failed.inc();
                        tracing::warn!(alert = %alert.id, kind = %alert.kind, "snapshot: {e}");
                    }
                }
            }
            out.send(alert).is_ok()
        })?;
        Ok(Self { worker })
    }

    /// Queues an alert, with what its snapshot needs (if it gets one).
    pub fn submit(&self, alert: Alert, job: Option<SnapshotJob>) {
        let item = match job {
            Some(job) => match self.worker.submit((alert, Some(job)), WhenFull::Refuse) {
                Ok(()) => return,
                Err((alert, _)) => (alert, None),
            },
            None => (alert, None),
        };
        let _ = self.worker.submit(item, WhenFull::Queue);
    }

    /// Finishes what is queued, then stops.
    pub fn finish(self) {
        self.worker.finish();
    }
}

/// What the worker's thread owns: the face model, the key, the store.
struct Maker {
    redactor: Redactor,
    key: SealKey,
    store: Arc<EvidenceStore>,
    quality: u8,
}

impl Maker {
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
        let files = snap.build(&mut self.redactor, &self.key)?;
        let stored = self.store.put(&files.jpeg)?;
        let sealed = self.store.put(&files.sealed_original)?;
        alert.evidence.push(evidence_ref(&stored));
        alert.attributes.insert("originals".into(), serde_json::json!([evidence_ref(&sealed)]));
        Ok(())
    }
}
