//! Alerts posted to hookwarden's endpoint by a pool of concurrent clients.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::sink::text;

/// Posts alert `n` for every `n` in `numbers` to `webhook`, `concurrency` at a time;
/// every one must be accepted.
pub async fn post_alerts(base: &str, webhook: &str, numbers: Range<usize>, concurrency: usize) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(numbers.start));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, end) = (client.clone(), next.clone(), numbers.end);
        let (url, webhook) = (format!("{base}/v1/alerts"), webhook.to_owned());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return;
                }
                let response = client
                    .post(&url)
                    .json(&json!({"webhook": webhook, "text": text(n)}))
                    .send()
                    .await
                    .expect("hookwarden answers");
                assert_eq!(response.status().as_u16(), 202, "hookwarden refused an alert");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client task");
    }
}
