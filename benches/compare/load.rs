//! Alerts posted to hookwarden's endpoint by a pool of concurrent clients.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

/// Posts alert `n` for every `n` in `numbers`, to webhook `hook-{n % webhooks}`, in
/// requests of `batch` alerts (1: `POST /v1/alerts`, more: `/v1/alerts/batch`),
/// `concurrency` requests at a time, its text `text(n)`; every one must be accepted.
pub async fn post_alerts(
    base: &str,
    webhooks: usize,
    numbers: Range<usize>,
    batch: usize,
    concurrency: usize,
    text: fn(usize) -> String,
) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(numbers.start));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, end, base) = (client.clone(), next.clone(), numbers.end, base.to_owned());
        tasks.spawn(async move {
            loop {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                if first >= end {
                    return;
                }
                let alerts: Vec<Value> = (first..end.min(first + batch))
                    .map(|n| json!({"webhook": format!("hook-{}", n % webhooks), "text": text(n)}))
                    .collect();
                let request = if batch == 1 {
                    client.post(format!("{base}/v1/alerts")).json(&alerts[0])
                } else {
                    client
                        .post(format!("{base}/v1/alerts/batch"))
                        .json(&json!({"alerts": alerts}))
                };
                let response = request.send().await.expect("hookwarden answers");
                assert_eq!(response.status().as_u16(), 202, "hookwarden refused alerts");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client task");
    }
}
