//! `[customs]` in a pipeline config: which devices stand at which lane, the policy file,
//! the history, and how long a vehicle's inputs are waited for.

use crate::plates::Country;
use crate::risk::RiskConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

/// `[customs]` in a pipeline config: the lane decision (the policy itself is its own file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomsConfig {
    pub enabled: bool,
    /// The selectivity policy: HS table, reliability, rules, lanes and their expected rates.
    pub policy: PathBuf,
    /// Importer history and decision records (SQLite); in memory when absent.
    pub history: Option<PathBuf>,
    /// Which of this site's devices stand at which lane.
    #[serde(rename = "lane")]
    pub lanes: Vec<LaneDevices>,
    /// Seconds after a vehicle's first input that its decision waits for the rest.
    pub wait_secs: f64,
    /// Seconds a decided vehicle's plate and container reads are taken as it leaving.
    pub linger_secs: f64,
    /// A declaration submitted longer ago than this is history: refused on the lane feed
    /// (a lane must not write an importer's past), taken only by the audited import route
    /// ([`super::CustomsDesk::import_declaration`]).
    pub open_for_days: f64,
}

impl Default for CustomsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            policy: "configs/customs.toml".into(),
            history: None,
            lanes: vec![],
            wait_secs: 120.0,
            linger_secs: 60.0,
            open_for_days: 30.0,
        }
    }
}

/// One lane's devices (their ids as they appear in alert sources).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LaneDevices {
    /// The lane's id in the policy's `[[lanes]]`.
    pub id: String,
    /// Cameras whose plate reads are this lane's vehicles.
    #[serde(default)]
    pub cameras: Vec<String>,
    /// X-ray scanners of the lane.
    #[serde(default)]
    pub scanners: Vec<String>,
    /// Radiation portals of the lane.
    #[serde(default)]
    pub portals: Vec<String>,
    /// The country (ISO alpha-2) a plate read is taken to be from when it fits the formats
    /// of several (a Kyrgyz `01 123 ABC` is an Uzbek company plate too).
    #[serde(default)]
    pub plate_country: Option<String>,
}

impl CustomsConfig {
    /// Loads the policy and checks the lanes against it; `Err` names the field.
    pub fn load_policy(&self) -> Result<RiskConfig, String> {
        let policy = RiskConfig::load(&self.policy).map_err(|e| format!("policy {}: {e}", self.policy.display()))?;
        if !(self.wait_secs > 0.0 && self.wait_secs.is_finite()) {
            return Err(format!("wait_secs: {} must be a number of seconds > 0", self.wait_secs));
        }
        if !(self.linger_secs >= 0.0 && self.linger_secs.is_finite()) {
            return Err(format!("linger_secs: {} must be a number of seconds >= 0", self.linger_secs));
        }
        if !(self.open_for_days > 0.0 && self.open_for_days.is_finite()) {
            return Err(format!("open_for_days: {} must be a number of days > 0", self.open_for_days));
        }
        let mut devices = HashSet::new();
        for (i, l) in self.lanes.iter().enumerate() {
            if !policy.lanes.iter().any(|p| p.id == l.id) {
                return Err(format!("lane[{i}].id: {:?} is not a lane of the policy {}", l.id, self.policy.display()));
            }
            for d in l.cameras.iter().chain(&l.scanners).chain(&l.portals) {
                if !devices.insert(d.as_str()) {
                    return Err(format!("lane[{i}]: device {d:?} is at two lanes"));
                }
            }
            if let Some(c) = &l.plate_country
                && Country::from_code(c).is_none()
            {
                return Err(format!(
                    "lane[{i}].plate_country: {c:?} is not one of the countries whose plates are read"
                ));
            }
        }
        Ok(policy)
    }

    /// The lane a device stands at.
    pub(super) fn lane_of(&self, device: &str) -> Option<&LaneDevices> {
        self.lanes.iter().find(|l| l.cameras.iter().chain(&l.scanners).chain(&l.portals).any(|d| d == device))
    }
}
