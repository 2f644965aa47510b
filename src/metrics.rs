//! The daemon's metrics, in Prometheus text format at `/metrics`.
//!
//! Labels are webhook ids and reasons, never URLs or message content.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::HealthState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabel {
    pub webhook: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub webhook: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthLabels {
    pub webhook: String,
    pub state: String,
}

/// A notification from the monitoring stack: who sent it, what became of it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// `alertmanager` or `grafana`.
    pub source: String,
    /// `queued`, `duplicate`, `no_route` or `unknown_webhook`.
    pub outcome: String,
}

/// A request, by its route pattern and the status answered.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: String,
}

/// A refused request: its route pattern and the error code answered.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub route: String,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TemplateLabel {
    pub template: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub received: Counter,
    pub delivered: Family<WebhookLabel, Counter>,
    pub failed: Family<FailureLabels, Counter>,
    pub rate_limited: Family<WebhookLabel, Counter>,
    /// Digests Slack accepted, and the alerts they carried.
    pub digests: Family<WebhookLabel, Counter>,
    pub digest_alerts: Family<WebhookLabel, Counter>,
    pub queue_depth: Family<WebhookLabel, Gauge>,
    /// From acceptance to Slack's `ok`, in seconds.
    pub latency: Histogram,
    pub health: Family<HealthLabels, Gauge>,
    /// 1 while the desired-state file is valid, 0 after a broken edit.
    pub config_valid: Gauge,
    /// Plans the daemon did not apply because they delete most webhooks.
    pub mass_deletions_held: Counter,
    /// 1 while the file differs from the applied state and the daemon does not apply it
    /// (`--apply off`, or a held-back mass deletion).
    pub pending_changes: Gauge,
    pub notifications: Family<NotificationLabels, Counter>,
    /// Connections closed at once because `--max-connections` were open.
    pub connections_refused: Counter,
    pub refused: Family<RefusedLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    /// Mentions in receivers' messages that resolved to no one, sent as text.
    pub unresolved_mentions: Counter,
    /// Templates that failed at render time; their groups went out in the built-in layout.
    pub template_failures: Family<TemplateLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hookwarden");
        let metrics = Metrics {
            received: Counter::default(),
            delivered: Family::default(),
            failed: Family::default(),
            rate_limited: Family::default(),
            digests: Family::default(),
            digest_alerts: Family::default(),
            queue_depth: Family::default(),
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            health: Family::default(),
            config_valid: Gauge::default(),
            mass_deletions_held: Counter::default(),
            pending_changes: Gauge::default(),
            notifications: Family::default(),
            connections_refused: Counter::default(),
            refused: Family::default(),
            requests: Family::default(),
            unresolved_mentions: Counter::default(),
            template_failures: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "alerts_received",
            "Alerts accepted into the outbox",
            metrics.received.clone(),
        );
        registry.register(
            "alerts_delivered",
            "Alerts Slack accepted",
            metrics.delivered.clone(),
        );
        registry.register(
            "alerts_failed",
            "Alerts that failed for good, by Slack's error",
            metrics.failed.clone(),
        );
        registry.register(
            "slack_rate_limited",
            "429 answers from Slack",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "digests",
            "Digests Slack accepted: messages that carried several alerts",
            metrics.digests.clone(),
        );
        registry.register(
            "digest_alerts",
            "Alerts delivered in digests",
            metrics.digest_alerts.clone(),
        );
        registry.register(
            "queue_depth",
            "Alerts waiting for delivery",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From acceptance to delivery",
            metrics.latency.clone(),
        );
        registry.register(
            "webhook_health",
            "1 for each webhook's current health",
            metrics.health.clone(),
        );
        registry.register(
            "config_valid",
            "Whether the desired-state file is valid",
            metrics.config_valid.clone(),
        );
        registry.register(
            "mass_deletions_held",
            "Plans held back for deleting most webhooks",
            metrics.mass_deletions_held.clone(),
        );
        registry.register(
            "pending_changes",
            "1 while the file differs from the applied state and is not applied",
            metrics.pending_changes.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at once because --max-connections were open",
            metrics.connections_refused.clone(),
        );
        metrics.register_receivers(&mut registry);
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    /// The receivers' metrics: notifications, refusals, mentions and templates.
    fn register_receivers(&self, registry: &mut Registry) {
        registry.register(
            "notifications",
            "Notifications from Alertmanager and Grafana, by what became of them",
            self.notifications.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by route and status",
            self.requests.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests answered with an error, by route and code",
            self.refused.clone(),
        );
        registry.register(
            "unresolved_mentions",
            "Mentions in received alerts that resolved to no one and were sent as text",
            self.unresolved_mentions.clone(),
        );
        registry.register(
            "template_failures",
            "Template renders that failed; the built-in layout was sent instead",
            self.template_failures.clone(),
        );
    }
}

impl Metrics {
    pub fn set_health(&self, webhook: &str, state: HealthState) {
        for candidate in [HealthState::Healthy, HealthState::Failing, HealthState::Revoked] {
            let labels = HealthLabels {
                webhook: webhook.to_owned(),
                state: health_name(candidate).to_owned(),
            };
            self.health
                .get_or_create(&labels)
                .set(i64::from(candidate == state));
        }
    }

    pub fn depth(&self, webhook: &str) -> Gauge {
        self.queue_depth
            .get_or_create(&WebhookLabel {
                webhook: webhook.to_owned(),
            })
            .clone()
    }

    /// The metrics in the OpenMetrics text format (`application/openmetrics-text`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// The metrics in Prometheus' classic text format (`text/plain; version=0.0.4`),
    /// for scrapers that do not ask for OpenMetrics and for `promtool check metrics`.
    pub fn encode_classic(&self) -> String {
        classic(&self.encode())
    }
}

/// OpenMetrics text to the classic format: a counter's family takes its samples'
/// `_total` name in `# HELP` and `# TYPE`, and `# UNIT` and `# EOF` go.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(line.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub fn health_name(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => "healthy",
        HealthState::Failing => "failing",
        HealthState::Revoked => "revoked",
    }
}
