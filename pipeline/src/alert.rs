//! The alert contract (docs/ARCHITECTURE.md, "Contracts"): what every operator raises and every
//! integrator receives. One JSON object per message, `schema_version` first.
//!
//! A condition is an *episode*: one `begin`, optional `update`s, one `end`, all sharing
//! `episode`. Each message has its own UUIDv7 `id`, so stores can be idempotent on it.
//! The JSON Schema is `pipeline/schemas/alert.schema.json`; tests validate every message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `MAJOR.MINOR` of the contract. A newer MINOR only adds optional fields.
pub const SCHEMA_VERSION: &str = "1.3";

/// The JSON Schema of [`Alert`], as shipped to integrators.
pub const JSON_SCHEMA: &str = include_str!("../schemas/alert.schema.json");

/// Whether the node's clock was NTP-synchronised when the time was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Synced,
    Unsynced,
}

/// What kind of sensor raised the alert; the third segment of its key expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Camera,
    Xray,
    Call,
    Sensor,
    /// A customs lane's decision about a vehicle (since 1.2).
    Lane,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Camera => "camera",
            SourceKind::Xray => "xray",
            SourceKind::Call => "call",
            SourceKind::Sensor => "sensor",
            SourceKind::Lane => "lane",
        }
    }
}

/// Where an episode is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Begin,
    Update,
    End,
}

/// Ordered: `Info < Low < … < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// A point on the ground (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

/// The sensor that raised the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSource {
    pub kind: SourceKind,
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

/// One object the alert is about (a track, a finding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertObject {
    /// Class label, e.g. `person`.
    pub class: String,
    /// Tracker id, stable for the life of the track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    pub score: f32,
    /// Box in normalised image coordinates `[x1, y1, x2, y2]`, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground: Option<GeoPoint>,
    /// Ground speed in metres per second, smoothed over a short window of event time;
    /// only where the camera has an image→ground mapping. Since contract 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f32>,
}

/// Keys fusion joins alerts on. `plate` and `container` are personal: whole on
/// `qv/{site}/pii/alert/…`, masked on the public keys (`personal::public`); fusion joins on
/// their keyed hashes, `plate_key` and `container_key` (since 1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// HMAC of the normalised plate under the deployment's correlation key (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_key: Option<String>,
    /// HMAC of the normalised container number, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<GeoPoint>,
}

/// One alert message. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema_version: String,
    /// UUIDv7 of this message.
    pub id: Uuid,
    /// UUIDv7 shared by the begin, updates and end of one episode.
    pub episode: Uuid,
    /// When it happened at the sensor.
    pub event_ts: DateTime<Utc>,
    /// When this node took it in.
    pub ingest_ts: DateTime<Utc>,
    pub clock: ClockState,
    pub site: String,
    pub source: AlertSource,
    /// What happened, e.g. `object_detected`, `video_loss`.
    pub kind: String,
    pub phase: Phase,
    pub severity: Severity,
    pub confidence: f32,
    #[serde(default)]
    pub objects: Vec<AlertObject>,
    /// Content hashes of evidence files (snapshots, clips).
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub correlation: Correlation,
    /// Hashes of the rule, model and config that decided (docs/ARCHITECTURE.md, "Principles": explainable, replayable).
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

impl Alert {
    /// A valid `begin` alert with fresh ids, stamped now, severity low and no objects:
    /// the starting point for tests, examples and synthetic sources.
    pub fn minimal(site: &str, source_kind: SourceKind, source_id: &str, kind: &str) -> Alert {
        let now = Utc::now();
        Alert {
            schema_version: SCHEMA_VERSION.into(),
            id: new_id(),
            episode: new_id(),
            event_ts: now,
            ingest_ts: now,
            clock: ClockState::Unsynced,
            site: site.into(),
            source: AlertSource { kind: source_kind, id: source_id.into(), name: source_id.into(), location: None },
            kind: kind.into(),
            phase: Phase::Begin,
            severity: Severity::Low,
            confidence: 1.0,
            objects: vec![],
            evidence: vec![],
            attributes: Default::default(),
            correlation: Default::default(),
            provenance: Default::default(),
        }
    }

    /// The zenoh key expression this alert is published on:
    /// `qv/{site}/alert/{source_kind}/{source_id}/{kind}`.
    pub fn key_expr(&self) -> String {
        crate::keys::alert(&self.site, self.source.kind.as_str(), &self.source.id, &self.kind)
    }

    /// Where the whole alert, personal fields included, is published:
    /// `qv/{site}/pii/alert/{source_kind}/{source_id}/{kind}`.
    pub fn pii_key_expr(&self) -> String {
        crate::keys::pii_of(&self.key_expr())
    }

    /// The wire form: one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an Alert always serialises")
    }
}

/// A fresh UUIDv7 (time-ordered, so ids sort by creation).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The largest alert message accepted from the bus; checked before any parsing.
pub const MAX_ALERT_BYTES: usize = 1 << 20;

/// Top-level fields this version of the contract knows; others are kept, not dropped.
const KNOWN_FIELDS: [&str; 17] = [
    "schema_version",
    "id",
    "episode",
    "event_ts",
    "ingest_ts",
    "clock",
    "site",
    "source",
    "kind",
    "phase",
    "severity",
    "confidence",
    "objects",
    "evidence",
    "attributes",
    "correlation",
    "provenance",
];

/// Why a received message is not an alert we can take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("message of {bytes} bytes exceeds the {limit}-byte limit; not parsed")]
    TooLarge { bytes: usize, limit: usize },
    #[error("not JSON at line {line}, column {column}: {reason}")]
    NotJson { line: usize, column: usize, reason: String },
    #[error("not a JSON object")]
    NotAnObject,
    #[error("schema_version: {0}")]
    BadVersion(String),
    /// A newer MAJOR may change meanings: refused and dead-lettered, never guessed at.
    #[error("schema_version {version} has a newer MAJOR than {SCHEMA_VERSION}; parked as a dead letter")]
    NewerMajor { version: String },
    #[error("{0}")]
    Invalid(String),
}

impl DecodeError {
    /// A short label for metrics (`qv_bus_rejected_total{reason=…}`).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::NotJson { .. } => "not_json",
            DecodeError::NotAnObject => "not_object",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::NewerMajor { .. } => "newer_major",
            DecodeError::Invalid(_) => "invalid",
        }
    }
}

/// An alert as received: what this version understands, plus every field it does not
/// (a newer MINOR's additions), kept so that storing and forwarding lose nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub alert: Alert,
    pub unknown: serde_json::Map<String, serde_json::Value>,
}

impl Received {
    /// The message again, unknown fields included.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.alert).expect("an Alert always serialises");
        if let serde_json::Value::Object(map) = &mut value {
            map.extend(self.unknown.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        value.to_string()
    }
}

/// Decodes one alert message from the bus, applying the contract's version rules: a
/// newer MINOR is accepted with its unknown fields kept; a newer MAJOR is refused.
pub fn decode(bytes: &[u8]) -> Result<Received, DecodeError> {
    if bytes.len() > MAX_ALERT_BYTES {
        return Err(DecodeError::TooLarge { bytes: bytes.len(), limit: MAX_ALERT_BYTES });
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson {
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let serde_json::Value::Object(mut map) = value else { return Err(DecodeError::NotAnObject) };
    let version = match map.get("schema_version") {
        Some(serde_json::Value::String(v)) => v.clone(),
        Some(other) => return Err(DecodeError::BadVersion(format!("{other} is not a \"MAJOR.MINOR\" string"))),
        None => return Err(DecodeError::BadVersion("missing".into())),
    };
    let ours =
        SCHEMA_VERSION.split_once('.').and_then(|(m, _)| m.parse::<u32>().ok()).expect("SCHEMA_VERSION is MAJOR.MINOR");
    let major = version
        .split_once('.')
        .filter(|(_, minor)| minor.parse::<u32>().is_ok())
        .and_then(|(m, _)| m.parse::<u32>().ok())
        .ok_or_else(|| DecodeError::BadVersion(format!("{version:?} is not MAJOR.MINOR")))?;
    if major > ours {
        return Err(DecodeError::NewerMajor { version });
    }
    if major < ours {
        return Err(DecodeError::BadVersion(format!("{version} is an older MAJOR than {SCHEMA_VERSION}")));
    }
    let unknown: serde_json::Map<String, serde_json::Value> =
        map.iter().filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    map.retain(|k, _| KNOWN_FIELDS.contains(&k.as_str()));
    let alert: Alert =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    Ok(Received { alert, unknown })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Alert {
        Alert::minimal("post-1", SourceKind::Camera, "gate", "object_detected")
    }

    fn with(alert: &Alert, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
        let serde_json::Value::Object(mut map) = serde_json::to_value(alert).unwrap() else { unreachable!() };
        edit(&mut map);
        serde_json::to_vec(&map).unwrap()
    }

    #[test]
    fn a_current_alert_round_trips() {
        let a = sample();
        let r = decode(a.to_json().as_bytes()).unwrap();
        assert_eq!(r.alert, a);
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn speed_is_optional_and_a_1_0_message_still_decodes() {
        let mut a = sample();
        a.objects.push(AlertObject {
            class: "person".into(),
            track_id: Some(3),
            score: 0.9,
            bbox: None,
            ground: Some(GeoPoint { lat: 41.3, lon: 69.2 }),
            speed_mps: Some(1.5),
        });
        let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(json["schema_version"], "1.3");
        assert_eq!(json["objects"][0]["speed_mps"], 1.5);
        assert_eq!(decode(a.to_json().as_bytes()).unwrap().alert, a);
        // Without a speed the field is left out, as a 1.0 sender writes it; 1.0 is accepted.
        a.objects[0].speed_mps = None;
        let bytes = with(&a, |m| {
            m.insert("schema_version".into(), "1.0".into());
        });
        assert!(!String::from_utf8_lossy(&bytes).contains("speed_mps"));
        assert_eq!(decode(&bytes).unwrap().alert.objects[0].speed_mps, None);
    }

    #[test]
    fn not_json_names_line_and_column() {
        let err = decode(b"{\"schema_version\": \"1.0\",\n  \"id\": oops}").unwrap_err();
        assert!(matches!(err, DecodeError::NotJson { line: 2, column: 9, .. }), "{err:?}");
        assert_eq!(err.reason(), "not_json");
    }

    #[test]
    fn a_missing_field_is_named() {
        let bytes = with(&sample(), |m| {
            m.remove("site");
        });
        let err = decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("missing field `site`"), "{err}");
    }

    #[test]
    fn a_newer_minor_is_accepted_and_its_fields_kept() {
        let bytes = with(&sample(), |m| {
            m.insert("schema_version".into(), "1.7".into());
            m.insert("weather".into(), serde_json::json!({"visibility_m": 80}));
        });
        let r = decode(&bytes).unwrap();
        assert_eq!(r.unknown["weather"]["visibility_m"], 80);
        let again: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(again["weather"]["visibility_m"], 80, "forwarding keeps what we do not understand");
        assert_eq!(again["schema_version"], "1.7");
    }

    #[test]
    fn a_newer_major_is_refused_with_the_reason() {
        let bytes = with(&sample(), |m| {
            m.insert("schema_version".into(), "2.0".into());
        });
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err, DecodeError::NewerMajor { version: "2.0".into() });
        assert!(err.to_string().contains("newer MAJOR"));
        let bytes = with(&sample(), |m| {
            m.insert("schema_version".into(), "one".into());
        });
        assert_eq!(decode(&bytes).unwrap_err().reason(), "bad_version");
    }

    #[test]
    fn an_oversized_message_is_refused_before_parsing() {
        let big = vec![b' '; 10 * 1024 * 1024];
        assert_eq!(
            decode(&big).unwrap_err(),
            DecodeError::TooLarge { bytes: 10 * 1024 * 1024, limit: MAX_ALERT_BYTES }
        );
    }
}
