//! What the daemon has accepted: batches queued whole or not at all, keys, the queue
//! limit, kill -9 and restarts, and queued alerts whose webhook is rotated or deleted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{accepted, alert, applied, live};
use crate::fake_slack::{Hook, hook_path as path};
use crate::harness::{Daemon, URL_GOV, URL_OPS};

#[test]
fn a_batch_is_queued_whole_in_order_or_not_at_all() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--rate", "0", "--queue-limit", "5"]);
    let batch = |alerts: Vec<Value>| {
        let body = json!({"alerts": alerts}).to_string().into_bytes();
        daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None)
    };
    let refused = batch(vec![alert("ops", "never sent"), alert("nope", "x")]);
    assert_eq!(refused.status, 404, "{:?}", refused.json);
    assert_eq!(refused.json["error"]["index"], 1);
    assert_eq!(
        refused.json["error"]["message"],
        "alerts[1]: no applied webhook has the id `nope`"
    );
    let never = batch((0..6).map(|i| alert("ops", &format!("too many {i}"))).collect());
    assert_eq!(
        (never.status, &never.json["error"]["code"]),
        (400, &json!("batch_size")),
        "a batch that can never fit under the queue limit: {:?}",
        never.json
    );
    assert_eq!(batch(Vec::new()).json["error"]["code"], "batch_size");

    let keyed = json!({"webhook": "gov", "text": "once", "key": "k"});
    let answer = batch(vec![
        alert("ops", "first"),
        keyed.clone(),
        alert("ops", "second"),
        keyed,
    ]);
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    let answers = answer.json["alerts"].as_array().expect("one answer per alert");
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[3]["duplicate"], true, "a key repeated within the batch");
    assert_eq!(answers[3]["id"], answers[1]["id"]);
    daemon.wait_for(
        answers[2]["id"].as_str().expect("id"),
        "delivered",
        Duration::from_secs(10),
    );
    daemon.wait_for(
        answers[1]["id"].as_str().expect("id"),
        "delivered",
        Duration::from_secs(10),
    );
    let slack = test.slack_fake();
    assert_eq!(
        slack.delivered(&path(URL_OPS)),
        [json!({"text": "first"}), json!({"text": "second"})],
        "in order, and nothing of the refused batches"
    );
    assert_eq!(slack.delivered(&path(URL_GOV)), [json!({"text": "once"})]);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_full_outbox_answers_503_with_retry_after() {
    let mut script = live();
    script.server_errors.insert(path(URL_OPS), 1000);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--queue-limit", "2", "--retry-first", "10s"]);
    accepted(&daemon.post(&alert("ops", "one")));
    accepted(&daemon.post(&alert("ops", "two")));
    let full = daemon.post(&alert("ops", "three"));
    assert_eq!(
        (full.status, full.json["error"]["code"].as_str()),
        (503, Some("queue_full"))
    );
    assert_eq!(
        full.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
}

#[test]
fn a_key_deduplicates() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let first = daemon.post(&json!({"webhook": "ops", "text": "once", "key": "disk-full-db1"}));
    let second = daemon.post(&json!({"webhook": "ops", "text": "once", "key": "disk-full-db1"}));
    let id = accepted(&first);
    assert_eq!(accepted(&second), id, "the same id");
    assert_eq!(second.json["duplicate"], true);
    daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(test.slack_fake().delivered(&path(URL_OPS)).len(), 1);
}

#[test]
fn accepted_alerts_survive_kill_9_and_are_sent_once_each_after_restart() {
    let test = applied(live());
    // One message per alert, so that each message is one alert to count.
    let daemon = Daemon::start(&test, &["--rate", "2", "--burst", "1", "--digest", "off"]);
    let texts: Vec<String> = (0..40).map(|i| format!("alert {i:02}")).collect();
    for text in &texts {
        accepted(&daemon.post(&alert("ops", text)));
    }
    std::thread::sleep(Duration::from_millis(1200));
    daemon.crash();
    let before = test.slack_fake().delivered(&path(URL_OPS)).len();
    assert!(
        before < texts.len(),
        "the kill came before everything was delivered"
    );
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while test.slack_fake().delivered(&path(URL_OPS)).len() < texts.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let delivered: Vec<String> = test
        .slack_fake()
        .delivered(&path(URL_OPS))
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect();
    let mut unique = delivered.clone();
    unique.dedup();
    assert_eq!(unique, texts, "every alert, exactly as sent, in order");
    assert!(
        delivered.len() <= texts.len() + 1,
        "only a send in flight at the kill may repeat: {delivered:?}"
    );
    assert_eq!(daemon.stop(), 0);
}

/// With pacing off, deliveries are flushed in groups: a kill -9 in the middle of a burst
/// may repeat the last few, never more than a worker's window of 32, and loses none.
#[test]
fn a_kill_9_mid_burst_repeats_at_most_a_window_and_loses_nothing() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let total = 1500;
    for first in (0..total).step_by(500) {
        let alerts: Vec<Value> = (first..first + 500)
            .map(|i| alert("ops", &format!("alert {i:04}")))
            .collect();
        let body = json!({"alerts": alerts}).to_string().into_bytes();
        let answer = daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None);
        assert_eq!(answer.status, 202, "{:?}", answer.json);
    }
    let sent = || test.slack_fake().delivered(&path(URL_OPS)).len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.crash();
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let numbers = || -> Vec<usize> {
        test.slack_fake()
            .delivered(&path(URL_OPS))
            .iter()
            .map(|m| m["text"].as_str().expect("text")[6..].parse().expect("a number"))
            .collect()
    };
    while numbers().iter().max() != Some(&(total - 1)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let delivered = numbers();
    // In order, but for one step back where the restart resent what was not on disk.
    let steps_back: Vec<usize> = delivered
        .windows(2)
        .filter(|pair| pair[1] <= pair[0])
        .map(|pair| pair[0] + 1 - pair[1])
        .collect();
    assert!(
        steps_back.len() <= 1,
        "one restart, one step back: {steps_back:?}"
    );
    assert!(
        steps_back.iter().all(|&repeated| repeated <= 32 + 1),
        "at most a window (and the send in flight) repeats: {steps_back:?}"
    );
    let mut unique = delivered.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique, (0..total).collect::<Vec<_>>(), "every alert, none lost");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn queued_alerts_follow_a_rotation_and_fail_when_their_webhook_is_deleted() {
    let rotated = "https://hooks.slack.com/services/T0FAKE000/B0FAKE005/FAKEfakeFAKEfakeROT5";
    let mut script = live();
    script.hooks.insert(path(rotated), Hook::Live);
    script.server_errors.insert(path(URL_OPS), 1000);
    script.server_errors.insert(path(URL_GOV), 1000);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--retry-first", "1s"]);
    let to_ops = accepted(&daemon.post(&alert("ops", "follows the rotation")));
    let to_gov = accepted(&daemon.post(&alert("gov", "its webhook goes away")));
    assert_eq!(daemon.stop(), 0);
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), rotated)], None);
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let daemon = Daemon::start(&test, &[]);
    daemon.wait_for(&to_ops, "delivered", Duration::from_secs(10));
    let failed = daemon.wait_for(&to_gov, "failed", Duration::from_secs(10));
    assert_eq!(failed["last_error"], "webhook_deleted");
    assert_eq!(
        test.slack_fake().delivered(&path(rotated)),
        [json!({"text": "follows the rotation"})]
    );
}

#[test]
fn keys_are_per_webhook() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let ops = accepted(&daemon.post(&json!({"webhook": "ops", "text": "x", "key": "same"})));
    let gov = daemon.post(&json!({"webhook": "gov", "text": "x", "key": "same"}));
    assert_ne!(accepted(&gov), ops);
    assert_eq!(gov.json["duplicate"], false);
}
