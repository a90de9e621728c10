//! `[plates]` in a pipeline config: which vehicle tracks get their plate read, how often,
//! how many agreeing reads settle it, and the watch list.

use super::WatchList;
use super::ocr::PlateReaderConfig;
use crate::detect::Manifest;
use pipeline::alert::Severity;
use serde::{Deserialize, Serialize};

/// `[plates]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatesConfig {
    pub enabled: bool,
    /// Track classes whose plates are read.
    pub classes: Vec<String>,
    /// A track's box must be at least this tall (full-frame pixels) to be read.
    pub min_box_height_px: f32,
    /// Seconds between reads of one track.
    pub interval_secs: f64,
    /// Agreeing reads before a plate is the track's.
    pub settle_reads: u32,
    /// Reads waiting at most.
    pub max_pending: usize,
    pub reader: PlateReaderConfig,
    /// Listed plates, e.g. `{ plate = "01 A 777 BC", reason = "stolen" }`.
    pub watch_list: Vec<WatchEntry>,
    pub watch_severity: Severity,
}

/// One listed plate and why.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchEntry {
    pub plate: String,
    pub reason: String,
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            classes: ["car", "bus", "truck", "motorcycle"].map(String::from).to_vec(),
            min_box_height_px: 80.0,
            interval_secs: 0.5,
            settle_reads: 2,
            max_pending: 4,
            reader: PlateReaderConfig::default(),
            watch_list: vec![],
            watch_severity: Severity::High,
        }
    }
}

impl PlatesConfig {
    /// `Err` names the field.
    pub fn validate(&self, labels: &[&str]) -> Result<(), String> {
        for c in &self.classes {
            if !labels.contains(&c.as_str()) {
                return Err(format!("classes: {c:?} is not a label of the detector's model"));
            }
        }
        if !(self.interval_secs >= 0.0 && self.interval_secs.is_finite()) {
            return Err(format!("interval_secs: {} must be a number of seconds >= 0", self.interval_secs));
        }
        if self.settle_reads == 0 || self.max_pending == 0 {
            return Err("settle_reads and max_pending: must be at least 1".into());
        }
        self.reader.validate(&Manifest::builtin()).map_err(|e| format!("reader.{e}"))?;
        self.watch_list()?;
        Ok(())
    }

    /// The watch list, its plates in canonical form.
    pub fn watch_list(&self) -> Result<WatchList, String> {
        WatchList::new(self.watch_list.iter().map(|e| (e.plate.as_str(), e.reason.as_str())))
            .map_err(|e| format!("watch_list: {e}"))
    }
}
