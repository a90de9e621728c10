//! The alert contract (DESIGN.md, "Alert contract"): what every operator raises and every
//! integrator receives. One JSON object per message, `schema_version` first.
//!
//! A condition is an *episode*: one `begin`, optional `update`s, one `end`, all sharing
//! `episode`. Each message has its own UUIDv7 `id`, so stores can be idempotent on it.
//! The JSON Schema is `pipeline/schemas/alert.schema.json`; tests validate every message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `MAJOR.MINOR` of the contract. A newer MINOR only adds optional fields.
pub const SCHEMA_VERSION: &str = "1.0";

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
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Camera => "camera",
            SourceKind::Xray => "xray",
            SourceKind::Call => "call",
            SourceKind::Sensor => "sensor",
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
}

/// Keys fusion joins alerts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
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
    /// Hashes of the rule, model and config that decided (DESIGN.md: explainable, replayable).
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

impl Alert {
    /// The zenoh key expression this alert is published on:
    /// `qv/{site}/alert/{source_kind}/{source_id}/{kind}`.
    pub fn key_expr(&self) -> String {
        format!("qv/{}/alert/{}/{}/{}", self.site, self.source.kind.as_str(), self.source.id, self.kind)
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
