//! Signing in and out, and the guard in front of every route: who is calling (session
//! cookie or bearer token), whether the route's rule lets them, and CSRF on state changes.

use super::policy::{self, Rule};
use super::{ApiError, AppState};
use crate::auth::{self, LANGUAGES, User};
use axum::Json;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

/// The session cookie's name.
pub const COOKIE: &str = "qv_session";
/// The header that carries the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// The session's token hash and CSRF token (`None` for a bearer token).
    pub session: Option<(Vec<u8>, String)>,
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(bearer) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        let hash = auth::token_hash(bearer.trim());
        let user = app.db(move |s| s.token(&hash)).await?;
        return Ok(user.map(|user| Principal { user, session: None }));
    }
    let Some(token) = cookie_value(headers, COOKIE) else { return Ok(None) };
    let hash = auth::token_hash(token);
    let h = hash.clone();
    let found = app.db(move |s| s.session(&h)).await?;
    Ok(found.map(|(user, csrf)| Principal { user, session: Some((hash, csrf)) }))
}

/// In front of every route: the route's rule, authentication, role, CSRF.
pub async fn guard(State(app): State<AppState>, matched: MatchedPath, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let Some(rule) = policy::rule(&method, matched.as_str()) else {
        // Default deny: a route nobody wrote a rule for is unreachable.
        return ApiError::forbidden(format!("{method} {} has no access rule", matched.as_str())).into_response();
    };
    if rule == Rule::Public {
        return next.run(req).await;
    }
    let principal = match authenticate(&app, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(principal) = principal else {
        return match rule {
            Rule::Page => Redirect::to("/login").into_response(),
            _ => ApiError::new(StatusCode::UNAUTHORIZED, "sign in first (session cookie or bearer token)")
                .into_response(),
        };
    };
    if let Rule::Api(permission) = rule {
        if !principal.user.role.may(permission) {
            return ApiError::forbidden(format!(
                "role {} may not {method} {}",
                principal.user.role.as_str(),
                matched.as_str()
            ))
            .into_response();
        }
        // A cookie is sent by the browser whoever made the page: a state change with one
        // must also show the CSRF token, which only our pages can read.
        let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let (true, Some((_, csrf))) = (changes_state, &principal.session) {
            let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return ApiError::forbidden(format!("missing or wrong {CSRF_HEADER} header")).into_response();
            }
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub user: User,
    /// Send it as `X-CSRF-Token` on every state-changing request.
    pub csrf_token: Option<String>,
}

/// Failed logins in a row that lock a username out for [`LOCKOUT`].
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Failed logins per username: guessing a password costs a lockout after a few tries.
#[derive(Default)]
pub struct LoginThrottle(std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>);

impl LoginThrottle {
    /// How long `user` is still locked out, if it is.
    fn locked(&self, user: &str) -> Option<std::time::Duration> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(user).filter(|(n, _)| *n >= MAX_FAILURES).and_then(|(_, last)| LOCKOUT.checked_sub(last.elapsed()))
    }

    fn failed(&self, user: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(user.to_string()).or_insert((0, std::time::Instant::now()));
        if e.1.elapsed() > LOCKOUT {
            e.0 = 0;
        }
        *e = (e.0 + 1, std::time::Instant::now());
    }

    fn succeeded(&self, user: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(user);
    }
}

/// Longest username or password looked at.
const MAX_CREDENTIAL: usize = 256;

#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = SessionInfo), (status = 401, description = "bad credentials")))]
pub async fn login(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    if req.username.len() > MAX_CREDENTIAL || req.password.len() > MAX_CREDENTIAL {
        return Err(ApiError::bad_request(format!("username and password have at most {MAX_CREDENTIAL} bytes")));
    }
    if let Some(left) = app.throttle.locked(&req.username) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins for {:?}; try again in {} min", req.username, left.as_secs() / 60 + 1),
        ));
    }
    let username = req.username.clone();
    let found = app.db(move |s| s.user_with_hash(&username)).await?;
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let password = req.password;
    let user = tokio::task::spawn_blocking(move || found.filter(|(_, hash)| auth::verify_password(&password, hash)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(|(u, _)| u);
    let peer = peer.ip().to_string();
    let Some(user) = user else {
        pipeline::metrics::global().metric("qv_login_failures_total", &[]).inc();
        app.throttle.failed(&req.username);
        let username = req.username.clone();
        app.db(move |s| s.audit(&username, "login_failed", None, None, &serde_json::json!({ "peer": peer }))).await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong username or password"));
    };
    app.throttle.succeeded(&user.username);
    let token = auth::random_token().map_err(ApiError::internal)?;
    let csrf = auth::random_token().map_err(ApiError::internal)?;
    let hours = app.cfg.session_hours;
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds((hours * 3600.0) as i64);
    let (hash, name, c) = (auth::token_hash(&token), user.username.clone(), csrf.clone());
    app.db(move |s| {
        s.create_session(&hash, &name, &c, expires)?;
        s.audit(&name, "login", None, None, &serde_json::json!({ "peer": peer }))
    })
    .await?;
    let secure = if app.cfg.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", (hours * 3600.0) as i64);
    Ok(([(header::SET_COOKIE, cookie)], Json(SessionInfo { user, csrf_token: Some(csrf) })).into_response())
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "session", responses((status = 204)))]
pub async fn logout(
    State(app): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
) -> Result<Response, ApiError> {
    if let Some((hash, _)) = p.session {
        let name = p.user.username.clone();
        app.db(move |s| {
            s.delete_session(&hash)?;
            s.audit(&name, "logout", None, None, &serde_json::json!({}))
        })
        .await?;
    }
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = SessionInfo)))]
pub async fn me(axum::Extension(p): axum::Extension<Principal>) -> Json<SessionInfo> {
    Json(SessionInfo { user: p.user, csrf_token: p.session.map(|(_, csrf)| csrf) })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageRequest {
    /// `uz`, `ru` or `en`.
    pub language: String,
}

#[utoipa::path(put, path = "/api/v1/me/language", tag = "session", request_body = LanguageRequest,
    responses((status = 204), (status = 400)))]
pub async fn set_language(
    State(app): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    body: Result<Json<LanguageRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    if !LANGUAGES.contains(&req.language.as_str()) {
        return Err(ApiError::bad_request(format!("language {:?} is not one of {LANGUAGES:?}", req.language)));
    }
    let name = p.user.username;
    app.db(move |s| s.set_language(&name, &req.language)).await?;
    Ok(StatusCode::NO_CONTENT)
}
