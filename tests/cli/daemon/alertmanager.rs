//! A real Alertmanager as the sender: alerts pushed to its API, grouped and sent by its
//! `webhook_configs` receiver to the real daemon, which routes them by label to two
//! webhooks of a fake Slack that allows 1 message a second per webhook and answers 429
//! beyond it.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::fake_slack::{Script, hook_path as path};
use crate::harness::alertmanager::{self, Alertmanager, yaml_path};
use crate::harness::{Daemon, TOKEN, Test, URL_GOV, URL_OPS, finops_workspace, metric_value};

const API_TOKEN: &str = "FAKE-api-token-for-tests";

/// [`finops_workspace`] with Slack's webhook limit enforced: 1 a second, no burst.
fn slack() -> Script {
    let mut script = finops_workspace();
    script.webhook_limit = Some((1.0, 1.0));
    script
}

/// `team=finops` to `gov`, mentioning the finops team; `severity=critical` to `ops`.
fn applied() -> Test {
    let test = Test::new();
    let mut config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        Some(TOKEN),
    );
    config.push_str(concat!(
        "routes:\n",
        "  - match: {team: finops}\n",
        "    webhooks: [gov]\n",
        "    mentions: [\"@finops-team\"]\n",
        "  - match: {severity: critical}\n",
        "    webhooks: [ops]\n",
    ));
    test.write("api-token", &format!("{API_TOKEN}\n"));
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .env("HOOKWARDEN_API_TOKEN_FILE", "api-token")
        .slack(slack());
    test.exec(&["apply", "--auto-approve"]).code(0);
    test
}

/// Alertmanager grouping by alert name, flushing each second, sending resolutions, with
/// the daemon's API token from a file.
fn alertmanager_config(test: &Test, daemon: &Daemon) -> String {
    format!(
        "route:\n  receiver: hookwarden\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: hookwarden\n    webhook_configs:\n      - url: {}/v1/alertmanager\n        send_resolved: true\n        max_alerts: 0\n\
         \x20       http_config:\n          authorization:\n            credentials_file: {}\n",
        daemon.url,
        yaml_path(&test.path("api-token")),
    )
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Alerts as Prometheus pushes them; `ends` in the past resolves them.
fn alerts(names: &[(&str, &[(&str, &str)])], ends: SystemTime) -> Value {
    let starts = SystemTime::now() - Duration::from_secs(60);
    let alerts: Vec<Value> = names
        .iter()
        .map(|(name, labels)| {
            let mut all = json!({"alertname": name});
            for (k, v) in *labels {
                all[*k] = json!(v);
            }
            json!({
                "labels": all,
                "annotations": {"summary": format!("{name} needs a look")},
                "startsAt": rfc3339(starts),
                "endsAt": rfc3339(ends),
                "generatorURL": "http://prometheus.example/graph?g0.expr=up",
            })
        })
        .collect();
    Value::Array(alerts)
}

fn texts(test: &Test, url: &str) -> Vec<String> {
    test.slack_fake()
        .delivered(&path(url))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until each webhook has `count` messages, or fails saying what came.
fn wait_for_messages(test: &Test, count: usize, within: Duration, alertmanager: &Alertmanager) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if texts(test, URL_OPS).len() >= count && texts(test, URL_GOV).len() >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "expected {count} messages a webhook within {within:?}; ops: {:?}, gov: {:?}\nAlertmanager:\n{}",
        texts(test, URL_OPS),
        texts(test, URL_GOV),
        alertmanager.log()
    );
}

/// The value of an Alertmanager metric line that starts with `line_start`.
fn am_metric(alertmanager: &Alertmanager, line_start: &str) -> Option<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let text = runtime.block_on(async {
        reqwest::get(format!("{}/metrics", alertmanager.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    });
    metric_value(&text, line_start)
}

#[test]
fn alertmanager_firing_and_resolved_reach_slack_routed_with_mentions_and_none_lost() {
    let Some(binary) = alertmanager::binary() else {
        return;
    };
    let test = applied();
    // Paced faster than Slack allows, so that Slack's 429s come and are honoured.
    let daemon = Daemon::start(&test, &["--rate", "3", "--burst", "3"]);
    let alertmanager = Alertmanager::start(&test, binary, &alertmanager_config(&test, &daemon));
    let finops: &[(&str, &str)] = &[("team", "finops")];
    let critical: &[(&str, &str)] = &[("severity", "critical")];
    let paging_jane: &[(&str, &str)] = &[("severity", "critical"), ("mention", "@jane.doe")];
    let names: Vec<(&str, &[(&str, &str)])> = vec![
        ("CostSpike", finops),
        ("BudgetExceeded", finops),
        ("ReservedUnused", finops),
        ("DiskFull", critical),
        ("NodeDown", paging_jane),
        ("QueueStuck", critical),
    ];
    let later = SystemTime::now() + Duration::from_secs(3600);
    alertmanager.push(&alerts(&names, later));
    wait_for_messages(&test, 3, Duration::from_secs(30), &alertmanager);
    alertmanager.push(&alerts(&names, SystemTime::now() - Duration::from_secs(1)));
    wait_for_messages(&test, 6, Duration::from_secs(60), &alertmanager);
    // Nothing more comes: every notification arrived once.
    std::thread::sleep(Duration::from_secs(2));

    let (ops, gov) = (texts(&test, URL_OPS), texts(&test, URL_GOV));
    for (webhook, texts, group) in [("gov", &gov, &names[..3]), ("ops", &ops, &names[3..])] {
        assert_eq!(texts.len(), 6, "{webhook}: {texts:?}");
        for (name, _) in group {
            let firing = texts
                .iter()
                .position(|t| t.starts_with(&format!("[FIRING:1] {name}")));
            let resolved = texts
                .iter()
                .position(|t| t.starts_with(&format!("[RESOLVED] {name}")));
            match (firing, resolved) {
                (Some(f), Some(r)) => assert!(f < r, "{webhook}: {name} resolved before it fired: {texts:?}"),
                _ => panic!("{webhook}: {name} did not arrive firing and resolved: {texts:?}"),
            }
        }
    }
    let gov_messages = test.slack_fake().delivered(&path(URL_GOV));
    assert!(
        gov_messages
            .iter()
            .all(|m| m.to_string().contains("<!subteam^S0FIN>")),
        "the route's mention, resolved: {gov_messages:?}"
    );
    let node_down: Vec<Value> = test
        .slack_fake()
        .delivered(&path(URL_OPS))
        .into_iter()
        .filter(|m| m["text"].as_str().is_some_and(|t| t.contains("NodeDown")))
        .collect();
    assert!(
        node_down.iter().all(|m| m.to_string().contains("<@U0JANE>")),
        "the `mention` label, resolved: {node_down:?}"
    );
    let blocks = node_down[0]["blocks"].to_string();
    assert!(
        blocks.contains("NodeDown needs a look"),
        "the built-in layout: {blocks}"
    );

    assert!(
        test.slack_fake().rate_limited() > 0,
        "Slack's limit was never reached, so the test proves nothing about 429s"
    );
    let log = alertmanager.log();
    assert!(
        !log.contains("Notify for alerts failed") && !log.contains("Notify attempt failed"),
        "Alertmanager saw a failed notification:\n{log}"
    );
    assert_eq!(
        am_metric(
            &alertmanager,
            "alertmanager_notifications_failed_total{integration=\"webhook\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        am_metric(
            &alertmanager,
            "alertmanager_notifications_total{integration=\"webhook\"}"
        ),
        Some(12.0),
        "six groups, firing then resolved"
    );
}
