//! The records of the alert outbox: an alert as stored, what a webhook's health is, and
//! what an enqueue answers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Queued,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: String,
    pub webhook: String,
    /// The JSON body Slack receives.
    pub payload: serde_json::Value,
    pub key: Option<String>,
    pub status: AlertStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Not before this (unix milliseconds): backoff and `Retry-After`.
    pub next_attempt_at: u64,
    pub delivered_at: Option<u64>,
    /// The digest that carries this alert, once one was formed for it: it is sent, and
    /// retried, with the same alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestRef>,
    /// Sent alone from now on: Slack refused a digest for what one of its alerts holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alone: bool,
    /// A failed alert queued again: the id of its new alert, which carries it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_as: Option<String>,
    /// An alert queued again from a failed one: that one's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
}

/// A digest: one message that carries several alerts of one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRef {
    /// `d` and the id of its first alert.
    pub id: String,
    /// Its alerts' ids, in order.
    pub alerts: Vec<String>,
}

/// What Slack's answers say about a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Failing,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub updated_at: u64,
    /// When a message last reached Slack, in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<u64>,
}

/// An alert to store.
#[derive(Debug, Clone, Default)]
pub struct NewAlert {
    pub webhook: String,
    pub payload: serde_json::Value,
    pub key: Option<String>,
    /// How long `key` de-duplicates, in milliseconds; 24 hours when `None`.
    pub dedup_window_ms: Option<u64>,
    /// Stored as failed with this error, never queued: a dead letter from the start
    /// (`no_route`).
    pub dead: Option<String>,
}

impl NewAlert {
    /// The alert as stored, numbered `seq` and accepted at `now_ms`: queued, or failed
    /// from the start.
    pub(super) fn into_record(self, seq: u64, now_ms: u64) -> AlertRecord {
        AlertRecord {
            id: format!("{seq:016x}"),
            webhook: self.webhook,
            payload: self.payload,
            key: self.key,
            status: if self.dead.is_some() {
                AlertStatus::Failed
            } else {
                AlertStatus::Queued
            },
            attempts: 0,
            last_error: self.dead,
            created_at: now_ms,
            next_attempt_at: now_ms,
            delivered_at: None,
            digest: None,
            alone: false,
            retried_as: None,
            retry_of: None,
        }
    }
}

/// The outcome of [`Store::enqueue`](super::Store::enqueue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub record: AlertRecord,
    /// The key was seen within the window: this is the earlier alert.
    pub duplicate: bool,
}
