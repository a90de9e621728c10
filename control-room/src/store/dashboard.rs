//! What the dashboard reads and writes: the [`DashboardStore`] trait, so a PostgreSQL store
//! can follow for multi-instance deployments, and its SQLite implementation on the control
//! room's store file (schema in [`crate::store::migrations`]).
//!
//! Calls are blocking; the web server runs them on tokio's blocking pool.
//!
//! This file is long because the trait and its one implementation are read together, query
//! by query; a PostgreSQL implementation will be a file of its own.

use crate::audit;
use crate::auth::{Role, User};
use crate::live::{Mute, SourceRef};
use crate::store::{add_event, read_workflow, write_workflow};
use crate::workflow::{self, Action, IncidentSummary, Refused, ResponseTargets, Workflow};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use utoipa::ToSchema;
use uuid::Uuid;

/// One page of a listing; `next_cursor` asks for the next.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which sites a request may see.
#[derive(Debug, Clone)]
pub enum Sites {
    All,
    Only(Vec<String>),
}

impl Sites {
    pub fn of(user: &User) -> Self {
        if user.all_sites() { Sites::All } else { Sites::Only(user.sites.clone()) }
    }

    fn sql(&self) -> (bool, String) {
        match self {
            Sites::All => (true, "[]".into()),
            Sites::Only(s) => (false, serde_json::to_string(s).unwrap_or_else(|_| "[]".into())),
        }
    }
}

/// Filters of the incident listing.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub open_only: bool,
    pub severity: Option<i64>,
    pub kind: Option<String>,
    pub site: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Filters of the alert history.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub site: Option<String>,
    pub kind: Option<String>,
    pub source_kind: Option<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// An incident with everything the incident view shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentDetail {
    pub summary: IncidentSummary,
    /// Fusion's incident message.
    #[schema(value_type = Object)]
    pub incident: serde_json::Value,
    /// Its alerts (at most [`DETAIL_ALERTS`], the newest), personal fields masked by the caller.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<serde_json::Value>,
    pub timeline: Vec<TimelineEntry>,
    pub evidence: Vec<EvidenceRef>,
    /// A legal hold keeps its evidence past retention.
    pub legal_hold: Option<LegalHold>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LegalHold {
    pub held_by: String,
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// Alerts the incident view carries at most.
pub const DETAIL_ALERTS: usize = 200;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub ts: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceRef {
    pub sha256: String,
    pub alert_id: String,
    /// Whether an unblurred original exists for it.
    pub has_original: bool,
}

/// Where a piece of evidence comes from.
#[derive(Debug, Clone)]
pub struct EvidenceInfo {
    pub site: String,
    pub original: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    pub site: String,
    pub kind: String,
    pub id: String,
    pub name: String,
    #[schema(value_type = Option<Object>)]
    pub location: Option<pipeline::alert::GeoPoint>,
    pub last_alert_ts: DateTime<Utc>,
    pub muted: Option<Mute>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OriginalRequest {
    pub id: String,
    pub sha256: String,
    pub site: String,
    pub requested_by: String,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    /// `pending` or `approved`.
    pub state: String,
    pub approved_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: String,
}

/// The dashboard's storage. Every method that changes workflow state also writes its audit
/// entry in the same transaction, so an action and its trail never part.
pub trait DashboardStore: Send + Sync + 'static {
    fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, String>;
    fn create_user(&self, u: &NewUser) -> Result<bool, String>;
    fn users(&self, sites: &Sites) -> Result<Vec<User>, String>;
    fn set_language(&self, username: &str, language: &str) -> Result<(), String>;
    fn create_session(
        &self,
        token_hash: &[u8],
        username: &str,
        csrf: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), String>;
    /// The user and CSRF token of a live session.
    fn session(&self, token_hash: &[u8]) -> Result<Option<(User, String)>, String>;
    fn delete_session(&self, token_hash: &[u8]) -> Result<(), String>;
    fn create_token(&self, token_hash: &[u8], name: &str, role: Role, sites: &[String], by: &str)
    -> Result<(), String>;
    fn token(&self, token_hash: &[u8]) -> Result<Option<User>, String>;

    fn incidents(&self, q: &IncidentQuery, sites: &Sites) -> Result<Page<IncidentSummary>, String>;
    /// The queue row of incident `id` (no alerts, timeline or evidence).
    fn incident_summary(&self, id: &str) -> Result<Option<IncidentSummary>, String>;
    fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, String>;
    /// Applies `action` by `actor`; the inner `Err` says why the workflow refused it.
    fn act(&self, id: &str, action: &Action, actor: &str) -> Result<Result<IncidentSummary, Refused>, String>;

    fn alerts(&self, q: &AlertQuery, sites: &Sites) -> Result<Page<serde_json::Value>, String>;
    fn alert(&self, id: Uuid) -> Result<Option<serde_json::Value>, String>;

    /// Places (`Some((by, reason))`) or lifts a legal hold on an incident, with its audit entry.
    fn set_hold(&self, incident_id: &str, site: &str, hold: Option<(&str, &str)>, actor: &str) -> Result<(), String>;

    fn sources(&self, sites: &Sites) -> Result<Vec<SourceView>, String>;
    fn source_exists(&self, source: &SourceRef) -> Result<bool, String>;
    /// Sets or lifts a mute, with its audit entry.
    fn set_mute(&self, source: &SourceRef, mute: Option<&Mute>, actor: &str) -> Result<(), String>;

    fn evidence(&self, sha256: &str) -> Result<Option<EvidenceInfo>, String>;
    fn request_original(&self, sha256: &str, site: &str, by: &str, reason: &str) -> Result<OriginalRequest, String>;
    fn original_requests(&self, sites: &Sites, pending_only: bool) -> Result<Vec<OriginalRequest>, String>;
    fn original_request(&self, id: &str) -> Result<Option<OriginalRequest>, String>;
    fn approve_original(&self, id: &str, by: &str, expires: DateTime<Utc>) -> Result<OriginalRequest, String>;
    /// Whether `user` holds an approved, unexpired request for `sha256`.
    fn may_view_original(&self, sha256: &str, user: &str, now: DateTime<Utc>) -> Result<bool, String>;

    fn audit(
        &self,
        actor: &str,
        action: &str,
        site: Option<&str>,
        target: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), String>;
    fn audit_entries(&self, before: Option<i64>, limit: usize) -> Result<Vec<audit::Entry>, String>;
    fn audit_verify(&self, heads: &[audit::Head], trusted_key: Option<&str>) -> Result<audit::Report, String>;
}

/// [`DashboardStore`] on the control room's SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    /// Idle connections; one is opened when none is idle.
    pool: Mutex<Vec<Connection>>,
    /// The workflow of an incident without a workflow row (nobody acted on it yet).
    targets: ResponseTargets,
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

fn db(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

impl SqliteStore {
    /// Opens the store at `path` (migrated by the control room that owns it, or here).
    pub fn open(path: &Path, targets: &ResponseTargets) -> Result<Self, String> {
        let s = Self { path: path.to_path_buf(), pool: Mutex::default(), targets: targets.clone() };
        let mut conn = s.connect()?;
        crate::store::migrations::migrate(&mut conn)?;
        s.put(conn);
        Ok(s)
    }

    fn connect(&self) -> Result<Connection, String> {
        let what = |e: rusqlite::Error| format!("store {}: {e}", self.path.display());
        let conn = Connection::open(&self.path).map_err(what)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(what)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(what)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(what)?;
        Ok(conn)
    }

    fn put(&self, conn: Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
    }

    /// Runs `f` on a pooled connection.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, String>) -> Result<T, String> {
        let conn = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match conn {
            Some(c) => c,
            None => self.connect()?,
        };
        let r = f(&mut conn);
        self.put(conn);
        r
    }
}

fn user_from_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    let sites: String = r.get(3)?;
    Ok(User {
        username: r.get(0)?,
        display_name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        sites: serde_json::from_str(&sites).unwrap_or_default(),
        language: r.get(4)?,
    })
}

/// The summary of incident `id` from its stored message (`json`), with its workflow (a new
/// incident's when it has no row).
fn summary_from_row(
    conn: &Connection,
    id: &str,
    json: &str,
    targets: &ResponseTargets,
) -> Result<IncidentSummary, String> {
    let u: crate::fusion::IncidentUpdate =
        serde_json::from_str(json).map_err(|e| format!("incident {id}: stored message: {e}"))?;
    let mut s = IncidentSummary::of(&u.incident, None);
    let w = read_workflow(conn, id)?.unwrap_or_else(|| Workflow::new(s.first_event_ts, s.severity, targets));
    s.workflow = Some(w);
    Ok(s)
}

/// `severity:first_event_us:id` of the last row of a page.
fn incident_cursor(s: &IncidentSummary) -> String {
    format!("{}:{}:{}", s.severity as i64, s.first_event_ts.timestamp_micros(), s.id)
}

pub fn parse_incident_cursor(c: &str) -> Result<(i64, i64, String), String> {
    let mut p = c.splitn(3, ':');
    let bad = || format!("cursor {c:?} is not one this server gave");
    let sev = p.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let first = p.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let id = p.next().ok_or_else(bad)?.to_string();
    Ok((sev, first, id))
}

impl DashboardStore for SqliteStore {
    fn user_with_hash(&self, username: &str) -> Result<Option<(User, String)>, String> {
        self.with(|c| {
            c.query_row(
                "SELECT username, display_name, role, sites, language, password_hash FROM users WHERE username = ?1",
                params![username],
                |r| Ok((user_from_row(r)?, r.get(5)?)),
            )
            .optional()
            .map_err(db)
        })
    }

    fn create_user(&self, u: &NewUser) -> Result<bool, String> {
        self.with(|c| {
            let sites = serde_json::to_string(&u.user.sites).map_err(|e| e.to_string())?;
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO users (username, display_name, role, sites, language, password_hash, created_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        u.user.username,
                        u.user.display_name,
                        u.user.role.as_str(),
                        sites,
                        u.user.language,
                        u.password_hash,
                        us(Utc::now())
                    ],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn users(&self, sites: &Sites) -> Result<Vec<User>, String> {
        let all = self.with(|c| {
            let mut q = c
                .prepare("SELECT username, display_name, role, sites, language FROM users ORDER BY username")
                .map_err(db)?;
            let rows = q.query_map([], user_from_row).map_err(db)?;
            rows.map(|r| r.map_err(db)).collect::<Result<Vec<User>, String>>()
        })?;
        Ok(match sites {
            Sites::All => all,
            Sites::Only(s) => all.into_iter().filter(|u| s.iter().any(|site| u.sees_site(site))).collect(),
        })
    }

    fn set_language(&self, username: &str, language: &str) -> Result<(), String> {
        self.with(|c| {
            c.execute("UPDATE users SET language = ?2 WHERE username = ?1", params![username, language])
                .map(|_| ())
                .map_err(db)
        })
    }

    fn create_session(
        &self,
        token_hash: &[u8],
        username: &str,
        csrf: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), String> {
        self.with(|c| {
            let now = us(Utc::now());
            // Expired sessions go when new ones come.
            c.execute("DELETE FROM sessions WHERE expires_us < ?1", params![now]).map_err(db)?;
            c.execute(
                "INSERT INTO sessions (token_hash, username, csrf, created_us, expires_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, username, csrf, now, us(expires)],
            )
            .map(|_| ())
            .map_err(db)
        })
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<(User, String)>, String> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT u.username, u.display_name, u.role, u.sites, u.language, s.csrf
                 FROM sessions s JOIN users u ON u.username = s.username
                 WHERE s.token_hash = ?1 AND s.expires_us > ?2",
            )
            .and_then(|mut q| {
                q.query_row(params![token_hash, us(Utc::now())], |r| Ok((user_from_row(r)?, r.get(5)?))).optional()
            })
            .map_err(db)
        })
    }

    fn delete_session(&self, token_hash: &[u8]) -> Result<(), String> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", params![token_hash]).map(|_| ()).map_err(db)
        })
    }

    fn create_token(
        &self,
        token_hash: &[u8],
        name: &str,
        role: Role,
        sites: &[String],
        by: &str,
    ) -> Result<(), String> {
        self.with(|c| {
            let sites = serde_json::to_string(sites).map_err(|e| e.to_string())?;
            c.execute(
                "INSERT INTO api_tokens (token_hash, name, role, sites, created_by, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![token_hash, name, role.as_str(), sites, by, us(Utc::now())],
            )
            .map(|_| ())
            .map_err(db)
        })
    }

    fn token(&self, token_hash: &[u8]) -> Result<Option<User>, String> {
        self.with(|c| {
            c.prepare_cached("SELECT name, name, role, sites, 'en' FROM api_tokens WHERE token_hash = ?1")
                .and_then(|mut q| q.query_row(params![token_hash], user_from_row).optional())
                .map_err(db)
        })
    }

    fn incidents(&self, q: &IncidentQuery, sites: &Sites) -> Result<Page<IncidentSummary>, String> {
        let (all_sites, site_list) = sites.sql();
        let (c_sev, c_first, c_id) = match &q.cursor {
            Some(c) => {
                let (s, f, i) = parse_incident_cursor(c)?;
                (Some(s), Some(f), Some(i))
            }
            None => (None, None, None),
        };
        let limit = q.limit.max(1);
        let items = self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT i.id, i.json FROM incidents i LEFT JOIN workflow w ON w.incident_id = i.id
                     WHERE (?1 = 0 OR (COALESCE(w.state, 'new') != 'resolved' AND i.merged = 0))
                       AND (?2 IS NULL OR i.severity = ?2)
                       AND (?3 IS NULL OR json_extract(i.json, '$.incident.kind') = ?3)
                       AND (?4 IS NULL OR i.site = ?4)
                       AND (?5 OR i.site IN (SELECT value FROM json_each(?6)))
                       AND (?7 IS NULL OR i.severity < ?7 OR (i.severity = ?7 AND (i.first_event_us > ?8
                            OR (i.first_event_us = ?8 AND i.id > ?9))))
                     ORDER BY i.severity DESC, i.first_event_us, i.id
                     LIMIT ?10",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(
                    params![
                        q.open_only,
                        q.severity,
                        q.kind,
                        q.site,
                        all_sites,
                        site_list,
                        c_sev,
                        c_first,
                        c_id,
                        limit as i64 + 1
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .map_err(db)?;
            let rows: Vec<(String, String)> = rows.collect::<Result<_, _>>().map_err(db)?;
            rows.iter().map(|(id, s)| summary_from_row(c, id, s, &self.targets)).collect::<Result<Vec<_>, String>>()
        })?;
        Ok(page(items, limit, incident_cursor))
    }

    fn incident_summary(&self, id: &str) -> Result<Option<IncidentSummary>, String> {
        self.with(|c| {
            let json: Option<String> = c
                .query_row("SELECT json FROM incidents WHERE id = ?1", params![id], |r| r.get(0))
                .optional()
                .map_err(db)?;
            json.map(|j| summary_from_row(c, id, &j, &self.targets)).transpose()
        })
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, String> {
        self.with(|c| {
            let row: Option<String> = c
                .query_row("SELECT json FROM incidents WHERE id = ?1", params![id], |r| r.get::<_, String>(0))
                .optional()
                .map_err(db)?;
            let Some(json) = row else { return Ok(None) };
            let summary = summary_from_row(c, id, &json, &self.targets)?;
            let incident: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| format!("incident {id}: stored message: {e}"))?;
            let member_ids: Vec<Uuid> = incident["incident"]["members"]
                .as_array()
                .map(|m| m.iter().filter_map(|m| m["alert_id"].as_str()?.parse().ok()).collect())
                .unwrap_or_default();
            let mut alerts = Vec::new();
            let mut evidence = Vec::new();
            let mut by_id = c.prepare_cached("SELECT json FROM alerts WHERE id = ?1").map_err(db)?;
            let mut ev = c
                .prepare_cached(
                    "SELECT sha256, original IS NOT NULL FROM evidence_index WHERE alert_id = ?1 AND purged_us IS NULL",
                )
                .map_err(db)?;
            for aid in member_ids.iter().rev().take(DETAIL_ALERTS) {
                let key = aid.as_bytes().as_slice();
                if let Some(j) = by_id.query_row(params![key], |r| r.get::<_, String>(0)).optional().map_err(db)? {
                    alerts.push(serde_json::from_str(&j).map_err(|e| format!("alert {aid}: {e}"))?);
                }
                let rows = ev.query_map(params![key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)));
                for row in rows.map_err(db)? {
                    let (sha256, has_original) = row.map_err(db)?;
                    evidence.push(EvidenceRef { sha256, alert_id: aid.to_string(), has_original });
                }
            }
            let mut tl = c
                .prepare_cached(
                    "SELECT ts_us, actor, action, detail FROM incident_events WHERE incident_id = ?1 ORDER BY seq",
                )
                .map_err(db)?;
            let timeline = tl
                .query_map(params![id], |r| {
                    Ok(TimelineEntry {
                        ts: time(r.get(0)?),
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        detail: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let legal_hold = c
                .query_row(
                    "SELECT held_by, reason, created_us FROM legal_holds WHERE incident_id = ?1",
                    params![id],
                    |r| Ok(LegalHold { held_by: r.get(0)?, reason: r.get(1)?, since: time(r.get(2)?) }),
                )
                .optional()
                .map_err(db)?;
            Ok(Some(IncidentDetail { summary, incident, alerts, timeline, evidence, legal_hold }))
        })
    }

    fn act(&self, id: &str, action: &Action, actor: &str) -> Result<Result<IncidentSummary, Refused>, String> {
        self.with(|c| {
            // IMMEDIATE: the read-modify-write of the workflow row and the audit chain's tail
            // are one step, whoever else writes.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let row: Option<(String, String)> = tx
                .query_row("SELECT site, json FROM incidents WHERE id = ?1", params![id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(db)?;
            let Some((site, json)) = row else { return Err(format!("incident {id} is not in the store")) };
            let mut stored = summary_from_row(&tx, id, &json, &self.targets)?;
            let current = stored
                .workflow
                .take()
                .unwrap_or_else(|| Workflow::new(stored.first_event_ts, stored.severity, &self.targets));
            let now = Utc::now();
            let next = match workflow::apply(&current, action, now) {
                Ok(w) => w,
                Err(refused) => return Ok(Err(refused)),
            };
            write_workflow(&tx, id, &site, &next, now)?;
            add_event(&tx, id, now, actor, action.name(), &action.detail())?;
            audit::append_in(
                &tx,
                actor,
                action.name(),
                Some(&site),
                Some(&format!("incident/{id}")),
                &action.detail(),
            )?;
            let mut s = stored;
            s.workflow = Some(next);
            tx.commit().map_err(db)?;
            Ok(Ok(s))
        })
    }

    fn alerts(&self, q: &AlertQuery, sites: &Sites) -> Result<Page<serde_json::Value>, String> {
        let (all_sites, site_list) = sites.sql();
        let (c_us, c_id) = match &q.cursor {
            Some(c) => {
                let (t, id) = parse_alert_cursor(c)?;
                (Some(t), Some(id.as_bytes().to_vec()))
            }
            None => (None, None),
        };
        let limit = q.limit.max(1);
        let items = self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT json, event_us FROM alerts
                     WHERE (?1 IS NULL OR site = ?1)
                       AND (?2 IS NULL OR json_extract(json, '$.kind') = ?2)
                       AND (?3 IS NULL OR json_extract(json, '$.source.kind') = ?3)
                       AND event_us >= COALESCE(?4, -9223372036854775808) AND event_us < COALESCE(?5, 9223372036854775807)
                       AND (?6 OR site IN (SELECT value FROM json_each(?7)))
                       AND (?8 IS NULL OR event_us < ?8 OR (event_us = ?8 AND id < ?9))
                     ORDER BY event_us DESC, id DESC LIMIT ?10",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(
                    params![
                        q.site,
                        q.kind,
                        q.source_kind,
                        q.since_us,
                        q.until_us,
                        all_sites,
                        site_list,
                        c_us,
                        c_id,
                        limit as i64 + 1
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (json, event_us) = row.map_err(db)?;
                let mut v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("stored alert: {e}"))?;
                v["_event_us"] = event_us.into();
                out.push(v);
            }
            Ok(out)
        })?;
        let mut page = page(items, limit, |v| format!("{}:{}", v["_event_us"], v["id"].as_str().unwrap_or("")));
        for v in &mut page.items {
            if let Some(o) = v.as_object_mut() {
                o.remove("_event_us");
            }
        }
        Ok(page)
    }

    fn alert(&self, id: Uuid) -> Result<Option<serde_json::Value>, String> {
        self.with(|c| {
            let json: Option<String> = c
                .query_row("SELECT json FROM alerts WHERE id = ?1", params![id.as_bytes().as_slice()], |r| r.get(0))
                .optional()
                .map_err(db)?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| format!("alert {id}: {e}"))).transpose()
        })
    }

    fn set_hold(&self, id: &str, site: &str, hold: Option<(&str, &str)>, actor: &str) -> Result<(), String> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let target = format!("incident/{id}");
            match hold {
                Some((by, reason)) => {
                    tx.execute(
                        "INSERT INTO legal_holds (incident_id, site, held_by, reason, created_us) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (incident_id) DO UPDATE SET held_by = ?3, reason = ?4, created_us = ?5",
                        params![id, site, by, reason, us(Utc::now())],
                    )
                    .map_err(db)?;
                    let detail = serde_json::json!({ "reason": reason });
                    audit::append_in(&tx, actor, "legal_hold", Some(site), Some(&target), &detail)?;
                    add_event(&tx, id, Utc::now(), actor, "legal_hold", &detail)?;
                }
                None => {
                    let n = tx.execute("DELETE FROM legal_holds WHERE incident_id = ?1", params![id]).map_err(db)?;
                    if n > 0 {
                        audit::append_in(&tx, actor, "release_hold", Some(site), Some(&target), &serde_json::json!({}))?;
                        add_event(&tx, id, Utc::now(), actor, "release_hold", &serde_json::json!({}))?;
                    }
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn sources(&self, sites: &Sites) -> Result<Vec<SourceView>, String> {
        let (all_sites, site_list) = sites.sql();
        self.with(|c| {
            let mut q = c
                .prepare(
                    "SELECT s.site, s.kind, s.id, s.name, s.lat, s.lon, s.last_alert_us, m.muted_by, m.reason, m.until_us
                     FROM sources s LEFT JOIN mutes m ON m.site = s.site AND m.kind = s.kind AND m.id = s.id
                         AND m.until_us > ?3
                     WHERE (?1 OR s.site IN (SELECT value FROM json_each(?2)))
                     ORDER BY s.site, s.kind, s.id",
                )
                .map_err(db)?;
            let rows = q
                .query_map(params![all_sites, site_list, us(Utc::now())], |r| {
                    let (lat, lon): (Option<f64>, Option<f64>) = (r.get(4)?, r.get(5)?);
                    let by: Option<String> = r.get(7)?;
                    Ok(SourceView {
                        site: r.get(0)?,
                        kind: r.get(1)?,
                        id: r.get(2)?,
                        name: r.get(3)?,
                        location: lat.zip(lon).map(|(lat, lon)| pipeline::alert::GeoPoint { lat, lon }),
                        last_alert_ts: time(r.get(6)?),
                        muted: match by {
                            Some(by) => Some(Mute { by, reason: r.get(8)?, until: time(r.get(9)?) }),
                            None => None,
                        },
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn source_exists(&self, (site, kind, id): &SourceRef) -> Result<bool, String> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM sources WHERE site = ?1 AND kind = ?2 AND id = ?3",
                params![site, kind, id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(db)
        })
    }

    fn set_mute(&self, (site, kind, id): &SourceRef, mute: Option<&Mute>, actor: &str) -> Result<(), String> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let target = format!("source/{site}/{kind}/{id}");
            match mute {
                Some(m) => {
                    tx.execute(
                        "INSERT INTO mutes (site, kind, id, muted_by, reason, until_us, created_us)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (site, kind, id) DO UPDATE SET muted_by = ?4, reason = ?5, until_us = ?6, created_us = ?7",
                        params![site, kind, id, m.by, m.reason, us(m.until), us(Utc::now())],
                    )
                    .map_err(db)?;
                    let detail = serde_json::json!({ "reason": m.reason, "until": m.until });
                    audit::append_in(&tx, actor, "mute", Some(site), Some(&target), &detail)?;
                }
                None => {
                    tx.execute("DELETE FROM mutes WHERE site = ?1 AND kind = ?2 AND id = ?3", params![site, kind, id])
                        .map_err(db)?;
                    audit::append_in(&tx, actor, "unmute", Some(site), Some(&target), &serde_json::json!({}))?;
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn evidence(&self, sha256: &str) -> Result<Option<EvidenceInfo>, String> {
        self.with(|c| {
            c.query_row(
                "SELECT site, original FROM evidence_index WHERE sha256 = ?1 AND purged_us IS NULL LIMIT 1",
                params![sha256],
                |r| Ok(EvidenceInfo { site: r.get(0)?, original: r.get(1)? }),
            )
            .optional()
            .map_err(db)
        })
    }

    fn request_original(&self, sha256: &str, site: &str, by: &str, reason: &str) -> Result<OriginalRequest, String> {
        let r = OriginalRequest {
            id: Uuid::now_v7().to_string(),
            sha256: sha256.into(),
            site: site.into(),
            requested_by: by.into(),
            reason: reason.into(),
            requested_at: Utc::now(),
            state: "pending".into(),
            approved_by: None,
            expires_at: None,
        };
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            tx.execute(
                "INSERT INTO original_requests (id, sha256, site, requested_by, reason, requested_us, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                params![r.id, r.sha256, r.site, r.requested_by, r.reason, us(r.requested_at)],
            )
            .map_err(db)?;
            let detail = serde_json::json!({ "reason": reason, "request": r.id });
            audit::append_in(&tx, by, "request_original", Some(site), Some(&format!("evidence/{sha256}")), &detail)?;
            tx.commit().map_err(db)
        })?;
        Ok(r)
    }

    fn original_requests(&self, sites: &Sites, pending_only: bool) -> Result<Vec<OriginalRequest>, String> {
        let (all_sites, site_list) = sites.sql();
        self.with(|c| {
            let mut q = c
                .prepare(
                    "SELECT id, sha256, site, requested_by, reason, requested_us, state, approved_by, expires_us
                     FROM original_requests WHERE (?1 = 0 OR state = 'pending')
                       AND (?2 OR site IN (SELECT value FROM json_each(?3)))
                     ORDER BY requested_us DESC LIMIT 500",
                )
                .map_err(db)?;
            let rows = q.query_map(params![pending_only, all_sites, site_list], request_from_row).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn original_request(&self, id: &str) -> Result<Option<OriginalRequest>, String> {
        self.with(|c| {
            c.query_row(
                "SELECT id, sha256, site, requested_by, reason, requested_us, state, approved_by, expires_us
                 FROM original_requests WHERE id = ?1",
                params![id],
                request_from_row,
            )
            .optional()
            .map_err(db)
        })
    }

    fn approve_original(&self, id: &str, by: &str, expires: DateTime<Utc>) -> Result<OriginalRequest, String> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            let n = tx
                .execute(
                    "UPDATE original_requests SET state = 'approved', approved_by = ?2, approved_us = ?3, expires_us = ?4
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, by, us(Utc::now()), us(expires)],
                )
                .map_err(db)?;
            if n != 1 {
                return Err(format!("request {id} is not pending"));
            }
            let r = tx
                .query_row(
                    "SELECT id, sha256, site, requested_by, reason, requested_us, state, approved_by, expires_us
                     FROM original_requests WHERE id = ?1",
                    params![id],
                    request_from_row,
                )
                .map_err(db)?;
            let detail = serde_json::json!({ "request": id, "requested_by": r.requested_by, "expires": expires });
            audit::append_in(&tx, by, "approve_original", Some(&r.site), Some(&format!("evidence/{}", r.sha256)), &detail)?;
            tx.commit().map_err(db)?;
            Ok(r)
        })
    }

    fn may_view_original(&self, sha256: &str, user: &str, now: DateTime<Utc>) -> Result<bool, String> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM original_requests WHERE sha256 = ?1 AND requested_by = ?2 AND state = 'approved'
                 AND expires_us > ?3 LIMIT 1",
                params![sha256, user, us(now)],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(db)
        })
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        site: Option<&str>,
        target: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), String> {
        self.with(|c| audit::append(c, actor, action, site, target, detail).map(|_| ()))
    }

    fn audit_entries(&self, before: Option<i64>, limit: usize) -> Result<Vec<audit::Entry>, String> {
        self.with(|c| audit::entries(c, before, limit))
    }

    fn audit_verify(&self, heads: &[audit::Head], trusted_key: Option<&str>) -> Result<audit::Report, String> {
        self.with(|c| audit::verify(c, heads, trusted_key))
    }
}

/// `event_us:id` of the last alert of a page.
pub fn parse_alert_cursor(c: &str) -> Result<(i64, Uuid), String> {
    let bad = || format!("cursor {c:?} is not one this server gave");
    let (t, id) = c.split_once(':').ok_or_else(bad)?;
    Ok((t.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

fn request_from_row(r: &rusqlite::Row) -> rusqlite::Result<OriginalRequest> {
    Ok(OriginalRequest {
        id: r.get(0)?,
        sha256: r.get(1)?,
        site: r.get(2)?,
        requested_by: r.get(3)?,
        reason: r.get(4)?,
        requested_at: time(r.get(5)?),
        state: r.get(6)?,
        approved_by: r.get(7)?,
        expires_at: r.get::<_, Option<i64>>(8)?.map(time),
    })
}

/// A page of at most `limit` from `items` (fetched with one extra to know whether more follow).
fn page<T>(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor }
}
