//! `configs/customs.toml`: the HS reference table, the reliability factors, the selectivity
//! rules and the lanes. Loaded once, checked whole, and refused naming the field.
//!
//! Two hashes say which configuration made a decision (docs/ARCHITECTURE.md, "Principles": every automated decision
//! records its versions):
//! - [`RiskConfig::config_sha256`] covers the file's text exactly as loaded, comments
//!   included: it identifies the file.
//! - [`RiskConfig::rules_sha256`] covers what decides a corridor and nothing else:
//!   [`RULES_VERSION`] (the rule code), `[hs]`, `[reliability]`, `[selectivity]`, and of
//!   each lane its id, kind, scanners and random rate. The lanes' expected rate bands only
//!   feed monitoring ([`super::LaneRates`]), so they are left out; a comment edit leaves it
//!   unchanged, a changed threshold or finding kind changes it.

use super::selectivity::RULES_VERSION;
use pipeline::hash::sha256_hex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The finding kinds the X-ray analysis publishes (besides `xray_threat`, which the threat
/// classes configure).
pub const XRAY_FINDING_KINDS: [&str; 6] = [
    "xray_dense_region",
    "xray_anomaly",
    "xray_void",
    "xray_weight_mismatch",
    "xray_not_empty",
    "xray_manifest_mismatch",
];

/// The whole customs risk configuration. Build with [`RiskConfig::from_toml`] or
/// [`RiskConfig::load`]; both check every section.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    /// `[hs]`: the HS codes known here.
    pub hs: HsTable,
    /// `[reliability]`: the importer reliability factors.
    pub reliability: ReliabilityConfig,
    /// `[selectivity]`: the corridor rules.
    pub selectivity: SelectivityConfig,
    /// `[[lanes]]`
    pub lanes: Vec<LaneConfig>,
    /// sha256 of the text as loaded.
    text_sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskFile {
    hs: HsSection,
    reliability: ReliabilityConfig,
    selectivity: SelectivityConfig,
    lanes: Vec<LaneConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HsSection {
    code: Vec<HsEntry>,
}

impl RiskConfig {
    /// Parses and checks the TOML text; `Err` names the section and field, e.g.
    /// `lanes[1] "post1-light1".random_rate: 0.01 is below selectivity.random_rate 0.02`.
    pub fn from_toml(text: &str) -> Result<RiskConfig, String> {
        // A file from before the draw was keyed by the post's secret: say why, not just
        // "unknown field".
        if let Ok(t) = text.parse::<toml::Table>()
            && t.get("selectivity").and_then(|s| s.get("random_seed")).is_some()
        {
            return Err("selectivity.random_seed: no longer read; the random draw is keyed by the post's own \
                        secret, kept in its history database ([customs] history), not by a seed in a shared \
                        file: remove the line"
                .into());
        }
        let f: RiskFile = toml::from_str(text).map_err(|e| format!("customs config: {e}"))?;
        let hs = HsTable::new(f.hs.code).map_err(|e| format!("hs.{e}"))?;
        f.reliability.validate().map_err(|e| format!("reliability.{e}"))?;
        f.selectivity.validate().map_err(|e| format!("selectivity.{e}"))?;
        if f.lanes.is_empty() {
            return Err("lanes: at least one [[lanes]] is needed".into());
        }
        for (i, l) in f.lanes.iter().enumerate() {
            let at = format!("lanes[{i}] {:?}", l.id);
            if f.lanes[..i].iter().any(|o| o.id == l.id) {
                return Err(format!("{at}.id: another lane has this id"));
            }
            l.validate(f.selectivity.random_rate).map_err(|e| format!("{at}.{e}"))?;
        }
        Ok(RiskConfig {
            hs,
            reliability: f.reliability,
            selectivity: f.selectivity,
            lanes: f.lanes,
            text_sha256: sha256_hex(text.as_bytes()),
        })
    }

    /// Reads and checks the file; `Err` names the file, then the field.
    pub fn load(path: &Path) -> Result<RiskConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        RiskConfig::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// sha256 (hex) of the file's text as loaded. A config changed in code afterwards keeps
    /// it; [`RiskConfig::rules_sha256`] follows such a change.
    pub fn config_sha256(&self) -> String {
        self.text_sha256.clone()
    }

    /// sha256 (hex) of the canonical JSON (keys sorted, no spaces) of everything that
    /// decides a corridor: `{"rules_version", "hs", "reliability", "selectivity", "lanes":
    /// [{id, kind, xray, radiation, random_rate}]}`. Computed from the fields as they are
    /// now.
    pub fn rules_sha256(&self) -> String {
        let lanes: Vec<Value> = self
            .lanes
            .iter()
            .map(|l| {
                serde_json::json!({ "id": l.id, "kind": l.kind, "xray": l.xray, "radiation": l.radiation,
                                    "random_rate": self.random_rate(l) })
            })
            .collect();
        let rules = serde_json::json!({
            "rules_version": RULES_VERSION,
            "hs": self.hs.entries,
            "reliability": self.reliability,
            "selectivity": self.selectivity,
            "lanes": lanes,
        });
        let mut s = String::new();
        canonical_json(&rules, &mut s);
        sha256_hex(s.as_bytes())
    }

    /// The lane of that id.
    pub fn lane(&self, id: &str) -> Option<&LaneConfig> {
        self.lanes.iter().find(|l| l.id == id)
    }

    /// The lane's random selection rate: its own, or the global one.
    pub fn random_rate(&self, lane: &LaneConfig) -> f64 {
        lane.random_rate.unwrap_or(self.selectivity.random_rate)
    }
}

/// One `[[hs.code]]`: an HS heading (4 digits) or subheading (6 digits) known here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HsEntry {
    /// 4 or 6 digits; a declared code (6–10 digits) matches its longest listed prefix.
    pub code: String,
    pub name: String,
    /// Reference customs value, USD per kg net, that declared values are compared with.
    pub ref_usd_per_kg: f64,
    /// Goods known for naturally occurring radioactive material (NORM): a radiation alarm
    /// on them is expected often and is resolved by isotope identification.
    #[serde(default)]
    pub norm: bool,
}

/// `[hs]`: the HS codes known here, looked up by longest prefix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HsTable {
    /// As listed, in file order.
    pub entries: Vec<HsEntry>,
}

impl HsTable {
    /// Checks the entries; `Err` names the entry and field, e.g.
    /// `code[3] "69071".code: an HS code here has 4 or 6 digits`.
    pub fn new(entries: Vec<HsEntry>) -> Result<HsTable, String> {
        if entries.is_empty() {
            return Err("code: at least one [[hs.code]] is needed".into());
        }
        for (i, e) in entries.iter().enumerate() {
            let at = format!("code[{i}] {:?}", e.code);
            if !matches!(e.code.len(), 4 | 6) || !e.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{at}.code: an HS code here has 4 or 6 digits"));
            }
            if entries[..i].iter().any(|o| o.code == e.code) {
                return Err(format!("{at}.code: listed twice"));
            }
            if e.name.trim().is_empty() {
                return Err(format!("{at}.name: empty"));
            }
            if !(e.ref_usd_per_kg.is_finite() && e.ref_usd_per_kg > 0.0) {
                return Err(format!("{at}.ref_usd_per_kg: {} must be a positive number", e.ref_usd_per_kg));
            }
        }
        Ok(HsTable { entries })
    }

    /// The entry whose code is the longest prefix of `code`, if any.
    pub fn lookup(&self, code: &str) -> Option<&HsEntry> {
        self.entries.iter().filter(|e| code.starts_with(&e.code)).max_by_key(|e| e.code.len())
    }
}

/// `[reliability]`: the importer reliability score, `baseline + Σ factor points`, clamped to
/// 0–100. Each factor is a small formula of these parameters (see [`super::reliability`]).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilityConfig {
    /// The score of an importer nothing is known about, before any factor.
    pub baseline: f64,
    /// Band High (→ green) from this score up.
    pub high_at: f64,
    /// Band Low (→ red) below this score; Medium (→ yellow) in between.
    pub low_below: f64,
    /// The hit rate an inspection history is smoothed toward (Beta prior mean).
    pub prior_hit_rate: f64,
    /// Weight of that prior, in inspections: 1 hit of 1 is not a 100 % hit rate.
    pub prior_weight: f64,
    /// Points per unit of (prior_hit_rate − smoothed hit rate): below the prior gains, above
    /// loses.
    pub hit_points_per_rate: f64,
    /// At most this many points gained from a clean inspection history…
    pub hit_max_bonus: f64,
    /// …and at most this many lost from a history of hits.
    pub hit_max_penalty: f64,
    /// An importer active for less than this many months loses points…
    pub new_months: f64,
    /// …in proportion to the months missing, this many for an importer first seen now.
    pub new_max_penalty: f64,
    /// Declared value ÷ reference value below this ratio is under-valuation…
    pub value_ratio_low: f64,
    /// …losing this many points per unit of ln(value_ratio_low ÷ ratio)…
    pub value_points_per_ln: f64,
    /// …at most this many.
    pub value_max_penalty: f64,
    /// Points lost per amendment per declaration…
    pub amendment_points_per_rate: f64,
    /// …at most this many.
    pub amendment_max_penalty: f64,
    /// ISO 3166 alpha-2 countries whose goods or transit are a risk indicator.
    pub risk_countries: Vec<String>,
    /// Points lost when the goods originate in a listed country…
    pub origin_points: f64,
    /// …per listed transit country…
    pub transit_points: f64,
    /// …at most this many for the route as a whole.
    pub route_max_penalty: f64,
}

impl ReliabilityConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, v) in [("baseline", self.baseline), ("high_at", self.high_at), ("low_below", self.low_below)] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(format!("{field}: {v} must be a score in [0, 100]"));
            }
        }
        if self.low_below > self.high_at {
            return Err(format!("low_below: {} is above high_at {}", self.low_below, self.high_at));
        }
        if !(self.prior_hit_rate > 0.0 && self.prior_hit_rate < 1.0) {
            return Err(format!("prior_hit_rate: {} must be a rate in (0, 1)", self.prior_hit_rate));
        }
        if !(self.value_ratio_low > 0.0 && self.value_ratio_low.is_finite()) {
            return Err(format!("value_ratio_low: {} must be a positive ratio", self.value_ratio_low));
        }
        let positive = [("prior_weight", self.prior_weight), ("new_months", self.new_months)];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{field}: {v} must be a positive number"));
            }
        }
        let non_negative = [
            ("hit_points_per_rate", self.hit_points_per_rate),
            ("hit_max_bonus", self.hit_max_bonus),
            ("hit_max_penalty", self.hit_max_penalty),
            ("new_max_penalty", self.new_max_penalty),
            ("value_points_per_ln", self.value_points_per_ln),
            ("value_max_penalty", self.value_max_penalty),
            ("amendment_points_per_rate", self.amendment_points_per_rate),
            ("amendment_max_penalty", self.amendment_max_penalty),
            ("origin_points", self.origin_points),
            ("transit_points", self.transit_points),
            ("route_max_penalty", self.route_max_penalty),
        ];
        for (field, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "{field}: {v} must be a number of points, 0 or more (a penalty is written positive)"
                ));
            }
        }
        for (i, c) in self.risk_countries.iter().enumerate() {
            if !is_country(c) {
                return Err(format!(
                    "risk_countries[{i}]: {c:?} is not an ISO 3166 alpha-2 code (two capital letters)"
                ));
            }
        }
        Ok(())
    }
}

/// `[selectivity]`: the corridor rules' parameters (the rules are [`super::decide`]).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelectivityConfig {
    /// Fraction of declared vehicles drawn for random inspection: the default and the
    /// minimum of every lane (it keeps the hit-rate measure unbiased, so no lane goes below).
    pub random_rate: f64,
    /// X-ray finding kinds that send a vehicle red.
    pub red_findings: Vec<String>,
    /// X-ray finding kinds that send it yellow (a kind in neither list is yellow too).
    pub yellow_findings: Vec<String>,
    /// Threat classes that send it red (any other class is yellow).
    pub red_threats: Vec<String>,
    /// Above this peak (sigma over background), a radiation alarm is red even on NORM goods:
    /// a source can hide behind a NORM load, and NORM alone rarely alarms that strongly.
    #[serde(default)]
    pub norm_alarm_max_sigma: Option<f64>,
    /// A lane's corridor rates are compared with its bands once it has this many decisions.
    pub band_min_decisions: u64,
    /// …over its latest this many decisions.
    pub band_window: u64,
}

impl SelectivityConfig {
    /// `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.random_rate > 0.0 && self.random_rate <= 1.0) {
            return Err(format!("random_rate: {} must be a fraction in (0, 1]", self.random_rate));
        }
        for (field, list) in [("red_findings", &self.red_findings), ("yellow_findings", &self.yellow_findings)] {
            for (i, k) in list.iter().enumerate() {
                if k == "xray_threat" {
                    return Err(format!("{field}[{i}]: xray_threat is configured by threat class (red_threats)"));
                }
                if !k.starts_with("xray_") || k.len() < 6 {
                    return Err(format!("{field}[{i}]: {k:?} is not an X-ray finding kind (xray_…)"));
                }
                if list[..i].contains(k) {
                    return Err(format!("{field}[{i}]: {k:?} listed twice"));
                }
            }
        }
        if let Some(k) = self.red_findings.iter().find(|k| self.yellow_findings.contains(k)) {
            return Err(format!("yellow_findings: {k:?} is also in red_findings"));
        }
        for (i, c) in self.red_threats.iter().enumerate() {
            if c.trim().is_empty() || self.red_threats[..i].contains(c) {
                return Err(format!("red_threats[{i}]: {c:?} is empty or listed twice"));
            }
        }
        if let Some(v) = self.norm_alarm_max_sigma
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!("norm_alarm_max_sigma: {v} must be a positive number of sigma"));
        }
        if self.band_min_decisions == 0 {
            return Err("band_min_decisions: must be at least 1".into());
        }
        if self.band_window < self.band_min_decisions {
            return Err(format!(
                "band_window: {} is below band_min_decisions {}: the bands would never be checked",
                self.band_window, self.band_min_decisions
            ));
        }
        Ok(())
    }
}

/// One `[[lanes]]`: a lane of the post, its sensors, and the corridor rates expected on it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LaneConfig {
    pub id: String,
    /// What the lane takes, e.g. `cargo` (trucks, containers) or `light` (cars, vans).
    pub kind: String,
    /// The lane has an X-ray scanner: a vehicle without a scan is yellow.
    pub xray: bool,
    /// The lane has a radiation portal: a vehicle without a reading is yellow.
    pub radiation: bool,
    /// This lane's random selection rate, at least `selectivity.random_rate`.
    #[serde(default)]
    pub random_rate: Option<f64>,
    /// Expected fraction of green decisions, `[lo, hi]`.
    pub green: [f64; 2],
    /// Expected fraction of yellow decisions.
    pub yellow: [f64; 2],
    /// Expected fraction of red decisions (random selection included).
    pub red: [f64; 2],
}

impl LaneConfig {
    /// `Err` names the field; `min_random_rate` is the global `selectivity.random_rate`.
    pub fn validate(&self, min_random_rate: f64) -> Result<(), String> {
        if !pipeline::keys::is_segment(&self.id) {
            return Err("id: not an id (A-Z a-z 0-9 _ . -, not empty)".into());
        }
        if self.kind.trim().is_empty() {
            return Err("kind: empty".into());
        }
        if let Some(r) = self.random_rate {
            if !(r.is_finite() && r <= 1.0) {
                return Err(format!("random_rate: {r} must be a fraction up to 1"));
            }
            if r < min_random_rate {
                return Err(format!(
                    "random_rate: {r} is below selectivity.random_rate {min_random_rate}, the minimum of every lane"
                ));
            }
        }
        for (field, [lo, hi]) in [("green", self.green), ("yellow", self.yellow), ("red", self.red)] {
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi && hi <= 1.0) {
                return Err(format!("{field}: [{lo}, {hi}] must be fractions with 0 ≤ lo ≤ hi ≤ 1"));
            }
        }
        let (lo, hi) = (self.green[0] + self.yellow[0] + self.red[0], self.green[1] + self.yellow[1] + self.red[1]);
        if lo > 1.0 + 1e-9 || hi < 1.0 - 1e-9 {
            return Err(format!(
                "green, yellow, red: the bands' lows sum to {lo} and highs to {hi}; no mix of rates fits"
            ));
        }
        let random = self.random_rate.unwrap_or(min_random_rate);
        if self.red[1] < random {
            return Err(format!(
                "red: the high {} is below the random rate {random}, which alone sends that many red",
                self.red[1]
            ));
        }
        Ok(())
    }
}

/// Two capital ASCII letters.
pub(crate) fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Keys sorted at every level, no whitespace; numbers as serde_json writes them (shortest
/// round-trip form), so the same values always give the same text.
fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
