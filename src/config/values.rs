//! Checks of decrypted values: the webhook URL and the bot token.
//!
//! These run only when an identity is available. Messages describe what is wrong
//! without repeating the value: a webhook URL's path and a token are secrets.

use std::fmt;

use crate::secrets::Secret;

/// Hosts that serve Slack incoming webhooks: commercial Slack and GovSlack.
pub const WEBHOOK_HOSTS: [&str; 3] = ["hooks.slack.com", "hooks.slack.gov", "hooks.slack-gov.com"];

/// Slack's webhook secrets are 24 characters; a much shorter one would be shown almost
/// whole by the redacted form.
const MIN_KEY_LEN: usize = 16;

/// A checked `https://<host>/services/T…/B…/<secret>` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    secret: Secret,
    host: String,
    team: String,
    hook: String,
    tail: String,
}

/// Why a value was refused, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub help: String,
}

const URL_SHAPE: &str = "a webhook URL looks like https://hooks.slack.com/services/T…/B…/…, as Slack shows it under Incoming Webhooks";

impl WebhookUrl {
    pub fn parse(secret: &Secret) -> Result<Self, Refusal> {
        let refuse = |message: &str, help: &str| Refusal {
            message: message.to_owned(),
            help: help.to_owned(),
        };
        let url = url::Url::parse(secret.expose().trim())
            .map_err(|_| refuse("the value is not a URL", URL_SHAPE))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                return Err(refuse(
                    "the URL uses `http:`; Slack webhooks are `https:`",
                    "use the https:// URL Slack gave you",
                ));
            }
            _ => return Err(refuse("the URL is not an https URL", URL_SHAPE)),
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if !WEBHOOK_HOSTS.contains(&host.as_str()) {
            return Err(Refusal {
                message: format!("`{host}` is not a Slack webhook host"),
                help: format!("use a URL on {}; {URL_SHAPE}", WEBHOOK_HOSTS.join(", ")),
            });
        }
        if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                "the URL has a port or user name, which Slack webhook URLs never have",
                URL_SHAPE,
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse(
                "the URL has a query or fragment, which Slack webhook URLs never have",
                URL_SHAPE,
            ));
        }
        let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
        let [services, team, hook, key] = segments[..] else {
            return Err(refuse(
                "the URL's path is not of the form /services/T…/B…/…",
                URL_SHAPE,
            ));
        };
        let id = |s: &str, first: char| {
            s.len() > 1 && s.starts_with(first) && s.chars().all(|c| c.is_ascii_alphanumeric())
        };
        if services != "services"
            || !id(team, 'T')
            || !id(hook, 'B')
            || key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(refuse(
                "the URL's path is not of the form /services/T…/B…/…",
                URL_SHAPE,
            ));
        }
        if key.len() < MIN_KEY_LEN {
            return Err(refuse(
                "the URL's secret part is too short for a Slack webhook URL (at least 16 characters; Slack's are 24)",
                URL_SHAPE,
            ));
        }
        let tail = key[key.len() - 4..].to_owned();
        // Kept in one spelling (lower-case host), so that `HOOKS.slack.com` is no rotation.
        let secret = Secret::new(format!("https://{host}/services/{team}/{hook}/{key}"));
        Ok(WebhookUrl {
            team: team.to_owned(),
            hook: hook.to_owned(),
            tail,
            host,
            secret,
        })
    }

    /// The URL with its secret segment reduced to its last four characters.
    pub fn redacted(&self) -> String {
        format!(
            "https://{}/services/{}/{}/****{}",
            self.host, self.team, self.hook, self.tail
        )
    }

    /// The Slack workspace (team) id the webhook belongs to.
    pub fn team(&self) -> &str {
        &self.team
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A bot token (`xoxb-…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotToken(Secret);

impl BotToken {
    pub fn parse(secret: Secret) -> Result<Self, Refusal> {
        let token = secret.expose();
        let help =
            "use the Bot User OAuth Token (`xoxb-…`) from the app's OAuth & Permissions page".to_owned();
        if token.starts_with("xoxb-") && token.len() > 5 && !token.chars().any(char::is_whitespace) {
            return Ok(BotToken(secret));
        }
        let message = match token.get(..5) {
            _ if token.starts_with("xoxb-") => {
                "the bot token is empty after `xoxb-` or contains whitespace".to_owned()
            }
            Some("xoxp-") => "the token is a user token (`xoxp-`), not a bot token (`xoxb-`)".to_owned(),
            Some(prefix) if prefix.starts_with("xox") && prefix.ends_with('-') => {
                format!("the token is a `{prefix}` token, not a bot token (`xoxb-`)")
            }
            _ => "the value is not a Slack bot token (it should start with `xoxb-`)".to_owned(),
        };
        Err(Refusal { message, help })
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Result<WebhookUrl, String> {
        WebhookUrl::parse(&Secret::new(text)).map_err(|r| r.message)
    }

    #[test]
    fn webhook_urls() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            (
                "https://hooks.slack.com/services/T0FAKE1/B0FAKE1/fakefakefake1234",
                Ok("https://hooks.slack.com/services/T0FAKE1/B0FAKE1/****1234"),
            ),
            (
                "https://hooks.slack.gov/services/T0FAKE1/B0FAKE1/fakefakefakeabcd",
                Ok("https://hooks.slack.gov/services/T0FAKE1/B0FAKE1/****abcd"),
            ),
            (
                "https://HOOKS.slack-gov.com/services/T0FAKE1/B0FAKE1/fakefakefakewxyz",
                Ok("https://hooks.slack-gov.com/services/T0FAKE1/B0FAKE1/****wxyz"),
            ),
            (
                "http://hooks.slack.com/services/T0FAKE1/B0FAKE1/fake",
                Err("the URL uses `http:`; Slack webhooks are `https:`"),
            ),
            (
                "https://example.com/services/T0FAKE1/B0FAKE1/fake",
                Err("`example.com` is not a Slack webhook host"),
            ),
            (
                "https://hooks.slack.com.evil.test/services/T0FAKE1/B0FAKE1/fake",
                Err("`hooks.slack.com.evil.test` is not a Slack webhook host"),
            ),
            (
                "https://hooks.slack.com/services/T0FAKE1/B0FAKE1",
                Err("the URL's path is not of the form /services/T…/B…/…"),
            ),
            (
                "https://hooks.slack.com/workflows/T0FAKE1/B0FAKE1/fake",
                Err("the URL's path is not of the form /services/T…/B…/…"),
            ),
            (
                "https://hooks.slack.com/services/X0FAKE1/B0FAKE1/fake",
                Err("the URL's path is not of the form /services/T…/B…/…"),
            ),
            (
                "https://hooks.slack.com:8443/services/T0FAKE1/B0FAKE1/fake",
                Err("the URL has a port or user name, which Slack webhook URLs never have"),
            ),
            (
                "https://hooks.slack.com/services/T0FAKE1/B0FAKE1/fake?x=1",
                Err("the URL has a query or fragment, which Slack webhook URLs never have"),
            ),
            ("not a url", Err("the value is not a URL")),
            (
                "https://hooks.slack.com/services/T0FAKE1/B0FAKE1/ab12",
                Err(
                    "the URL's secret part is too short for a Slack webhook URL (at least 16 characters; Slack's are 24)",
                ),
            ),
        ];
        for (input, expected) in cases {
            let got = url(input).map(|u| u.redacted());
            assert_eq!(got.as_deref().map_err(String::as_str), *expected, "{input}");
        }
    }

    #[test]
    fn the_host_is_kept_in_one_spelling() {
        let upper = WebhookUrl::parse(&Secret::new(
            "https://HOOKS.Slack.com/services/T0FAKE1/B0FAKE1/fakefakefake1234",
        ))
        .expect("valid");
        let lower = WebhookUrl::parse(&Secret::new(
            "https://hooks.slack.com/services/T0FAKE1/B0FAKE1/fakefakefake1234",
        ))
        .expect("valid");
        assert_eq!(upper.secret(), lower.secret());
    }

    #[test]
    fn refusals_never_repeat_the_secret_segment() {
        let message =
            url("http://hooks.slack.com/services/T0FAKE1/B0FAKE1/sekritFAKEvalue").expect_err("http");
        assert!(!message.contains("sekrit"));
    }

    #[test]
    fn bot_tokens() {
        let cases: &[(&str, Option<&str>)] = &[
            ("xoxb-0000-fake-token", None),
            (
                "xoxp-0000-fake-token",
                Some("the token is a user token (`xoxp-`), not a bot token (`xoxb-`)"),
            ),
            (
                "xoxe-0000-fake",
                Some("the token is a `xoxe-` token, not a bot token (`xoxb-`)"),
            ),
            (
                "xoxb-",
                Some("the bot token is empty after `xoxb-` or contains whitespace"),
            ),
            (
                "hunter2",
                Some("the value is not a Slack bot token (it should start with `xoxb-`)"),
            ),
        ];
        for (input, expected) in cases {
            let got = BotToken::parse(Secret::new(*input)).err().map(|r| r.message);
            assert_eq!(got.as_deref(), *expected, "{input}");
        }
    }
}
