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
                    if let Some(n) = number(&call.body) {
                        seen.distinct.insert(n);
                        if call.body.contains("[RESOLVED]") {
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

/// The alert number in a message, wherever the sender put the text.
fn number(body: &str) -> Option<usize> {
    let start = body.find("bench alert #")? + "bench alert #".len();
    let digits = &body[start..];
    digits[..digits.find('#')?].parse().ok()
}
