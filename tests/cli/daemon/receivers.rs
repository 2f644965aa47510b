//! The receivers for Alertmanager and Grafana through the real daemon: label routes and
//! templates, the built-in layout, dead letters, HA de-duplication and what a refused
//! request leaves in the logs and metrics. Bodies are shaped as the senders send them:
//! Alertmanager's `webhook_config` (version 4) and Grafana's webhook contact point
//! (version 1), with fields hookwarden does not know.

use std::time::Duration;

use serde_json::{Value, json};

use super::live;
use crate::fake_slack::hook_path as path;
use crate::harness::{Answer, Daemon, Test, URL_GOV, URL_OPS, metric_value};

/// `ops` and `gov` applied with routes: `team=finops` to `gov` through a template,
/// `severity=critical|page` to `ops` in the built-in layout, and no catch-all.
fn routed() -> Test {
    let test = Test::new();
    let mut config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        None,
    );
    config.push_str(concat!(
        "routes:\n",
        "  - match: {team: finops}\n",
        "    webhooks: [gov]\n",
        "    template: budget\n",
        "  - match_re: {severity: \"critical|page\"}\n",
        "    webhooks: [ops]\n",
        "templates:\n",
        "  budget:\n",
        "    text: \"{{ status | upper }}: {{ commonLabels.alertname }} ({{ alerts | length }}) {{ alerts[0].annotations.summary }}\"\n",
    ));
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(live());
    test.exec(&["apply", "--auto-approve"]).code(0);
    test
}

fn am_alert(name: &str, labels: &[(&str, &str)], summary: &str) -> Value {
    let mut all = json!({"alertname": name});
    for (k, v) in labels {
        all[*k] = json!(v);
    }
    json!({
        "status": "firing",
        "labels": all,
        "annotations": {"summary": summary},
        "startsAt": "2026-12-02T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
        "fingerprint": format!("fp-{name}"),
        "aNewerField": {"nested": true},
    })
}

/// A notification as Alertmanager 0.25 sends it, with one field from a later version.
fn am_notification(group_key: &str, alerts: &[Value]) -> Value {
    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hookwarden",
        "groupLabels": {"alertname": "CostSpike"},
        "commonLabels": {"alertname": "CostSpike"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
        "someFutureField": [1, 2, 3],
    })
}

/// A notification as Grafana's webhook contact point sends it (its documentation's
/// example, trimmed to one alert).
fn grafana_notification() -> Value {
    json!({
        "receiver": "My Super Webhook",
        "status": "firing",
        "orgId": 1,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {"description": "The system has high memory usage", "runbook_url": "https://myrunbook.com/runbook/1234", "summary": "This alert was triggered for zone us-1"},
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.239_437_375_419_08, "C": 1},
            "valueString": "[ var='B' labels={__name__=go_memstats_alloc_bytes} value=44.23943737541908 ]",
        }],
        "groupLabels": {},
        "commonLabels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
        "commonAnnotations": {"description": "The system has high memory usage", "summary": "This alert was triggered for zone us-1"},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{alertname=\"High memory usage\"}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1] High memory usage (blue us-1)",
        "state": "alerting",
        "message": "**Firing**\n\nLabels:\n - alertname = High memory usage\n",
    })
}

fn send(daemon: &Daemon, route: &str, body: &Value) -> Answer {
    daemon.request(
        "POST",
        route,
        Some(("application/json", body.to_string().into_bytes())),
        None,
    )
}

fn ids(answer: &Answer) -> Vec<String> {
    answer.json["alerts"]
        .as_array()
        .expect("alert ids")
        .iter()
        .map(|id| id.as_str().expect("an id").to_owned())
        .collect()
}

fn texts(test: &Test, url: &str) -> Vec<String> {
    test.slack_fake()
        .delivered(&path(url))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn metric(daemon: &Daemon, line_start: &str) -> Option<f64> {
    let metrics = daemon.get("/metrics").json;
    metric_value(metrics.as_str().expect("metrics are text"), line_start)
}

#[test]
fn an_alertmanager_notification_is_routed_by_labels_and_templated() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"CostSpike\"}",
        &[
            am_alert("CostSpike", &[("team", "finops")], "Spend is 3x the budget"),
            am_alert("CostSpike", &[("severity", "critical")], "Bill <at> 200%"),
        ],
    );
    let answer = send(&daemon, "/v1/alertmanager", &body);
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["status"], "queued");
    let ids = ids(&answer);
    assert_eq!(ids.len(), 2, "one message per webhook: {:?}", answer.json);
    for id in &ids {
        daemon.wait_for(id, "delivered", Duration::from_secs(10));
    }
    assert_eq!(
        texts(&test, URL_GOV),
        ["FIRING: CostSpike (1) Spend is 3x the budget"],
        "the finops alert alone, through the template"
    );
    let ops = test.slack_fake().delivered(&path(URL_OPS));
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["text"], "[FIRING:1] CostSpike");
    let blocks = ops[0]["blocks"].to_string();
    assert!(
        blocks.contains("Bill &lt;at&gt; 200%"),
        "escaped for Slack: {blocks}"
    );
    assert!(
        blocks.contains("http://alertmanager.example:9093/#/silences/new?filter="),
        "a link to silence it: {blocks}"
    );
    assert!(
        !blocks.contains("Spend is 3x"),
        "the finops alert went to gov only"
    );
}

#[test]
fn an_ha_peers_copy_is_answered_with_the_first_ids_and_sent_once() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"CostSpike\"}",
        &[am_alert("CostSpike", &[("severity", "page")], "Paging")],
    );
    let first = send(&daemon, "/v1/alertmanager", &body);
    let second = send(&daemon, "/v1/alertmanager", &body);
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(ids(&first), ids(&second), "the peer's copy gets the first ids");
    assert_eq!(second.json["duplicate"], true);
    daemon.wait_for(&ids(&first)[0], "delivered", Duration::from_secs(10));
    let mut resolved = body.clone();
    resolved["status"] = json!("resolved");
    resolved["alerts"][0]["status"] = json!("resolved");
    let third = send(&daemon, "/v1/alertmanager", &resolved);
    assert_ne!(
        ids(&third),
        ids(&first),
        "the resolution is a notification of its own"
    );
    daemon.wait_for(&ids(&third)[0], "delivered", Duration::from_secs(10));
    assert_eq!(
        texts(&test, URL_OPS),
        ["[FIRING:1] CostSpike", "[RESOLVED] CostSpike"]
    );
    assert_eq!(
        metric(
            &daemon,
            "hookwarden_notifications_total{source=\"alertmanager\",outcome=\"duplicate\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn a_notification_no_route_matches_is_a_dead_letter_not_a_refusal() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"Quiet\"}",
        &[am_alert("Quiet", &[("severity", "info")], "Nothing to see")],
    );
    let answer = send(&daemon, "/v1/alertmanager", &body);
    assert_eq!(
        answer.status, 200,
        "a 4xx would make Alertmanager drop it silently"
    );
    assert_eq!(answer.json["status"], "no_route");
    assert_eq!(ids(&answer), Vec::<String>::new());
    let dead = answer.json["dead_letters"][0]
        .as_str()
        .expect("a dead letter")
        .to_owned();
    let listed = daemon.get("/v1/alerts?status=failed").json;
    assert_eq!(listed["alerts"][0]["id"], dead.as_str());
    assert_eq!(listed["alerts"][0]["last_error"], "no_route");
    let retried = daemon.request("POST", &format!("/v1/alerts/{dead}/retry"), None, None);
    assert_eq!(
        (retried.status, retried.json["error"]["code"].clone()),
        (409, json!("no_route"))
    );
    assert!(daemon.log().contains("no route matches"), "{}", daemon.log());
    assert_eq!(
        metric(
            &daemon,
            "hookwarden_notifications_total{source=\"alertmanager\",outcome=\"no_route\"}"
        ),
        Some(1.0)
    );
    let run = test.exec(&["alerts", "list", "--endpoint", &daemon.url]);
    run.code(0);
    assert!(run.stdout.contains("no_route"), "{}", run.stdout);
}

#[test]
fn a_notification_for_one_webhook_bypasses_the_routes() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"Quiet\"}",
        &[am_alert("Quiet", &[("team", "finops")], "To ops all the same")],
    );
    let answer = send(&daemon, "/v1/alertmanager/ops", &body);
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    daemon.wait_for(&ids(&answer)[0], "delivered", Duration::from_secs(10));
    assert_eq!(texts(&test, URL_OPS), ["[FIRING:1] CostSpike"]);
    assert!(texts(&test, URL_GOV).is_empty(), "the finops route was not used");

    let unknown = send(&daemon, "/v1/alertmanager/opps", &body);
    assert_eq!(
        unknown.status, 200,
        "kept, so it can be retried once the webhook exists"
    );
    assert_eq!(unknown.json["status"], "unknown_webhook");
    let listed = daemon.get("/v1/alerts?status=failed").json;
    assert_eq!(listed["alerts"][0]["webhook"], "opps");
    assert_eq!(listed["alerts"][0]["last_error"], "unknown_webhook");
}

#[test]
fn a_grafana_notification_is_delivered_with_its_links() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let answer = send(&daemon, "/v1/grafana/ops", &grafana_notification());
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    daemon.wait_for(&ids(&answer)[0], "delivered", Duration::from_secs(10));
    let ops = test.slack_fake().delivered(&path(URL_OPS));
    assert_eq!(ops.len(), 1);
    let blocks = ops[0]["blocks"].to_string();
    assert!(
        blocks.contains("This alert was triggered for zone us-1"),
        "{blocks}"
    );
    assert!(
        blocks.contains("https://play.grafana.org/alerting/silence/new"),
        "Grafana's own silence link: {blocks}"
    );
    // Routed by labels: team=blue matches no route.
    let routed = send(&daemon, "/v1/grafana", &grafana_notification());
    assert_eq!(routed.json["status"], "no_route");
    assert_eq!(
        metric(
            &daemon,
            "hookwarden_notifications_total{source=\"grafana\",outcome=\"queued\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn refused_requests_are_logged_and_counted_without_their_body() {
    let test = routed();
    let daemon = Daemon::start(&test, &["--queue-limit", "0"]);
    let malformed = daemon.request(
        "POST",
        "/v1/alertmanager",
        Some((
            "application/json",
            b"{\"alerts\": \"SECRET-BODY-MARKER\"}".to_vec(),
        )),
        None,
    );
    assert_eq!(malformed.status, 400, "a body that will never be accepted");
    assert_eq!(malformed.json["error"]["code"], "malformed");
    let body = am_notification(
        "{}:{alertname=\"CostSpike\"}",
        &[am_alert("CostSpike", &[("severity", "page")], "Paging")],
    );
    let full = send(&daemon, "/v1/alertmanager/ops", &body);
    assert_eq!(full.status, 503, "the sender retries a 503, never a 429");
    assert_eq!(full.json["error"]["code"], "queue_full");
    assert!(full.headers.contains_key("retry-after"));
    let log = daemon.log();
    assert!(log.contains("refused a request"), "{log}");
    assert!(
        log.contains("/v1/alertmanager/{webhook}"),
        "the route pattern: {log}"
    );
    assert!(!log.contains("SECRET-BODY-MARKER"), "never the body: {log}");
    assert_eq!(
        metric(
            &daemon,
            "hookwarden_requests_refused_total{route=\"/v1/alertmanager\",code=\"malformed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &daemon,
            "hookwarden_requests_refused_total{route=\"/v1/alertmanager/{webhook}\",code=\"queue_full\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn the_api_token_guards_the_receivers() {
    let test = routed();
    test.write("api-token", "FAKE-api-token-for-tests\n");
    let test = test.env("HOOKWARDEN_API_TOKEN_FILE", "api-token");
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"CostSpike\"}",
        &[am_alert("CostSpike", &[("severity", "page")], "Paging")],
    );
    let bytes = || Some(("application/json", body.to_string().into_bytes()));
    let without = daemon.request("POST", "/v1/grafana/ops", bytes(), None);
    assert_eq!(without.status, 401);
    let with = daemon.request(
        "POST",
        "/v1/grafana/ops",
        bytes(),
        Some("FAKE-api-token-for-tests"),
    );
    assert_eq!(with.status, 200, "{:?}", with.json);
    assert_eq!(
        metric_with_token(
            &daemon,
            "hookwarden_requests_refused_total{route=\"/v1/grafana/{webhook}\",code=\"unauthorized\"}"
        ),
        Some(1.0)
    );
}

fn metric_with_token(daemon: &Daemon, line_start: &str) -> Option<f64> {
    let answer = daemon.request("GET", "/metrics", None, Some("FAKE-api-token-for-tests"));
    metric_value(answer.json.as_str().expect("metrics are text"), line_start)
}

#[test]
fn a_mention_that_resolves_to_no_one_is_sent_as_text_and_counted() {
    let test = routed();
    let daemon = Daemon::start(&test, &[]);
    let body = am_notification(
        "{}:{alertname=\"CostSpike\"}",
        &[am_alert(
            "CostSpike",
            &[("severity", "page"), ("mention", "@nobody-here")],
            "Paging",
        )],
    );
    let answer = send(&daemon, "/v1/alertmanager", &body);
    assert_eq!(
        answer.status, 200,
        "the sender cannot fix a mention: never a refusal"
    );
    daemon.wait_for(&ids(&answer)[0], "delivered", Duration::from_secs(10));
    let ops = test.slack_fake().delivered(&path(URL_OPS));
    assert!(
        ops[0]["blocks"].to_string().contains("@nobody-here"),
        "{}",
        ops[0]
    );
    assert_eq!(metric(&daemon, "hookwarden_unresolved_mentions_total"), Some(1.0));
    assert!(daemon.log().contains("resolve to no one"), "{}", daemon.log());
}
