//! The receivers: Alertmanager's `webhook_config` and Grafana's webhook contact point.
//!
//! A notification becomes its messages by [`crate::routes`] and is queued like any alert.
//! The answers are the ones these senders act on correctly: 200 only once every message
//! is durable; 503 (which both retry) whenever it could not be queued; a 4xx (which both
//! drop) only for a body that will never be accepted. A notification that reaches no
//! route, or names a webhook that is not applied, is answered 200 and kept as a dead
//! letter, where an operator sees it, instead of being dropped by the sender.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::rejected;
use super::{ApiError, RECEIVER_BODY_LIMIT, Shared};
use crate::metrics::{NotificationLabels, TemplateLabel};
use crate::routes::{self, Notification, Target};
use crate::state::{AlertStatus, Enqueued, NewAlert};

/// Who sent a notification, for metrics and logs.
#[derive(Debug, Clone, Copy)]
enum Source {
    Alertmanager,
    Grafana,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Grafana => "grafana",
        }
    }
}

type Body = Result<axum::Json<Notification>, JsonRejection>;

pub(super) async fn alertmanager(State(state): State<Shared>, body: Body) -> Result<Response, ApiError> {
    receive(&state, Source::Alertmanager, None, body).await
}

pub(super) async fn alertmanager_to(
    State(state): State<Shared>,
    Path(webhook): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&state, Source::Alertmanager, Some(webhook), body).await
}

pub(super) async fn grafana(State(state): State<Shared>, body: Body) -> Result<Response, ApiError> {
    receive(&state, Source::Grafana, None, body).await
}

pub(super) async fn grafana_to(
    State(state): State<Shared>,
    Path(webhook): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    receive(&state, Source::Grafana, Some(webhook), body).await
}

/// What a notification turns into before anything is stored.
struct Prepared {
    alerts: Vec<NewAlert>,
    /// How many of `alerts` are dead letters.
    dead: usize,
    outcome: &'static str,
}

async fn receive(
    state: &Shared,
    source: Source,
    webhook: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let axum::Json(notification) = body.map_err(|rejection| rejected(&rejection, RECEIVER_BODY_LIMIT))?;
    let prepared = super::alerts::off_thread(state, move |state| {
        Ok(prepare(state, source, webhook.as_deref(), &notification))
    })
    .await?;
    let queued = prepared.alerts.len() - prepared.dead;
    if state.outbox.queued() + queued > state.queue_limit {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the outbox is full; the sender should retry later",
        );
        error.retry_after = Some(5);
        return Err(error);
    }
    let enqueued = state.outbox.accept(prepared.alerts).await.map_err(|error| {
        if error.is_io() {
            return ApiError::from(error);
        }
        tracing::error!(%error, "cannot queue a notification");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the notification could not be stored; the sender should retry",
        )
    })?;
    let duplicate = !enqueued.is_empty() && enqueued.iter().all(|e| e.duplicate);
    let outcome = if duplicate { "duplicate" } else { prepared.outcome };
    state
        .metrics
        .notifications
        .get_or_create(&NotificationLabels {
            source: source.name().to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
    Ok((StatusCode::OK, axum::Json(answer(&enqueued, outcome, duplicate))).into_response())
}

/// `{"status", "alerts": [ids of queued messages], "dead_letters": [ids]}`.
fn answer(enqueued: &[Enqueued], outcome: &str, duplicate: bool) -> Value {
    let ids = |failed: bool| -> Vec<&str> {
        enqueued
            .iter()
            .filter(|e| (e.record.status == AlertStatus::Failed && !e.duplicate) == failed)
            .map(|e| e.record.id.as_str())
            .collect()
    };
    let status = if outcome == "duplicate" || outcome == "queued" {
        "queued"
    } else {
        outcome
    };
    let mut answer = json!({"status": status, "alerts": ids(false)});
    let dead = ids(true);
    if !dead.is_empty() {
        answer["dead_letters"] = json!(dead);
    }
    if duplicate {
        answer["duplicate"] = json!(true);
    }
    answer
}

/// The messages of `notification`, to `webhook` or by the applied routes, and the dead
/// letters of what could not be sent anywhere.
fn prepare(state: &Shared, source: Source, webhook: Option<&str>, notification: &Notification) -> Prepared {
    let catalog = state.catalog.read().expect("never poisoned");
    if let Some(id) = webhook
        && !catalog.webhooks.contains_key(id)
    {
        tracing::warn!(
            source = source.name(),
            webhook = id,
            "a notification names a webhook that is not applied; kept as a dead letter (`hookwarden alerts list`), retry it once the webhook is applied"
        );
        let alerts = dead_letters(routes::layout_messages(notification), id, "unknown_webhook");
        return Prepared {
            dead: alerts.len(),
            alerts,
            outcome: "unknown_webhook",
        };
    }
    let target = match webhook {
        Some(id) => Target::Webhook(id),
        None => Target::Routes(&catalog.router),
    };
    let mentions = |id: &str| {
        catalog
            .webhooks
            .get(id)
            .map(|e| e.mentions.clone())
            .unwrap_or_default()
    };
    let built = routes::messages(notification, target, &mentions, catalog.directory.as_ref());
    drop(catalog);
    if !built.unresolved.is_empty() {
        state
            .metrics
            .unresolved_mentions
            .inc_by(built.unresolved.len() as u64);
        tracing::warn!(source = source.name(), mentions = ?built.unresolved, "mentions that resolve to no one in the synced directory; sent as plain text");
    }
    for (template, reason) in &built.template_failures {
        state
            .metrics
            .template_failures
            .get_or_create(&TemplateLabel {
                template: template.clone(),
            })
            .inc();
        tracing::error!(template, %reason, "a template failed on a notification; its messages use the built-in layout");
    }
    // Each message is keyed by the notification's identity: an HA peer's copy makes
    // the same keys and is answered with the first copy's ids.
    let identity = dedupable(notification).then(|| notification.identity());
    let window = u64::try_from(state.dedup_window.as_millis()).unwrap_or(u64::MAX);
    let mut alerts: Vec<NewAlert> = built
        .messages
        .into_iter()
        .enumerate()
        .map(|(part, message)| NewAlert {
            webhook: message.webhook,
            payload: message.payload,
            key: identity
                .as_ref()
                .map(|id| format!("{}:{id}:{part}", source.name())),
            dedup_window_ms: Some(window),
            dead: None,
        })
        .collect();
    let queued = alerts.len();
    if !built.unrouted.is_empty() {
        tracing::warn!(source = source.name(), receiver = %notification.receiver, "alerts that no route matches; kept as a dead letter (`hookwarden alerts list`): add a catch-all route (`- webhooks: [ID]`) last in `routes:`");
        alerts.extend(dead_letters(built.unrouted, "", "no_route"));
    }
    let outcome = if queued == 0 && !alerts.is_empty() {
        "no_route"
    } else {
        "queued"
    };
    Prepared {
        dead: alerts.len() - queued,
        alerts,
        outcome,
    }
}

/// Alertmanager and Grafana always send a group key and fingerprints; a hand-made body
/// without them is not de-duplicated.
fn dedupable(notification: &Notification) -> bool {
    !notification.group_key.is_empty() || notification.alerts.iter().any(|a| !a.fingerprint.is_empty())
}

fn dead_letters(payloads: Vec<Value>, webhook: &str, reason: &str) -> Vec<NewAlert> {
    payloads
        .into_iter()
        .map(|payload| NewAlert {
            webhook: webhook.to_owned(),
            payload,
            dead: Some(reason.to_owned()),
            ..NewAlert::default()
        })
        .collect()
}
