//! `[calls]` in a pipeline config: the 102 desk's source, triage, place and fleet.

use super::fleet::FleetConfig;
use super::place::PlaceConfig;
use super::triage::TriageConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[calls]` in a pipeline config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    pub enabled: bool,
    /// The call centre: the alerts' `source.id` (`qv/{site}/alert/call/{source_id}/…`).
    pub source_id: String,
    pub source_name: String,
    /// Taxonomy, lexicons and examples; the built-in `configs/triage.toml` when absent.
    pub triage_file: Option<PathBuf>,
    /// Use the multilingual embedding model (manifest `e5_small`) as well as the lexicons.
    pub embeddings: bool,
    /// Calls are forgotten this long after their last record (event time).
    pub keep_secs: u64,
    /// Narrative characters carried in the alert (the full text stays at the desk).
    pub narrative_excerpt_chars: usize,
    pub place: PlaceConfig,
    pub fleet: FleetConfig,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            source_id: "102".into(),
            source_name: "102 emergency line".into(),
            triage_file: None,
            embeddings: true,
            keep_secs: 6 * 3600,
            narrative_excerpt_chars: 280,
            place: PlaceConfig::default(),
            fleet: FleetConfig::default(),
        }
    }
}

impl CallsConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !pipeline::keys::is_segment(&self.source_id) {
            return Err(format!("source_id: {:?} must be letters, digits, '_', '.', '-'", self.source_id));
        }
        self.place.validate().map_err(|e| e.trim_start_matches("calls.").to_string())?;
        self.triage_config().map(|_| ())
    }

    /// The triage taxonomy: the file's, or the built-in one.
    pub fn triage_config(&self) -> Result<TriageConfig, String> {
        match &self.triage_file {
            None => Ok(TriageConfig::default_config()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("triage_file: {}: {e}", p.display()))?;
                TriageConfig::from_toml(&text).map_err(|e| format!("triage_file {}: {e}", p.display()))
            }
        }
    }
}
