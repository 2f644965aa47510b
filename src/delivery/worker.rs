//! A webhook's worker: the oldest queued alert, sent when pacing and any wait allow,
//! and what Slack answered recorded.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;

use super::pacing::{Bucket, backoff};
use super::{Outbox, UNFLUSHED_DELIVERIES};
use crate::clock::{millis, now_ms};
use crate::metrics::{FailureLabels, WebhookLabel};
use crate::slack::{HookState, Refusal, hook_state};
use crate::state::{AlertRecord, AlertStatus, Health, HealthState};

impl Outbox {
    pub(super) async fn work(&self, webhook: &str, notify: &Notify) {
        let mut bucket = Bucket::new(self.pacing);
        let mut unflushed = VecDeque::new();
        loop {
            while unflushed
                .front()
                .is_some_and(|ticket| self.commit.is_durable(*ticket))
            {
                unflushed.pop_front();
            }
            let next = match self.store.next_queued(webhook) {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(webhook, %error, "cannot read the outbox");
                    None
                }
            };
            let Some(record) = next else {
                self.commit.request_if(!unflushed.is_empty());
                tokio::select! {
                    () = notify.notified() => continue,
                    () = self.cancel.cancelled() => return,
                }
            };
            let wait =
                Duration::from_millis(record.next_attempt_at.saturating_sub(now_ms())).max(bucket.delay());
            if !wait.is_zero() {
                self.commit.request_if(!unflushed.is_empty());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.cancel.cancelled() => return,
                }
                continue;
            }
            if self.cancel.is_cancelled() {
                return;
            }
            if unflushed.len() >= UNFLUSHED_DELIVERIES {
                let oldest = unflushed.pop_front().expect("the window is full");
                tokio::select! {
                    flushed = self.commit.wait(oldest) => if flushed.is_err() { return },
                    () = self.cancel.cancelled() => return,
                }
            }
            bucket.take();
            unflushed.extend(self.attempt(record).await);
            bucket.settle();
        }
    }

    /// One send of `record`, and what it leaves behind: the commit ticket of its
    /// delivery or failure, when it left the queue.
    async fn attempt(&self, mut record: AlertRecord) -> Option<u64> {
        let url = self
            .webhooks
            .read()
            .expect("never poisoned")
            .get(&record.webhook)
            .cloned();
        let Some(url) = url else {
            return Some(self.finish(record, Err("webhook_deleted".to_owned())));
        };
        record.attempts += 1;
        match self.client.post_webhook(&url, &record.payload).await {
            Ok(()) => {
                self.health(&record.webhook, HealthState::Healthy, None);
                Some(self.finish(record, Ok(())))
            }
            Err(refusal) => self.refused(record, refusal),
        }
    }

    /// What a refusal leaves: a later attempt, or the alert failed for good.
    fn refused(&self, record: AlertRecord, refusal: Refusal) -> Option<u64> {
        match refusal {
            Refusal::RateLimited(delay) => {
                self.metrics
                    .rate_limited
                    .get_or_create(&WebhookLabel {
                        webhook: record.webhook.clone(),
                    })
                    .inc();
                tracing::info!(webhook = %record.webhook, ?delay, "Slack rate-limited the webhook; waiting as Retry-After asks");
                if self.expired(&record) {
                    return Some(self.finish(record, Err("expired: rate_limited".to_owned())));
                }
                self.later(record, "rate_limited".to_owned(), delay.min(MAX_RETRY_AFTER))
            }
            Refusal::Retryable(reason) => {
                self.health(&record.webhook, HealthState::Failing, Some(&reason));
                if self.expired(&record) {
                    return Some(self.finish(record, Err(format!("expired: {reason}"))));
                }
                let delay = backoff(self.retry, record.attempts, &record.id);
                tracing::warn!(webhook = %record.webhook, %reason, ?delay, "delivery failed; retrying");
                self.later(record, reason, delay)
            }
            Refusal::Permanent(error) => {
                let state = match hook_state(&error) {
                    HookState::Dead => Some(HealthState::Revoked),
                    HookState::MessageRefused => None,
                    HookState::Failing => Some(HealthState::Failing),
                };
                if let Some(state) = state {
                    self.health(&record.webhook, state, Some(&error));
                }
                Some(self.finish(record, Err(error)))
            }
        }
    }

    /// Keeps `record` queued for another attempt after `delay`; it stays in its queue,
    /// so nothing waits on a flush.
    fn later(&self, mut record: AlertRecord, error: String, delay: Duration) -> Option<u64> {
        record.next_attempt_at = now_ms().saturating_add(millis(delay));
        record.last_error = Some(error);
        self.save(&record);
        None
    }

    fn expired(&self, record: &AlertRecord) -> bool {
        Duration::from_millis(now_ms().saturating_sub(record.created_at)) >= self.retry.give_up_after
    }

    fn save(&self, record: &AlertRecord) {
        if let Err(error) = self.store.update_alert(record) {
            tracing::error!(webhook = %record.webhook, %error, "cannot record a delivery attempt");
        }
    }

    /// Records that `record` left its queue; returns the commit ticket of that record.
    fn finish(&self, mut record: AlertRecord, outcome: Result<(), String>) -> u64 {
        match outcome {
            Ok(()) => {
                record.status = AlertStatus::Delivered;
                record.delivered_at = Some(now_ms());
                self.metrics
                    .delivered
                    .get_or_create(&WebhookLabel {
                        webhook: record.webhook.clone(),
                    })
                    .inc();
                #[allow(clippy::cast_precision_loss)]
                self.metrics
                    .latency
                    .observe(now_ms().saturating_sub(record.created_at) as f64 / 1000.0);
            }
            Err(error) => {
                tracing::warn!(webhook = %record.webhook, alert = %record.id, %error, "alert failed for good");
                let labels = FailureLabels {
                    webhook: record.webhook.clone(),
                    reason: reason_label(&error),
                };
                self.metrics.failed.get_or_create(&labels).inc();
                record.status = AlertStatus::Failed;
                record.last_error = Some(error);
            }
        }
        self.metrics.depth(&record.webhook).dec();
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        if let Err(error) = self.store.finish_alert(&record) {
            tracing::error!(webhook = %record.webhook, %error, "cannot record a delivery");
        }
        self.commit.note()
    }

    fn health(&self, webhook: &str, state: HealthState, error: Option<&str>) {
        self.metrics.set_health(webhook, state);
        let health = Health {
            state,
            last_error: error.map(str::to_owned),
            updated_at: now_ms(),
        };
        if let Err(error) = self.store.set_health(webhook, &health) {
            tracing::error!(webhook, %error, "cannot record a webhook's health");
        }
    }
}
/// The longest `Retry-After` honoured; Slack's are seconds to minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// Slack's error codes as metric labels; anything else (an HTML page, a long body) is
/// `other`, so that the label's values stay few.
fn reason_label(error: &str) -> String {
    let code = error.strip_prefix("expired: ").unwrap_or(error);
    let plain =
        !code.is_empty() && code.len() <= 40 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if plain {
        code.to_owned()
    } else {
        "other".to_owned()
    }
}
