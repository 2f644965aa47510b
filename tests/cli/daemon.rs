//! The alert endpoint through the real daemon, by theme: delivery (pacing, retries,
//! failures), the queue (batches, keys, limits, durability across kill -9) and the HTTP
//! API (bad input, auth, the error shape).

mod alertmanager;
mod api;
mod connections;
mod delivery;
mod digest;
mod queue;
mod receivers;
mod storage;

use serde_json::{Value, json};

use crate::fake_slack::Script;
use crate::harness::{Answer, Test, URL_GOV, URL_OPS, applied_with, live_hooks};

fn live() -> Script {
    live_hooks(&[URL_OPS, URL_GOV])
}

/// A test with `ops` and `gov` applied, talking to a fake Slack that follows `script`.
fn applied(script: Script) -> Test {
    applied_with(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        script,
    )
}

fn alert(webhook: &str, text: &str) -> Value {
    json!({"webhook": webhook, "text": text})
}

fn accepted(answer: &Answer) -> String {
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    answer.json["id"].as_str().expect("an id").to_owned()
}
