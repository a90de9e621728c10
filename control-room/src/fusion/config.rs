//! `[fusion]` in a control-room config: how alerts are correlated into incidents.
//!
//! Every parameter is in seconds of *event* time or metres on the ground (docs/ARCHITECTURE.md, "Time
//! and place"), except `max_future_secs` and `max_past_secs`, which bound a stated event time
//! against the control room's own clock ([`FusionConfig::bound`]). A bad config is refused by
//! [`FusionConfig::validate`] with the field's path.

use chrono::{DateTime, Utc};
use pipeline::alert::{Alert, Severity};
use serde::{Deserialize, Serialize};

/// Rule names that fusion itself writes into a member's `rule`, so a user may not take them.
pub(crate) const RESERVED_RULE_NAMES: [&str; 1] = ["episode"];

/// At most this many rules: each correlation rule is one bit of an incident's rule mask.
pub const MAX_RULES: usize = 64;

/// `[fusion]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FusionConfig {
    /// Seconds an alert may trail the newest event time seen for its site before it counts
    /// as late. The per-site watermark is `max(event_ts) - allowed_lateness_secs`.
    pub allowed_lateness_secs: u64,
    /// Seconds an incident stays open after its last member's event time has fallen behind
    /// the site watermark; then a final update with `closed: true` is emitted and the incident
    /// is forgotten. Must be at least every rule's window, or an incident could be forgotten
    /// while an on-time alert could still join it.
    pub close_after_secs: u64,
    /// Raise the derived severity one level (capped at `critical`) when the members come from
    /// at least this many distinct source kinds (camera, xray, call, sensor); `0` never raises.
    pub escalate_at_source_kinds: usize,
    /// Alert kinds that are stored and published but make no incidents, e.g. the edge
    /// nodes' periodic `test_signal`.
    pub ignore_kinds: Vec<String>,
    /// Seconds an alert's stated event time may run ahead of the control room's clock when it
    /// arrives. Beyond that the node's clock is wrong (or lies): the alert is fused at the time
    /// the control room received it and its member is marked `time_mark: "future"`, so no node
    /// can move its site's watermark (one alert dated 2100 would otherwise close every open
    /// incident of the site and make every later alert late). 5 s: synced nodes agree to
    /// milliseconds and an unsynced one drifts seconds a day, while 5 s ahead moves a
    /// watermark well within the default 60 s `allowed_lateness_secs`.
    pub max_future_secs: u64,
    /// An alert stated more than this many seconds before it arrived is marked `time_mark:
    /// "past"`. Its time is kept (an outbox drained after a long outage is real), and evidence
    /// retention runs from when it was received, never from its stated time.
    pub max_past_secs: u64,
    /// `[[fusion.rules]]`, tried in order; the first that links an alert is recorded on its member.
    pub rules: Vec<RuleConfig>,
}

/// Why fusion did not take an alert's stated event time as it came (a member's `time_mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeMark {
    /// Beyond the control room's clock plus `max_future_secs`: fused at the time received.
    Future,
    /// More than `max_past_secs` before it was received: fused at its stated time.
    Past,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            allowed_lateness_secs: 60,
            close_after_secs: 3600,
            escalate_at_source_kinds: 2,
            ignore_kinds: vec!["test_signal".into()],
            max_future_secs: 5,
            max_past_secs: 86_400,
            rules: vec![],
        }
    }
}

/// One `[[fusion.rules]]` entry; `type` picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleConfig {
    /// Same ground place, close in event time.
    Near(NearRule),
    /// Same correlation key value, close in event time.
    SameKey(SameKeyRule),
    /// Sigma-style `event_count`: enough alerts of one group within a timespan raise an incident of their own.
    EventCount(EventCountRule),
}

/// `type = "near"`: an alert joins an incident whose place is within `radius_m` and whose
/// event-time span is within `window_secs` of the alert's event time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NearRule {
    /// Unique among the rules; recorded on each member this rule joined.
    pub name: String,
    /// Great-circle (haversine) distance in metres between the alert's place and the incident's.
    pub radius_m: f64,
    /// Seconds of event time between the alert and the nearest end of the incident's span.
    pub window_secs: u64,
    /// Alert kinds the rule applies to; empty means every kind. An incident qualifies when
    /// at least one of its members has one of these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// `type = "same_key"`: an alert joins an incident that already holds the same value of
/// `key` and whose event-time span is within `window_secs` of the alert's event time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SameKeyRule {
    /// Unique among the rules; recorded on each member this rule joined.
    pub name: String,
    /// Which correlation key must be equal: `plate`, `container` or `call`.
    pub key: CorrelationKey,
    /// Seconds of event time between the alert and the nearest end of the incident's span.
    pub window_secs: u64,
    /// Alert kinds the rule applies to; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// `type = "event_count"`: at least `count` alerts of `kinds` with the same `group_by` value
/// within `timespan_secs` raise an incident of kind `incident_kind`. Only `begin` alerts are
/// counted, so one long episode (begin, many updates) counts once.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventCountRule {
    /// Unique among the rules; recorded on each member and as the incident's `rule`.
    pub name: String,
    /// Alert kinds counted; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// What the counted alerts must share, e.g. `source.id`, `plate`, `site`.
    pub group_by: GroupBy,
    /// How many alerts raise the incident; at least 2 (a single alert is already an incident).
    pub count: u32,
    /// Seconds of event time that `count` alerts must fit in; later alerts of the same group
    /// within this many seconds of the incident's span join it.
    pub timespan_secs: u64,
    /// `kind` of the incident raised, e.g. `repeated_intrusion`.
    pub incident_kind: String,
    /// Severity of the incident raised; a more severe member raises it further.
    pub severity: Severity,
}

/// A correlation key of the alert contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKey {
    Plate,
    Container,
    Call,
}

impl CorrelationKey {
    /// The alert's value of this key, if it has one.
    pub fn value(self, alert: &Alert) -> Option<&str> {
        let c = &alert.correlation;
        match self {
            // Joined on keyed hashes (`personal`), never on the plate or container itself.
            CorrelationKey::Plate => c.plate_key.as_deref(),
            CorrelationKey::Container => c.container_key.as_deref(),
            CorrelationKey::Call => c.call.as_deref(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// What an `event_count` rule groups alerts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum GroupBy {
    #[serde(rename = "source.id")]
    SourceId,
    #[serde(rename = "source.kind")]
    SourceKind,
    #[serde(rename = "site")]
    Site,
    #[serde(rename = "plate")]
    Plate,
    #[serde(rename = "container")]
    Container,
    #[serde(rename = "call")]
    Call,
}

impl GroupBy {
    /// The alert's group value; `None` when the alert lacks it (it is then not counted).
    pub fn value(self, alert: &Alert) -> Option<&str> {
        match self {
            GroupBy::SourceId => Some(alert.source.id.as_str()),
            GroupBy::SourceKind => Some(alert.source.kind.as_str()),
            GroupBy::Site => Some(alert.site.as_str()),
            GroupBy::Plate => CorrelationKey::Plate.value(alert),
            GroupBy::Container => CorrelationKey::Container.value(alert),
            GroupBy::Call => CorrelationKey::Call.value(alert),
        }
    }
}

impl RuleConfig {
    /// The rule's name.
    pub fn name(&self) -> &str {
        match self {
            RuleConfig::Near(r) => &r.name,
            RuleConfig::SameKey(r) => &r.name,
            RuleConfig::EventCount(r) => &r.name,
        }
    }

    /// The alert kinds the rule applies to; empty means every kind.
    pub fn kinds(&self) -> &[String] {
        match self {
            RuleConfig::Near(r) => &r.kinds,
            RuleConfig::SameKey(r) => &r.kinds,
            RuleConfig::EventCount(r) => &r.kinds,
        }
    }

    /// Whether the rule applies to an alert of `kind`.
    pub fn accepts(&self, kind: &str) -> bool {
        let kinds = self.kinds();
        kinds.is_empty() || kinds.iter().any(|k| k == kind)
    }

    /// The longest event-time distance the rule links across, in seconds.
    fn window_secs(&self) -> u64 {
        match self {
            RuleConfig::Near(r) => r.window_secs,
            RuleConfig::SameKey(r) => r.window_secs,
            RuleConfig::EventCount(r) => r.timespan_secs,
        }
    }

    fn window_field(&self) -> &'static str {
        match self {
            RuleConfig::EventCount(_) => "timespan_secs",
            _ => "window_secs",
        }
    }
}

impl FusionConfig {
    /// The event time fusion uses for an alert stated at `stated` that the control room
    /// received at `received` (its own clock), and the mark when that is not the stated time
    /// taken as it came. Pure, so replay from the store (which keeps the received time) gives
    /// the same time.
    pub fn bound(&self, stated: DateTime<Utc>, received: DateTime<Utc>) -> (DateTime<Utc>, Option<TimeMark>) {
        match self.bound_us(stated.timestamp_micros(), received.timestamp_micros()) {
            (_, Some(TimeMark::Future)) => (received, Some(TimeMark::Future)),
            (_, mark) => (stated, mark),
        }
    }

    /// [`FusionConfig::bound`] in µs since the epoch, as the store keeps times. Saturating:
    /// no config value or stated time can overflow.
    pub fn bound_us(&self, stated: i64, received: i64) -> (i64, Option<TimeMark>) {
        let us = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        if stated > received.saturating_add(us(self.max_future_secs)) {
            (received, Some(TimeMark::Future))
        } else if stated < received.saturating_sub(us(self.max_past_secs)) {
            (stated, Some(TimeMark::Past))
        } else {
            (stated, None)
        }
    }

    /// Checks every field; `Err` names it, e.g. `rules[1].radius_m: must be a positive number of metres`.
    pub fn validate(&self) -> Result<(), String> {
        if self.close_after_secs == 0 {
            return Err("close_after_secs: must be > 0".into());
        }
        if self.max_past_secs == 0 {
            return Err("max_past_secs: must be > 0 (0 would mark every alert)".into());
        }
        if self.rules.len() > MAX_RULES {
            return Err(format!("rules: at most {MAX_RULES} rules, got {}", self.rules.len()));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            self.validate_rule(rule).map_err(|e| format!("rules[{i}].{e}"))?;
            if self.rules[..i].iter().any(|r| r.name() == rule.name()) {
                return Err(format!("rules[{i}].name: {:?} is used by an earlier rule", rule.name()));
            }
        }
        Ok(())
    }

    fn validate_rule(&self, rule: &RuleConfig) -> Result<(), String> {
        let name = rule.name();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(format!("name: {name:?} must be non-empty ASCII letters, digits, '_', '.' or '-'"));
        }
        if RESERVED_RULE_NAMES.contains(&name) {
            return Err(format!("name: {name:?} is reserved by fusion"));
        }
        for (j, k) in rule.kinds().iter().enumerate() {
            if !is_kind(k) {
                return Err(format!("kinds[{j}]: {k:?} is not an alert kind (lower-case, digits, '_')"));
            }
        }
        let window = rule.window_secs();
        if window == 0 {
            return Err(format!("{}: must be > 0", rule.window_field()));
        }
        if window > self.close_after_secs {
            return Err(format!(
                "{}: {window} s is longer than close_after_secs ({} s); incidents would be forgotten while still joinable",
                rule.window_field(),
                self.close_after_secs
            ));
        }
        match rule {
            RuleConfig::Near(r) if !(r.radius_m.is_finite() && r.radius_m > 0.0) => {
                Err(format!("radius_m: {} must be a positive number of metres", r.radius_m))
            }
            RuleConfig::EventCount(r) if r.count < 2 => {
                Err(format!("count: {} must be at least 2 (one alert is already an incident)", r.count))
            }
            RuleConfig::EventCount(r) if !is_kind(&r.incident_kind) => {
                Err(format!("incident_kind: {:?} is not a kind (lower-case, digits, '_')", r.incident_kind))
            }
            _ => Ok(()),
        }
    }
}

/// `^[a-z][a-z0-9_]*$`, the alert contract's `kind`.
fn is_kind(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
