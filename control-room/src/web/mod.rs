//! The dashboard's HTTP server (axum): REST API with its OpenAPI document generated from
//! the handlers, WebSocket push, Prometheus metrics, and the embedded UI.
//!
//! The one idea: every route is declared once, with its OpenAPI annotation, in
//! [`routes`]; one guard in front of all of them looks the route up in
//! [`policy::rule`] and refuses what has no rule, so a route added without a rule is
//! unreachable (and the authorization test, which walks the router's own route list,
//! fails).

mod api;
mod error;
mod pages;
#[cfg(test)]
mod personal_tests;
pub mod policy;
mod session;
#[cfg(test)]
mod tests;
mod ws;

use crate::auth::User;
use crate::live::Live;
use crate::store::dashboard::DashboardStore;
use crate::workflow::ResponseTargets;
use axum::extract::DefaultBodyLimit;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use session::Principal;

/// `[web]` in a control-room config.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address to serve on.
    pub listen: String,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Browsers treat
    /// `http://127.0.0.1` and `localhost` as secure, so the demo keeps it on.
    pub secure_cookies: bool,
    /// Hours a session lasts.
    pub session_hours: f64,
    /// Largest request body accepted, in bytes (after decompression).
    pub max_body_bytes: usize,
    /// Minutes an approval to see an original lasts.
    pub original_view_minutes: f64,
    /// Optional map tiles, e.g. `https://tiles.example/{z}/{x}/{y}.png`; without it the map
    /// is a plain projection of the configured coordinates.
    pub tile_url: Option<String>,
    /// Seconds between signed exports of the audit chain's head.
    pub audit_export_secs: f64,
    /// Directories (mounts of another machine) that receive the signed audit heads.
    pub audit_export_dirs: Vec<PathBuf>,
    /// The key the edges seal unblurred originals with (`[evidence] key_file` there):
    /// needed to show an approved original. Without it originals cannot be shown.
    pub original_key_file: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: true,
            session_hours: 12.0,
            max_body_bytes: 64 * 1024,
            original_view_minutes: 30.0,
            tile_url: None,
            audit_export_secs: 60.0,
            audit_export_dirs: Vec::new(),
            original_key_file: None,
        }
    }
}

impl WebConfig {
    /// Checks what serde cannot; `Err` names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.listen.parse::<SocketAddr>().map_err(|e| format!("listen: {:?} is not host:port: {e}", self.listen))?;
        for (name, v) in [
            ("session_hours", self.session_hours),
            ("original_view_minutes", self.original_view_minutes),
            ("audit_export_secs", self.audit_export_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name}: {v} must be positive"));
            }
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(format!("max_body_bytes: {} must be from 1024 to 16777216", self.max_body_bytes));
        }
        Ok(())
    }
}

/// What every handler shares.
pub struct App {
    pub store: Arc<dyn DashboardStore>,
    pub live: Arc<Live>,
    pub cfg: WebConfig,
    pub targets: ResponseTargets,
    /// Where fetched evidence files lie (`<sha256>`).
    pub evidence_dir: PathBuf,
    pub throttle: session::LoginThrottle,
}

pub type AppState = Arc<App>;

impl App {
    /// Runs a blocking store call off the async threads.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn DashboardStore) -> Result<T, String> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| ApiError::internal(format!("store task: {e}")))?
            .map_err(ApiError::internal)
    }
}

/// Every route, with its OpenAPI annotation. The router and the OpenAPI document come
/// from this one list.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pages::index))
        .routes(routes!(pages::login_page))
        .routes(routes!(pages::asset))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::set_language))
        .routes(routes!(api::list_incidents))
        .routes(routes!(api::get_incident))
        .routes(routes!(api::acknowledge))
        .routes(routes!(api::assign))
        .routes(routes!(api::escalate))
        .routes(routes!(api::add_note))
        .routes(routes!(api::resolve))
        .routes(routes!(api::place_hold, api::release_hold))
        .routes(routes!(api::assignable_users))
        .routes(routes!(api::list_alerts))
        .routes(routes!(api::get_alert))
        .routes(routes!(api::reveal_alert))
        .routes(routes!(api::get_evidence))
        .routes(routes!(api::request_original))
        .routes(routes!(api::list_original_requests))
        .routes(routes!(api::approve_original))
        .routes(routes!(api::get_original))
        .routes(routes!(api::list_sources))
        .routes(routes!(api::mute_source, api::unmute_source))
        .routes(routes!(api::list_nodes))
        .routes(routes!(api::list_lanes))
        .routes(routes!(api::map))
        .routes(routes!(api::ui_config))
        .routes(routes!(api::list_audit))
        .routes(routes!(api::verify_audit))
        .routes(routes!(api::create_token))
        .routes(routes!(api::list_users, api::create_user))
        .routes(routes!(api::openapi_json))
        .routes(routes!(api::metrics))
        .routes(routes!(ws::live))
}

/// The router, with the guard in front of every route, and its OpenAPI document.
pub fn app(state: AppState) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes().split_for_parts();
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("qorovul control room")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some("Alarm queue, incident workflow, evidence, audit (docs/dashboard.md)"))
        .license(Some(utoipa::openapi::License::new("Apache-2.0")))
        .build();
    let doc_json = Arc::new(doc.to_json().unwrap_or_default());
    let max_body = state.cfg.max_body_bytes;
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), session::guard))
        .layer(axum::Extension(api::OpenApiDoc(doc_json)))
        .layer(axum::middleware::from_fn(error::security_headers))
        .layer(DefaultBodyLimit::max(max_body))
        // gzip bodies are accepted; the body limit above applies to the inflated bytes, so a
        // decompression bomb stops at `max_body_bytes`.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .fallback(error::not_found)
        .with_state(state);
    (router, doc)
}

/// A running web server.
pub struct WebServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WebServer {
    /// Binds `state.cfg.listen` and serves on the current tokio runtime.
    pub async fn start(state: AppState) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind(&state.cfg.listen)
            .await
            .map_err(|e| format!("web: binding {}: {e}", state.cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| format!("web: {e}"))?;
        let (router, _) = app(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                });
            if let Err(e) = serve.await {
                tracing::error!("web server: {e}");
            }
        });
        tracing::info!("dashboard on http://{addr}/");
        Ok(Self { addr, shutdown: Some(tx), task: Some(task) })
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// The dashboard of a running control room: its web server and the exporter of signed
/// audit heads.
pub struct Dashboard {
    pub server: WebServer,
    pub store: Arc<dyn DashboardStore>,
    exporter: Option<crate::audit::Exporter>,
}

impl Dashboard {
    /// Serves the dashboard of `room` (node `node` of `site`) on the current tokio runtime,
    /// and exports the audit chain's signed head every `cfg.audit_export_secs` to each of
    /// `cfg.audit_export_dirs` and on zenoh (`qv/{site}/audit-head/{node}`), so a copy
    /// lives off this box.
    pub async fn start(
        session: zenoh::Session,
        room: &crate::ingest::ControlRoom,
        site: &str,
        node: &str,
        cfg: &WebConfig,
        targets: &ResponseTargets,
    ) -> Result<Self, String> {
        cfg.validate().map_err(|e| format!("web.{e}"))?;
        let data_dir = room.store_path.parent().map(PathBuf::from).unwrap_or_default();
        let store: Arc<dyn DashboardStore> =
            Arc::new(crate::store::dashboard::SqliteStore::open(&room.store_path, targets)?);
        let signer = crate::audit::Signer::load_or_create(&data_dir.join("audit-signing.key"), node)?;
        let mut sinks: Vec<crate::audit::Sink> = Vec::new();
        for dir in cfg.audit_export_dirs.clone() {
            sinks.push(Box::new(move |h| crate::audit::export_head(h, &dir)));
        }
        let key = pipeline::keys::audit_head(site, node);
        sinks.push(Box::new(move |h| {
            use zenoh::Wait;
            let json = serde_json::to_string(h).map_err(|e| e.to_string())?;
            session.put(&key, json).wait().map_err(|e| format!("publishing {key}: {e}"))
        }));
        let exporter = crate::audit::Exporter::start(
            room.store_path.clone(),
            signer,
            std::time::Duration::from_secs_f64(cfg.audit_export_secs),
            sinks,
        )?;
        let app = Arc::new(App {
            store: store.clone(),
            live: room.live.clone(),
            cfg: cfg.clone(),
            targets: targets.clone(),
            evidence_dir: data_dir.join("evidence"),
            throttle: Default::default(),
        });
        let server = WebServer::start(app).await?;
        Ok(Self { server, store, exporter: Some(exporter) })
    }

    pub async fn stop(mut self) {
        self.server.stop().await;
        if let Some(e) = self.exporter.take() {
            let _ = tokio::task::spawn_blocking(move || e.stop()).await;
        }
    }
}

/// Creates the demo users that do not exist yet, one per role, on `sites`, and returns
/// `(username, role, password)` of those created, for printing once.
pub fn seed_users(
    store: &dyn DashboardStore,
    sites: &[String],
) -> Result<Vec<(String, crate::auth::Role, String)>, String> {
    use crate::auth::{Role, hash_password, random_password};
    let mut created = Vec::new();
    for role in Role::ALL {
        let username = role.as_str().to_string();
        if store.user_with_hash(&username)?.is_some() {
            continue;
        }
        let password = random_password()?;
        let user = User {
            username: username.clone(),
            display_name: format!("Demo {}", role.as_str()),
            role,
            sites: sites.to_vec(),
            language: "en".into(),
        };
        if store.create_user(&crate::store::dashboard::NewUser { user, password_hash: hash_password(&password)? })? {
            created.push((username, role, password));
        }
    }
    Ok(created)
}
