//! The API's authorization matrix and its handling of bad input, in process (the same
//! router, guard and store the server runs, without a socket).

use super::*;
use crate::auth::Role;
use crate::fusion::{Engine, FusionConfig};
use crate::store::{Incoming, Store};
use crate::workflow::ResponseTargets;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use pipeline::alert::{Alert, SourceKind};
use std::collections::HashMap;
use tower::ServiceExt;

const OWN: &str = "post-a";
const OTHER: &str = "post-b";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ORIG_A: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_B: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const ORIG_B: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

/// Objects of one site the requests name.
#[derive(Clone)]
struct SiteObjects {
    /// An incident with an X-ray source (customs may work it).
    incident: String,
    /// A camera-only incident (customs may not).
    camera_incident: String,
    alert: String,
    sha: String,
    request: String,
    source: (String, String, String),
}

struct Fixture {
    router: axum::Router,
    own: SiteObjects,
    other: SiteObjects,
    passwords: HashMap<String, String>,
    store: Arc<dyn DashboardStore>,
    _dir: TempDir,
}

pub(super) struct TempDir(pub(super) std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn site_alerts(site: &str, sha: &str, original: &str) -> Vec<Alert> {
    let mut xray = Alert::minimal(site, SourceKind::Xray, "lane-1", "xray_threat");
    xray.evidence = vec![sha.into()];
    xray.attributes.insert("originals".into(), serde_json::json!([original]));
    xray.correlation.plate = Some("01A123BC".into());
    let camera = Alert::minimal(site, SourceKind::Camera, "gate", "zone_intrusion");
    vec![xray, camera]
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("qorovul-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("evidence")).unwrap();
    let path = dir.join("control-room.sqlite");
    let mut ingest = Store::open(&path).unwrap();
    let mut engine = Engine::new(FusionConfig::default()).unwrap();
    let mut objects = Vec::new();
    for (site, sha, original) in [(OWN, SHA_A, ORIG_A), (OTHER, SHA_B, ORIG_B)] {
        let alerts = site_alerts(site, sha, original);
        let incoming: Vec<Incoming> = alerts
            .iter()
            .map(|a| Incoming { json: a.to_json(), key: a.key_expr(), alert: a.clone(), node: Some("edge-1".into()) })
            .collect();
        ingest.store(&incoming, &[]).unwrap();
        let mut ids = Vec::new();
        for a in &alerts {
            let updates = engine.ingest(a);
            let jsons: Vec<String> = updates.iter().map(|u| u.to_json()).collect();
            let causes = vec![Some(a.id); updates.len()];
            ingest.save_incidents(&updates, &jsons, &causes, &ResponseTargets::default()).unwrap();
            ids.push(updates[0].incident.id.to_string());
        }
        std::fs::write(dir.join("evidence").join(sha), b"\x89PNG blurred").unwrap();
        std::fs::write(dir.join("evidence").join(original), b"\x89PNG original").unwrap();
        objects.push((ids, alerts[0].id.to_string(), sha.to_string()));
    }
    drop(ingest);
    let store: Arc<dyn DashboardStore> =
        Arc::new(crate::store::dashboard::SqliteStore::open(&path, &ResponseTargets::default()).unwrap());
    let passwords: HashMap<String, String> =
        seed_users(store.as_ref(), &[OWN.into()]).unwrap().into_iter().map(|(u, _, p)| (u, p)).collect();
    let mut sites = objects.into_iter().zip([OWN, OTHER]).map(|((ids, alert, sha), site)| {
        let request = store.request_original(&sha, site, "operator", "matrix fixture").unwrap().id;
        SiteObjects {
            incident: ids[0].clone(),
            camera_incident: ids[1].clone(),
            alert,
            sha,
            request,
            source: (site.into(), "camera".into(), "gate".into()),
        }
    });
    let (own, other) = (sites.next().unwrap(), sites.next().unwrap());
    let app = Arc::new(App {
        store: store.clone(),
        live: Arc::new(crate::live::Live::default()),
        cfg: WebConfig { max_body_bytes: 16 * 1024, ..Default::default() },
        targets: ResponseTargets::default(),
        evidence_dir: dir.join("evidence"),
        throttle: Default::default(),
    });
    let router = app_router(app);
    Fixture { router, own, other, passwords, store, _dir: TempDir(dir) }
}

pub(super) fn app_router(app: AppState) -> axum::Router {
    let (router, _) = super::app(app);
    router.layer(MockConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 4000))))
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone)]
pub(super) struct Login {
    pub(super) cookie: String,
    pub(super) csrf: String,
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: String,
}

pub(super) async fn send(router: &axum::Router, req: Request<Body>) -> Answer {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24).await.unwrap();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub(super) fn request(
    method: &Method,
    uri: &str,
    login: Option<&Login>,
    body: Option<&serde_json::Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(l) = login {
        b = b.header(header::COOKIE, &l.cookie).header("x-csrf-token", &l.csrf);
    }
    match body {
        Some(json) => b.header(header::CONTENT_TYPE, "application/json").body(Body::from(json.to_string())).unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn login(f: &Fixture, user: &str) -> Login {
    let body = serde_json::json!({ "username": user, "password": f.passwords[user] });
    let a = send(&f.router, request(&Method::POST, "/api/v1/login", None, Some(&body))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["csrf_token"].as_str().unwrap().into();
    Login { cookie, csrf }
}

/// The concrete URI and body for a declared route, naming `objs`' objects.
fn concrete(path: &str, method: &str, objs: &SiteObjects, f: &Fixture) -> (String, Option<serde_json::Value>) {
    let id = if path.starts_with("/api/v1/incidents/") {
        objs.incident.clone()
    } else if path.starts_with("/api/v1/alerts/") {
        objs.alert.clone()
    } else {
        objs.request.clone()
    };
    let uri = path
        .replace("{id}", &id)
        .replace("{sha256}", &objs.sha)
        .replace("{file}", "app.css")
        .replace("{site}", &objs.source.0)
        .replace("{kind}", &objs.source.1);
    // `{id}` of a source route was replaced by the request id above: put the source's back.
    let uri = if path.starts_with("/api/v1/sources/") {
        format!("/api/v1/sources/{}/{}/{}/mute", objs.source.0, objs.source.1, objs.source.2)
    } else {
        uri
    };
    let until = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let body = match (method, path) {
        ("POST", "/api/v1/login") => {
            Some(serde_json::json!({ "username": "viewer", "password": f.passwords["viewer"] }))
        }
        ("POST", p) if p.ends_with("/assign") => Some(serde_json::json!({ "assignee": "operator" })),
        ("POST", p) if p.ends_with("/notes") => Some(serde_json::json!({ "text": "matrix note" })),
        ("POST", p) if p.ends_with("/resolve") => Some(serde_json::json!({ "category": "test" })),
        ("POST", p) if p.ends_with("/mute") => Some(serde_json::json!({ "reason": "maintenance", "until": until })),
        ("POST", "/api/v1/tokens") => Some(serde_json::json!({ "name": "t", "role": "viewer", "sites": [OWN] })),
        ("POST", "/api/v1/users") => {
            Some(serde_json::json!({ "username": "new-op", "display_name": "New", "role": "operator", "sites": [OWN] }))
        }
        ("POST", p)
            if p.ends_with("/reveal")
                || p.ends_with("/escalate")
                || p.ends_with("/original-requests")
                || p.ends_with("/hold") =>
        {
            Some(serde_json::json!({ "reason": "matrix reason" }))
        }
        ("POST", _) => Some(serde_json::json!({})),
        ("PUT", _) => Some(serde_json::json!({ "language": "ru" })),
        _ => None,
    };
    (uri, body)
}

/// Routes whose answer names objects of one site (another site's answer 404).
fn names_an_object(path: &str) -> bool {
    path.contains('{') && !path.starts_with("/assets/")
}

/// Every route × every role × own and other site, with the route list taken from the
/// router's own OpenAPI document: a route added without a rule fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_on_its_own_and_another_site_as_its_rule_says() {
    let f = fixture("matrix");
    let (_, doc) = routes().split_for_parts();
    let mut logins = HashMap::new();
    for role in Role::ALL {
        logins.insert(role, login(&f, role.as_str()).await);
    }
    let mut checked = 0;
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, _) in methods.iter().filter(|(_, has)| *has) {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let rule = policy::rule(&m, path).unwrap_or_else(|| panic!("{method} {path} has no access rule"));
            if *method == "POST" && path == "/api/v1/logout" {
                continue; // below, with sessions of its own
            }
            // Not signed in.
            let (uri, body) = concrete(path, method, &f.own, &f);
            let anon = send(&f.router, request(&m, &uri, None, body.as_ref())).await;
            match rule {
                policy::Rule::Public => assert!(anon.status.as_u16() < 400, "{method} {uri} public: {}", anon.status),
                policy::Rule::Page => assert_eq!(anon.status, StatusCode::SEE_OTHER, "{method} {uri}"),
                policy::Rule::Api(_) => assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{method} {uri}"),
            }
            let policy::Rule::Api(permission) = rule else {
                checked += 1;
                continue;
            };
            for role in Role::ALL {
                let login = &logins[&role];
                for (objs, own) in [(&f.own, true), (&f.other, false)] {
                    if !own && !names_an_object(path) {
                        continue;
                    }
                    let (uri, body) = concrete(path, method, objs, &f);
                    let a = send(&f.router, request(&m, &uri, Some(login), body.as_ref())).await;
                    let who = format!(
                        "{method} {uri} as {} ({})",
                        role.as_str(),
                        if own { "own site" } else { "other site" }
                    );
                    if !role.may(permission) {
                        assert_eq!(a.status, StatusCode::FORBIDDEN, "{who}: {}", a.body);
                    } else if !own {
                        assert_eq!(a.status, StatusCode::NOT_FOUND, "{who}: {}", a.body);
                    } else if path == "/api/v1/evidence/{sha256}/original" {
                        // Allowed by role, but only with a second user's approval.
                        assert_eq!(a.status, StatusCode::FORBIDDEN, "{who}: {}", a.body);
                        assert!(a.body.contains("approval"), "{who}: {}", a.body);
                    } else if path == "/api/v1/original-requests/{id}/approve" && role != Role::Supervisor {
                        // The supervisor approved it first; approving again is a conflict.
                        assert_eq!(a.status, StatusCode::CONFLICT, "{who}: {}", a.body);
                    } else {
                        let s = a.status.as_u16();
                        assert!(
                            !matches!(s, 401 | 403 | 404) && s < 500,
                            "{who}: allowed on its own site, got {}: {}",
                            a.status,
                            a.body
                        );
                        // Listings never show another site's objects.
                        for leak in [&f.other.incident, &f.other.alert, &f.other.sha] {
                            assert!(!a.body.contains(leak.as_str()), "{who} shows {leak} of {OTHER}");
                        }
                    }
                    // Without the CSRF header, a cookie may not change state.
                    if *method != "GET" {
                        let no_csrf = Login { csrf: String::new(), ..login.clone() };
                        let a = send(&f.router, request(&m, &uri, Some(&no_csrf), body.as_ref())).await;
                        assert_eq!(a.status, StatusCode::FORBIDDEN, "{who} without CSRF: {}", a.body);
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, policy::RULES.len() - 1, "every rule has its route (logout checked below)");

    // Customs officers work X-ray incidents only.
    let customs = &logins[&Role::Customs];
    let uri = format!("/api/v1/incidents/{}/notes", f.own.camera_incident);
    let a = send(&f.router, request(&Method::POST, &uri, Some(customs), Some(&serde_json::json!({"text": "x"})))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    // Logging out ends the session.
    for role in Role::ALL {
        let l = login(&f, role.as_str()).await;
        let a = send(&f.router, request(&Method::POST, "/api/v1/logout", Some(&l), None)).await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
        let a = send(&f.router, request(&Method::GET, "/api/v1/me", Some(&l), None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // A bearer token of a role is held to the same rules, without CSRF.
    let admin = &logins[&Role::Admin];
    let body = serde_json::json!({ "name": "integrator", "role": "viewer", "sites": [OWN] });
    let a = send(&f.router, request(&Method::POST, "/api/v1/tokens", Some(admin), Some(&body))).await;
    let token = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["token"].as_str().unwrap().to_string();
    let bearer = |m: Method, uri: &str| {
        Request::builder()
            .method(m)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
    };
    assert_eq!(send(&f.router, bearer(Method::GET, "/api/v1/incidents").unwrap()).await.status, StatusCode::OK);
    let resolve = format!("/api/v1/incidents/{}/resolve", f.own.incident);
    assert_eq!(send(&f.router, bearer(Method::POST, &resolve).unwrap()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(send(&f.router, bearer(Method::GET, "/metrics").unwrap()).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx_and_store_nothing_wrong() {
    let f = fixture("bad");
    let op = login(&f, "operator").await;
    let note_uri = format!("/api/v1/incidents/{}/notes", f.own.incident);
    let raw = |body: Vec<u8>, extra: &[(&str, &str)]| {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(&note_uri)
            .header(header::COOKIE, &op.cookie)
            .header("x-csrf-token", &op.csrf)
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body)).unwrap()
    };
    // Malformed JSON: 400 naming line and column.
    let a = send(&f.router, raw(b"{\"text\": \"x\"".to_vec(), &[])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("line 1"), "{}", a.body);
    // Unknown field: named.
    let a = send(&f.router, raw(br#"{"text":"x","priority":"urgent"}"#.to_vec(), &[])).await;
    assert!(a.status.is_client_error() && a.body.contains("priority"), "{} {}", a.status, a.body);
    // Wrong type: named.
    let a = send(&f.router, raw(br#"{"text":42}"#.to_vec(), &[])).await;
    assert!(a.status.is_client_error() && a.body.contains("text"), "{} {}", a.status, a.body);
    // Oversized body: 413.
    let big = serde_json::json!({ "text": "x".repeat(20 * 1024) }).to_string().into_bytes();
    let a = send(&f.router, raw(big, &[])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    // A decompression bomb: 10 MiB of JSON whitespace in 10 KiB of gzip stops at the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, b"{\"text\":\"x\"").unwrap();
    std::io::Write::write_all(&mut gz, &vec![b' '; 10 << 20]).unwrap();
    std::io::Write::write_all(&mut gz, b"}").unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let a = send(&f.router, raw(bomb, &[("content-encoding", "gzip")])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    // A small gzip body is accepted: the limit is on what it inflates to.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, br#"{"text":"gzip note"}"#).unwrap();
    let a = send(&f.router, raw(gz.finish().unwrap(), &[("content-encoding", "gzip")])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Not JSON at all: 415.
    let a = send(
        &f.router,
        Request::builder()
            .method(Method::POST)
            .uri(&note_uri)
            .header(header::COOKIE, &op.cookie)
            .header("x-csrf-token", &op.csrf)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("hello"))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.body);
    // A note too long: 422 naming the limit.
    let long = serde_json::json!({ "text": "я".repeat(4001) }).to_string().into_bytes();
    let a = send(&f.router, raw(long, &[])).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("4001"), "{}", a.body);
    // HTML and SQL-looking text are stored exactly as sent (the UI shows them as text).
    let html = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let sql = "'; DROP TABLE alerts; -- \" OR 1=1";
    for text in [html, sql] {
        let a = send(&f.router, raw(serde_json::json!({ "text": text }).to_string().into_bytes(), &[])).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let detail = f.store.incident(&f.own.incident).unwrap().unwrap();
    let notes: Vec<&str> =
        detail.timeline.iter().filter(|t| t.action == "note").filter_map(|t| t.detail["text"].as_str()).collect();
    assert_eq!(notes, ["gzip note", html, sql], "only the accepted notes, byte for byte");
    assert!(f.store.alert(f.own.alert.parse().unwrap()).unwrap().is_some(), "the alerts table is still there");
    // SQL-looking query parameters are values, not SQL.
    let a = send(
        &f.router,
        request(&Method::GET, &format!("/api/v1/incidents?kind={}", "x'%20OR%20'1'='1"), Some(&op), None),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("\"items\":[]"), "{}", a.body);
    // Bad parameters and ids are named.
    for (uri, needle) in [
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?severity=urgent", "severity"),
        ("/api/v1/incidents?colour=red", "colour"),
        ("/api/v1/incidents?cursor=zzz", "cursor"),
        ("/api/v1/alerts?since=yesterday", "since"),
        ("/api/v1/incidents/not-a-uuid", "not-a-uuid"),
        ("/api/v1/evidence/XYZ", "sha256"),
    ] {
        let a = send(&f.router, request(&Method::GET, uri, Some(&op), None)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
        assert!(a.body.contains(needle), "{uri}: {}", a.body);
    }
    // Personal data is masked unless revealed, and a reveal is audited with its reason.
    let a = send(&f.router, request(&Method::GET, &format!("/api/v1/alerts/{}", f.own.alert), Some(&op), None)).await;
    assert!(a.body.contains("01****BC") && !a.body.contains("01A123BC"), "{}", a.body);
    let uri = format!("/api/v1/alerts/{}/reveal", f.own.alert);
    let a = send(&f.router, request(&Method::POST, &uri, Some(&op), Some(&serde_json::json!({"reason": "no"})))).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason of 2 characters: {}", a.body);
    let body = serde_json::json!({ "reason": "checking the plate against the call" });
    let a = send(&f.router, request(&Method::POST, &uri, Some(&op), Some(&body))).await;
    assert!(a.body.contains("01A123BC"), "{}", a.body);
    let audit = f.store.audit_entries(None, 10).unwrap();
    assert_eq!(audit[0].action, "reveal_personal");
    assert_eq!(audit[0].detail["reason"], "checking the plate against the call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_needs_a_reason_and_a_second_users_approval_and_every_step_is_audited() {
    let f = fixture("original");
    let op = login(&f, "operator").await;
    let sup = login(&f, "supervisor").await;
    let uri = format!("/api/v1/evidence/{}/original-requests", f.own.sha);
    let a = send(
        &f.router,
        request(&Method::POST, &uri, Some(&op), Some(&serde_json::json!({"reason": "suspect left a bag"}))),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["id"].as_str().unwrap().to_string();
    let original = format!("/api/v1/evidence/{}/original", f.own.sha);
    assert_eq!(send(&f.router, request(&Method::GET, &original, Some(&op), None)).await.status, StatusCode::FORBIDDEN);
    // The requester cannot approve their own request (an operator may not approve at all;
    // a supervisor asking for themself is refused too).
    let own_req =
        send(&f.router, request(&Method::POST, &uri, Some(&sup), Some(&serde_json::json!({"reason": "my own look"}))))
            .await;
    let own_id = serde_json::from_str::<serde_json::Value>(&own_req.body).unwrap()["id"].as_str().unwrap().to_string();
    let approve = |id: &str| format!("/api/v1/original-requests/{id}/approve");
    let a = send(&f.router, request(&Method::POST, &approve(&own_id), Some(&sup), Some(&serde_json::json!({})))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = send(&f.router, request(&Method::POST, &approve(&id), Some(&sup), Some(&serde_json::json!({})))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = send(&f.router, request(&Method::GET, &original, Some(&op), None)).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "\u{FFFD}PNG original"));
    // The blurred copy is what everyone else gets.
    let a = send(&f.router, request(&Method::GET, &format!("/api/v1/evidence/{}", f.own.sha), Some(&sup), None)).await;
    assert!(a.body.ends_with("PNG blurred"), "{}", a.body);
    let actions: Vec<String> = f.store.audit_entries(None, 20).unwrap().into_iter().map(|e| e.action).collect();
    for needed in ["request_original", "approve_original", "view_original"] {
        assert!(actions.iter().any(|a| a == needed), "{needed} missing from {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_actions_mutes_and_views_of_personal_data_are_in_the_audit_log_which_verifies() {
    let f = fixture("audit");
    let bad = serde_json::json!({ "username": "operator", "password": "wrong" });
    assert_eq!(
        send(&f.router, request(&Method::POST, "/api/v1/login", None, Some(&bad))).await.status,
        StatusCode::UNAUTHORIZED
    );
    let op = login(&f, "operator").await;
    let sup = login(&f, "supervisor").await;
    let inc = &f.own.incident;
    for (uri, body) in [
        (format!("/api/v1/incidents/{inc}/acknowledge"), serde_json::json!({})),
        (format!("/api/v1/incidents/{inc}/notes"), serde_json::json!({ "text": "on my way" })),
        (format!("/api/v1/incidents/{inc}/resolve"), serde_json::json!({ "category": "false_alarm" })),
        (format!("/api/v1/alerts/{}/reveal", f.own.alert), serde_json::json!({ "reason": "plate check" })),
    ] {
        let a = send(&f.router, request(&Method::POST, &uri, Some(&op), Some(&body))).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.body);
    }
    let until = (chrono::Utc::now() + chrono::TimeDelta::hours(2)).to_rfc3339();
    let mute = serde_json::json!({ "reason": "camera maintenance", "until": until });
    let a = send(&f.router, request(&Method::POST, "/api/v1/sources/post-a/camera/gate/mute", Some(&sup), Some(&mute)))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);

    let a = send(&f.router, request(&Method::GET, "/api/v1/audit?limit=50", Some(&sup), None)).await;
    let listed: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let mut actions: Vec<(String, String)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap().into(), e["action"].as_str().unwrap().into()))
        .collect();
    actions.reverse();
    let tail: Vec<(&str, &str)> =
        actions.iter().map(|(a, b)| (a.as_str(), b.as_str())).filter(|(_, a)| *a != "request_original").collect();
    assert_eq!(
        tail,
        [
            ("operator", "login_failed"),
            ("operator", "login"),
            ("supervisor", "login"),
            ("operator", "acknowledge"),
            ("operator", "note"),
            ("operator", "resolve"),
            ("operator", "reveal_personal"),
            ("supervisor", "mute"),
        ]
    );
    // Signed, exported off the box, and verified against the export.
    let dir = f._dir.0.join("export");
    std::fs::create_dir_all(&dir).unwrap();
    let conn = rusqlite::Connection::open(f._dir.0.join("control-room.sqlite")).unwrap();
    let signer = crate::audit::Signer::load_or_create(&f._dir.0.join("audit.key"), "cr-1").unwrap();
    crate::audit::export_head(&signer.head(&conn).unwrap(), &dir).unwrap();
    let heads = crate::audit::load_heads(&dir.join(crate::audit::HEADS_FILE)).unwrap();
    let report = f.store.audit_verify(&heads, Some(&signer.public_key_hex())).unwrap();
    assert!(report.ok && report.heads_checked == 1, "{report:?}");
    // Guessing: after five failures the username is locked out, even with the right password.
    for _ in 0..super::session::MAX_FAILURES {
        let a = send(&f.router, request(&Method::POST, "/api/v1/login", None, Some(&bad))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let good = serde_json::json!({ "username": "operator", "password": f.passwords["operator"] });
    let a = send(&f.router, request(&Method::POST, "/api/v1/login", None, Some(&good))).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(a.body.contains("try again"), "{}", a.body);
    // An administrator's quiet edit of the mute's reason is caught.
    conn.execute("UPDATE audit SET detail = replace(detail, 'maintenance', 'test') WHERE action = 'mute'", []).unwrap();
    let report = f.store.audit_verify(&heads, None).unwrap();
    assert!(
        !report.ok && report.problems.iter().any(|p| p.what.contains("edited") || p.what.contains("hash")),
        "{report:?}"
    );
}

/// A page of another origin may not open the live feed with the operator's cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_from_another_origin_is_refused() {
    let f = fixture("origin");
    let op = login(&f, "operator").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = f.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let handshake = |origin: &str| {
        format!(
            "GET /api/v1/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\
             Cookie: {}\r\n\r\n",
            op.cookie
        )
    };
    for (origin, status) in [(format!("http://{addr}"), "101"), ("https://evil.example".to_string(), "403")] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(handshake(&origin).as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "origin {origin}: {head}");
    }
}
