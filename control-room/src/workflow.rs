//! Incident workflow: what operators do with an incident (acknowledge, assign, escalate,
//! add a note, resolve) and the summary the alarm queue shows.
//!
//! Fusion owns membership and severity; this module owns the workflow state. The state
//! machine is a pure function ([`apply`]) so the rules are tested without a store.

use crate::fusion::Incident;
use chrono::{DateTime, TimeDelta, Utc};
use pipeline::alert::{GeoPoint, Severity, SourceKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an incident stands in the operators' hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Acknowledged,
    Assigned,
    Escalated,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Assigned => "assigned",
            State::Escalated => "escalated",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [State::New, State::Acknowledged, State::Assigned, State::Escalated, State::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why an incident was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    TrueAlarm,
    FalseAlarm,
    Test,
    Duplicate,
    Other,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::TrueAlarm => "true_alarm",
            Resolution::FalseAlarm => "false_alarm",
            Resolution::Test => "test",
            Resolution::Duplicate => "duplicate",
            Resolution::Other => "other",
        }
    }
}

/// Longest note or reason accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// An operator's action on an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Acknowledge,
    Assign {
        assignee: String,
    },
    Escalate {
        reason: String,
    },
    Note {
        text: String,
    },
    Resolve {
        category: Resolution,
        note: Option<String>,
    },
    /// Not an operator's: a new alert joined a resolved incident.
    Reopen,
}

impl Action {
    /// The name written in the timeline and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Assign { .. } => "assign",
            Action::Escalate { .. } => "escalate",
            Action::Note { .. } => "note",
            Action::Resolve { .. } => "resolve",
            Action::Reopen => "reopen",
        }
    }

    /// What the timeline and the audit log keep of it.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Action::Acknowledge | Action::Reopen => serde_json::json!({}),
            Action::Assign { assignee } => serde_json::json!({ "assignee": assignee }),
            Action::Escalate { reason } => serde_json::json!({ "reason": reason }),
            Action::Note { text } => serde_json::json!({ "text": text }),
            Action::Resolve { category, note } => serde_json::json!({ "category": category, "note": note }),
        }
    }
}

/// The workflow columns of one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workflow {
    pub state: State,
    pub assignee: Option<String>,
    pub resolution: Option<Resolution>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When an acknowledgement is due (the severity's response target after the first
    /// event); `null` once acknowledged, or for severities without a target.
    pub response_due: Option<DateTime<Utc>>,
}

impl Workflow {
    /// A new incident's workflow.
    pub fn new(first_event: DateTime<Utc>, severity: Severity, targets: &ResponseTargets) -> Self {
        Workflow {
            state: State::New,
            assignee: None,
            resolution: None,
            acknowledged_at: None,
            resolved_at: None,
            response_due: targets.due(first_event, severity),
        }
    }
}

/// Seconds within which an incident of each severity should be acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseTargets {
    pub critical: Option<f64>,
    pub high: Option<f64>,
    pub medium: Option<f64>,
    pub low: Option<f64>,
    pub info: Option<f64>,
}

impl Default for ResponseTargets {
    fn default() -> Self {
        Self { critical: Some(60.0), high: Some(120.0), medium: Some(300.0), low: Some(900.0), info: None }
    }
}

impl ResponseTargets {
    pub fn due(&self, first_event: DateTime<Utc>, severity: Severity) -> Option<DateTime<Utc>> {
        let secs = match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }?;
        Some(first_event + TimeDelta::milliseconds((secs * 1000.0) as i64))
    }

    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("critical", self.critical),
            ("high", self.high),
            ("medium", self.medium),
            ("low", self.low),
            ("info", self.info),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(format!("response_targets_secs.{name}: {v} must be a positive number of seconds"));
            }
        }
        Ok(())
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The incident's state does not allow it (HTTP 409).
    Conflict(String),
    /// The action's own fields are wrong (HTTP 422).
    Invalid(String),
}

/// The workflow after `action` by `actor` at `now`, or why it cannot be done.
pub fn apply(w: &Workflow, action: &Action, now: DateTime<Utc>) -> Result<Workflow, Refused> {
    let text_ok = |field: &str, v: &str| {
        let n = v.chars().count();
        if v.trim().is_empty() {
            Err(Refused::Invalid(format!("{field} is empty")))
        } else if n > MAX_TEXT_CHARS {
            Err(Refused::Invalid(format!("{field} has {n} characters; at most {MAX_TEXT_CHARS}")))
        } else {
            Ok(())
        }
    };
    let resolved = w.state == State::Resolved;
    let mut next = w.clone();
    match action {
        Action::Acknowledge => {
            if w.state != State::New {
                return Err(Refused::Conflict(format!("the incident is already {}", w.state.as_str())));
            }
            next.state = State::Acknowledged;
        }
        Action::Assign { assignee } => {
            if resolved {
                return Err(Refused::Conflict("the incident is resolved".into()));
            }
            text_ok("assignee", assignee)?;
            next.state = State::Assigned;
            next.assignee = Some(assignee.clone());
        }
        Action::Escalate { reason } => {
            if resolved {
                return Err(Refused::Conflict("the incident is resolved".into()));
            }
            text_ok("reason", reason)?;
            next.state = State::Escalated;
        }
        Action::Note { text } => text_ok("text", text)?,
        Action::Resolve { note, .. } => {
            if resolved {
                return Err(Refused::Conflict("the incident is already resolved".into()));
            }
            if let Some(n) = note {
                text_ok("note", n)?;
            }
        }
        Action::Reopen => {
            if !resolved {
                return Ok(next);
            }
            next.state = State::New;
            next.resolution = None;
            next.resolved_at = None;
            next.acknowledged_at = None;
        }
    }
    // Any operator action answers the alarm: its response timer stops.
    if !matches!(action, Action::Reopen | Action::Note { .. }) && next.acknowledged_at.is_none() {
        next.acknowledged_at = Some(now);
        next.response_due = None;
    }
    if let Action::Resolve { category, .. } = action {
        next.state = State::Resolved;
        next.resolution = Some(*category);
        next.resolved_at = Some(now);
    }
    Ok(next)
}

/// The last alert of an incident, as the queue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastAlert {
    pub id: String,
    pub kind: String,
    #[schema(value_type = String, example = "camera")]
    pub source_kind: SourceKind,
    pub source_id: String,
    pub event_ts: DateTime<Utc>,
}

/// One row of the alarm queue: the incident without its member list, with its workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentSummary {
    pub id: String,
    pub site: String,
    pub kind: String,
    pub rule: Option<String>,
    #[schema(value_type = String, example = "high")]
    pub severity: Severity,
    pub first_event_ts: DateTime<Utc>,
    pub last_event_ts: DateTime<Utc>,
    pub alert_count: usize,
    #[schema(value_type = Vec<String>)]
    pub source_kinds: Vec<SourceKind>,
    #[schema(value_type = Option<Object>)]
    pub place: Option<GeoPoint>,
    /// The member that arrived last (the queue row carries its id).
    pub last_alert: Option<LastAlert>,
    /// Fusion has closed it (retention over, or merged into `merged_into`).
    pub closed: bool,
    pub merged_into: Option<String>,
    /// `null` only while it is being composed.
    pub workflow: Option<Workflow>,
}

impl IncidentSummary {
    /// The summary of `incident` (workflow left out), `last_alert_id` being the member
    /// that changed it last.
    pub fn of(incident: &Incident, last_alert_id: Option<uuid::Uuid>) -> Self {
        let last = last_alert_id
            .and_then(|id| incident.members.iter().find(|m| m.alert_id == id))
            .or_else(|| incident.members.last());
        IncidentSummary {
            id: incident.id.to_string(),
            site: incident.site.clone(),
            kind: incident.kind.clone(),
            rule: incident.rule.clone(),
            severity: incident.severity,
            first_event_ts: incident.first_event_ts,
            last_event_ts: incident.last_event_ts,
            alert_count: incident.members.len(),
            source_kinds: incident.source_kinds.clone(),
            place: incident.place,
            last_alert: last.map(|m| LastAlert {
                id: m.alert_id.to_string(),
                kind: m.kind.clone(),
                source_kind: m.source_kind,
                source_id: m.source_id.clone(),
                event_ts: m.event_ts,
            }),
            closed: incident.closed,
            merged_into: incident.merged_into.map(|m| m.to_string()),
            workflow: None,
        }
    }

    /// Still in the alarm queue: not resolved and not merged into another.
    pub fn is_open(&self) -> bool {
        self.merged_into.is_none() && self.workflow.as_ref().is_none_or(|w| w.state != State::Resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_state_machine_follows_the_operators_path_and_refuses_the_rest() {
        let targets = ResponseTargets::default();
        let w = Workflow::new(t(0), Severity::Critical, &targets);
        assert_eq!(w.response_due, Some(t(60)));
        let acked = apply(&w, &Action::Acknowledge, t(10)).unwrap();
        assert_eq!((acked.state, acked.acknowledged_at, acked.response_due), (State::Acknowledged, Some(t(10)), None));
        assert!(matches!(apply(&acked, &Action::Acknowledge, t(11)), Err(Refused::Conflict(_))));
        let assigned = apply(&acked, &Action::Assign { assignee: "op2".into() }, t(12)).unwrap();
        assert_eq!((assigned.state, assigned.assignee.as_deref()), (State::Assigned, Some("op2")));
        let noted = apply(&assigned, &Action::Note { text: "<b>x</b>".into() }, t(13)).unwrap();
        assert_eq!(noted, assigned, "a note changes no state");
        let resolved = apply(&noted, &Action::Resolve { category: Resolution::FalseAlarm, note: None }, t(14)).unwrap();
        assert_eq!((resolved.state, resolved.resolution), (State::Resolved, Some(Resolution::FalseAlarm)));
        assert!(matches!(apply(&resolved, &Action::Escalate { reason: "r".into() }, t(15)), Err(Refused::Conflict(_))));
        let reopened = apply(&resolved, &Action::Reopen, t(16)).unwrap();
        assert_eq!((reopened.state, reopened.resolution), (State::New, None));
    }

    #[test]
    fn resolving_a_new_incident_stops_its_timer_and_empty_or_long_texts_are_refused() {
        let w = Workflow::new(t(0), Severity::High, &ResponseTargets::default());
        let r = apply(&w, &Action::Resolve { category: Resolution::Test, note: None }, t(5)).unwrap();
        assert_eq!((r.acknowledged_at, r.response_due), (Some(t(5)), None));
        assert!(matches!(apply(&w, &Action::Note { text: "  ".into() }, t(1)), Err(Refused::Invalid(_))));
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let Err(Refused::Invalid(e)) = apply(&w, &Action::Note { text: long }, t(1)) else { panic!() };
        assert!(e.contains("4001"), "{e}");
        assert_eq!(Workflow::new(t(0), Severity::Info, &ResponseTargets::default()).response_due, None);
    }
}
