//! The decision record: what a lane decided about a vehicle, from what, under which
//! versions — and its replay.
//!
//! The idea to understand first: a record holds the complete [`Inputs`] (the importer's
//! history as it was at that moment included), so [`replay`] needs nothing but the record
//! and a configuration. Replayed with the configuration that made it, a record gives the
//! identical decision; with another, [`Replay::differences`] says what changed and which
//! versions differ. Floating-point values in a decision are rounded to 3 decimals when
//! made, so they survive JSON exactly.

use super::config::RiskConfig;
use super::selectivity::{Decision, Inputs, Reason, decide};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record's schema version (`MAJOR.MINOR`).
pub const SCHEMA_VERSION: &str = "1.0";

/// The versions a decision was made under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    /// [`RiskConfig::rules_sha256`]: the rules and their parameters.
    pub rules_sha256: String,
    /// [`RiskConfig::config_sha256`]: the configuration file.
    pub config_sha256: String,
    /// Models and tables behind the inputs, from the scan's provenance (e.g. the X-ray
    /// threat model's and the calibration's sha256), as the caller gives them.
    pub models: BTreeMap<String, String>,
    /// The qorovul version that decided.
    pub code: String,
}

/// One vehicle's decision at a lane, replayable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// UUIDv7.
    pub id: String,
    pub site: String,
    pub lane: String,
    /// Display key of the vehicle: its first plate, else its first container.
    pub vehicle: String,
    pub decided_at: DateTime<Utc>,
    pub inputs: Inputs,
    pub decision: Decision,
    pub versions: Versions,
}

/// Decides and wraps the decision in a record with its versions.
pub fn make_record(site: &str, inputs: Inputs, cfg: &RiskConfig, models: BTreeMap<String, String>) -> DecisionRecord {
    let decision = decide(&inputs, cfg);
    let vehicle = inputs
        .identity
        .plates
        .first()
        .or(inputs.identity.containers.first())
        .or(inputs.declaration.as_ref().and_then(|d| d.plates.first().or(d.containers.first())))
        .cloned()
        .unwrap_or_else(|| "unidentified".into());
    DecisionRecord {
        schema_version: SCHEMA_VERSION.into(),
        id: uuid::Uuid::now_v7().to_string(),
        site: site.into(),
        lane: inputs.lane.clone(),
        vehicle,
        decided_at: Utc::now(),
        inputs,
        decision,
        versions: versions(cfg, models),
    }
}

/// The versions of `cfg` and this build, with the caller's models.
pub fn versions(cfg: &RiskConfig, models: BTreeMap<String, String>) -> Versions {
    Versions {
        rules_sha256: cfg.rules_sha256(),
        config_sha256: cfg.config_sha256(),
        models,
        code: env!("CARGO_PKG_VERSION").into(),
    }
}

/// A record decided again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The decision `cfg` makes from the record's inputs now.
    pub decision: Decision,
    /// The decision and the versions are the same as recorded (`differences` is empty).
    pub identical: bool,
    /// The decision alone is the same (versions may differ, e.g. a comment changed).
    pub same_decision: bool,
    /// What changed, e.g. "corridor: red → yellow", "rules_sha256: recorded … now …".
    pub differences: Vec<String>,
}

/// Decides the record's inputs again with `cfg` and compares decision and versions. The
/// models are the caller's and are not compared.
pub fn replay(record: &DecisionRecord, cfg: &RiskConfig) -> Replay {
    let decision = decide(&record.inputs, cfg);
    let was = &record.decision;
    let mut d = vec![];
    let now = versions(cfg, BTreeMap::new());
    for (field, a, b) in [
        ("rules_sha256", &record.versions.rules_sha256, &now.rules_sha256),
        ("config_sha256", &record.versions.config_sha256, &now.config_sha256),
        ("code", &record.versions.code, &now.code),
    ] {
        if a != b {
            d.push(format!("{field}: recorded {a} now {b}"));
        }
    }
    if was.corridor != decision.corridor {
        d.push(format!("corridor: {} → {}", was.corridor.as_str(), decision.corridor.as_str()));
    }
    if was.action != decision.action {
        d.push(format!("action: {} → {}", label(&was.action), label(&decision.action)));
    }
    if was.random != decision.random {
        d.push(format!("random: {} → {}", was.random, decision.random));
    }
    for i in 0..was.reasons.len().max(decision.reasons.len()) {
        let (a, b) = (was.reasons.get(i), decision.reasons.get(i));
        if a != b {
            d.push(format!("reasons[{i}]: recorded {} now {}", reason_text(a), reason_text(b)));
        }
    }
    match (&was.reliability, &decision.reliability) {
        (Some(a), Some(b)) => {
            if a.score != b.score {
                d.push(format!("reliability.score: {} → {}", a.score, b.score));
            }
            if a.band != b.band {
                d.push(format!("reliability.band: {} → {}", label(&a.band), label(&b.band)));
            }
            if a.baseline != b.baseline {
                d.push(format!("reliability.baseline: {} → {}", a.baseline, b.baseline));
            }
            if a.factors != b.factors {
                for i in 0..a.factors.len().max(b.factors.len()) {
                    let (x, y) = (a.factors.get(i), b.factors.get(i));
                    if x != y {
                        let f = |f: Option<&super::reliability::Factor>| {
                            f.map_or("(none)".to_string(), |f| format!("{} {:+} ({})", f.name, f.points, f.value))
                        };
                        d.push(format!("reliability.factors[{i}]: {} → {}", f(x), f(y)));
                    }
                }
            }
        }
        (None, None) => {}
        (a, b) => d.push(format!(
            "reliability: {} → {}",
            a.as_ref().map_or("none".into(), |r| r.score.to_string()),
            b.as_ref().map_or("none".into(), |r| r.score.to_string())
        )),
    }
    let same_decision = *was == decision;
    Replay { identical: d.is_empty() && same_decision, same_decision, decision, differences: d }
}

/// An enum's serde name (`document_check`).
fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn reason_text(r: Option<&Reason>) -> String {
    r.map_or("(none)".into(), |r| format!("[{} {}] {}", r.corridor.as_str(), r.rule, r.text))
}
