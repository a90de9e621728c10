//! The importer history store (SQLite): declarations seen, inspection results, and the
//! decision records.
//!
//! The idea to understand first: inspection results flow back. An officer's result is
//! stored against its declaration, so the importer's inspections and hits change and the
//! next declaration's reliability with them. Whether an inspection was a *random* one is
//! not the officer's to say: it is taken from the stored decision for that declaration,
//! which keeps [`History::hit_rates`]' random hit rate — the unbiased measure of how
//! much is missed — honest.
//!
//! One result per declaration counts: a second result for the same declaration replaces
//! the first (a correction), so a re-inspection never counts twice.

use super::decision::DecisionRecord;
use super::declaration::Declaration;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS importers (
    tin TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS declarations (
    id TEXT PRIMARY KEY,
    tin TEXT NOT NULL,
    submitted TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    amended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS declarations_tin ON declarations(tin);
CREATE TABLE IF NOT EXISTS inspections (
    declaration_id TEXT PRIMARY KEY,
    tin TEXT NOT NULL,
    ts TEXT NOT NULL,
    random INTEGER NOT NULL,
    found INTEGER NOT NULL,
    what TEXT,
    officer TEXT
);
CREATE INDEX IF NOT EXISTS inspections_tin ON inspections(tin);
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    declaration_id TEXT,
    lane TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_declaration ON decisions(declaration_id, decided_at);
";

/// What is known about an importer, as the reliability score reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImporterRecord {
    pub tin: String,
    /// Submission time of its earliest declaration; `None` if never seen.
    pub first_seen: Option<DateTime<Utc>>,
    pub declarations: u32,
    pub inspections: u32,
    /// Inspections that found something.
    pub hits: u32,
    pub random_inspections: u32,
    pub random_hits: u32,
    /// Re-submissions of a declaration id with other content.
    pub amendments: u32,
}

/// An inspection result as the officer's system sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionResult {
    pub declaration_id: String,
    /// When the inspection ended.
    pub ts: DateTime<Utc>,
    /// Something was found (undeclared goods, concealment, wrong goods or quantity).
    pub found: bool,
    /// What was found, for the record.
    #[serde(default)]
    pub what: Option<String>,
    #[serde(default)]
    pub officer: Option<String>,
}

impl InspectionResult {
    /// Parses the JSON body (at most 64 KiB); `Err` names the field.
    pub fn from_json(bytes: &[u8]) -> Result<InspectionResult, String> {
        if bytes.len() > 64 << 10 {
            return Err(format!("body: {} bytes is over the limit of {}", bytes.len(), 64 << 10));
        }
        let r: InspectionResult = serde_json::from_slice(bytes).map_err(|e| format!("inspection result: {e}"))?;
        if r.declaration_id.is_empty() || r.declaration_id.len() > 64 {
            return Err(format!("declaration_id: {:?} is not a declaration id", r.declaration_id));
        }
        for (field, v) in [("what", &r.what), ("officer", &r.officer)] {
            if let Some(s) = v
                && s.chars().count() > 1000
            {
                return Err(format!("{field}: over 1000 characters"));
            }
        }
        Ok(r)
    }
}

/// Inspections and what they found, random and targeted apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitRates {
    /// Inspections drawn at random: their hit rate estimates what is in all traffic.
    pub random: HitRate,
    /// Inspections the rules (or an officer) chose: their hit rate against `random` says
    /// how much the targeting adds.
    pub targeted: HitRate,
}

/// One kind of inspection's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitRate {
    pub inspected: u64,
    pub found: u64,
    /// `found / inspected`; `None` before any inspection.
    pub rate: Option<f64>,
}

/// The SQLite history store. One writer at a time (`&mut self`).
pub struct History {
    conn: Connection,
}

fn ts(t: DateTime<Utc>) -> String {
    // Fixed width, so text order is time order.
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("history: bad time {s:?}: {e}"))
}

fn db(e: rusqlite::Error) -> String {
    format!("history: {e}")
}

impl History {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| format!("{}: {e}", path.display()))?;
        Self::init(conn).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A store in memory (tests, demos, the simulator).
    pub fn in_memory() -> Self {
        let conn = Connection::open_in_memory().expect("SQLite in-memory database");
        Self::init(conn).expect("history schema on an in-memory database")
    }

    fn init(conn: Connection) -> Result<Self, String> {
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(History { conn })
    }

    /// The importer's record; an importer never seen has zeros and no `first_seen`.
    pub fn importer(&self, tin: &str) -> Result<ImporterRecord, String> {
        let first_seen: Option<String> = self
            .conn
            .query_row("SELECT first_seen FROM importers WHERE tin = ?1", [tin], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let (declarations, amendments): (u32, u32) = self
            .conn
            .query_row("SELECT COUNT(*), COALESCE(SUM(amended), 0) FROM declarations WHERE tin = ?1", [tin], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(db)?;
        let (inspections, hits, random_inspections, random_hits): (u32, u32, u32, u32) = self
            .conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(found), 0), COALESCE(SUM(random), 0), COALESCE(SUM(random AND found), 0)
                 FROM inspections WHERE tin = ?1",
                [tin],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(db)?;
        Ok(ImporterRecord {
            tin: tin.into(),
            first_seen: first_seen.as_deref().map(parse_ts).transpose()?,
            declarations,
            inspections,
            hits,
            random_inspections,
            random_hits,
            amendments,
        })
    }

    /// Records a declaration as submitted. The same id with the same content again changes
    /// nothing; with other content it is an amendment. The same id from another importer
    /// is refused.
    pub fn record_declaration(&mut self, d: &Declaration) -> Result<(), String> {
        let digest = d.content_sha256();
        let tx = self.conn.transaction().map_err(db)?;
        let known: Option<(String, String)> = tx
            .query_row("SELECT tin, content_sha256 FROM declarations WHERE id = ?1", [&d.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)?;
        match known {
            Some((tin, _)) if tin != d.importer_tin => {
                return Err(format!(
                    "declaration {:?}: filed by importer {tin}, re-submitted as importer {}",
                    d.id, d.importer_tin
                ));
            }
            Some((_, old)) if old == digest => return Ok(()),
            Some(_) => {
                tx.execute(
                    "UPDATE declarations SET content_sha256 = ?2, amended = amended + 1 WHERE id = ?1",
                    params![d.id, digest],
                )
                .map_err(db)?;
            }
            None => {
                tx.execute(
                    "INSERT INTO declarations (id, tin, submitted, content_sha256) VALUES (?1, ?2, ?3, ?4)",
                    params![d.id, d.importer_tin, ts(d.submitted), digest],
                )
                .map_err(db)?;
            }
        }
        tx.execute(
            "INSERT INTO importers (tin, first_seen) VALUES (?1, ?2)
             ON CONFLICT(tin) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen)",
            params![d.importer_tin, ts(d.submitted)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// Records an inspection result; refuses a declaration id it has not seen. Whether it
    /// was random comes from the latest stored decision for the declaration (none: targeted).
    pub fn record_inspection(&mut self, r: &InspectionResult) -> Result<(), String> {
        let tin: Option<String> = self
            .conn
            .query_row("SELECT tin FROM declarations WHERE id = ?1", [&r.declaration_id], |row| row.get(0))
            .optional()
            .map_err(db)?;
        let Some(tin) = tin else {
            return Err(format!("declaration_id: {:?} is not a known declaration", r.declaration_id));
        };
        let random = self.decision_for(&r.declaration_id)?.is_some_and(|d| d.decision.random);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO inspections (declaration_id, tin, ts, random, found, what, officer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.declaration_id, tin, ts(r.ts), random, r.found, r.what, r.officer],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Stores a decision record; a record id already stored is refused.
    pub fn save_decision(&mut self, r: &DecisionRecord) -> Result<(), String> {
        let json = serde_json::to_string(r).map_err(|e| format!("decision {}: {e}", r.id))?;
        let declaration = r.inputs.declaration.as_ref().map(|d| d.id.clone());
        self.conn
            .execute(
                "INSERT INTO decisions (id, declaration_id, lane, decided_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, declaration, r.lane, ts(r.decided_at), json],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    format!("decision {}: already stored", r.id)
                }
                e => db(e),
            })?;
        Ok(())
    }

    /// The decision record of that id.
    pub fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, String> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT record FROM decisions WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| format!("decision {id}: stored record: {e}"))).transpose()
    }

    /// The latest decision record for a declaration.
    pub fn decision_for(&self, declaration_id: &str) -> Result<Option<DecisionRecord>, String> {
        let json: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT id, record FROM decisions WHERE declaration_id = ?1 ORDER BY decided_at DESC, rowid DESC LIMIT 1",
                [declaration_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        json.map(|(id, j)| serde_json::from_str(&j).map_err(|e| format!("decision {id}: stored record: {e}")))
            .transpose()
    }

    /// Random and targeted inspections: how many, how many found something, the rate.
    pub fn hit_rates(&self) -> Result<HitRates, String> {
        let mut out = HitRates {
            random: HitRate { inspected: 0, found: 0, rate: None },
            targeted: HitRate { inspected: 0, found: 0, rate: None },
        };
        let mut stmt =
            self.conn.prepare("SELECT random, COUNT(*), SUM(found) FROM inspections GROUP BY random").map_err(db)?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, bool>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))).map_err(db)?;
        for row in rows {
            let (random, inspected, found) = row.map_err(db)?;
            let (inspected, found) = (inspected.max(0) as u64, found.max(0) as u64);
            let h = if random { &mut out.random } else { &mut out.targeted };
            *h = HitRate { inspected, found, rate: (inspected > 0).then(|| found as f64 / inspected as f64) };
        }
        Ok(out)
    }
}
