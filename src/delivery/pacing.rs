//! Pacing and backoff: how fast a webhook may send, and how long it waits after a failure.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

/// Messages per second per webhook, and how many may go at once after a quiet spell.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// 0 turns pacing off.
    pub per_second: f64,
    pub burst: u32,
    /// The most alerts a digest carries; `None`: one message per alert. Digests form
    /// only under pacing, when more alerts wait than the burst.
    pub digest_max: Option<usize>,
}

impl Default for Pacing {
    /// Slack allows about one message per second per webhook, with short bursts.
    fn default() -> Self {
        Pacing {
            per_second: 1.0,
            burst: 3,
            digest_max: Some(DIGEST_MAX),
        }
    }
}

/// `--digest-max`'s default.
pub const DIGEST_MAX: usize = 25;

/// Backoff on 5xx, timeouts and connection errors.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub first: Duration,
    pub cap: Duration,
    /// An alert still undelivered this long after it was accepted fails.
    pub give_up_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Exponential backoff from `retry.first`, capped, with jitter in its upper half so
/// that many alerts failing together do not retry together.
pub(super) fn backoff(retry: Retry, attempts: u32, id: &str) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = retry.first.saturating_mul(1 << exponent).min(retry.cap);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(id.as_bytes());
    hasher.write_u32(attempts);
    let jitter = hasher.finish() % 1000;
    full / 2 + full / 2 * u32::try_from(jitter).unwrap_or(0) / 1000
}

/// A token bucket on tokio's clock (which tests can pause).
#[derive(Debug)]
pub(super) struct Bucket {
    pacing: Pacing,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(super) fn new(pacing: Pacing) -> Self {
        Bucket {
            pacing,
            tokens: f64::from(pacing.burst.max(1)),
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let gained = now.duration_since(self.last).as_secs_f64() * self.pacing.per_second;
        self.tokens = (self.tokens + gained).min(f64::from(self.pacing.burst.max(1)));
        self.last = now;
    }

    /// A bucket whose burst was just spent: the next message waits a full interval.
    pub(super) fn spent(pacing: Pacing) -> Self {
        Bucket {
            pacing,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// How long until a token is free.
    pub(super) fn delay(&mut self) -> Duration {
        if self.pacing.per_second <= 0.0 {
            return Duration::ZERO;
        }
        self.refill();
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.pacing.per_second)
        }
    }

    /// Counts the next interval from the end of the request, not its start: Slack counts
    /// arrivals, and a request delayed on the way must not let the next one arrive early.
    pub(super) fn settle(&mut self) {
        self.last = Instant::now();
    }

    pub(super) fn take(&mut self) {
        if self.pacing.per_second > 0.0 {
            self.refill();
            self.tokens -= 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let retry = Retry::default();
        for (attempts, full) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            let delay = backoff(retry, attempts, "a");
            let full = Duration::from_secs(full);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempts}: {delay:?} of {full:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_a_burst_then_one_a_second() {
        let mut bucket = Bucket::new(Pacing::default());
        let mut sent = Vec::new();
        let start = Instant::now();
        for _ in 0..6 {
            let delay = bucket.delay();
            tokio::time::sleep(delay).await;
            bucket.take();
            sent.push(start.elapsed().as_secs());
        }
        assert_eq!(sent, [0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn no_pacing_never_waits() {
        let mut bucket = Bucket::new(Pacing {
            per_second: 0.0,
            burst: 1,
            digest_max: None,
        });
        for _ in 0..1000 {
            assert_eq!(bucket.delay(), Duration::ZERO);
            bucket.take();
        }
    }
}
