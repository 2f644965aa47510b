//! Alerts reaching Slack through the daemon: mentions and escaping, pacing under
//! Slack's limit, Retry-After, retries with backoff, permanent failures and retrying them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{accepted, alert, applied, live};
use crate::fake_slack::{Hook, hook_path as path};
use crate::harness::{Daemon, URL_OPS};

#[test]
fn an_alert_is_delivered_with_its_mentions_and_escaped_text() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(
        &json!({"webhook": "ops", "text": "disk <!channel> 95% & rising <@U0BOSS>", "mentions": ["here"]}),
    ));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert_eq!(delivered["attempts"], 1);
    assert!(
        delivered["delivered_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let slack = test.slack_fake();
    assert_eq!(
        slack.delivered(&path(URL_OPS)),
        [json!({"text": "<!here> disk &lt;!channel&gt; 95% &amp; rising &lt;@U0BOSS&gt;"})]
    );
    assert_eq!(daemon.stop(), 0, "SIGTERM is a clean exit");
}

#[test]
fn pacing_keeps_under_slacks_limit() {
    let mut script = live();
    script.webhook_limit = Some((1.0, 3.0));
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let ids: Vec<String> = (0..6)
        .map(|i| accepted(&daemon.post(&alert("ops", &format!("alert {i}")))))
        .collect();
    for id in &ids {
        daemon.wait_for(id, "delivered", Duration::from_secs(15));
    }
    let slack = test.slack_fake();
    assert_eq!(
        slack.rate_limited(),
        0,
        "pacing at 1/s with a burst of 3 never meets a 429"
    );
    let texts: Vec<Value> = slack
        .delivered(&path(URL_OPS))
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        (0..6).map(|i| json!(format!("alert {i}"))).collect::<Vec<_>>(),
        "in order"
    );
}

#[test]
fn retry_after_is_honoured() {
    let mut script = live();
    script.rate_limits.insert(path(URL_OPS), 1);
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let started = Instant::now();
    let id = accepted(&daemon.post(&alert("ops", "throttled")));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: 1"
    );
    assert_eq!(delivered["attempts"], 2);
    let metrics = daemon.get("/metrics").json;
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("hookwarden_slack_rate_limited_total{webhook=\"ops\"} 1")),
        "{metrics}"
    );
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let mut script = live();
    script.server_errors.insert(path(URL_OPS), 2);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--retry-first", "100ms"]);
    let id = accepted(&daemon.post(&alert("ops", "eventually")));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert_eq!(delivered["attempts"], 3);
    let webhooks = daemon.get("/v1/webhooks").json;
    assert_eq!(
        webhooks["webhooks"][1]["health"]["state"], "healthy",
        "{webhooks}"
    );
}

#[test]
fn permanent_failures_are_recorded_with_slacks_error() {
    for (status, error, health) in [
        (404, "no_service", "revoked"),
        (403, "invalid_token", "revoked"),
        (410, "channel_is_archived", "revoked"),
        (400, "invalid_payload", "none"),
    ] {
        let mut script = live();
        script.hooks.insert(path(URL_OPS), Hook::Dead(status, error));
        let test = applied(script);
        let daemon = Daemon::start(&test, &[]);
        let id = accepted(&daemon.post(&alert("ops", "doomed")));
        let failed = daemon.wait_for(&id, "failed", Duration::from_secs(10));
        assert_eq!(failed["last_error"], error);
        assert_eq!(
            failed["attempts"], 1,
            "{error}: a permanent failure is not retried"
        );
        let dead = daemon.get("/v1/alerts?status=failed").json;
        assert_eq!(dead["alerts"][0]["id"], id.as_str());
        let webhooks = daemon.get("/v1/webhooks").json;
        let ops = &webhooks["webhooks"][1];
        assert_eq!(
            ops["health"]["state"].as_str().unwrap_or("none"),
            health,
            "{error}: {ops}"
        );
        let metrics = daemon.get("/metrics").json;
        assert!(metrics.as_str().is_some_and(|m| m.contains(&format!(
            "hookwarden_alerts_failed_total{{webhook=\"ops\",reason=\"{error}\"}} 1"
        ))));
    }
}

#[test]
fn a_revoked_webhook_fails_its_whole_queue_after_one_request() {
    let mut script = live();
    script.hooks.insert(path(URL_OPS), Hook::Dead(404, "no_service"));
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--digest", "off"]);
    let alerts: Vec<Value> = (0..30).map(|i| alert("ops", &format!("queued {i}"))).collect();
    let body = json!({"alerts": alerts}).to_string().into_bytes();
    let answer = daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None);
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    let last = answer.json["alerts"][29]["id"].as_str().expect("id").to_owned();
    let failed = daemon.wait_for(&last, "failed", Duration::from_secs(10));
    assert_eq!(failed["last_error"], "no_service");
    assert_eq!(
        test.slack_fake().calls(&path(URL_OPS)).len(),
        1,
        "one request: Slack said the webhook is gone"
    );
}

#[test]
fn a_failed_alert_can_be_retried() {
    let mut script = live();
    script.hooks.insert(path(URL_OPS), Hook::Dead(404, "no_service"));
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(&alert("ops", "second chance")));
    daemon.wait_for(&id, "failed", Duration::from_secs(10));
    test.slack_fake().edit(|s| {
        s.hooks.insert(path(URL_OPS), Hook::Live);
    });
    let retried = daemon.request("POST", &format!("/v1/alerts/{id}/retry"), None, None);
    let new_id = accepted(&retried);
    daemon.wait_for(&new_id, "delivered", Duration::from_secs(10));
    // The failed one is kept, naming the new one, and is no longer a dead letter.
    let old = daemon.get(&format!("/v1/alerts/{id}"));
    assert_eq!(old.status, 200, "{:?}", old.json);
    assert_eq!(
        (old.json["status"].as_str(), old.json["retried_as"].as_str()),
        (Some("failed"), Some(new_id.as_str()))
    );
    assert_eq!(
        daemon.get(&format!("/v1/alerts/{new_id}")).json["retry_of"],
        id.as_str()
    );
    assert_eq!(
        daemon.get("/v1/alerts?status=failed").json["alerts"],
        serde_json::json!([])
    );
    let twice = daemon.request("POST", &format!("/v1/alerts/{id}/retry"), None, None);
    assert_eq!(
        (twice.status, twice.json["error"]["code"].as_str()),
        (409, Some("already_retried"))
    );
    let again = daemon.request("POST", &format!("/v1/alerts/{new_id}/retry"), None, None);
    assert_eq!(
        (again.status, again.json["error"]["code"].as_str()),
        (409, Some("not_failed"))
    );
}

#[test]
fn an_absurd_retry_after_neither_panics_nor_blocks_other_webhooks() {
    let mut script = live();
    script.rate_limits.insert(path(URL_OPS), 1);
    script.retry_after = Some("18446744073709551615");
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let held = accepted(&daemon.post(&alert("ops", "waits, capped at 15 minutes")));
    let other = accepted(&daemon.post(&alert("gov", "goes")));
    daemon.wait_for(&other, "delivered", Duration::from_secs(10));
    let waiting = daemon.get(&format!("/v1/alerts/{held}")).json;
    assert_eq!(
        (waiting["status"].as_str(), waiting["last_error"].as_str()),
        (Some("queued"), Some("rate_limited"))
    );
    assert_eq!(daemon.get("/healthz").status, 200);
    assert_eq!(daemon.stop(), 0);
}
