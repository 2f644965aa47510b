//! Prometheus Alertmanager, run with clustering off, one receiver per webhook, routed by
//! the label `hook`; each alert its own group (`group_by: ['...']`). A receiver sends to
//! Slack directly (`slack_configs`, as most setups do) or through hookwarden
//! (`webhook_configs` to `/v1/alertmanager/{webhook}`).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::fixture::Workdir;
use crate::measure::{Service, http_ok, wait_until};

pub const PROGRAM: &str = "prometheus-alertmanager";

pub struct Alertmanager {
    pub service: Service,
    pub base: String,
}

/// Where Alertmanager's receivers send.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// Each receiver to its Slack webhook URL, with Alertmanager's Slack defaults
    /// (`send_resolved: false`).
    Slack(&'a [String]),
    /// Each receiver `hook-{i}` to hookwarden at this base URL, with the webhook
    /// defaults (`send_resolved: true`).
    Hookwarden { base: &'a str, webhooks: usize },
}

impl Via<'_> {
    fn receivers(self) -> usize {
        match self {
            Via::Slack(urls) => urls.len(),
            Via::Hookwarden { webhooks, .. } => webhooks,
        }
    }

    fn receiver(self, i: usize) -> String {
        match self {
            Via::Slack(urls) => format!(
                "  - name: hook-{i}\n    slack_configs:\n      - api_url: '{}'\n        channel: '#bench'\n        send_resolved: false\n        title: 'Bench'\n        text: '{{{{ .CommonAnnotations.summary }}}}'",
                urls[i]
            ),
            Via::Hookwarden { base, .. } => format!(
                "  - name: hook-{i}\n    webhook_configs:\n      - url: '{base}/v1/alertmanager/hook-{i}'\n        send_resolved: true"
            ),
        }
    }
}

impl Alertmanager {
    /// Starts Alertmanager sending alerts labelled `hook: hook-{i}` to receiver `i` of
    /// `via`, ready for alerts.
    pub fn start(work: &Workdir, via: Via<'_>, group_interval: &str) -> Alertmanager {
        let mut config = format!(
            "route:\n  receiver: hook-0\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: {group_interval}\n  repeat_interval: 24h\n  routes:\n"
        );
        for i in 0..via.receivers() {
            let _ = writeln!(
                config,
                "    - receiver: hook-{i}\n      matchers: ['hook=\"hook-{i}\"']"
            );
        }
        config += "receivers:\n";
        for i in 0..via.receivers() {
            let _ = writeln!(config, "{}", via.receiver(i));
        }
        Self::spawn(work, &config)
    }

    /// Starts Alertmanager with its default grouping (one group for every alert,
    /// `group_wait: 30s`, `group_interval: 5m`) and one Slack receiver whose text lists
    /// every alert's summary, as most Slack templates do.
    pub fn start_default_grouping(work: &Workdir, url: &str) -> Alertmanager {
        let config = format!(
            "route:\n  receiver: slack\nreceivers:\n  - name: slack\n    slack_configs:\n      - api_url: '{url}'\n        channel: '#bench'\n        text: \"{{{{ range .Alerts }}}}{{{{ .Annotations.summary }}}}\\n{{{{ end }}}}\"\n"
        );
        Self::spawn(work, &config)
    }

    fn spawn(work: &Workdir, config: &str) -> Alertmanager {
        std::fs::write(work.path("alertmanager.yml"), config).expect("write the config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = work.path("alertmanager.log");
        let child = Command::new(PROGRAM)
            .arg(format!(
                "--config.file={}",
                work.path("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", work.path("alertmanager").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("Alertmanager starts (apt-get install prometheus-alertmanager)");
        let base = format!("http://127.0.0.1:{port}");
        let ready = format!("{base}/-/ready");
        wait_until(Duration::from_secs(30), "Alertmanager", || http_ok(&ready));
        Alertmanager {
            service: Service { child },
            base,
        }
    }

    /// Posts alerts `numbers` in batches of 500, alert `n` for `hook-{n % webhooks}`;
    /// each resolves after `ends_in` if given.
    pub async fn submit(
        &self,
        webhooks: usize,
        numbers: std::ops::Range<usize>,
        ends_in: Option<Duration>,
        text: fn(usize) -> String,
    ) {
        let client = reqwest::Client::new();
        let ends_at =
            ends_in.map(|d| humantime::format_rfc3339_millis(std::time::SystemTime::now() + d).to_string());
        let alerts: Vec<_> = numbers
            .map(|n| {
                let mut alert = json!({
                    "labels": {"alertname": "Bench", "n": n.to_string(), "hook": format!("hook-{}", n % webhooks)},
                    "annotations": {"summary": text(n)},
                });
                if let Some(ends_at) = &ends_at {
                    alert["endsAt"] = ends_at.clone().into();
                }
                alert
            })
            .collect();
        for batch in alerts.chunks(500) {
            let response = client
                .post(format!("{}/api/v2/alerts", self.base))
                .json(batch)
                .send()
                .await
                .expect("Alertmanager answers");
            assert!(
                response.status().is_success(),
                "Alertmanager refused: {}",
                response.status()
            );
        }
    }
}
