//! The alert routes: queue one or a batch, show one, list the dead letters, retry one.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{refused, rejected};
use super::{ApiError, BATCH_BODY_LIMIT, BODY_LIMIT, Shared};
use crate::alert::{self, AlertBatch, AlertRequest, MAX_BATCH};
use crate::clock::rfc3339_millis;
use crate::state::{AlertRecord, Enqueued, NewAlert};

pub(super) async fn create(
    State(state): State<Shared>,
    body: Result<axum::Json<AlertRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(request) = body.map_err(|rejection| rejected(&rejection, BODY_LIMIT))?;
    let alert = off_thread(&state, move |state| prepare(state, request)).await?;
    let enqueued = enqueue(&state, vec![alert]).await?.remove(0);
    Ok((StatusCode::ACCEPTED, axum::Json(enqueued_json(&enqueued))).into_response())
}

/// `POST /v1/alerts/batch`: every alert is queued, in one flush, or none is.
pub(super) async fn create_batch(
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
    let alerts = off_thread(&state, move |state| {
        batch
            .alerts
            .into_iter()
            .enumerate()
            .map(|(index, request)| {
                prepare(state, request).map_err(|mut error| {
                    let message = error.body["error"]["message"].as_str().unwrap_or_default();
                    error.body["error"]["message"] = format!("alerts[{index}]: {message}").into();
                    error.body["error"]["index"] = index.into();
                    error
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let enqueued = enqueue(&state, alerts).await?;
    let answers: Vec<Value> = enqueued.iter().map(enqueued_json).collect();
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"alerts": answers}))).into_response())
}

/// Runs `work` (mention matching, escaping: CPU work that grows with the request) on a
/// blocking thread, so that one large request does not hold up every other endpoint.
pub(super) async fn off_thread<T: Send + 'static>(
    state: &Shared,
    work: impl FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "a request's work failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request could not be handled",
            ))
        })
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
        ..NewAlert::default()
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

fn alert_json(record: &AlertRecord) -> Value {
    json!({
        "id": record.id,
        "webhook": record.webhook,
        "status": record.status,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "created_at": rfc3339_millis(record.created_at),
        "delivered_at": record.delivered_at.map(rfc3339_millis),
        "digest": record.digest.as_ref().map(|d| json!({"id": d.id, "alerts": d.alerts})),
        "retried_as": record.retried_as,
        "retry_of": record.retry_of,
    })
}

pub(super) async fn show(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let record = state.store.alert(&id)?.ok_or_else(|| unknown_alert(&id))?;
    Ok(axum::Json(alert_json(&record)).into_response())
}

pub(super) fn unknown_alert(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_alert",
        format!("no alert has the id `{id}`"),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn list(
    State(state): State<Shared>,
    query: Result<Query<ListQuery>, QueryRejection>,
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
    let records = state.store.failed_alerts(None, query.limit.unwrap_or(1000))?;
    let alerts: Vec<Value> = records.iter().map(alert_json).collect();
    Ok(axum::Json(json!({"alerts": alerts})).into_response())
}

pub(super) async fn retry(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    // A notification that reached no route has no webhook to go to.
    if let Some(record) = state.store.alert(&id)?
        && record.webhook.is_empty()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_route",
            format!(
                "alert `{id}` reached no route, so there is no webhook to retry it to: add a route for it, and the sender's next notification is delivered"
            ),
        ));
    }
    let record = state.outbox.retry(&id).await?.ok_or_else(|| unknown_alert(&id))?;
    if record.id == id
        && let Some(new) = &record.retried_as
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_retried",
            format!("alert `{id}` was retried already, as `{new}`"),
        ));
    }
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
