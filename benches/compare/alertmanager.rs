//! Prometheus Alertmanager, run directly with clustering off, its one receiver a Slack
//! webhook on the fake Slack; each alert its own group (`group_by: ['...']`).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::fixture::Workdir;
use crate::measure::{Service, http_ok, wait_until};
use crate::sink::text;

pub const PROGRAM: &str = "prometheus-alertmanager";

pub struct Alertmanager {
    pub service: Service,
    pub base: String,
}

impl Alertmanager {
    /// Starts Alertmanager sending to `webhook`, ready for alerts.
    pub fn start(work: &Workdir, webhook: &str, group_interval: &str) -> Alertmanager {
        let config = r"route:
  receiver: slack
  group_by: ['...']
  group_wait: 0s
  group_interval: GROUP_INTERVAL
  repeat_interval: 24h
receivers:
  - name: slack
    slack_configs:
      - api_url: 'WEBHOOK'
        channel: '#bench'
        send_resolved: false
        title: 'Bench'
        text: '{{ .CommonAnnotations.summary }}'
"
        .replace("GROUP_INTERVAL", group_interval)
        .replace("WEBHOOK", webhook);
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
            service: Service { child, log },
            base,
        }
    }

    /// Posts alerts `numbers` in batches; each resolves after `ends_in` if given.
    pub async fn submit(
        &self,
        client: &reqwest::Client,
        numbers: std::ops::Range<usize>,
        ends_in: Option<Duration>,
    ) {
        let ends_at =
            ends_in.map(|d| humantime::format_rfc3339_millis(std::time::SystemTime::now() + d).to_string());
        let alerts: Vec<_> = numbers
            .map(|n| {
                let mut alert = json!({
                    "labels": {"alertname": "Bench", "n": n.to_string()},
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
