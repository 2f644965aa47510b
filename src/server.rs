//! The HTTP API: transport only. Requests are checked by [`crate::alert`] and stored
//! by [`crate::outbox`]; this module maps them to and from HTTP.
//!
//! Errors are `{"error": {"code", "message"}}` with the status the design gives each.
//! When an API token is configured, every route but the health checks needs
//! `Authorization: Bearer <token>`, compared in constant time.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::admin;
use crate::alert::{self, AlertBatch, AlertRequest, MAX_BATCH, Refusal};
use crate::directory::Index;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::secrets::Secret;
use crate::state::{AlertRecord, Enqueued, NewAlert, Store};

/// Request bodies beyond this are refused with 413.
pub const BODY_LIMIT: usize = 256 * 1024;
/// A batch carries up to [`MAX_BATCH`] alerts.
pub const BATCH_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// The admin route carries whole files.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// What the API knows of the applied webhooks, and the directory to resolve mentions.
#[derive(Debug, Default)]
pub struct Catalog {
    pub webhooks: BTreeMap<String, Entry>,
    pub directory: Option<Index>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub channel: Option<String>,
    /// Redacted.
    pub url: String,
    pub mentions: Vec<String>,
}

/// Running commands for others (see [`crate::admin`]).
#[derive(Clone)]
pub struct AdminAccess {
    /// Required as `Authorization: Bearer`; `None` on the admin socket, whose file mode
    /// is the guard.
    pub token: Option<Secret>,
    pub run: Arc<dyn Fn(admin::Request) -> admin::Response + Send + Sync>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
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
        ("/v1/alerts", Method::POST, post(create_alert)),
        (
            "/v1/alerts/batch",
            Method::POST,
            post(create_alerts).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        ),
        ("/v1/alerts", Method::GET, get(list_alerts)),
        ("/v1/alerts/{id}", Method::GET, get(show_alert)),
        ("/v1/alerts/{id}/retry", Method::POST, post(retry_alert)),
        ("/v1/webhooks", Method::GET, get(webhooks)),
        ("/healthz", Method::GET, get(healthz)),
        ("/readyz", Method::GET, get(readyz)),
        ("/metrics", Method::GET, get(metrics)),
        // A desired-state file of thousands of webhooks is megabytes.
        (
            "/v1/admin/run",
            Method::POST,
            post(admin_run).layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT)),
        ),
    ]
}

pub fn router(state: Shared) -> Router {
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, _, route)| {
            router.route(path, route)
        });
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// An API error as the design shapes it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"error": {"code": code, "message": message.into()}}),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<crate::state::StateError> for ApiError {
    fn from(error: crate::state::StateError) -> Self {
        tracing::error!(%error, "state error while serving a request");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string())
    }
}

async fn authorize(State(state): State<Shared>, request: Request, next: Next) -> Response {
    // The admin route checks its own token, apart from the alert token.
    let open = matches!(request.uri().path(), "/healthz" | "/readyz" | "/v1/admin/run");
    let Some(token) = state.api_token.as_ref().filter(|_| !open) else {
        return next.run(request).await;
    };
    if bearer_matches(request.headers(), token) {
        next.run(request).await
    } else {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong `Authorization: Bearer` token",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        response
    }
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &axum::http::HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map_or("", |(_, token)| token.trim());
    bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))
}

async fn create_alert(
    State(state): State<Shared>,
    body: Result<axum::Json<AlertRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(request) = body.map_err(|rejection| rejected(&rejection, BODY_LIMIT))?;
    let alert = prepare(&state, request)?;
    let enqueued = enqueue(&state, vec![alert]).await?.remove(0);
    Ok((StatusCode::ACCEPTED, axum::Json(enqueued_json(&enqueued))).into_response())
}

/// `POST /v1/alerts/batch`: every alert is queued, in one flush, or none is.
async fn create_alerts(
    State(state): State<Shared>,
    body: Result<axum::Json<AlertBatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(batch) = body.map_err(|rejection| rejected(&rejection, BATCH_BODY_LIMIT))?;
    // A batch that could never fit under the queue limit is not worth retrying.
    let most = MAX_BATCH.min(state.queue_limit);
    if batch.alerts.is_empty() || batch.alerts.len() > most {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_size",
            format!("send 1 to {most} alerts in a batch, not {}", batch.alerts.len()),
        ));
    }
    let alerts = batch
        .alerts
        .into_iter()
        .enumerate()
        .map(|(index, request)| {
            prepare(&state, request).map_err(|mut error| {
                let message = error.body["error"]["message"].as_str().unwrap_or_default();
                error.body["error"]["message"] = format!("alerts[{index}]: {message}").into();
                error.body["error"]["index"] = index.into();
                error
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let enqueued = enqueue(&state, alerts).await?;
    let answers: Vec<Value> = enqueued.iter().map(enqueued_json).collect();
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"alerts": answers}))).into_response())
}

/// A JSON body axum could not take, as the API's error.
fn rejected(rejection: &JsonRejection, limit: usize) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} KiB", limit / 1024),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "send the alert as `Content-Type: application/json`",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed", rejection.body_text()),
    }
}

/// The message of `request` for its webhook, mentions resolved, ready to queue.
fn prepare(state: &Shared, request: AlertRequest) -> Result<NewAlert, ApiError> {
    let catalog = state.catalog.read().expect("never poisoned");
    let Some(entry) = catalog.webhooks.get(&request.webhook) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_webhook",
            format!("no applied webhook has the id `{}`", request.webhook),
        ));
    };
    let payload =
        alert::build(&request, &entry.mentions, catalog.directory.as_ref()).map_err(|r| refused(&r))?;
    Ok(NewAlert {
        webhook: request.webhook,
        payload,
        key: request.key,
    })
}

/// Queues `alerts` durably, unless the outbox would go over its limit.
async fn enqueue(state: &Shared, alerts: Vec<NewAlert>) -> Result<Vec<Enqueued>, ApiError> {
    if state.outbox.queued() + alerts.len() > state.queue_limit {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the outbox is full; try again later",
        );
        error.retry_after = Some(5);
        return Err(error);
    }
    Ok(state.outbox.accept(alerts).await?)
}

fn enqueued_json(enqueued: &Enqueued) -> Value {
    json!({"id": enqueued.record.id, "status": enqueued.record.status, "duplicate": enqueued.duplicate})
}

fn refused(refusal: &Refusal) -> ApiError {
    let status = match *refusal {
        Refusal::UnknownMentions(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut error = ApiError::new(status, refusal.code(), refusal.message());
    if let Refusal::UnknownMentions(problems) = refusal {
        error.body["error"]["mentions"] = serde_json::to_value(problems).expect("serializes");
    }
    error
}

fn alert_json(record: &AlertRecord) -> Value {
    json!({
        "id": record.id,
        "webhook": record.webhook,
        "status": record.status,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "created_at": timestamp(record.created_at),
        "delivered_at": record.delivered_at.map(timestamp),
    })
}

fn timestamp(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

async fn show_alert(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let record = state.store.alert(&id)?.ok_or_else(|| unknown_alert(&id))?;
    Ok(axum::Json(alert_json(&record)).into_response())
}

fn unknown_alert(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_alert",
        format!("no alert has the id `{id}`"),
    )
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_alerts(
    State(state): State<Shared>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "malformed", rejection.body_text()))?;
    if query.status.as_deref() != Some("failed") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_filter",
            "only `?status=failed` (the dead letters) is listed",
        ));
    }
    let records = state.store.failed_alerts(query.limit.unwrap_or(1000))?;
    let alerts: Vec<Value> = records.iter().map(alert_json).collect();
    Ok(axum::Json(json!({"alerts": alerts})).into_response())
}

async fn retry_alert(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let record = state.outbox.retry(&id).await?.ok_or_else(|| unknown_alert(&id))?;
    if record.id == id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!(
                "alert `{id}` is {}, not failed",
                serde_json::to_value(record.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": record.id, "status": record.status, "retry_of": id})),
    )
        .into_response())
}

async fn webhooks(State(state): State<Shared>) -> Result<Response, ApiError> {
    let entries: Vec<(String, Entry)> = state
        .catalog
        .read()
        .expect("never poisoned")
        .webhooks
        .iter()
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    let mut webhooks = Vec::new();
    for (id, entry) in entries {
        let health = state.store.health(&id)?;
        webhooks.push(json!({
            "id": id,
            "name": entry.name,
            "channel": entry.channel,
            "url": entry.url,
            "mentions": entry.mentions,
            "health": health.map(|h| json!({"state": h.state, "last_error": h.last_error, "updated_at": timestamp(h.updated_at)})),
        }));
    }
    Ok(axum::Json(json!({"webhooks": webhooks})).into_response())
}

async fn admin_run(
    State(state): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Result<axum::Json<admin::Request>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Some(access) = state.admin.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "remote admin is off: set HOOKWARDEN_ADMIN_TOKEN_FILE",
        ));
    };
    if let Some(token) = &access.token
        && !bearer_matches(&headers, token)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token",
        ));
    }
    let axum::Json(request) =
        body.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "malformed", rejection.body_text()))?;
    let response = tokio::task::spawn_blocking(move || (access.run)(request))
        .await
        .expect("the admin task does not panic");
    Ok(axum::Json(response).into_response())
}

async fn healthz(State(state): State<Shared>) -> Response {
    let problems = state.problems.read().expect("never poisoned").clone();
    let status = if problems.is_empty() { "ok" } else { "degraded" };
    axum::Json(json!({"status": status, "problems": problems})).into_response()
}

async fn readyz() -> Response {
    axum::Json(json!({"status": "ready"})).into_response()
}

async fn metrics(State(state): State<Shared>) -> Response {
    let mut text = state.metrics.encode();
    text.push('\n');
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
