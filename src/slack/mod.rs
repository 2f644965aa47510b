//! Talking to Slack: the Web API (token checks, directory sync) and incoming webhooks
//! (verification probes, alert delivery).
//!
//! One reqwest client with timeouts and a `hookwarden/<version>` user agent. Base URLs
//! come from `slack.api_url`, overridden by `HOOKWARDEN_SLACK_API_URL`; webhook URLs
//! keep their path but take scheme and host from `HOOKWARDEN_SLACK_WEBHOOK_ORIGIN` when
//! it is set (tests point both at a fake Slack on loopback). Errors never carry a URL:
//! a webhook URL is a secret.

pub mod answer;
mod sync;
mod wire;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;

pub use answer::{Answer, HookState, Refusal, hook_state};
pub use sync::{Progress, sync_directory};

use crate::config::WebhookUrl;
use crate::secrets::Secret;

/// The scopes the bot token needs: `users.list` with emails, and `usergroups.list`.
pub const REQUIRED_SCOPES: [&str; 3] = ["users:read", "users:read.email", "usergroups:read"];

const USER_AGENT: &str = concat!("hookwarden/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("cannot reach Slack for {operation}: {reason}")]
    Unreachable { operation: String, reason: String },
    #[error("Slack refused {method}: {error}{}", explain(error))]
    Api { method: String, error: String },
    #[error(
        "the bot token lacks the scope{} {}; it has {}",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", "),
        if granted.is_empty() { "none".to_owned() } else { granted.join(", ") }
    )]
    MissingScopes {
        missing: Vec<String>,
        granted: Vec<String>,
    },
    #[error(
        "Slack is rate-limiting {method} for longer than hookwarden waits (2 minutes in all; {waited:?} so far): try again later"
    )]
    RateLimited { method: String, waited: Duration },
    #[error("Slack's answer to {method} could not be read: {reason}")]
    Unreadable { method: String, reason: String },
}

/// A plain explanation of the Web API errors a token check meets.
fn explain(error: &str) -> &'static str {
    match error.split(' ').next().unwrap_or_default() {
        "invalid_auth" | "not_authed" => " (the token is not valid: copy the Bot User OAuth Token again)",
        "token_revoked" | "token_expired" => {
            " (the token was revoked or expired: reinstall the app and use its new token)"
        }
        "account_inactive" => " (the app's bot user was deactivated or the app uninstalled)",
        "missing_scope" => " (add the scope under OAuth & Permissions and reinstall the app)",
        _ => "",
    }
}

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Web API base, such as `https://slack.com/api`.
    pub api: String,
    /// Replaces scheme and host of webhook URLs: `http://127.0.0.1:PORT`.
    pub webhook_origin: Option<String>,
}

impl Endpoints {
    /// The configured API base unless the environment overrides it.
    pub fn from_env(api_url: &str) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Endpoints {
            api: var("HOOKWARDEN_SLACK_API_URL")
                .unwrap_or_else(|| api_url.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            webhook_origin: var("HOOKWARDEN_SLACK_WEBHOOK_ORIGIN")
                .map(|o| o.trim_end_matches('/').to_owned()),
        }
    }

    fn webhook(&self, url: &WebhookUrl) -> String {
        let full = url.secret().expose();
        match &self.webhook_origin {
            Some(origin) => format!("{origin}{}", &full[full.find("/services/").unwrap_or(0)..]),
            None => full.to_owned(),
        }
    }
}

/// What `auth.test` says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub team_id: String,
    pub team: String,
    pub scopes: Vec<String>,
}

/// What a webhook probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Slack knows the hook: it refused the empty message for being empty.
    Live,
    /// Slack says the hook is gone, with its error string.
    Dead(String),
    /// No verdict: rate limited, a server error, or no answer.
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct Client {
    /// Built at the first request: a daemon that has nothing to send never sets up TLS.
    http: Arc<OnceLock<reqwest::Client>>,
    endpoints: Endpoints,
    /// The longest total wait on 429s for one call before giving up.
    rate_limit_budget: Duration,
}

impl Client {
    pub fn new(endpoints: Endpoints) -> Self {
        Client {
            http: Arc::default(),
            endpoints,
            rate_limit_budget: Duration::from_secs(120),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client with rustls and timeouts builds")
        })
    }

    /// Checks `token` with `auth.test` and that it has every [`REQUIRED_SCOPES`].
    pub async fn check_token(&self, token: &Secret) -> Result<TokenInfo, SlackError> {
        let mut waited = Duration::ZERO;
        let (body, scopes) = self.web_api("auth.test", token, &[], &mut waited).await?;
        let auth: wire::AuthTest = parse("auth.test", body)?;
        let missing: Vec<String> = REQUIRED_SCOPES
            .iter()
            .filter(|s| !scopes.iter().any(|g| g == *s))
            .map(|s| (*s).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(SlackError::MissingScopes {
                missing,
                granted: scopes,
            });
        }
        Ok(TokenInfo {
            team_id: auth.team_id,
            team: auth.team,
            scopes,
        })
    }

    /// One Web API call, waiting out rate limits and retrying server errors a few
    /// times. `waited` is the time already spent waiting on 429s by the operation this
    /// call belongs to (a whole sync shares one budget). Returns the JSON body and the
    /// granted scopes (`x-oauth-scopes`).
    async fn web_api(
        &self,
        method: &str,
        token: &Secret,
        query: &[(&str, &str)],
        waited: &mut Duration,
    ) -> Result<(serde_json::Value, Vec<String>), SlackError> {
        let url = format!("{}/{method}", self.endpoints.api);
        let mut failures = 0;
        loop {
            let request = self.http().post(&url).bearer_auth(token.expose()).form(query);
            let refusal = match request.send().await {
                Ok(response) => match read_web_api(method, response).await? {
                    Ok(answer) => return Ok(answer),
                    Err(refusal) => refusal,
                },
                Err(error) => Refusal::Retryable(describe(error)),
            };
            match refusal {
                Refusal::RateLimited(delay) => {
                    // A zero or absurd Retry-After must neither spin nor overflow.
                    let delay = delay.clamp(Duration::from_secs(1), self.rate_limit_budget);
                    if delay >= self.rate_limit_budget.saturating_sub(*waited) {
                        return Err(SlackError::RateLimited {
                            method: method.to_owned(),
                            waited: *waited,
                        });
                    }
                    tracing::info!(
                        method,
                        ?delay,
                        "Slack rate-limited the call; waiting as Retry-After asks"
                    );
                    *waited += delay;
                    tokio::time::sleep(delay).await;
                }
                Refusal::Retryable(reason) if failures < 3 => {
                    failures += 1;
                    tracing::warn!(method, %reason, "Slack call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 << failures)).await;
                }
                Refusal::Retryable(reason) => {
                    return Err(SlackError::Unreachable {
                        operation: method.to_owned(),
                        reason,
                    });
                }
                Refusal::Permanent(error) => {
                    return Err(SlackError::Api {
                        method: method.to_owned(),
                        error,
                    });
                }
            }
        }
    }

    /// Posts `body` to a webhook once and classifies Slack's answer.
    pub async fn post_webhook(&self, url: &WebhookUrl, body: &serde_json::Value) -> Answer {
        let request = self.http().post(self.endpoints.webhook(url)).json(body);
        match request.send().await {
            Ok(response) => {
                let (status, headers) = (response.status(), response.headers().clone());
                let text = response.text().await.unwrap_or_default();
                answer::webhook(status, &headers, &text)
            }
            Err(error) => Err(Refusal::Retryable(describe(error))),
        }
    }

    /// Checks that a webhook exists without posting a visible message: an empty message
    /// is refused with `no_text` by a live hook, and with `no_service` and the like by a
    /// dead one.
    pub async fn probe(&self, url: &WebhookUrl) -> Probe {
        let mut answer = self.post_webhook(url, &serde_json::json!({ "text": "" })).await;
        // A short Retry-After is worth waiting for: a verdict beats none.
        for _ in 0..2 {
            match answer {
                Err(Refusal::RateLimited(delay)) if delay <= Duration::from_secs(10) => {
                    tokio::time::sleep(delay).await;
                    answer = self.post_webhook(url, &serde_json::json!({ "text": "" })).await;
                }
                _ => break,
            }
        }
        match answer {
            Err(Refusal::Permanent(e)) if e == "no_text" || e == "invalid_payload" => Probe::Live,
            Ok(()) => Probe::Live,
            Err(Refusal::Permanent(e)) if hook_state(&e) == HookState::Dead => Probe::Dead(e),
            Err(Refusal::Permanent(e)) => Probe::Unknown(format!("an answer Slack does not give: {e}")),
            Err(Refusal::RateLimited(delay)) => Probe::Unknown(format!("rate limited for {delay:?}")),
            Err(Refusal::Retryable(reason)) => Probe::Unknown(reason),
        }
    }
}

/// A Web API response: its body and granted scopes, or how Slack refused.
async fn read_web_api(
    method: &str,
    response: reqwest::Response,
) -> Result<Result<(serde_json::Value, Vec<String>), Refusal>, SlackError> {
    let (status, headers) = (response.status(), response.headers().clone());
    let body: serde_json::Value = if status == StatusCode::OK {
        response.json().await.map_err(|e| SlackError::Unreadable {
            method: method.to_owned(),
            reason: describe(e),
        })?
    } else {
        serde_json::Value::Null
    };
    let scopes = headers
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(answer::web_api(status, &headers, &body).map(|()| (body, scopes)))
}

/// A reqwest error with its causes ("error sending request: connection refused"), and
/// without its URL, which may be a webhook's secret.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, body: serde_json::Value) -> Result<T, SlackError> {
    serde_json::from_value(body).map_err(|e| SlackError::Unreadable {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}
