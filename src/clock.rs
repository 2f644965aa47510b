//! The one wall clock: unix time for records and the audit log, and how times are shown.
//!
//! Pacing and backoff waits use tokio's clock instead, which tests can pause.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix milliseconds now (0 before 1970, which no machine here sees).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// A duration in whole milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Unix seconds as RFC 3339 (UTC), as status and history show times.
pub fn rfc3339_secs(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Unix milliseconds as RFC 3339 (UTC), as the HTTP API shows alert times.
pub fn rfc3339_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
