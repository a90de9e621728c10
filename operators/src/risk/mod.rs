//! Customs risk (selectivity): which corridor a vehicle at a border post goes to — green
//! (released), yellow (documents checked) or red (inspected) — with the reasons in order,
//! and a record that replays the decision.
//!
//! The idea to understand first: a decision is a pure function of its [`Inputs`] (the
//! declaration, the importer's history as it was, the vehicle's identity, the X-ray summary
//! and the radiation reading) and a [`RiskConfig`]. The record stores the inputs and the
//! config's hashes beside the decision, so [`replay`] can make it again and say what
//! changed. Nothing here does I/O but the SQLite [`History`].
//!
//! - [`config`]: `configs/customs.toml` — HS reference table, reliability factors,
//!   selectivity rules, lanes.
//! - [`declaration`]: the declaration JSON, checked field by field.
//! - [`history`]: importers, declarations, inspection results (append-only), imports
//!   (audited), decision records and the post's draw secret (SQLite).
//! - [`reliability`]: the importer's 0–100 score from transparent factors.
//! - [`selectivity`]: the rules, the corridor, and per-lane rate monitoring.
//! - [`decision`]: the record and its replay.
//! - [`simulate`]: seeded synthetic traffic.
//!
//! A lane's flow: [`parse_declaration`] → [`History::record_declaration`] →
//! [`History::importer`] and [`History::random_draw`] → [`Inputs`] → [`make_record`]
//! (calls [`decide`]) → [`History::save_decision`]; later [`History::record_inspection`]
//! feeds the result back. Past declarations come in by [`History::import_declaration`].

pub mod config;
pub mod decision;
pub mod declaration;
pub mod history;
pub mod reliability;
pub mod selectivity;
pub mod simulate;
#[cfg(test)]
mod tests;

pub use config::{HsEntry, HsTable, LaneConfig, ReliabilityConfig, RiskConfig, SelectivityConfig};
pub use decision::{DecisionRecord, Replay, SCHEMA_VERSION, Versions, make_record, replay};
pub use declaration::{Checked, Declaration, DeclarationError, GoodsLine, Note, check_declaration, parse_declaration};
pub use history::{History, HitRate, HitRates, Imported, ImporterRecord, InspectionResult, RecordedInspection};
pub use reliability::{Band, Factor, Reliability, score};
pub use selectivity::{
    Action, Corridor, Decision, DrawSecret, Identity, Inputs, LaneRates, RULES_VERSION, RadiationResult,
    RadiationSummary, Rates, Reason, XrayFinding, XraySummary, decide, random_draw,
};
pub use simulate::{Population, Profile};

/// The shipped `configs/customs.toml`, built in.
pub const BUILTIN_CONFIG: &str = include_str!("../../../configs/customs.toml");
