//! Motion gating (docs/ARCHITECTURE.md, "Route of a frame": decode → motion gate → detect): a cheap look at
//! a small grey copy of each frame decides whether the detector needs to run.
//!
//! The detector is the costliest stage on the camera path; a static camera shows an
//! unchanged scene most of the time. OpenCV's MOG2 background subtraction on a ~160 px
//! wide frame costs well under a millisecond and says whether anything moved. Without
//! motion the frame skips the detector and the tracker coasts; a still object (someone
//! standing in a zone, a left bag) is re-checked every `recheck_secs` instead of every
//! frame, which keeps its track — and loitering or abandoned-object timers — alive.
//!
//! The same grey copy feeds the camera-tamper rule ([`crate::rules::tamper`]).

use crate::image::cv;
use opencv::core::{Mat, Point, Size, Vec3b};
use opencv::prelude::*;
use opencv::{core, imgproc, video};
use pipeline::frame::RgbImage;
use serde::{Deserialize, Serialize};

/// `[motion]` in a pipeline config. Times in seconds of event time, never frames.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// Gate the detector on motion. Applies to cameras with `static_view = true` (the
    /// default); a moving (PTZ, vehicle) camera always runs the detector.
    pub enabled: bool,
    /// Width in pixels of the grey copy motion is measured on.
    pub width: u32,
    /// MOG2's threshold on the squared distance of a pixel to its background model.
    pub var_threshold: f64,
    /// Share of the picture that must change for the frame to count as motion.
    pub min_changed: f32,
    /// Seconds after the last motion during which the detector keeps running, so an
    /// object that has just stopped is confirmed where it stopped.
    pub hold_secs: f64,
    /// The detector runs at least this often, to re-check still objects and find new
    /// ones that arrive too slowly to count as motion.
    pub recheck_secs: f64,
    /// Seconds of event time over which the background adapts to a change that stays.
    pub background_secs: f64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            width: 160,
            var_threshold: 25.0,
            min_changed: 0.002,
            hold_secs: 1.0,
            recheck_secs: 2.0,
            background_secs: 10.0,
        }
    }
}

impl MotionConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(32..=1024).contains(&self.width) {
            return Err(format!("width: {} must be 32–1024 pixels", self.width));
        }
        if !(self.var_threshold > 0.0 && self.var_threshold.is_finite()) {
            return Err(format!("var_threshold: {} must be > 0", self.var_threshold));
        }
        if !(0.0..=1.0).contains(&self.min_changed) {
            return Err(format!("min_changed: {} is not a share within 0–1", self.min_changed));
        }
        for (name, v) in [
            ("hold_secs", self.hold_secs),
            ("recheck_secs", self.recheck_secs),
            ("background_secs", self.background_secs),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{name}: {v} must be a number of seconds >= 0"));
            }
        }
        if self.background_secs <= 0.0 {
            return Err("background_secs: must be > 0".into());
        }
        Ok(())
    }
}

/// A small grey copy of a frame: what motion and tamper checks look at.
pub struct SmallGrey {
    pub mat: Mat,
}

// SAFETY: a `Mat` owns its pixel buffer (ref-counted by OpenCV, never aliased mutably
// here); it is created on the inference thread and only read on the analytics thread.
unsafe impl Send for SmallGrey {}

impl SmallGrey {
    /// Grey, `width` pixels wide (aspect kept), from a packed RGB image.
    pub fn of(img: &RgbImage, width: u32) -> Result<Self, String> {
        let map = img.map().map_err(|e| format!("frame pixels: {e}"))?;
        let (w, h) = (img.width as i32, img.height as i32);
        let need = (w as usize) * (h as usize) * 3;
        if w == 0 || h == 0 || map.len() < need {
            return Err(format!("frame is {w}x{h} with {} bytes; RGB needs {need}", map.len()));
        }
        let rgb = Mat::new_rows_cols_with_bytes::<Vec3b>(h, w, &map.as_slice()[..need]).map_err(cv)?;
        Self::of_mat(&rgb, width, imgproc::COLOR_RGB2GRAY)
    }

    /// Same, from an OpenCV image with the given colour conversion code to grey.
    pub fn of_mat(img: &(impl MatTraitConst + core::ToInputArray), width: u32, to_grey: i32) -> Result<Self, String> {
        let (w, h) = (img.cols(), img.rows());
        if w <= 0 || h <= 0 {
            return Err(format!("image is {w}x{h}"));
        }
        let out_w = (width as i32).min(w).max(8);
        let out_h = ((h as i64 * out_w as i64) / w as i64).max(8) as i32;
        let mut small = Mat::default();
        imgproc::resize(img, &mut small, Size::new(out_w, out_h), 0.0, 0.0, imgproc::INTER_LINEAR).map_err(cv)?;
        let mut grey = Mat::default();
        if small.channels() == 1 {
            grey = small;
        } else {
            imgproc::cvt_color_def(&small, &mut grey, to_grey).map_err(cv)?;
        }
        Ok(Self { mat: grey })
    }
}

/// Why the detector runs on a frame, or that it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    /// Gating is off for this camera, or this is its first frame.
    Always,
    /// Something moved (or moved less than `hold_secs` ago).
    Motion,
    /// Nothing moved, but `recheck_secs` passed since the detector last ran.
    Recheck,
    /// Nothing moved: the tracker coasts.
    Skip,
}

impl GateDecision {
    pub fn runs_detector(self) -> bool {
        self != GateDecision::Skip
    }
}

/// One camera's motion gate.
pub struct MotionGate {
    cfg: MotionConfig,
    enabled: bool,
    subtractor: core::Ptr<video::BackgroundSubtractorMOG2>,
    mask: Mat,
    opened: Mat,
    kernel: Mat,
    last_t: Option<f64>,
    last_motion: Option<f64>,
    last_detect: Option<f64>,
}

impl MotionGate {
    /// `enabled = false` (a moving camera): always detects, and measures nothing.
    pub fn new(cfg: MotionConfig, enabled: bool) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("motion.{e}"))?;
        let subtractor = video::create_background_subtractor_mog2(500, cfg.var_threshold, false).map_err(cv)?;
        let kernel = imgproc::get_structuring_element_def(imgproc::MORPH_RECT, Size::new(3, 3)).map_err(cv)?;
        Ok(Self {
            enabled: enabled && cfg.enabled,
            cfg,
            subtractor,
            mask: Mat::default(),
            opened: Mat::default(),
            kernel,
            last_t: None,
            last_motion: None,
            last_detect: None,
        })
    }

    /// Looks at the frame at event time `t` and decides whether the detector runs on it.
    /// The caller must run it when the answer says so: the re-check clock starts now.
    pub fn decide(&mut self, grey: &SmallGrey, t: f64) -> Result<GateDecision, String> {
        if !self.enabled {
            // Nothing reads a moving camera's motion: the background model is not kept.
            return Ok(GateDecision::Always);
        }
        let dt = match self.last_t {
            Some(prev) if t > prev => t - prev,
            _ => 0.0,
        };
        self.last_t = Some(self.last_t.map_or(t, |p| p.max(t)));
        // Learning rate from real time, so the background adapts in seconds at any frame rate.
        let rate = if self.last_motion.is_none() && self.last_detect.is_none() {
            1.0
        } else {
            (dt / self.cfg.background_secs).clamp(0.0, 1.0)
        };
        video::BackgroundSubtractorMOG2Trait::apply(&mut self.subtractor, &grey.mat, &mut self.mask, rate)
            .map_err(cv)?;
        // Opening removes single-pixel noise (sensor grain, compression) before counting.
        imgproc::morphology_ex(
            &self.mask,
            &mut self.opened,
            imgproc::MORPH_OPEN,
            &self.kernel,
            Point::new(-1, -1),
            1,
            core::BORDER_CONSTANT,
            imgproc::morphology_default_border_value().map_err(cv)?,
        )
        .map_err(cv)?;
        let first = self.last_detect.is_none();
        let total = (grey.mat.rows() * grey.mat.cols()).max(1) as f32;
        // The first frame only seeds the background: nothing to compare it with.
        let changed = if first { 0.0 } else { core::count_non_zero(&self.opened).map_err(cv)? as f32 / total };
        let moving = changed >= self.cfg.min_changed;
        if moving {
            self.last_motion = Some(t);
        }
        let decision = if first {
            GateDecision::Always
        } else if moving || self.last_motion.is_some_and(|m| t - m <= self.cfg.hold_secs) {
            GateDecision::Motion
        } else if self.last_detect.is_some_and(|d| t - d >= self.cfg.recheck_secs) {
            GateDecision::Recheck
        } else {
            GateDecision::Skip
        };
        if decision.runs_detector() {
            self.last_detect = Some(t);
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Rect, Scalar};

    fn scene(w: i32, h: i32, square_x: Option<i32>) -> SmallGrey {
        let mut m = Mat::new_rows_cols_with_default(h, w, core::CV_8UC1, Scalar::all(90.0)).unwrap();
        // Some fixed texture so the background is not flat.
        for i in 0..8 {
            imgproc::rectangle_def(&mut m, Rect::new(i * 20, (i * 13) % (h - 10), 12, 10), Scalar::all(160.0)).unwrap();
        }
        if let Some(x) = square_x {
            imgproc::rectangle(&mut m, Rect::new(x, h / 2, 14, 24), Scalar::all(250.0), -1, imgproc::LINE_8, 0)
                .unwrap();
        }
        SmallGrey::of_mat(&m, 160, imgproc::COLOR_BGR2GRAY).unwrap()
    }

    #[test]
    fn a_still_scene_skips_the_detector_between_rechecks_and_motion_runs_it() {
        let cfg = MotionConfig { recheck_secs: 2.0, hold_secs: 0.5, ..MotionConfig::default() };
        let mut gate = MotionGate::new(cfg, true).unwrap();
        let mut ran = vec![];
        // 10 s still at uneven spacing, then an object moving for 1 s.
        let mut t = 0.0;
        let mut times = vec![];
        while t < 10.0 {
            times.push((t, None));
            t += if times.len() % 3 == 0 { 0.15 } else { 0.07 };
        }
        for k in 0..10 {
            times.push((10.0 + k as f64 * 0.1, Some(10 + k * 8)));
        }
        for (t, x) in times {
            let d = gate.decide(&scene(160, 120, x), t).unwrap();
            ran.push((t, d));
        }
        assert_eq!(ran[0].1, GateDecision::Always);
        let still: Vec<_> = ran.iter().filter(|(t, _)| *t > 0.0 && *t < 10.0).collect();
        let rechecks: Vec<f64> = still.iter().filter(|(_, d)| *d == GateDecision::Recheck).map(|(t, _)| *t).collect();
        assert!(still.iter().all(|(_, d)| matches!(d, GateDecision::Skip | GateDecision::Recheck)), "{still:?}");
        // Re-checks every 2 s of event time, not every N frames.
        assert_eq!(rechecks.len(), 4, "{rechecks:?}");
        for w in rechecks.windows(2) {
            assert!((w[1] - w[0] - 2.0).abs() < 0.16, "{rechecks:?}");
        }
        let moving: Vec<_> = ran.iter().filter(|(t, _)| *t >= 10.1).collect();
        assert!(moving.iter().all(|(_, d)| *d == GateDecision::Motion), "{moving:?}");
    }

    #[test]
    fn gating_off_always_runs_the_detector() {
        let mut gate = MotionGate::new(MotionConfig::default(), false).unwrap();
        for i in 0..20 {
            assert_eq!(gate.decide(&scene(160, 120, None), i as f64 * 0.1).unwrap(), GateDecision::Always);
        }
    }

    #[test]
    fn bad_settings_name_the_field() {
        let e = MotionGate::new(MotionConfig { min_changed: 2.0, ..Default::default() }, true).err().unwrap();
        assert!(e.contains("motion.min_changed"), "{e}");
        let e = MotionGate::new(MotionConfig { recheck_secs: f64::NAN, ..Default::default() }, true).err().unwrap();
        assert!(e.contains("recheck_secs"), "{e}");
        let e = MotionGate::new(MotionConfig { width: 4, ..Default::default() }, true).err().unwrap();
        assert!(e.contains("width"), "{e}");
    }
}
