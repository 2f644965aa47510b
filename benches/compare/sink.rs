//! The fake Slack as a sink: which numbered alerts arrived at its webhooks, and when.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::fake_slack::{FakeSlack, Hook, Script};

pub struct Sink {
    pub slack: FakeSlack,
}

/// What the webhooks saw, together.
#[derive(Debug, Default)]
pub struct Seen {
    /// Messages answered 200.
    pub delivered: usize,
    /// The numbered alerts among them, each once.
    pub distinct: BTreeSet<usize>,
    /// The numbered alerts among messages that said they resolved (`[RESOLVED]`).
    pub resolved: BTreeSet<usize>,
    /// The numbered alerts among the other messages: those shown firing.
    pub firing: BTreeSet<usize>,
    /// The numbered alerts a reader sees: in the blocks, or in the first 40,000
    /// characters of the text, where Slack truncates it.
    pub visible: BTreeSet<usize>,
    /// When the last message that made a new alert visible went out.
    pub last_new: Option<Instant>,
    /// When the last 200 went out.
    pub last: Option<Instant>,
    /// 429 answers.
    pub rate_limited: usize,
}

impl Sink {
    /// Live webhooks at `paths`; with `limit`, Slack's per-webhook limit of one message
    /// a second with a burst of 3, 429 and `Retry-After: 1` beyond it.
    pub fn start(paths: &[String], limit: bool) -> Sink {
        let script = Script {
            hooks: paths.iter().map(|p| (p.clone(), Hook::Live)).collect(),
            webhook_limit: limit.then_some((1.0, 3.0)),
            ..Script::default()
        };
        Sink {
            slack: FakeSlack::start(script),
        }
    }

    /// Webhooks at `paths` that Slack removed: 404 `no_service`.
    pub fn removed(paths: &[String]) -> Sink {
        let script = Script {
            hooks: paths
                .iter()
                .map(|p| (p.clone(), Hook::Dead(404, "no_service")))
                .collect(),
            ..Script::default()
        };
        Sink {
            slack: FakeSlack::start(script),
        }
    }

    pub fn origin(&self) -> String {
        self.slack.origin()
    }

    pub fn seen(&self) -> Seen {
        let script = self.slack.script.lock().expect("the sink");
        let mut seen = Seen::default();
        for call in &script.calls {
            match call.status {
                200 => {
                    seen.delivered += 1;
                    seen.last = Some(call.at);
                    let before = seen.visible.len();
                    seen.visible.extend(visible(&call.body));
                    if seen.visible.len() > before {
                        seen.last_new = Some(call.at);
                    }
                    for (n, resolved) in entries(&call.body) {
                        seen.distinct.insert(n);
                        if resolved {
                            seen.resolved.insert(n);
                        } else {
                            seen.firing.insert(n);
                        }
                    }
                }
                429 => seen.rate_limited += 1,
                _ => {}
            }
        }
        seen
    }

    /// Waits until `count` distinct alerts have arrived, or `limit` has passed.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Seen {
        self.wait_until(|seen| seen.distinct.len() >= count, limit)
    }

    /// Waits until what was seen is `enough`, or `limit` has passed.
    pub fn wait_until(&self, enough: impl Fn(&Seen) -> bool, limit: Duration) -> Seen {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.seen();
            if enough(&seen) || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The text of the `n`th benchmark alert.
pub fn text(n: usize) -> String {
    format!("bench alert #{n}#")
}

/// A longer text for alert `n`, as real alerts read: one line of about 90 characters.
pub fn long_text(n: usize) -> String {
    format!(
        "{}: disk usage on host-{n:04}.example is above 90% for 10 minutes",
        text(n)
    )
}

/// Every numbered alert a message carries (a digest carries many), and whether it
/// said it resolved: in a digest, by the header above it.
fn entries(body: &str) -> Vec<(usize, bool)> {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(body) else {
        return number(body)
            .map(|n| (n, body.contains("[RESOLVED]")))
            .into_iter()
            .collect();
    };
    let mut found = Vec::new();
    match message["blocks"].as_array().filter(|b| !b.is_empty()) {
        Some(blocks) => {
            let mut resolved = false;
            for block in blocks {
                let text = block["text"]["text"].as_str().unwrap_or_default();
                if block["type"] == "header" {
                    resolved = text.contains("[RESOLVED]");
                }
                found.extend(
                    numbers(text)
                        .into_iter()
                        .map(|n| (n, resolved || text.contains("[RESOLVED]"))),
                );
            }
        }
        None => {
            let text = plain(&message);
            found.extend(
                numbers(&text)
                    .into_iter()
                    .map(|n| (n, text.contains("[RESOLVED]"))),
            );
        }
    }
    found
}

/// A message without blocks as a reader sees it: its text, then its attachments'
/// titles and texts (Alertmanager's Slack messages are attachments).
fn plain(message: &serde_json::Value) -> String {
    let mut parts: Vec<&str> = message["text"].as_str().into_iter().collect();
    for attachment in message["attachments"].as_array().into_iter().flatten() {
        parts.extend(
            ["pretext", "title", "text"]
                .iter()
                .filter_map(|k| attachment[*k].as_str()),
        );
    }
    parts.join("\n")
}

/// The alert numbers in `text`, in order.
fn numbers(text: &str) -> Vec<usize> {
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("bench alert #") {
        rest = &rest[at..];
        if let Some(n) = number(rest) {
            numbers.push(n);
        }
        rest = &rest["bench alert #".len()..];
    }
    numbers
}

/// The alert numbers a reader sees in a message: Slack shows the blocks when there
/// are any (3,000 characters a section), else the text up to 40,000 characters.
fn visible(body: &str) -> Vec<usize> {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let shown: String = match message["blocks"].as_array().filter(|b| !b.is_empty()) {
        Some(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .map(|t| t.chars().take(3000).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n"),
        None => plain(&message).chars().take(40_000).collect(),
    };
    numbers(&shown)
}

/// The alert number in a message, wherever the sender put the text.
fn number(body: &str) -> Option<usize> {
    let start = body.find("bench alert #")? + "bench alert #".len();
    let digits = &body[start..];
    digits[..digits.find('#')?].parse().ok()
}
