//! The embedded UI: the app page (signed-in users only), the login page, and the static
//! files both load (code and styles only; every datum comes through the API).

use super::ApiError;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

fn file(name: &str) -> Result<Response, ApiError> {
    let (_, mime, bytes) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found(format!("no UI file {name:?}")))?;
    Ok(([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "no-cache")], *bytes).into_response())
}

#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, description = "the dashboard"), (status = 303, description = "to /login")))]
pub async fn index() -> Result<Response, ApiError> {
    file("index.html")
}

#[utoipa::path(get, path = "/login", tag = "pages", responses((status = 200, description = "the login page")))]
pub async fn login_page() -> Result<Response, ApiError> {
    file("login.html")
}

#[utoipa::path(get, path = "/assets/{file}", tag = "pages", params(("file" = String, Path)),
    responses((status = 200, description = "a UI file"), (status = 404)))]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    if name.ends_with(".html") {
        return Err(ApiError::not_found("pages are served at / and /login"));
    }
    file(&name)
}
