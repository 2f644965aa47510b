//! The HTTP API: transport only. Requests are checked by [`crate::alert`] and stored
//! by [`crate::delivery`]; this module maps them to and from HTTP.
//!
//! Errors are `{"error": {"code", "message"}}` with the status the design gives each.
//! When an API token is configured, every route but the health checks needs
//! `Authorization: Bearer <token>`, compared in constant time.

mod admin;
mod alerts;
mod auth;
mod console;
mod error;
mod observe;
mod receivers;
mod status;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::routing::{MethodRouter, get, post};

pub use admin::{AdminAccess, RunCommand};
pub use error::ApiError;

use crate::delivery::Outbox;
use crate::directory::Index;
use crate::metrics::Metrics;
use crate::routes;
use crate::secrets::Secret;
use crate::state::Store;

/// Request bodies beyond this are refused with 413.
pub const BODY_LIMIT: usize = 256 * 1024;
/// A batch carries up to [`MAX_BATCH`] alerts.
pub const BATCH_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// A notification from Alertmanager or Grafana carries a whole group of alerts; set
/// `max_alerts` on a receiver whose groups can be larger.
pub const RECEIVER_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The admin route carries whole files.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// What the API knows of the applied webhooks, and the directory to resolve mentions.
#[derive(Debug, Default)]
pub struct Catalog {
    pub webhooks: BTreeMap<String, Entry>,
    pub directory: Option<Index>,
    /// When the directory was synced, in Unix seconds.
    pub synced_at: Option<u64>,
    /// The applied routes and templates, compiled.
    pub router: Arc<routes::Router>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub channel: Option<String>,
    /// Redacted.
    pub url: String,
    pub mentions: Vec<String>,
}

#[derive(Debug)]
pub struct AppState {
    pub outbox: Arc<Outbox>,
    pub store: Arc<Store>,
    pub catalog: Arc<RwLock<Catalog>>,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<Secret>,
    /// 503 beyond this many queued alerts.
    pub queue_limit: usize,
    /// How long an Alertmanager HA peer's copy of a notification is recognised.
    pub dedup_window: std::time::Duration,
    /// Problems the daemon wants `/healthz` to show (an invalid desired-state file).
    pub problems: Arc<RwLock<Vec<String>>>,
    /// `None` unless an admin token is configured (or on the admin socket).
    pub admin: Option<AdminAccess>,
}

type Shared = Arc<AppState>;

/// Every route: the single list the router is built from and `schema/openapi.yaml` is
/// checked against.
pub fn routes() -> Vec<(&'static str, Method, MethodRouter<Shared>)> {
    vec![
        ("/v1/alerts", Method::POST, post(alerts::create)),
        (
            "/v1/alerts/batch",
            Method::POST,
            post(alerts::create_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        ),
        ("/v1/alerts", Method::GET, get(alerts::list)),
        ("/v1/alerts/{id}", Method::GET, get(alerts::show)),
        ("/v1/alerts/{id}/retry", Method::POST, post(alerts::retry)),
        (
            "/v1/alertmanager",
            Method::POST,
            post(receivers::alertmanager).layer(DefaultBodyLimit::max(RECEIVER_BODY_LIMIT)),
        ),
        (
            "/v1/alertmanager/{webhook}",
            Method::POST,
            post(receivers::alertmanager_to).layer(DefaultBodyLimit::max(RECEIVER_BODY_LIMIT)),
        ),
        (
            "/v1/grafana",
            Method::POST,
            post(receivers::grafana).layer(DefaultBodyLimit::max(RECEIVER_BODY_LIMIT)),
        ),
        (
            "/v1/grafana/{webhook}",
            Method::POST,
            post(receivers::grafana_to).layer(DefaultBodyLimit::max(RECEIVER_BODY_LIMIT)),
        ),
        ("/v1/webhooks", Method::GET, get(status::webhooks)),
        ("/healthz", Method::GET, get(status::healthz)),
        ("/readyz", Method::GET, get(status::readyz)),
        ("/metrics", Method::GET, get(status::metrics)),
        // A desired-state file of thousands of webhooks is megabytes.
        (
            "/v1/admin/run",
            Method::POST,
            post(admin::run).layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT)),
        ),
    ]
}

/// A request body that stalls this long (no data) is refused with 408
/// `request_timeout`, so that a client that never sends its body does not keep its
/// connection. The server's own work is not timed: an alert being stored
/// is always answered for what became of it.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router(state: Shared) -> Router {
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, _, route)| {
            router.route(path, route)
        });
    // The console page is HTML for people, beside the API.
    router
        .route("/", get(console::page))
        .route("/console/alerts/{id}/retry", post(console::retry))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_DEADLINE))
        .layer(middleware::from_fn_with_state(state.clone(), observe::observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
