//! What the daemon tells about itself: the applied webhooks, health, readiness, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, Entry, Shared};
use crate::clock::rfc3339_millis;

pub(super) async fn webhooks(State(state): State<Shared>) -> Result<Response, ApiError> {
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
            "health": health.map(|h| json!({"state": h.state, "last_error": h.last_error, "updated_at": rfc3339_millis(h.updated_at)})),
        }));
    }
    Ok(axum::Json(json!({"webhooks": webhooks})).into_response())
}

pub(super) async fn healthz(State(state): State<Shared>) -> Response {
    let mut problems = state.problems.read().expect("never poisoned").clone();
    if let Some((reason, _)) = state.outbox.storage_problem() {
        problems.push(format!(
            "the state cannot be written ({reason}): alerts are refused with 503 and nothing is sent until it can"
        ));
    }
    let status = if problems.is_empty() { "ok" } else { "degraded" };
    axum::Json(json!({"status": status, "problems": problems})).into_response()
}

/// Not ready while the state cannot be written: a balancer should send elsewhere.
pub(super) async fn readyz(State(state): State<Shared>) -> Response {
    match state.outbox.storage_problem() {
        None => axum::Json(json!({"status": "ready"})).into_response(),
        Some((reason, full)) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "status": "not_ready",
                "reason": if full { "storage_full" } else { "storage_unavailable" },
                "message": format!("the state cannot be written: {reason}"),
            })),
        )
            .into_response(),
    }
}

/// OpenMetrics to a scraper that asks for it (Prometheus does), the classic text
/// format otherwise: each served with the content type its body is.
pub(super) async fn metrics(State(state): State<Shared>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.encode(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            state.metrics.encode_classic(),
        )
            .into_response()
    }
}
