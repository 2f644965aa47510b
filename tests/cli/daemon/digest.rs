//! Digests through the real daemon: a flood to one webhook behind Slack's limit shows
//! every alert once, in order, in messages within Slack's limits; `--digest off` sends
//! one message per alert; a digest is retried whole; a kill -9 mid-flood loses none.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{alert, applied, live};
use crate::fake_slack::{Script, hook_path as path};
use crate::harness::{Daemon, Test, URL_OPS};

/// A fake Slack that allows 1 message a second per webhook with a burst of 3.
fn limited() -> Script {
    Script {
        webhook_limit: Some((1.0, 3.0)),
        ..live()
    }
}

fn flood_text(i: usize) -> String {
    format!("flood alert {i:04}: disk <full> on host-{i}")
}

/// Posts alerts `range` to `ops` in batches of 500.
fn post_flood(daemon: &Daemon, range: std::ops::Range<usize>) -> Vec<String> {
    let mut ids = Vec::new();
    let all: Vec<usize> = range.collect();
    for chunk in all.chunks(500) {
        let alerts: Vec<Value> = chunk.iter().map(|&i| alert("ops", &flood_text(i))).collect();
        let body = json!({"alerts": alerts}).to_string().into_bytes();
        let answer = daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None);
        assert_eq!(answer.status, 202, "{:?}", answer.json);
        ids.extend(
            answer.json["alerts"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|a| a["id"].as_str().expect("id").to_owned()),
        );
    }
    ids
}

/// The alert texts in a message as a reader sees them: its sections, or its text.
fn shown(message: &Value) -> Vec<String> {
    match message["blocks"].as_array() {
        Some(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str().map(str::to_owned))
            .collect(),
        None => vec![message["text"].as_str().unwrap_or_default().to_owned()],
    }
}

/// Checks a message against Slack's limits: 50 blocks, 3,000 characters a section,
/// 40,000 of text in all.
fn within_limits(message: &Value) {
    let blocks = message["blocks"].as_array().map_or(0, Vec::len);
    assert!(blocks <= 50, "{blocks} blocks");
    let sections = shown(message);
    if blocks > 0 {
        assert!(
            sections.iter().all(|s| s.chars().count() <= 3000),
            "a section over 3,000 characters"
        );
    }
    let text = message["text"].as_str().map_or(0, |t| t.chars().count());
    let total: usize = sections.iter().map(|s| s.chars().count()).sum::<usize>() + text;
    assert!(total <= 40_000, "{total} characters");
}

fn delivered(test: &Test) -> Vec<Value> {
    test.slack_fake().delivered(&path(URL_OPS))
}

/// Every alert text the webhook showed, in the order shown.
fn texts_shown(test: &Test) -> Vec<String> {
    delivered(test).iter().flat_map(shown).collect()
}

fn wait_until(within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_flood_of_1000_alerts_shows_every_one_once_in_order_within_slacks_limits() {
    let test = applied(limited());
    let daemon = Daemon::start(&test, &[]);
    let ids = post_flood(&daemon, 0..1000);
    let expected: Vec<String> = (0..1000)
        .map(|i| flood_text(i).replace('<', "&lt;").replace('>', "&gt;"))
        .collect();
    wait_until(Duration::from_secs(90), || texts_shown(&test).len() >= 1000);
    assert_eq!(texts_shown(&test), expected, "every alert, whole, once, in order");
    let messages = delivered(&test);
    for message in &messages {
        within_limits(message);
    }
    assert!(
        messages.len() <= 1000_usize.div_ceil(25) + 1,
        "{} messages for 1,000 alerts",
        messages.len()
    );
    assert!(
        test.slack_fake().rate_limited() <= 3,
        "{} answers of 429",
        test.slack_fake().rate_limited()
    );
    let first = daemon.get(&format!("/v1/alerts/{}", ids[0])).json;
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["digest"]["alerts"].as_array().map(Vec::len), Some(25));
    assert_eq!(first["digest"]["alerts"][0], ids[0].as_str());
    let metrics = daemon.get("/metrics").json;
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains("hookwarden_digest_alerts_total{webhook=\"ops\"} 1000"),
        "{metrics}"
    );
}

#[test]
fn with_digest_off_every_alert_is_its_own_message() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--digest", "off", "--rate", "50", "--burst", "1"]);
    post_flood(&daemon, 0..8);
    wait_until(Duration::from_secs(20), || delivered(&test).len() >= 8);
    let texts: Vec<Value> = delivered(&test).iter().map(|m| m["text"].clone()).collect();
    let expected: Vec<Value> = (0..8)
        .map(|i| json!(flood_text(i).replace('<', "&lt;").replace('>', "&gt;")))
        .collect();
    assert_eq!(texts, expected);
    assert!(delivered(&test).iter().all(|m| m.get("blocks").is_none()));
}

#[test]
fn a_digest_answered_500_is_retried_whole() {
    let mut script = live();
    script.server_errors.insert(path(URL_OPS), 1);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--retry-first", "200ms"]);
    let ids = post_flood(&daemon, 0..10);
    daemon.wait_for(&ids[9], "delivered", Duration::from_secs(20));
    let calls = test.slack_fake().calls(&path(URL_OPS));
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [500, 200],
        "one digest, refused then accepted"
    );
    assert_eq!(calls[0].body, calls[1].body, "the same digest, whole");
    assert_eq!(shown(&delivered(&test)[0]).len(), 10);
    for id in &ids {
        let alert = daemon.get(&format!("/v1/alerts/{id}")).json;
        assert_eq!(alert["attempts"], 2);
        assert_eq!(alert["digest"]["id"], format!("d{}", ids[0]));
    }
    let shown = test.exec(&["alerts", "show", &ids[3], "--endpoint", &daemon.url]);
    shown.code(0);
    assert!(
        shown
            .stdout
            .ends_with(&format!("carried by digest d{} with 10 alerts\n", ids[0])),
        "{}",
        shown.stdout
    );
}

#[test]
fn a_kill_9_mid_flood_loses_none_and_repeats_at_most_the_digest_in_flight() {
    let test = applied(limited());
    let daemon = Daemon::start(&test, &[]);
    post_flood(&daemon, 0..300);
    wait_until(Duration::from_secs(20), || delivered(&test).len() >= 5);
    daemon.crash();
    let before = texts_shown(&test).len();
    assert!(before < 300, "the kill came before the flood was shown");
    let daemon = Daemon::start(&test, &[]);
    wait_until(Duration::from_secs(40), || {
        texts_shown(&test)
            .last()
            .is_some_and(|t| t.starts_with("flood alert 0299"))
    });
    let shown = texts_shown(&test);
    let mut unique = shown.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 300, "every alert, none lost");
    assert!(
        shown.len() - 300 <= 25,
        "at most one digest repeats: {} alerts shown twice",
        shown.len() - 300
    );
    assert_eq!(daemon.stop(), 0);
}
