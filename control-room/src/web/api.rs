//! The REST handlers. Each checks what its route's rule cannot: the object's site (another
//! site's object answers 404), the customs restriction, and the request's own fields.
//!
//! This file is long because it holds every handler of the API, one short function per
//! route in the order of the router's table ([`super::routes`]), each with its OpenAPI
//! annotation; a reader looks a route up here rather than across files.

use super::{ApiError, AppState, Principal};
use crate::auth::{self, Permission, Role, User};
use crate::live::{Mute, NodeView};
use crate::privacy;
use crate::store::dashboard::{AlertQuery, IncidentDetail, IncidentQuery, OriginalRequest, Page, Sites, SourceView};
use crate::workflow::{Action, IncidentSummary, Refused, Resolution};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pipeline::personal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type Body<T> = Result<Json<T>, JsonRejection>;
type Params<T> = Result<Query<T>, QueryRejection>;
type PathOf<T> = Result<Path<T>, PathRejection>;
type Caller = axum::Extension<Principal>;

/// Most rows one listing returns.
const MAX_LIMIT: usize = 10_000;

fn limit(v: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit {n} is not from 1 to {MAX_LIMIT}"))),
    }
}

fn not_here(what: &str) -> ApiError {
    ApiError::not_found(format!("{what} does not exist or is not on your sites"))
}

// ---- incidents --------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentParams {
    /// `open` (default: not resolved, not merged) or `all`.
    state: Option<String>,
    /// `info`, `low`, `medium`, `high` or `critical`.
    severity: Option<String>,
    kind: Option<String>,
    site: Option<String>,
    /// 1 to 10000, default 500.
    limit: Option<usize>,
    cursor: Option<String>,
}

fn severity_rank(s: &str) -> Result<i64, ApiError> {
    ["info", "low", "medium", "high", "critical"]
        .iter()
        .position(|v| *v == s)
        .map(|i| i as i64)
        .ok_or_else(|| ApiError::bad_request(format!("severity {s:?} is not info, low, medium, high or critical")))
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentParams),
    responses((status = 200, body = Page<IncidentSummary>)))]
pub async fn list_incidents(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    q: Params<IncidentParams>,
) -> Result<Json<Page<IncidentSummary>>, ApiError> {
    let Query(q) = q?;
    if let Some(c) = &q.cursor {
        crate::store::dashboard::parse_incident_cursor(c).map_err(ApiError::bad_request)?;
    }
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(s) => return Err(ApiError::bad_request(format!("state {s:?} is not open or all"))),
    };
    let query = IncidentQuery {
        open_only,
        severity: q.severity.as_deref().map(severity_rank).transpose()?,
        kind: q.kind,
        site: q.site,
        limit: limit(q.limit, 500)?,
        cursor: q.cursor,
    };
    let sites = Sites::of(&p.user);
    Ok(Json(app.db(move |s| s.incidents(&query, &sites)).await?))
}

/// The incident if `user` may see it.
fn incident_id(id: &str) -> Result<String, ApiError> {
    Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request(format!("incident id {id:?} is not a UUID")))
}

/// The incident with its alerts, timeline and evidence, if `user` may see it.
async fn visible_incident(app: &AppState, user: &User, id: &str) -> Result<IncidentDetail, ApiError> {
    let id = incident_id(id)?;
    let detail = app.db(move |s| s.incident(&id)).await?;
    detail.filter(|d| user.sees_site(&d.summary.site)).ok_or_else(|| not_here("this incident"))
}

/// The incident's queue row, if `user` may see it: what actions need to check, without
/// loading its alerts.
async fn visible_summary(app: &AppState, user: &User, id: &str) -> Result<IncidentSummary, ApiError> {
    let id = incident_id(id)?;
    let summary = app.db(move |s| s.incident_summary(&id)).await?;
    summary.filter(|s| user.sees_site(&s.site)).ok_or_else(|| not_here("this incident"))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = String, Path)),
    responses((status = 200, body = IncidentDetail, description = "the incident, personal fields masked (its \
    alerts' and fusion's plates and containers); each alert is revealed on its own"), (status = 404)))]
pub async fn get_incident(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let Path(id) = id?;
    let mut d = visible_incident(&app, &p.user, &id).await?;
    privacy::mask_incident(&mut d);
    Ok(Json(d))
}

/// Applies an operator's action and pushes the new summary to every client.
async fn act(app: AppState, p: Principal, id: String, action: Action) -> Result<Json<IncidentSummary>, ApiError> {
    let summary = visible_summary(&app, &p.user, &id).await?;
    act_on(app, p, summary, action).await
}

/// [`act`] on an incident already looked up.
async fn act_on(
    app: AppState,
    p: Principal,
    summary: IncidentSummary,
    action: Action,
) -> Result<Json<IncidentSummary>, ApiError> {
    if !p.user.may_work(&summary.source_kinds) {
        return Err(ApiError::forbidden("customs officers act on incidents with an X-ray source only"));
    }
    let (id, actor) = (summary.id, p.user.username.clone());
    match app.db(move |s| s.act(&id, &action, &actor)).await? {
        Ok(summary) => {
            let json = serde_json::json!({ "type": "incident", "summary": &summary }).to_string();
            app.live.publish(&summary.site, json);
            Ok(Json(summary))
        }
        Err(Refused::Conflict(e)) => Err(ApiError::new(StatusCode::CONFLICT, e)),
        Err(Refused::Invalid(e)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", params(("id" = String, Path)),
    request_body = Empty, responses((status = 200, body = IncidentSummary), (status = 409)))]
pub async fn acknowledge(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<Empty>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let (Path(id), _) = (id?, body?);
    act(app, p, id, Action::Acknowledge).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub assignee: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/assign", tag = "incidents", params(("id" = String, Path)),
    request_body = AssignRequest, responses((status = 200, body = IncidentSummary), (status = 409), (status = 422)))]
pub async fn assign(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<AssignRequest>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    let summary = visible_summary(&app, &p.user, &id).await?;
    let name = req.assignee.clone();
    let assignee = app.db(move |s| s.user_with_hash(&name)).await?.map(|(u, _)| u);
    if !assignee.is_some_and(|u| u.sees_site(&summary.site) && u.may_work(&summary.source_kinds)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("assignee {:?} is not a user who works this incident's site", req.assignee),
        ));
    }
    act_on(app, p, summary, Action::Assign { assignee: req.assignee }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/escalate", tag = "incidents", params(("id" = String, Path)),
    request_body = ReasonRequest, responses((status = 200, body = IncidentSummary), (status = 409), (status = 422)))]
pub async fn escalate(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<ReasonRequest>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    act(app, p, id, Action::Escalate { reason: req.reason }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Plain text (shown as text, never as HTML), at most 4000 characters.
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", params(("id" = String, Path)),
    request_body = NoteRequest, responses((status = 200, body = IncidentSummary), (status = 422)))]
pub async fn add_note(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<NoteRequest>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    act(app, p, id, Action::Note { text: req.text }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub category: Resolution,
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", params(("id" = String, Path)),
    request_body = ResolveRequest, responses((status = 200, body = IncidentSummary), (status = 409)))]
pub async fn resolve(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<ResolveRequest>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    act(app, p, id, Action::Resolve { category: req.category, note: req.note }).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/hold", tag = "incidents", params(("id" = String, Path)),
    request_body = ReasonRequest, responses((status = 204), (status = 404), (status = 422)))]
pub async fn place_hold(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<ReasonRequest>,
) -> Result<StatusCode, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    reason_ok(&req.reason)?;
    let summary = visible_summary(&app, &p.user, &id).await?;
    let (id, site, by) = (summary.id, summary.site, p.user.username);
    app.db(move |s| s.set_hold(&id, &site, Some((&by, &req.reason)), &by)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/hold", tag = "incidents", params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
pub async fn release_hold(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    let summary = visible_summary(&app, &p.user, &id).await?;
    let (id, site, by) = (summary.id, summary.site, p.user.username);
    app.db(move |s| s.set_hold(&id, &site, None, &by)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assignable {
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

#[utoipa::path(get, path = "/api/v1/users/assignable", tag = "incidents", responses((status = 200, body = Vec<Assignable>)))]
pub async fn assignable_users(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
) -> Result<Json<Vec<Assignable>>, ApiError> {
    let sites = Sites::of(&p.user);
    let users = app.db(move |s| s.users(&sites)).await?;
    Ok(Json(
        users
            .into_iter()
            .filter(|u| u.role.may(Permission::Act))
            .map(|u| Assignable { username: u.username, display_name: u.display_name, role: u.role })
            .collect(),
    ))
}

// ---- alerts and personal data ----------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    site: Option<String>,
    kind: Option<String>,
    source_kind: Option<String>,
    /// RFC 3339, inclusive.
    since: Option<String>,
    /// RFC 3339, exclusive.
    until: Option<String>,
    /// 1 to 10000, default 100.
    limit: Option<usize>,
    cursor: Option<String>,
}

fn rfc3339(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|v| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.timestamp_micros())
            .map_err(|e| ApiError::bad_request(format!("{name} {v:?} is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, description = "alerts, newest first, personal fields masked")))]
pub async fn list_alerts(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    q: Params<AlertParams>,
) -> Result<Json<Page<serde_json::Value>>, ApiError> {
    let Query(q) = q?;
    if let Some(c) = &q.cursor {
        crate::store::dashboard::parse_alert_cursor(c).map_err(ApiError::bad_request)?;
    }
    let query = AlertQuery {
        site: q.site,
        kind: q.kind,
        source_kind: q.source_kind,
        since_us: rfc3339("since", q.since.as_deref())?,
        until_us: rfc3339("until", q.until.as_deref())?,
        limit: limit(q.limit, 100)?,
        cursor: q.cursor,
    };
    let sites = Sites::of(&p.user);
    let mut page = app.db(move |s| s.alerts(&query, &sites)).await?;
    for a in &mut page.items {
        personal::mask_alert_json(a);
    }
    Ok(Json(page))
}

async fn visible_alert(app: &AppState, user: &User, id: &str) -> Result<serde_json::Value, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::bad_request(format!("alert id {id:?} is not a UUID")))?;
    let alert = app.db(move |s| s.alert(id)).await?;
    alert.filter(|a| a["site"].as_str().is_some_and(|s| user.sees_site(s))).ok_or_else(|| not_here("this alert"))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, description = "the alert, personal fields masked"), (status = 404)))]
pub async fn get_alert(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id?;
    let mut a = visible_alert(&app, &p.user, &id).await?;
    personal::mask_alert_json(&mut a);
    Ok(Json(a))
}

fn reason_ok(reason: &str) -> Result<(), ApiError> {
    let n = reason.trim().chars().count();
    if !(4..=500).contains(&n) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reason has {n} characters; state it in 4 to 500"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/reveal", tag = "alerts", params(("id" = String, Path)),
    request_body = ReasonRequest, responses((status = 200, description = "the alert unmasked; one audit entry \
    `reveal_personal` with the reason and the names of the fields shown"), (status = 403), (status = 404),
    (status = 422, description = "no reason of 4 to 500 characters")))]
pub async fn reveal_alert(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<ReasonRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (Path(id), Json(req)) = (id?, body?);
    reason_ok(&req.reason)?;
    let a = visible_alert(&app, &p.user, &id).await?;
    let site = a["site"].as_str().unwrap_or_default().to_string();
    // The audit entry names the fields shown, never their values.
    let detail = serde_json::json!({ "reason": req.reason, "fields": privacy::personal_fields(&a) });
    let (name, target) = (p.user.username.clone(), format!("alert/{id}"));
    app.db(move |s| s.audit(&name, "reveal_personal", Some(&site), Some(&target), &detail)).await?;
    Ok(Json(a))
}

// ---- evidence and originals ------------------------------------------------------------

fn sha_ok(sha: &str) -> Result<(), ApiError> {
    if pipeline::evidence::is_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("{sha:?} is not a sha256 (64 lowercase hex digits)")))
    }
}

async fn file_response(path: std::path::PathBuf, what: &str) -> Result<Response, ApiError> {
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!("{what} has not reached the control room yet")));
        }
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    let mime = match bytes.get(..4) {
        Some([0xFF, 0xD8, ..]) => "image/jpeg",
        Some([0x89, b'P', b'N', b'G']) => "image/png",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=3600")], bytes).into_response())
}

#[utoipa::path(get, path = "/api/v1/evidence/{sha256}", tag = "evidence", params(("sha256" = String, Path)),
    responses((status = 200, description = "the stored (blurred) image"), (status = 404)))]
pub async fn get_evidence(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    sha: PathOf<String>,
) -> Result<Response, ApiError> {
    let Path(sha) = sha?;
    sha_ok(&sha)?;
    let s2 = sha.clone();
    let info = app.db(move |s| s.evidence(&s2)).await?;
    info.filter(|i| p.user.sees_site(&i.site)).ok_or_else(|| not_here("this evidence"))?;
    file_response(app.evidence_dir.join(&sha), "this evidence").await
}

#[utoipa::path(post, path = "/api/v1/evidence/{sha256}/original-requests", tag = "evidence",
    params(("sha256" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = OriginalRequest), (status = 404)))]
pub async fn request_original(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    sha: PathOf<String>,
    body: Body<ReasonRequest>,
) -> Result<Json<OriginalRequest>, ApiError> {
    let (Path(sha), Json(req)) = (sha?, body?);
    sha_ok(&sha)?;
    reason_ok(&req.reason)?;
    let s2 = sha.clone();
    let info = app.db(move |s| s.evidence(&s2)).await?;
    let info = info.filter(|i| p.user.sees_site(&i.site)).ok_or_else(|| not_here("this evidence"))?;
    if info.original.is_none() {
        return Err(ApiError::not_found("this evidence has no original (nothing was blurred)"));
    }
    let by = p.user.username;
    Ok(Json(app.db(move |s| s.request_original(&sha, &info.site, &by, &req.reason)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    /// `pending` (default) or `all`.
    state: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/original-requests", tag = "evidence", params(RequestParams),
    responses((status = 200, body = Vec<OriginalRequest>)))]
pub async fn list_original_requests(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    q: Params<RequestParams>,
) -> Result<Json<Vec<OriginalRequest>>, ApiError> {
    let Query(q) = q?;
    let pending_only = match q.state.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(s) => return Err(ApiError::bad_request(format!("state {s:?} is not pending or all"))),
    };
    let sites = Sites::of(&p.user);
    let all = app.db(move |s| s.original_requests(&sites, pending_only)).await?;
    // Approvers see every request of their sites; others their own.
    let approver = p.user.role.may(Permission::ApproveOriginal);
    Ok(Json(all.into_iter().filter(|r| approver || r.requested_by == p.user.username).collect()))
}

#[utoipa::path(post, path = "/api/v1/original-requests/{id}/approve", tag = "evidence", params(("id" = String, Path)),
    request_body = Empty, responses((status = 200, body = OriginalRequest), (status = 403), (status = 409)))]
pub async fn approve_original(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    id: PathOf<String>,
    body: Body<Empty>,
) -> Result<Json<OriginalRequest>, ApiError> {
    let (Path(id), _) = (id?, body?);
    let i2 = id.clone();
    let r = app.db(move |s| s.original_request(&i2)).await?;
    let r = r.filter(|r| p.user.sees_site(&r.site)).ok_or_else(|| not_here("this request"))?;
    if r.requested_by == p.user.username {
        return Err(ApiError::forbidden("a second user must approve: you asked for this view yourself"));
    }
    if r.state != "pending" {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("the request is already {}", r.state)));
    }
    let minutes = app.cfg.original_view_minutes;
    let expires = Utc::now() + chrono::TimeDelta::seconds((minutes * 60.0) as i64);
    let by = p.user.username;
    Ok(Json(app.db(move |s| s.approve_original(&id, &by, expires)).await?))
}

#[utoipa::path(get, path = "/api/v1/evidence/{sha256}/original", tag = "evidence", params(("sha256" = String, Path)),
    responses((status = 200, description = "the unblurred original (audited)"), (status = 403), (status = 404)))]
pub async fn get_original(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    sha: PathOf<String>,
) -> Result<Response, ApiError> {
    let Path(sha) = sha?;
    sha_ok(&sha)?;
    let s2 = sha.clone();
    let info = app.db(move |s| s.evidence(&s2)).await?;
    let info = info.filter(|i| p.user.sees_site(&i.site)).ok_or_else(|| not_here("this evidence"))?;
    let original = info
        .original
        .clone()
        .filter(|o| pipeline::evidence::is_sha256_hex(o))
        .ok_or_else(|| ApiError::not_found("this evidence has no original"))?;
    let (s2, name) = (sha.clone(), p.user.username.clone());
    if !app.db(move |s| s.may_view_original(&s2, &name, Utc::now())).await? {
        return Err(ApiError::forbidden("viewing the original needs your stated reason and a second user's approval"));
    }
    let (name, site, target) = (p.user.username.clone(), info.site.clone(), format!("evidence/{sha}"));
    let detail = serde_json::json!({ "original": original });
    app.db(move |s| s.audit(&name, "view_original", Some(&site), Some(&target), &detail)).await?;
    let path = app.evidence_dir.join(&original);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("the original has not reached the control room yet"));
        }
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    // Originals are sealed at the edge (pipeline::evidence::seal); older ones may be plain.
    let bytes = if pipeline::evidence::is_sealed(&bytes) {
        let key_file = app.cfg.original_key_file.clone().ok_or_else(|| {
            ApiError::internal("originals are sealed and web.original_key_file is not set: cannot open it")
        })?;
        let key = pipeline::evidence::SealKey::load(&key_file).map_err(ApiError::internal)?;
        pipeline::evidence::open_sealed(&key, &bytes)
            .map_err(|e| ApiError::internal(format!("original {original}: {e}")))?
    } else {
        bytes
    };
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, no-store")], bytes).into_response())
}

// ---- sources, nodes, lanes, map --------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", responses((status = 200, body = Vec<SourceView>)))]
pub async fn list_sources(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
) -> Result<Json<Vec<SourceView>>, ApiError> {
    let sites = Sites::of(&p.user);
    Ok(Json(app.db(move |s| s.sources(&sites)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    pub reason: String,
    /// RFC 3339; within 30 days.
    pub until: String,
}

#[utoipa::path(post, path = "/api/v1/sources/{site}/{kind}/{id}/mute", tag = "sources",
    params(("site" = String, Path), ("kind" = String, Path), ("id" = String, Path)), request_body = MuteRequest,
    responses((status = 204), (status = 404), (status = 422)))]
pub async fn mute_source(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    path: PathOf<(String, String, String)>,
    body: Body<MuteRequest>,
) -> Result<StatusCode, ApiError> {
    let (Path((site, kind, id)), Json(req)) = (path?, body?);
    reason_ok(&req.reason)?;
    let until = DateTime::parse_from_rfc3339(&req.until)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("until {:?}: {e}", req.until)))?
        .with_timezone(&Utc);
    let now = Utc::now();
    if until <= now || until > now + chrono::TimeDelta::days(30) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "until must be in the next 30 days"));
    }
    change_mute(app, p, (site, kind, id), Some(Mute { by: String::new(), reason: req.reason, until })).await
}

#[utoipa::path(delete, path = "/api/v1/sources/{site}/{kind}/{id}/mute", tag = "sources",
    params(("site" = String, Path), ("kind" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404)))]
pub async fn unmute_source(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    path: PathOf<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let Path(source) = path?;
    change_mute(app, p, source, None).await
}

async fn change_mute(
    app: AppState,
    p: Principal,
    source: (String, String, String),
    mute: Option<Mute>,
) -> Result<StatusCode, ApiError> {
    if !p.user.sees_site(&source.0) {
        return Err(not_here("this source"));
    }
    let src = source.clone();
    if !app.db(move |s| s.source_exists(&src)).await? {
        return Err(not_here("this source"));
    }
    let mute = mute.map(|m| Mute { by: p.user.username.clone(), ..m });
    let (src, m, actor) = (source.clone(), mute.clone(), p.user.username);
    app.db(move |s| s.set_mute(&src, m.as_ref(), &actor)).await?;
    app.live.mute(source, mute);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "sources", responses((status = 200, body = Vec<NodeView>)))]
pub async fn list_nodes(State(app): State<AppState>, axum::Extension(p): Caller) -> Json<Vec<NodeView>> {
    Json(app.live.nodes().into_iter().filter(|n| p.user.sees_site(&n.heartbeat.site)).collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Lane {
    pub site: String,
    pub lane: String,
    pub state: String,
    #[schema(value_type = Option<Object>)]
    pub decision: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/lanes", tag = "sources", responses((status = 200, body = Vec<Lane>)))]
pub async fn list_lanes(State(app): State<AppState>, axum::Extension(p): Caller) -> Result<Json<Vec<Lane>>, ApiError> {
    // The X-ray sources are the lanes; their corridor decisions arrive with the lane
    // decision service.
    let sites = Sites::of(&p.user);
    let sources = app.db(move |s| s.sources(&sites)).await?;
    Ok(Json(
        sources
            .into_iter()
            .filter(|s| s.kind == "xray")
            .map(|s| Lane {
                site: s.site,
                lane: s.id,
                state: if s.muted.is_some() { "muted".into() } else { "active".into() },
                decision: None,
                updated_at: s.last_alert_ts,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MapView {
    pub tile_url: Option<String>,
    pub sources: Vec<SourceView>,
    pub incidents: Vec<IncidentSummary>,
}

#[utoipa::path(get, path = "/api/v1/map", tag = "sources", responses((status = 200, body = MapView)))]
pub async fn map(State(app): State<AppState>, axum::Extension(p): Caller) -> Result<Json<MapView>, ApiError> {
    let sites = Sites::of(&p.user);
    let q = IncidentQuery { open_only: true, limit: 2000, ..Default::default() };
    let (sources, incidents) = app.db(move |s| Ok((s.sources(&sites)?, s.incidents(&q, &sites)?))).await?;
    Ok(Json(MapView {
        tile_url: app.cfg.tile_url.clone(),
        sources,
        incidents: incidents.items.into_iter().filter(|i| i.place.is_some()).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UiConfig {
    pub response_targets_secs: crate::workflow::ResponseTargets,
    pub languages: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/config/ui", tag = "session", responses((status = 200, body = UiConfig)))]
pub async fn ui_config(State(app): State<AppState>) -> Json<UiConfig> {
    Json(UiConfig {
        response_targets_secs: app.targets.clone(),
        languages: auth::LANGUAGES.iter().map(|s| s.to_string()).collect(),
    })
}

// ---- audit, tokens, documents, metrics -------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Entries before this sequence number (paging back).
    before: Option<i64>,
    /// 1 to 10000, default 200.
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "audit entries, newest first")))]
pub async fn list_audit(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    q: Params<AuditParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let n = limit(q.limit, 200)?;
    let entries = app.db(move |s| s.audit_entries(q.before, n)).await?;
    let items: Vec<_> = entries.into_iter().filter(|e| e.site.as_deref().is_none_or(|s| p.user.sees_site(s))).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "the chain checked against the exported, signed heads")))]
pub async fn verify_audit(State(app): State<AppState>) -> Result<Json<crate::audit::Report>, ApiError> {
    let mut heads = Vec::new();
    for dir in &app.cfg.audit_export_dirs {
        let path = dir.join(crate::audit::HEADS_FILE);
        if path.exists() {
            heads.extend(crate::audit::load_heads(&path).map_err(ApiError::internal)?);
        }
    }
    Ok(Json(app.db(move |s| s.audit_verify(&heads, None)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    pub role: Role,
    pub sites: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    pub name: String,
    /// Shown once: only its hash is kept.
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "audit", request_body = TokenRequest,
    responses((status = 200, body = TokenCreated)))]
pub async fn create_token(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    body: Body<TokenRequest>,
) -> Result<Json<TokenCreated>, ApiError> {
    let Json(req) = body?;
    if req.name.trim().is_empty() || req.name.len() > 100 || req.sites.is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "a token needs a name (1 to 100 bytes) and sites"));
    }
    let token = auth::random_token().map_err(ApiError::internal)?;
    let (hash, by) = (auth::token_hash(&token), p.user.username);
    let name = req.name.clone();
    app.db(move |s| {
        s.create_token(&hash, &req.name, req.role, &req.sites, &by)?;
        let detail = serde_json::json!({ "name": req.name, "role": req.role, "sites": req.sites });
        s.audit(&by, "create_token", None, None, &detail)
    })
    .await?;
    Ok(Json(TokenCreated { name, token }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Site ids, or `["*"]`.
    pub sites: Vec<String>,
    /// `uz`, `ru` or `en`; default `uz`.
    pub language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub user: User,
    /// Generated; shown once (only its argon2 hash is kept).
    pub password: String,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<User>)))]
pub async fn list_users(State(app): State<AppState>, axum::Extension(p): Caller) -> Result<Json<Vec<User>>, ApiError> {
    let sites = Sites::of(&p.user);
    Ok(Json(app.db(move |s| s.users(&sites)).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 200, body = UserCreated), (status = 409), (status = 422)))]
pub async fn create_user(
    State(app): State<AppState>,
    axum::Extension(p): Caller,
    body: Body<NewUserRequest>,
) -> Result<Json<UserCreated>, ApiError> {
    let Json(req) = body?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    if !pipeline::keys::is_segment(&req.username) || req.username.len() > 64 {
        return Err(invalid(format!("username {:?}: 1 to 64 letters, digits, '_', '.', '-'", req.username)));
    }
    if req.display_name.trim().is_empty() || req.display_name.chars().count() > 100 {
        return Err(invalid("display_name: 1 to 100 characters".into()));
    }
    if req.sites.is_empty() || req.sites.iter().any(|s| s != "*" && !pipeline::keys::is_segment(s)) {
        return Err(invalid(format!("sites {:?}: site ids or [\"*\"]", req.sites)));
    }
    // An administrator hands out only the sites they hold.
    if let Some(site) = req.sites.iter().find(|s| !(p.user.all_sites() || (*s != "*" && p.user.sees_site(s)))) {
        return Err(ApiError::forbidden(format!("you do not hold site {site:?}")));
    }
    let language = req.language.unwrap_or_else(|| "uz".into());
    if !auth::LANGUAGES.contains(&language.as_str()) {
        return Err(invalid(format!("language {language:?} is not one of {:?}", auth::LANGUAGES)));
    }
    let user =
        User { username: req.username, display_name: req.display_name, role: req.role, sites: req.sites, language };
    let password = auth::random_password().map_err(ApiError::internal)?;
    let (u, pw, by) = (user.clone(), password.clone(), p.user.username);
    let created = app
        .db(move |s| {
            let hash = auth::hash_password(&pw)?;
            let created = s.create_user(&crate::store::dashboard::NewUser { user: u.clone(), password_hash: hash })?;
            if created {
                let detail = serde_json::json!({ "username": u.username, "role": u.role, "sites": u.sites });
                s.audit(&by, "create_user", None, Some(&format!("user/{}", u.username)), &detail)?;
            }
            Ok(created)
        })
        .await?;
    if !created {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("user {:?} exists", user.username)));
    }
    Ok(Json(UserCreated { user, password }))
}

/// The generated OpenAPI document, serialised once.
#[derive(Clone)]
pub struct OpenApiDoc(pub Arc<String>);

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "session", responses((status = 200, description = "this document")))]
pub async fn openapi_json(axum::Extension(doc): axum::Extension<OpenApiDoc>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.as_str().to_string()).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "audit", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], pipeline::metrics::global().render()).into_response()
}
