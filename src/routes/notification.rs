//! What Alertmanager's `webhook_config` (`"version": "4"`) and Grafana's webhook contact
//! point (`"version": "1"`) send: one shape, since Grafana's extends Alertmanager's.
//! Unknown fields are accepted: both senders add fields between versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A notification: one group of alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    /// Alerts the sender left out (`max_alerts`).
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
    /// Grafana: its own title and message for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
    /// Grafana's links and values.
    #[serde(default, rename = "silenceURL", skip_serializing_if = "Option::is_none")]
    pub silence_url: Option<String>,
    #[serde(default, rename = "dashboardURL", skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL", skip_serializing_if = "Option::is_none")]
    pub panel_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, serde_json::Value>>,
}

impl Alert {
    pub fn is_firing(&self) -> bool {
        self.status != "resolved"
    }

    /// What the alert is called: its `alertname` label, else Grafana's `__alert_rule_title__`.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .or_else(|| self.labels.get("__alert_rule_title__"))
            .map_or("alert", String::as_str)
    }

    /// The comma-separated `mention` label and annotation, each entry trimmed.
    pub fn mentions(&self) -> impl Iterator<Item = &str> {
        [self.labels.get("mention"), self.annotations.get("mention")]
            .into_iter()
            .flatten()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }
}

impl Notification {
    /// The same group with only `alerts` (indices into this one's), its status and
    /// common labels as the subset has them.
    #[must_use]
    pub fn subset(&self, alerts: &[usize]) -> Notification {
        let alerts: Vec<Alert> = alerts.iter().map(|&i| self.alerts[i].clone()).collect();
        let status = if alerts.iter().any(Alert::is_firing) {
            "firing"
        } else {
            "resolved"
        };
        Notification {
            status: status.to_owned(),
            alerts,
            ..self.clone()
        }
    }

    /// A fingerprint of what makes a notification the same one from another
    /// Alertmanager peer: its group key, status, and each alert's fingerprint and status.
    pub fn identity(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut alerts: Vec<(&str, &str)> = self
            .alerts
            .iter()
            .map(|a| (a.fingerprint.as_str(), a.status.as_str()))
            .collect();
        alerts.sort_unstable();
        let mut hasher = Sha256::new();
        for part in [self.group_key.as_str(), self.status.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        for (fingerprint, status) in alerts {
            hasher.update(fingerprint.as_bytes());
            hasher.update([1]);
            hasher.update(status.as_bytes());
            hasher.update([0]);
        }
        crate::secrets::hex(&hasher.finalize()[..16])
    }
}
