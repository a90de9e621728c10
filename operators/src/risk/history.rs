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
//! Nothing here is rewritten from a lane:
//! - Inspection results are append-only, each with the authenticated officer who sent it
//!   (`recorded_by`). A later result for the same declaration is an amendment: both are
//!   kept, and the importer's counts read the latest per declaration
//!   (`latest_inspections`), so a re-inspection never counts twice.
//! - A declaration id belongs to the importer that filed it first; another importer's is
//!   refused without naming the owner.
//! - Past declarations come in by [`History::import_declaration`] only, each import audited
//!   (`declaration_imports`: who, when, which id, its content hash).
//! - The post's [`DrawSecret`], which keys the random draw, is made on first open and
//!   stays in this database; it never leaves [`History`] (only draws do).
//!
//! A database from before (one row per declaration in `inspections`, overwritten) is
//! migrated on open: its rows are copied into `inspection_results` with no `recorded_by`
//! (nobody was authenticated then) and the old table dropped.

use super::decision::DecisionRecord;
use super::declaration::Declaration;
use super::selectivity::{DrawSecret, random_draw};
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
CREATE TABLE IF NOT EXISTS inspection_results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    declaration_id TEXT NOT NULL,
    tin TEXT NOT NULL,
    ts TEXT NOT NULL,
    random INTEGER NOT NULL,
    found INTEGER NOT NULL,
    what TEXT,
    officer TEXT,
    recorded_by TEXT,
    recorded_at TEXT
);
CREATE INDEX IF NOT EXISTS inspection_results_declaration ON inspection_results(declaration_id, seq);
CREATE INDEX IF NOT EXISTS inspection_results_tin ON inspection_results(tin);
CREATE VIEW IF NOT EXISTS latest_inspections AS
    SELECT * FROM inspection_results r
    WHERE seq = (SELECT MAX(seq) FROM inspection_results WHERE declaration_id = r.declaration_id);
CREATE TABLE IF NOT EXISTS declaration_imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    declaration_id TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS declaration_imports_id ON declaration_imports(declaration_id);
CREATE TABLE IF NOT EXISTS lane_scans (
    scan_id TEXT PRIMARY KEY,
    lane TEXT NOT NULL,
    taken_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS post_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
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

/// An inspection result as the officer's system sends it. `officer`, if the body has it,
/// must be the authenticated sender; stored, it is the sender.
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

/// One stored inspection result, in the order received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedInspection {
    /// The result (its `officer`: as stored).
    pub result: InspectionResult,
    /// The authenticated sender; `None` for a result stored before identities.
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

/// The audit row of an imported declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub declaration_id: String,
    pub content_sha256: String,
    /// The authenticated identity that imported it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The SQLite history store. One writer at a time (`&mut self`).
pub struct History {
    conn: Connection,
    /// Keys the random draw; see the module docs.
    secret: DrawSecret,
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
        #[cfg(unix)]
        let new = !path.exists();
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // It holds the post's draw secret: readable by the post's account only.
        #[cfg(unix)]
        if new {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| format!("{}: {e}", path.display()))?;
        Self::init(conn).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A store in memory (tests, demos, the simulator).
    pub fn in_memory() -> Self {
        let conn = Connection::open_in_memory().expect("SQLite in-memory database");
        Self::init(conn).expect("history schema on an in-memory database")
    }

    fn init(mut conn: Connection) -> Result<Self, String> {
        conn.execute_batch(SCHEMA).map_err(db)?;
        migrate_inspections(&mut conn)?;
        let secret = draw_secret(&conn)?;
        Ok(History { conn, secret })
    }

    /// The random draw for a declaration, keyed by this post's secret
    /// ([`random_draw`]).
    pub fn random_draw(&self, declaration_id: &str) -> f64 {
        random_draw(&self.secret, declaration_id)
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
                 FROM latest_inspections WHERE tin = ?1",
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

    /// The importer (TIN) a declaration id was first filed by; `None` if never seen.
    pub fn declaration_importer(&self, id: &str) -> Result<Option<String>, String> {
        self.conn.query_row("SELECT tin FROM declarations WHERE id = ?1", [id], |r| r.get(0)).optional().map_err(db)
    }

    /// Records a declaration as submitted. The same id with the same content again changes
    /// nothing; with other content it is an amendment. The same id from another importer
    /// is refused, without naming the owner.
    pub fn record_declaration(&mut self, d: &Declaration) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(db)?;
        write_declaration(&tx, d)?;
        tx.commit().map_err(db)
    }

    /// Records a past declaration (history only), audited with who imported it and when.
    /// An id already known is refused: an import adds, it never amends.
    pub fn import_declaration(&mut self, d: &Declaration, by: &str, at: DateTime<Utc>) -> Result<bool, String> {
        let tx = self.conn.transaction().map_err(db)?;
        let known = filed(&tx, &d.id)?;
        match known {
            Some((tin, _)) if tin != d.importer_tin => {
                return Err(format!("id: {:?} belongs to another importer", d.id));
            }
            // The same past declaration sent again (an archive re-run): nothing to do.
            Some((_, content)) if content == d.content_sha256() => return Ok(false),
            Some(_) => {
                return Err(format!(
                    "id: {:?} is already recorded; an import adds a past declaration, it does not amend one",
                    d.id
                ));
            }
            None => {}
        }
        write_declaration(&tx, d)?;
        tx.execute(
            "INSERT INTO declaration_imports (declaration_id, content_sha256, imported_by, imported_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![d.id, d.content_sha256(), by, ts(at)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// The import audit row of a declaration; `None` if it came from a lane.
    pub fn imported(&self, declaration_id: &str) -> Result<Option<Imported>, String> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT content_sha256, imported_by, imported_at FROM declaration_imports
                 WHERE declaration_id = ?1 ORDER BY seq LIMIT 1",
                [declaration_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db)?;
        row.map(|(content_sha256, by, at)| {
            Ok(Imported { declaration_id: declaration_id.into(), content_sha256, by, at: parse_ts(&at)? })
        })
        .transpose()
    }

    /// Appends an inspection result sent by `by` (the authenticated officer, stored as its
    /// `officer`); refuses a declaration id it has not seen. Whether it was random comes
    /// from the latest stored decision for the declaration (none: targeted). Returns how
    /// many earlier results for the declaration there are: more than 0, this one is an
    /// amendment, and they are kept.
    pub fn record_inspection(
        &mut self,
        r: &InspectionResult,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, String> {
        let tin: Option<String> = self
            .conn
            .query_row("SELECT tin FROM declarations WHERE id = ?1", [&r.declaration_id], |row| row.get(0))
            .optional()
            .map_err(db)?;
        let Some(tin) = tin else {
            return Err(format!("declaration_id: {:?} is not a known declaration", r.declaration_id));
        };
        let random = self.decision_for(&r.declaration_id)?.is_some_and(|d| d.decision.random);
        let tx = self.conn.transaction().map_err(db)?;
        let earlier: u32 = tx
            .query_row(
                "SELECT COUNT(*) FROM inspection_results WHERE declaration_id = ?1",
                [&r.declaration_id],
                |row| row.get(0),
            )
            .map_err(db)?;
        // The same result from the same officer again (a redelivery) is not an amendment.
        let latest: Option<(String, bool, Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT ts, found, what, officer FROM inspection_results WHERE declaration_id = ?1
                 ORDER BY seq DESC LIMIT 1",
                [&r.declaration_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(db)?;
        if latest == Some((ts(r.ts), r.found, r.what.clone(), Some(by.to_string()))) {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO inspection_results
                 (declaration_id, tin, ts, random, found, what, officer, recorded_by, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![r.declaration_id, tin, ts(r.ts), random, r.found, r.what, by, ts(at)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(earlier))
    }

    /// Every result stored for a declaration, first first.
    pub fn inspections(&self, declaration_id: &str) -> Result<Vec<RecordedInspection>, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ts, found, what, officer, recorded_by, recorded_at FROM inspection_results
                 WHERE declaration_id = ?1 ORDER BY seq",
            )
            .map_err(db)?;
        type Row = (String, bool, Option<String>, Option<String>, Option<String>, Option<String>);
        let rows = stmt
            .query_map([declaration_id], |r| -> rusqlite::Result<Row> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .map_err(db)?;
        let mut out = vec![];
        for row in rows {
            let (t, found, what, officer, recorded_by, recorded_at) = row.map_err(db)?;
            out.push(RecordedInspection {
                result: InspectionResult {
                    declaration_id: declaration_id.into(),
                    ts: parse_ts(&t)?,
                    found,
                    what,
                    officer,
                },
                recorded_by,
                recorded_at: recorded_at.as_deref().map(parse_ts).transpose()?,
            });
        }
        Ok(out)
    }

    /// Marks a scan as used by a vehicle at `lane`; `Ok(false)` if it already was (a scan
    /// replayed for another vehicle).
    pub fn take_scan(&mut self, scan_id: &str, lane: &str, at: DateTime<Utc>) -> Result<bool, String> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO lane_scans (scan_id, lane, taken_at) VALUES (?1, ?2, ?3)",
                params![scan_id, lane, ts(at)],
            )
            .map_err(db)?;
        Ok(n == 1)
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
        let mut stmt = self
            .conn
            .prepare("SELECT random, COUNT(*), SUM(found) FROM latest_inspections GROUP BY random")
            .map_err(db)?;
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

/// The importer TIN and content hash of declaration `id`, if it was filed.
fn filed(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<Option<(String, String)>, String> {
    tx.query_row("SELECT tin, content_sha256 FROM declarations WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)
}

/// Writes a declaration (new, or an amendment by the importer that filed it) and its
/// importer's first-seen time, in the caller's transaction.
fn write_declaration(tx: &rusqlite::Transaction<'_>, d: &Declaration) -> Result<(), String> {
    let digest = d.content_sha256();
    let known = filed(tx, &d.id)?;
    match known {
        // The owner is not named: an id must not tell one importer another's TIN.
        Some((tin, _)) if tin != d.importer_tin => return Err(format!("id: {:?} belongs to another importer", d.id)),
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
    Ok(())
}

/// Copies a database's pre-amendment `inspections` (one overwritten row per declaration)
/// into `inspection_results`, once, and drops it.
fn migrate_inspections(conn: &mut Connection) -> Result<(), String> {
    let old: bool = conn
        .query_row("SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'inspections'", [], |r| {
            r.get(0)
        })
        .map_err(db)?;
    if !old {
        return Ok(());
    }
    let tx = conn.transaction().map_err(db)?;
    let n = tx
        .execute(
            "INSERT INTO inspection_results (declaration_id, tin, ts, random, found, what, officer)
             SELECT declaration_id, tin, ts, random, found, what, officer FROM inspections ORDER BY rowid",
            [],
        )
        .map_err(db)?;
    tx.execute_batch("DROP TABLE inspections").map_err(db)?;
    tx.commit().map_err(db)?;
    tracing::info!("history: {n} inspection result(s) moved to the append-only inspection_results");
    Ok(())
}

/// The post's draw secret: the stored one, else a new one, stored.
fn draw_secret(conn: &Connection) -> Result<DrawSecret, String> {
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM post_secrets WHERE name = 'random_draw'", [], |r| r.get(0))
        .optional()
        .map_err(db)?;
    match stored {
        Some(v) => {
            let b: [u8; 32] = v
                .try_into()
                .map_err(|v: Vec<u8>| format!("history: post_secrets.random_draw is {} bytes, not 32", v.len()))?;
            Ok(DrawSecret::from_bytes(b))
        }
        None => {
            let s = DrawSecret::generate()?;
            conn.execute("INSERT INTO post_secrets (name, value) VALUES ('random_draw', ?1)", [&s.bytes()[..]])
                .map_err(db)?;
            Ok(s)
        }
    }
}
