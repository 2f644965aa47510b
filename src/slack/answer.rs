//! What Slack's answers mean, decided in one place for the Web API and for webhooks.
//!
//! Web API errors come as HTTP 200 with `"ok": false` (except 429 `ratelimited`);
//! webhooks answer `ok`, or a status code with a plain-text error such as
//! `no_service`. Both send `Retry-After` (seconds) with 429.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Slack's answer: `Ok(())`, or a refusal that says what to do next.
pub type Answer = Result<(), Refusal>;

/// Why Slack did not do what was asked, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Wait this long, then try again.
    RateLimited(Duration),
    /// Slack or the network had a problem; trying again later may work.
    Retryable(String),
    /// Trying again will not help; Slack's error string.
    Permanent(String),
}

/// Slack's default when a 429 has no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Web API errors that are Slack's problem, not the request's.
const RETRYABLE_API_ERRORS: [&str; 4] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
}

/// A Web API answer; `body` is its JSON when the status is 200.
pub fn web_api(status: StatusCode, headers: &HeaderMap, body: &serde_json::Value) -> Answer {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Refusal::RateLimited(retry_after(headers)));
    }
    if status.is_server_error() {
        return Err(Refusal::Retryable(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(Refusal::Permanent(format!("HTTP {}", status.as_u16())));
    }
    let text = |field: &str| body.get(field).and_then(serde_json::Value::as_str);
    match body.get("ok").and_then(serde_json::Value::as_bool) {
        Some(true) => return Ok(()),
        Some(false) => {}
        // A proxy's page, or a body cut short.
        None => return Err(Refusal::Retryable("an answer without `ok`".to_owned())),
    }
    let code = text("error").unwrap_or("unknown_error");
    match code {
        "ratelimited" => Err(Refusal::RateLimited(retry_after(headers))),
        e if RETRYABLE_API_ERRORS.contains(&e) => Err(Refusal::Retryable(code.to_owned())),
        // Slack names what was missing and what the token has.
        _ => match (text("needed"), text("provided")) {
            (Some(needed), Some(provided)) => Err(Refusal::Permanent(format!(
                "{code} (needs {needed}; the token has {provided})"
            ))),
            _ => Err(Refusal::Permanent(code.to_owned())),
        },
    }
}

/// A webhook answer with its plain-text (or, for 429, JSON) body.
pub fn webhook(status: StatusCode, headers: &HeaderMap, body: &str) -> Answer {
    let error = || {
        let text = body.trim();
        let text = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                v.get("error")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| text.chars().take(100).collect());
        if text.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            text
        }
    };
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::TOO_MANY_REQUESTS => Err(Refusal::RateLimited(retry_after(headers))),
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => Err(Refusal::Retryable(error())),
        _ => Err(Refusal::Permanent(error())),
    }
}

/// What a webhook's permanent refusal says about the webhook itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookState {
    /// The webhook is gone: revoked, its channel archived, its workspace disabled.
    Dead,
    /// Slack refused this one message; the webhook is fine.
    MessageRefused,
    /// Something else went wrong with the webhook.
    Failing,
}

/// What Slack answers to a webhook that is gone; any other refusal is no verdict (a
/// proxy's error page, a wrong origin).
const DEAD_HOOK_ERRORS: [&str; 7] = [
    "no_service",
    "no_active_hooks",
    "channel_not_found",
    "invalid_token",
    "channel_is_archived",
    "team_disabled",
    "action_prohibited",
];

/// Slack's errors about one message, which say nothing about the webhook.
const MESSAGE_ERRORS: [&str; 5] = [
    "invalid_payload",
    "no_text",
    "invalid_blocks",
    "invalid_attachments",
    "too_many_attachments",
];

/// The webhook's state after Slack refused a message to it with `error` for good.
pub fn hook_state(error: &str) -> HookState {
    if DEAD_HOOK_ERRORS.contains(&error) {
        HookState::Dead
    } else if MESSAGE_ERRORS.contains(&error) {
        HookState::MessageRefused
    } else {
        HookState::Failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(reqwest::header::RETRY_AFTER, value.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn web_api_answers() {
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect("json");
        let cases: Vec<(u16, Option<&str>, &str, Answer)> = vec![
            (200, None, r#"{"ok":true}"#, Ok(())),
            (
                200,
                None,
                r#"{"ok":false,"error":"invalid_auth"}"#,
                Err(Refusal::Permanent("invalid_auth".into())),
            ),
            (
                200,
                None,
                r#"{"ok":false,"error":"internal_error"}"#,
                Err(Refusal::Retryable("internal_error".into())),
            ),
            (
                429,
                Some("7"),
                r#"{"ok":false,"error":"ratelimited"}"#,
                Err(Refusal::RateLimited(Duration::from_secs(7))),
            ),
            (429, None, "{}", Err(Refusal::RateLimited(DEFAULT_RETRY_AFTER))),
            (503, None, "{}", Err(Refusal::Retryable("HTTP 503".into()))),
            (
                200,
                None,
                r#"{"ok":false,"error":"missing_scope","needed":"usergroups:read","provided":"users:read"}"#,
                Err(Refusal::Permanent(
                    "missing_scope (needs usergroups:read; the token has users:read)".into(),
                )),
            ),
            (
                200,
                None,
                r#"{"members":[]}"#,
                Err(Refusal::Retryable("an answer without `ok`".into())),
            ),
            (404, None, "{}", Err(Refusal::Permanent("HTTP 404".into()))),
        ];
        for (status, retry, body, expected) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(
                web_api(status, &headers(retry), &json(body)),
                expected,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn hook_states() {
        for (error, state) in [
            ("no_service", HookState::Dead),
            ("invalid_token", HookState::Dead),
            ("channel_is_archived", HookState::Dead),
            ("no_text", HookState::MessageRefused),
            ("invalid_blocks", HookState::MessageRefused),
            ("HTTP 401", HookState::Failing),
        ] {
            assert_eq!(hook_state(error), state, "{error}");
        }
    }

    #[test]
    fn webhook_answers() {
        let cases: Vec<(u16, Option<&str>, &str, Answer)> = vec![
            (200, None, "ok", Ok(())),
            (
                400,
                None,
                "invalid_payload",
                Err(Refusal::Permanent("invalid_payload".into())),
            ),
            (
                403,
                None,
                "invalid_token",
                Err(Refusal::Permanent("invalid_token".into())),
            ),
            (
                404,
                None,
                "no_service",
                Err(Refusal::Permanent("no_service".into())),
            ),
            (
                410,
                None,
                "channel_is_archived",
                Err(Refusal::Permanent("channel_is_archived".into())),
            ),
            (
                429,
                Some("3"),
                r#"{"ok":false,"error":"rate_limited"}"#,
                Err(Refusal::RateLimited(Duration::from_secs(3))),
            ),
            (500, None, "", Err(Refusal::Retryable("HTTP 500".into()))),
            (
                502,
                None,
                "<html>bad gateway</html>",
                Err(Refusal::Retryable("<html>bad gateway</html>".into())),
            ),
        ];
        for (status, retry, body, expected) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(
                webhook(status, &headers(retry), body),
                expected,
                "{status} {body}"
            );
        }
    }
}
