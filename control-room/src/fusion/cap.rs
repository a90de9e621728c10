//! OASIS CAP 1.2 export of an incident, for agencies that take Common Alerting Protocol.
//!
//! The document is built from the incident alone (no clock, no randomness), so the same
//! incident always exports the same XML. Scope is `Restricted`: these are police and
//! customs incidents, not public warnings; plates and caller numbers are left out.

use super::engine::{Change, IncidentUpdate};
use chrono::{DateTime, Utc};
use pipeline::alert::{Severity, SourceKind};
use std::fmt::Write;

/// CAP's namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// Radius of the CAP `circle` drawn around an incident's place, kilometres.
const AREA_RADIUS_KM: f64 = 0.3;

/// The CAP 1.2 `<alert>` for one incident update; `sender` identifies this control room.
pub fn to_cap(update: &IncidentUpdate, sender: &str) -> String {
    let inc = &update.incident;
    let first_sent = cap_time(inc.first_event_ts);
    let (msg_type, identifier) = match update.change {
        Change::Created => ("Alert", inc.id.to_string()),
        Change::Closed if inc.merged_into.is_some() => ("Cancel", format!("{}.{}.closed", inc.id, inc.members.len())),
        Change::Closed => ("Update", format!("{}.{}.closed", inc.id, inc.members.len())),
        Change::Updated => ("Update", format!("{}.{}", inc.id, inc.members.len())),
    };
    let kinds: Vec<&str> = inc.source_kinds.iter().map(|k| k.as_str()).collect();
    let mut x = String::with_capacity(2048);
    let _ = write!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"{CAP_NS}\">\n");
    field(&mut x, 1, "identifier", &identifier);
    field(&mut x, 1, "sender", sender);
    field(&mut x, 1, "sent", &cap_time(inc.last_event_ts));
    field(&mut x, 1, "status", "Actual");
    field(&mut x, 1, "msgType", msg_type);
    field(&mut x, 1, "source", "qorovul fusion");
    field(&mut x, 1, "scope", "Restricted");
    field(&mut x, 1, "restriction", "Control rooms of the site; personal data withheld");
    if let Some(into) = inc.merged_into {
        field(&mut x, 1, "note", &format!("merged into incident {into}"));
    } else if inc.closed {
        field(&mut x, 1, "note", "incident closed");
    }
    if update.change != Change::Created {
        field(&mut x, 1, "references", &format!("{sender},{},{first_sent}", inc.id));
    }
    field(&mut x, 1, "incidents", &inc.id.to_string());
    x.push_str("  <info>\n");
    field(&mut x, 2, "language", "en-US");
    for c in categories(&inc.source_kinds, &inc.kind) {
        field(&mut x, 2, "category", c);
    }
    field(&mut x, 2, "event", &inc.kind);
    field(&mut x, 2, "urgency", if inc.closed { "Past" } else { "Immediate" });
    field(&mut x, 2, "severity", cap_severity(inc.severity));
    // Corroborated by more than one kind of sensor: observed; one kind: likely.
    field(&mut x, 2, "certainty", if inc.source_kinds.len() > 1 { "Observed" } else { "Likely" });
    field(&mut x, 2, "onset", &first_sent);
    field(&mut x, 2, "senderName", sender);
    field(
        &mut x,
        2,
        "headline",
        &format!("{} at {}: {} alert(s) from {}", inc.kind, inc.site, inc.members.len(), kinds.join(", ")),
    );
    let mut description = String::new();
    for m in &inc.members {
        let _ = writeln!(
            description,
            "{} {} {}/{}{}",
            cap_time(m.event_ts),
            m.kind,
            m.source_kind.as_str(),
            m.source_id,
            if m.late { " (late)" } else { "" }
        );
    }
    field(&mut x, 2, "description", description.trim_end());
    parameter(&mut x, "qorovul:incident", &inc.id.to_string());
    parameter(&mut x, "qorovul:site", &inc.site);
    for call in &inc.keys.call {
        parameter(&mut x, "qorovul:call", call);
    }
    x.push_str("    <area>\n");
    field(&mut x, 3, "areaDesc", &format!("site {}", inc.site));
    if let Some(p) = inc.place {
        field(&mut x, 3, "circle", &format!("{:.6},{:.6} {AREA_RADIUS_KM}", p.lat, p.lon));
    }
    x.push_str("    </area>\n  </info>\n</alert>\n");
    x
}

/// CAP's dateTime: seconds, explicit offset, never `Z`.
fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn cap_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Extreme",
        Severity::High => "Severe",
        Severity::Medium => "Moderate",
        Severity::Low => "Minor",
        Severity::Info => "Unknown",
    }
}

/// CAP categories from the kinds of sensor involved.
fn categories(kinds: &[SourceKind], incident_kind: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if incident_kind.starts_with("radiation") {
        out.push("CBRNE");
    }
    if kinds.iter().any(|k| matches!(k, SourceKind::Camera | SourceKind::Xray | SourceKind::Sensor | SourceKind::Lane))
    {
        out.push("Security");
    }
    if kinds.contains(&SourceKind::Call) {
        out.push("Safety");
    }
    if out.is_empty() {
        out.push("Other");
    }
    out
}

fn field(x: &mut String, depth: usize, name: &str, value: &str) {
    let _ = writeln!(x, "{:indent$}<{name}>{}</{name}>", "", escape(value), indent = depth * 2);
}

fn parameter(x: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        x,
        "    <parameter>\n      <valueName>{}</valueName>\n      <value>{}</value>\n    </parameter>",
        escape(name),
        escape(value)
    );
}

/// XML text escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
