//! Records fed to a node from outside, other than media: 102 call records, patrol unit
//! reports, sensor telemetry, customs declarations, inspection results and officers' lane
//! entries. They arrive by HTTP POST, on zenoh (`qv/{site}/feed/…`, keys in
//! [`crate::keys`]) or replayed from files; this is what every route answers.

use serde::{Deserialize, Serialize};

/// Which feed a record is for: its HTTP route, its zenoh key, its replay kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Calls,
    Units,
    Telemetry,
    /// Customs declarations for vehicles at the lanes.
    Declarations,
    /// Past declarations, loaded into the importers' history by a privileged, audited route.
    DeclarationImports,
    /// Results of inspections, back into the importers' history.
    Inspections,
    /// An officer's entry of a vehicle's plates, containers or declaration at a lane.
    Identity,
    /// X-ray scans: a multipart upload to the X-ray lane (`POST /v1/scans`), not a record
    /// for the feed thread; here so that a credential can be scoped to it.
    Scans,
}

impl FeedKind {
    pub const ALL: [FeedKind; 8] = [
        FeedKind::Calls,
        FeedKind::Units,
        FeedKind::Telemetry,
        FeedKind::Declarations,
        FeedKind::DeclarationImports,
        FeedKind::Inspections,
        FeedKind::Identity,
        FeedKind::Scans,
    ];

    /// The feed named `name` (its [`FeedKind::as_str`]).
    pub fn parse(name: &str) -> Result<FeedKind, String> {
        FeedKind::ALL.into_iter().find(|k| k.as_str() == name).ok_or_else(|| {
            let all: Vec<&str> = FeedKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("{name:?} is not a feed ({})", all.join(", "))
        })
    }

    /// The `feed` label of the feed metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Calls => "calls",
            FeedKind::Units => "units",
            FeedKind::Telemetry => "telemetry",
            FeedKind::Declarations => "declarations",
            FeedKind::DeclarationImports => "declaration_imports",
            FeedKind::Inspections => "inspections",
            FeedKind::Identity => "identity",
            FeedKind::Scans => "scans",
        }
    }
}

/// What became of one fed record, for the HTTP reply and the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// `accepted`, `updated`, `recorded`, `duplicate` or `refused`.
    pub result: &'static str,
    /// The record's id (call, declaration, scan), when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it was refused, or what was noticed (a narrative cut, an unplaced address).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Outcome {
    /// Refused, for `reason`.
    pub fn refused(reason: String) -> Self {
        Self { result: "refused", id: None, notes: vec![reason] }
    }

    /// Taken with nothing to say.
    pub fn accepted() -> Self {
        Self { result: "accepted", id: None, notes: vec![] }
    }
}
