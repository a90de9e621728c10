//! `camera_tamper`: the view is covered, defocused, or the camera was moved off its
//! reference view. Each is one episode (begin … end), raised when the condition has held
//! for `min_secs` of event time and ended when it has been gone as long.
//!
//! The reference is learned from the first `learn_secs` of a healthy view: its sharpness
//! (variance of the Laplacian) and a blurred grey picture. Measures per frame, on the
//! small grey copy the motion gate already made:
//! - covered: contrast (standard deviation of grey) below `covered_contrast` — a hand,
//!   tape, paint or a lens cap leaves a nearly flat picture;
//! - defocused: sharpness below `defocus_ratio` × the reference's;
//! - moved: the picture's shift against the reference (phase correlation) above
//!   `moved_shift` of its width, or its correlation with the reference below
//!   `moved_similarity` (a view turned to somewhere else entirely). People walking
//!   through the view change little of either.
//!
//! While the camera is moved, zone and line rules must not run: their polygons no longer
//! lie where they were drawn. [`Tamper::moved`] says so.

use super::object_detected::FrameFacts;
use super::{AlertContext, AlertParts};
use crate::image::cv;
use crate::motion::SmallGrey;
use opencv::core::{Mat, Scalar, Size};
use opencv::prelude::*;
use opencv::{core, imgproc};
use pipeline::alert::{self, Alert, Phase, Severity};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `[rules.tamper]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TamperConfig {
    pub enabled: bool,
    /// Seconds of healthy view the reference is learned from.
    pub learn_secs: f64,
    /// Seconds a condition must hold before it begins, and be gone before it ends.
    pub min_secs: f64,
    /// The view is measured at most this often (seconds of event time): conditions last
    /// seconds, and every frame's measuring would take CPU from the detector.
    pub check_secs: f64,
    /// Grey-level standard deviation (0–255) below which the view counts as covered.
    pub covered_contrast: f64,
    /// Sharpness below this share of the reference's counts as defocused.
    pub defocus_ratio: f64,
    /// Shift against the reference, as a share of the width, that counts as moved.
    pub moved_shift: f64,
    /// Correlation with the reference (−1–1) below which the view counts as moved.
    pub moved_similarity: f64,
    /// Share of the picture covered by tracked objects above which nothing changes: a
    /// truck filling a lane camera's view neither covers nor moves the camera.
    pub occupied_max: f64,
    /// Check for a moved view: only for static cameras (set from the camera's
    /// `static_view`, not written in configs).
    #[serde(skip)]
    pub check_moved: bool,
    pub severity: Severity,
}

impl Default for TamperConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            learn_secs: 3.0,
            min_secs: 2.0,
            check_secs: 0.5,
            covered_contrast: 12.0,
            defocus_ratio: 0.3,
            moved_shift: 0.04,
            moved_similarity: 0.5,
            occupied_max: 0.25,
            check_moved: true,
            severity: Severity::High,
        }
    }
}

impl TamperConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        let secs = [("learn_secs", self.learn_secs), ("min_secs", self.min_secs), ("check_secs", self.check_secs)];
        for (name, v) in secs {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{name}: {v} must be a number of seconds >= 0"));
            }
        }
        if !(0.0..=255.0).contains(&self.covered_contrast) {
            return Err(format!("covered_contrast: {} is not a grey level within 0–255", self.covered_contrast));
        }
        if !(0.0..=1.0).contains(&self.defocus_ratio) {
            return Err(format!("defocus_ratio: {} is not a share within 0–1", self.defocus_ratio));
        }
        if !(0.0..=1.0).contains(&self.moved_shift) {
            return Err(format!("moved_shift: {} is not a share of the width within 0–1", self.moved_shift));
        }
        if !(0.0..=1.0).contains(&self.occupied_max) {
            return Err(format!("occupied_max: {} is not a share within 0–1", self.occupied_max));
        }
        if !(-1.0..=1.0).contains(&self.moved_similarity) {
            return Err(format!("moved_similarity: {} is not a correlation within −1–1", self.moved_similarity));
        }
        Ok(())
    }
}

/// What is wrong with the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperKind {
    Covered,
    Defocused,
    Moved,
}

impl TamperKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::Covered => "covered",
            TamperKind::Defocused => "defocused",
            TamperKind::Moved => "moved",
        }
    }
}

/// One frame's measures of the view, kept for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ViewMeasures {
    pub contrast: f64,
    pub sharpness: f64,
    /// Shift against the reference as a share of the width.
    pub shift: f64,
    /// Correlation with the reference.
    pub similarity: f64,
}

const RULE: &str = "camera_tamper/1";

struct Reference {
    blurred: Mat,
    sharpness: f64,
}

/// One condition's episode state.
#[derive(Default)]
struct Condition {
    /// Since when the condition has held (not yet begun) or been gone (while open).
    since: Option<f64>,
    open: Option<Uuid>,
}

/// The rule's state for one camera.
pub struct Tamper {
    cfg: TamperConfig,
    /// Accumulated blurred grey and sharpness while learning.
    learning: Option<(Mat, f64, u32, f64)>,
    reference: Option<Reference>,
    conditions: [Condition; 3],
    measures: ViewMeasures,
    /// Event time of the last measured frame.
    last_check: Option<f64>,
    // Scratch, reused every frame.
    blurred: Mat,
    lap: Mat,
    f_cur: Mat,
    f_ref: Mat,
    window: Mat,
}

impl Tamper {
    pub fn new(cfg: TamperConfig) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("rules.tamper.{e}"))?;
        Ok(Self {
            cfg,
            learning: None,
            reference: None,
            conditions: Default::default(),
            measures: ViewMeasures::default(),
            last_check: None,
            blurred: Mat::default(),
            lap: Mat::default(),
            f_cur: Mat::default(),
            f_ref: Mat::default(),
            window: Mat::default(),
        })
    }

    /// The latest frame's measures.
    pub fn measures(&self) -> ViewMeasures {
        self.measures
    }

    /// Whether a "moved" episode is open: zone rules must pause.
    pub fn moved(&self) -> bool {
        self.conditions[2].open.is_some()
    }

    /// Whether the reference view has been learned.
    pub fn has_reference(&self) -> bool {
        self.reference.is_some()
    }

    /// Reads one frame; appends begin/end alerts to `out`. `occupied` is the share of the
    /// picture the tracked objects' boxes cover.
    pub fn update(
        &mut self,
        ctx: &AlertContext,
        f: &FrameFacts,
        grey: &SmallGrey,
        occupied: f64,
        out: &mut Vec<Alert>,
    ) -> Result<(), String> {
        if !self.cfg.enabled || self.last_check.is_some_and(|at| f.t_secs - at < self.cfg.check_secs) {
            return Ok(());
        }
        self.last_check = Some(f.t_secs);
        let grey = &grey.mat;
        imgproc::gaussian_blur_def(grey, &mut self.blurred, Size::new(5, 5), 1.5).map_err(cv)?;
        let (mut mean, mut std) = (Mat::default(), Mat::default());
        core::mean_std_dev_def(grey, &mut mean, &mut std).map_err(cv)?;
        let contrast = *std.at::<f64>(0).map_err(cv)?;
        imgproc::laplacian(grey, &mut self.lap, core::CV_64F, 3, 1.0, 0.0, core::BORDER_DEFAULT).map_err(cv)?;
        core::mean_std_dev_def(&self.lap, &mut mean, &mut std).map_err(cv)?;
        let lap_std = *std.at::<f64>(0).map_err(cv)?;
        let sharpness = lap_std * lap_std;
        self.measures = ViewMeasures { contrast, sharpness, shift: 0.0, similarity: 1.0 };

        let Some(reference) = &self.reference else {
            // Learn only from a view that is not covered.
            if contrast >= self.cfg.covered_contrast {
                self.learn(f.t_secs, sharpness)?;
            }
            return Ok(());
        };
        if reference.blurred.size().map_err(cv)? != self.blurred.size().map_err(cv)? {
            return Err("the camera's picture size changed; tamper reference no longer applies".into());
        }
        self.blurred.convert_to_def(&mut self.f_cur, core::CV_32F).map_err(cv)?;
        reference.blurred.convert_to_def(&mut self.f_ref, core::CV_32F).map_err(cv)?;
        let similarity = correlation(&self.f_cur, &self.f_ref)?;
        if self.window.size().map_err(cv)? != self.f_cur.size().map_err(cv)? {
            // A Hann window keeps the picture's borders from dominating the correlation.
            imgproc::create_hanning_window(&mut self.window, self.f_cur.size().map_err(cv)?, core::CV_32F)
                .map_err(cv)?;
        }
        let shift = imgproc::phase_correlate(&self.f_ref, &self.f_cur, &self.window, None).map_err(cv)?;
        let width = grey.cols().max(1) as f64;
        let shift = (shift.x.hypot(shift.y)) / width;
        self.measures.shift = shift;
        self.measures.similarity = similarity;

        let covered = contrast < self.cfg.covered_contrast;
        let defocused = !covered && sharpness < self.cfg.defocus_ratio * reference.sharpness;
        let moved = self.cfg.check_moved
            && !covered
            && !defocused
            && (shift >= self.cfg.moved_shift || similarity < self.cfg.moved_similarity);
        // A large object in front of the camera explains any change: hold every state.
        let hold = occupied >= self.cfg.occupied_max;
        for (i, holds) in [covered, defocused, moved].into_iter().enumerate() {
            let kind = [TamperKind::Covered, TamperKind::Defocused, TamperKind::Moved][i];
            let holds = if hold { self.conditions[i].open.is_some() } else { holds };
            self.step(i, kind, holds, ctx, f, out);
        }
        Ok(())
    }

    /// Ends every open episode (the stream ended).
    pub fn finish(&mut self, ctx: &AlertContext, f: &FrameFacts, out: &mut Vec<Alert>) {
        for (i, kind) in [TamperKind::Covered, TamperKind::Defocused, TamperKind::Moved].into_iter().enumerate() {
            if let Some(id) = self.conditions[i].open.take() {
                out.push(self.alert(ctx, f, id, kind, Phase::End));
            }
            self.conditions[i].since = None;
        }
    }

    fn learn(&mut self, t: f64, sharpness: f64) -> Result<(), String> {
        let mut f = Mat::default();
        self.blurred.convert_to_def(&mut f, core::CV_64F).map_err(cv)?;
        match &mut self.learning {
            None => self.learning = Some((f, sharpness, 1, t)),
            Some((sum, sharp, n, _)) => {
                let mut next = Mat::default();
                core::add_def(sum, &f, &mut next).map_err(cv)?;
                *sum = next;
                *sharp += sharpness;
                *n += 1;
            }
        }
        let (sum, sharp, n, start) = self.learning.as_ref().expect("set above");
        if t - start >= self.cfg.learn_secs {
            let mut avg = Mat::default();
            sum.convert_to(&mut avg, core::CV_8U, 1.0 / *n as f64, 0.0).map_err(cv)?;
            self.reference = Some(Reference { blurred: avg, sharpness: sharp / *n as f64 });
            self.learning = None;
        }
        Ok(())
    }

    fn step(
        &mut self,
        i: usize,
        kind: TamperKind,
        holds: bool,
        ctx: &AlertContext,
        f: &FrameFacts,
        out: &mut Vec<Alert>,
    ) {
        let min = self.cfg.min_secs;
        let c = &mut self.conditions[i];
        // While closed, `since` marks when the condition started holding; while open,
        // when it stopped holding.
        let changing = holds != c.open.is_some();
        if !changing {
            c.since = None;
            return;
        }
        let since = *c.since.get_or_insert(f.t_secs);
        if f.t_secs - since < min {
            return;
        }
        c.since = None;
        match c.open.take() {
            None => {
                let id = alert::new_id();
                self.conditions[i].open = Some(id);
                out.push(self.alert(ctx, f, id, kind, Phase::Begin));
            }
            Some(id) => out.push(self.alert(ctx, f, id, kind, Phase::End)),
        }
    }

    fn alert(&self, ctx: &AlertContext, f: &FrameFacts, episode: Uuid, kind: TamperKind, phase: Phase) -> Alert {
        let m = self.measures;
        let mut attributes = serde_json::Map::new();
        attributes.insert("tamper".into(), kind.as_str().into());
        attributes.insert("contrast".into(), round2(m.contrast).into());
        attributes.insert("sharpness_ratio".into(), round2(self.sharpness_ratio()).into());
        attributes.insert("shift".into(), round2(m.shift).into());
        attributes.insert("similarity".into(), round2(m.similarity).into());
        ctx.alert(AlertParts {
            episode,
            kind: "camera_tamper",
            rule: RULE,
            phase,
            severity: self.cfg.severity,
            confidence: 0.9,
            event_ts: f.event_ts,
            ingest_ts: f.ingest_ts,
            clock: f.clock,
            objects: vec![],
            attributes,
        })
    }

    fn sharpness_ratio(&self) -> f64 {
        match &self.reference {
            Some(r) if r.sharpness > 0.0 => self.measures.sharpness / r.sharpness,
            _ => 1.0,
        }
    }
}

/// Zero-mean normalised cross-correlation of two same-size float images.
fn correlation(a: &Mat, b: &Mat) -> Result<f64, String> {
    let (mut ma, mut sa, mut mb, mut sb) = (Mat::default(), Mat::default(), Mat::default(), Mat::default());
    core::mean_std_dev_def(a, &mut ma, &mut sa).map_err(cv)?;
    core::mean_std_dev_def(b, &mut mb, &mut sb).map_err(cv)?;
    let (ma, sa, mb, sb) = (
        *ma.at::<f64>(0).map_err(cv)?,
        *sa.at::<f64>(0).map_err(cv)?,
        *mb.at::<f64>(0).map_err(cv)?,
        *sb.at::<f64>(0).map_err(cv)?,
    );
    if sa < 1e-6 || sb < 1e-6 {
        return Ok(0.0);
    }
    let (mut da, mut db) = (Mat::default(), Mat::default());
    core::subtract_def(a, &Scalar::all(ma), &mut da).map_err(cv)?;
    core::subtract_def(b, &Scalar::all(mb), &mut db).map_err(cv)?;
    let dot = da.dot(&db).map_err(cv)?;
    let n = (a.rows() * a.cols()).max(1) as f64;
    Ok(dot / (n * sa * sb))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
