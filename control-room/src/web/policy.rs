//! The access rule of every route, in one table. A route that is not here is refused
//! (default deny); the authorization test walks the router's routes and fails on any
//! route without a rule.

use crate::auth::Permission;
use axum::http::Method;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone: the login page and form, and the UI's code and styles (no data).
    Public,
    /// A signed-in user; others are sent to `/login`.
    Page,
    /// An authenticated caller (session cookie, or bearer token) whose role holds the
    /// permission; objects of other sites answer 404 in the handlers.
    Api(Permission),
}

use Permission::*;
use Rule::*;

/// `(method, path as declared, rule)`.
pub const RULES: &[(&str, &str, Rule)] = &[
    ("GET", "/", Page),
    ("GET", "/login", Public),
    ("GET", "/assets/{file}", Public),
    ("POST", "/api/v1/login", Public),
    ("POST", "/api/v1/logout", Api(Read)),
    ("GET", "/api/v1/me", Api(Read)),
    ("PUT", "/api/v1/me/language", Api(Read)),
    ("GET", "/api/v1/incidents", Api(Read)),
    ("GET", "/api/v1/incidents/{id}", Api(Read)),
    ("POST", "/api/v1/incidents/{id}/acknowledge", Api(Act)),
    ("POST", "/api/v1/incidents/{id}/assign", Api(Act)),
    ("POST", "/api/v1/incidents/{id}/escalate", Api(Act)),
    ("POST", "/api/v1/incidents/{id}/notes", Api(Act)),
    ("POST", "/api/v1/incidents/{id}/resolve", Api(Act)),
    ("POST", "/api/v1/incidents/{id}/hold", Api(Hold)),
    ("DELETE", "/api/v1/incidents/{id}/hold", Api(Hold)),
    ("GET", "/api/v1/users/assignable", Api(Read)),
    ("GET", "/api/v1/alerts", Api(Read)),
    ("GET", "/api/v1/alerts/{id}", Api(Read)),
    ("POST", "/api/v1/alerts/{id}/reveal", Api(RevealPersonal)),
    ("GET", "/api/v1/evidence/{sha256}", Api(Read)),
    ("POST", "/api/v1/evidence/{sha256}/original-requests", Api(RequestOriginal)),
    ("GET", "/api/v1/evidence/{sha256}/original", Api(RequestOriginal)),
    ("GET", "/api/v1/original-requests", Api(Read)),
    ("POST", "/api/v1/original-requests/{id}/approve", Api(ApproveOriginal)),
    ("GET", "/api/v1/sources", Api(Read)),
    ("POST", "/api/v1/sources/{site}/{kind}/{id}/mute", Api(Mute)),
    ("DELETE", "/api/v1/sources/{site}/{kind}/{id}/mute", Api(Mute)),
    ("GET", "/api/v1/nodes", Api(Read)),
    ("GET", "/api/v1/lanes", Api(Read)),
    ("GET", "/api/v1/map", Api(Read)),
    ("GET", "/api/v1/config/ui", Api(Read)),
    ("GET", "/api/v1/audit", Api(ReadAudit)),
    ("GET", "/api/v1/audit/verify", Api(Admin)),
    ("POST", "/api/v1/tokens", Api(Admin)),
    ("GET", "/api/v1/users", Api(Admin)),
    ("POST", "/api/v1/users", Api(Admin)),
    ("GET", "/api/v1/openapi.json", Api(Read)),
    ("GET", "/metrics", Api(Admin)),
    ("GET", "/api/v1/ws", Api(Read)),
];

/// The rule of `method path`, `None` when the route has none.
pub fn rule(method: &Method, path: &str) -> Option<Rule> {
    RULES.iter().find(|(m, p, _)| *m == method.as_str() && *p == path).map(|(_, _, r)| *r)
}
