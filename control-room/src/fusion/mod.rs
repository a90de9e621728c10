//! Fusion (control room): correlates alerts from cameras, X-ray lanes, 102 calls and sensors
//! into incidents, and owns incident membership and derived severity (docs/ARCHITECTURE.md,
//! "Who owns what").
//!
//! The one idea to understand first: everything runs on **event time** with a per-site
//! watermark, never on the wall clock. A backlog drained after an outage joins the incidents
//! of its own time and is marked `late`, and replaying the same alerts gives the same
//! incidents, ids included. Event time as a node states it is bounded once, against the time
//! the control room received the alert ([`FusionConfig::bound`]): an alert stated beyond
//! `max_future_secs` ahead is fused at the time received and marked `time_mark: "future"`,
//! so a node with a wrong clock cannot move its site's watermark; one stated more than
//! `max_past_secs` before is kept at its time and marked `time_mark: "past"`.
//!
//! - Every alert lands in exactly one *correlation* incident: the one its episode is already
//!   in, or the ones a `near` / `same_key` rule links it to (several are merged into the
//!   oldest), or a new one of its own.
//! - `event_count` rules raise incidents of their own kind on top, when enough alerts of a
//!   group fall within a timespan.
//! - Incidents the watermark has left `close_after_secs` behind get a final `closed` update
//!   and are forgotten, so memory is bounded by the alert rate times the retention.
//!
//! [`Engine::ingest_at`] is pure: no I/O, no clock (the received time is an argument), no
//! randomness. The message schema is
//! `pipeline/schemas/incident.schema.json`, published on `qv/{site}/incident/{id}`.

pub mod cap;
mod config;
mod engine;
mod index;
#[cfg(test)]
mod tests;

pub use config::{
    CorrelationKey, EventCountRule, FusionConfig, GroupBy, MAX_RULES, NearRule, RuleConfig, SameKeyRule, TimeMark,
};
pub use engine::{
    Change, Engine, Incident, IncidentKeys, IncidentUpdate, Member, SCHEMA_VERSION, alert_place, incident_key_expr,
};

/// The JSON Schema of [`IncidentUpdate`], as shipped to integrators.
pub const JSON_SCHEMA: &str = include_str!("../../../pipeline/schemas/incident.schema.json");
