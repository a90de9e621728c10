//! A node's analysers: the camera path and the X-ray lane, over one inference executor
//! (docs/ARCHITECTURE.md, "Threads and queues": one thread owns a node's detectors, so a
//! GPU is shared fairly between cameras and scans).
//!
//! This is where a node's executor is created, by [`Analysers::start`], which `qorovul
//! edge` and the demo call: when the node runs cameras, it is the camera path's, also given
//! the X-ray lane's threat detector; on a node with an X-ray lane and no cameras, it serves
//! scans only. `CameraPath::start` on its own (`analyze`, tests, benchmarks) starts an
//! executor for its cameras only.

use crate::camera_path::{CameraPath, CameraPathConfig};
use crate::evidence_store::EvidenceStore;
use crate::executor::Executor;
use crate::xray_lane::{XrayLane, XrayLaneConfig};
use crossbeam_channel::Sender;
use operators::detect::Manifest;
use operators::xray::XrayConfig;
use operators::xray::threats::ThreatDetector;
use pipeline::alert::Alert;
use pipeline::slot::Wakeup;
use std::sync::Arc;

/// The running analysers of a node.
pub struct Analysers {
    cameras: Option<CameraPath>,
    xray: Option<XrayLane>,
    /// The executor of a node without cameras (the camera path owns it otherwise).
    scans_only: Option<Executor>,
}

impl Analysers {
    /// Starts the camera path when `with_cameras` (with `camera_path.cameras`; more can be
    /// added while it runs) and the X-ray lane when `xray_lane` is enabled, with the threat
    /// detector on the one executor when `xray_lane.threats` is on.
    pub fn start(
        camera_path: &CameraPathConfig,
        xray_lane: &XrayLaneConfig,
        xray: &XrayConfig,
        alerts: Sender<Alert>,
        evidence: Option<Arc<EvidenceStore>>,
        with_cameras: bool,
    ) -> Result<Self, String> {
        let threats = if xray_lane.enabled && xray_lane.threats {
            // The node's ONNX Runtime pool, whichever model is loaded first.
            let d = ThreatDetector::load(&Manifest::builtin(), camera_path.detector.threads);
            Some(d.map_err(|e| format!("xray_lane.threats: {e}"))?)
        } else {
            None
        };
        let (cameras, scans_only) = if with_cameras {
            (Some(CameraPath::start_serving(camera_path, alerts.clone(), evidence.clone(), threats)?), None)
        } else {
            (None, threats.map(|t| Executor::spawn(None, Some(t), Arc::new(Wakeup::default()))))
        };
        let scans = match (&cameras, &scans_only) {
            (Some(path), _) => path.scans(),
            (None, Some(executor)) => executor.scans(),
            (None, None) => None,
        };
        let xray = XrayLane::start(xray_lane, xray, &camera_path.site, alerts, evidence, scans)?;
        Ok(Self { cameras, xray, scans_only })
    }

    /// The camera path, when the node runs one.
    pub fn cameras(&self) -> Option<&CameraPath> {
        self.cameras.as_ref()
    }

    /// The X-ray lane, when `[xray_lane]` is enabled.
    pub fn xray(&self) -> Option<&XrayLane> {
        self.xray.as_ref()
    }

    /// Stops the X-ray lane first (its queued scans still need the executor), then the
    /// camera path and with it the executor (or the scans-only executor).
    pub fn stop(self) {
        if let Some(x) = self.xray {
            x.stop();
        }
        if let Some(p) = self.cameras {
            p.shutdown();
        }
        if let Some(e) = self.scans_only {
            e.stop();
        }
    }
}
