//! Raw types to the valid model: every semantic rule, every problem collected.

use std::collections::HashMap;
use std::time::Duration;

use super::parse::Parsed;
use super::positions::{Positions, child, item};
use super::problem::{Position, Problem};
use super::raw::{RawSecret, RawSlack, RawWebhook};
use super::shape::truncated;
use super::{Config, DEFAULT_API_URL, DEFAULT_SYNC_INTERVAL, Mention, Sealed, Slack, Webhook};
use crate::secrets::{Recipients, check_armor, shown_recipient};

pub const MAX_ID_LEN: usize = 64;

/// Every rule but the armor of the ciphertexts, which [`armors`] checks: the config
/// when `problems` stays empty, and the ciphertexts it does not hold (all of them when
/// there is no config). The webhooks' ids are checked among `ids`, those of webhooks
/// checked before (see `memo`).
pub fn validate(
    file: &str,
    text: &str,
    parsed: Parsed,
    positions: &Positions,
    ids: &[(String, Position)],
    problems: &mut Vec<Problem>,
) -> (Option<Config>, Vec<Sealed>) {
    let mut check = Check {
        text,
        positions,
        problems,
        ids: ids.to_vec(),
        unplaced: Vec::new(),
    };
    let mut top = parsed.top;
    if let Some(top) = &top {
        // A missing or wrongly typed version was reported by the structural pass.
        check.version(top.version.unwrap_or(1));
        check.recipients(&top.recipients);
    }
    let slack = check.slack(top.as_mut().and_then(|t| t.slack.as_mut()));
    let webhooks: Vec<Webhook> = parsed
        .webhooks
        .into_iter()
        .filter_map(|(i, raw)| check.webhook(i, raw))
        .collect();
    check.unique_ids();
    let webhook_ids: Vec<String> = check.ids.iter().map(|(id, _)| id.clone()).collect();
    let (routing, route_mentions) = check.routing(parsed.routes, parsed.templates, &webhook_ids);
    let mut unplaced = std::mem::take(&mut check.unplaced);
    match (top, slack) {
        (Some(top), Some(slack)) if problems.is_empty() => {
            let config = Config {
                file: file.to_owned(),
                text: String::new(),
                recipients: top.recipients,
                slack,
                webhooks,
                routing,
                route_mentions,
                remembered: 0,
            };
            (Some(config), unplaced)
        }
        (_, slack) => {
            unplaced.extend(slack.and_then(|s| s.bot_token));
            unplaced.extend(webhooks.into_iter().map(|w| w.url));
            (None, unplaced)
        }
    }
}

/// Checks that each ciphertext is one armored age file with a readable header, on every
/// core, but for those `checked` accepts: applied before byte for byte, which passed
/// every check then, or already decrypted.
pub fn armors(sealed: &[&Sealed], checked: &(dyn Fn(&Sealed) -> bool + Sync), problems: &mut Vec<Problem>) {
    let results = super::parallel_map(sealed, |sealed| {
        if checked(sealed) {
            return Ok(());
        }
        check_armor(&sealed.armored)
    });
    for (sealed, checked) in sealed.iter().zip(results) {
        if let Err(reason) = checked {
            let age_path = format!("{}.age", sealed.field);
            problems.push(
                Problem::new("malformed-ciphertext", sealed.at, format!("`{age_path}` is not a valid armored age ciphertext: {reason}"))
                    .help("paste the whole block printed by `hookwarden encrypt` (or `age -a`), from BEGIN to END, indented under `age: |`"),
            );
        }
    }
}

pub(super) struct Check<'a> {
    /// The file's text, to place problems inside multi-line strings (templates).
    pub(super) text: &'a str,
    pub(super) positions: &'a Positions,
    pub(super) problems: &'a mut Vec<Problem>,
    /// Every valid id seen, with where it is written (or derived from), including those
    /// of entries with other problems: a duplicate is worth knowing about either way.
    ids: Vec<(String, Position)>,
    /// The ciphertexts of entries refused for other problems: their armor is checked
    /// with the others'.
    unplaced: Vec<Sealed>,
}

impl Check<'_> {
    pub(super) fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn version(&mut self, version: u32) {
        if version != 1 {
            self.report(
                Problem::new(
                    "unsupported-version",
                    self.positions.value("version"),
                    format!("version {version} is not supported; this hookwarden reads version 1"),
                )
                .help("set `version: 1`, or upgrade hookwarden if the file was written for a newer one"),
            );
        }
    }

    fn recipients(&mut self, recipients: &[String]) {
        for (i, recipient) in recipients.iter().enumerate() {
            if Recipients::parse(&[recipient]).is_err() {
                self.report(
                    Problem::new("invalid-recipient", self.positions.value(&format!("recipients[{i}]")), format!("{} is not an age recipient", shown_recipient(recipient)))
                        .help("use a public key as `age-keygen -y` prints it (`age1…`), or an `ssh-ed25519`/`ssh-rsa` public key line"),
                );
            }
        }
    }

    fn slack(&mut self, raw: Option<&mut RawSlack>) -> Option<Slack> {
        let mut default = RawSlack::default();
        let raw = raw.unwrap_or(&mut default);
        let api_url = match &raw.api_url {
            None => Some(DEFAULT_API_URL.to_owned()),
            Some(text) => match url::Url::parse(text) {
                Ok(url) if url.scheme() == "https" => Some(text.trim_end_matches('/').to_owned()),
                _ => {
                    self.report(
                        Problem::new(
                            "invalid-api-url",
                            self.positions.value("slack.api_url"),
                            "`slack.api_url` must be an https URL",
                        )
                        .help("use https://slack.com/api, or https://slack-gov.com/api for GovSlack"),
                    );
                    None
                }
            },
        };
        let interval = match &raw.directory_sync_interval {
            None => Some(DEFAULT_SYNC_INTERVAL),
            Some(text) => match humantime::parse_duration(text) {
                Ok(d) if d >= Duration::from_secs(60) => Some(d),
                _ => {
                    self.report(
                        Problem::new(
                            "invalid-interval",
                            self.positions.value("slack.directory_sync_interval"),
                            format!("`{text}` is not a sync interval of at least one minute"),
                        )
                        .help("write a duration such as `30m`, `6h` or `1d`"),
                    );
                    None
                }
            },
        };
        let bot_token = match raw.bot_token.take() {
            None => None,
            Some(secret) => Some(self.sealed(secret, "slack.bot_token", "bot token")?),
        };
        let (Some(api_url), Some(directory_sync_interval)) = (api_url, interval) else {
            self.unplaced.extend(bot_token);
            return None;
        };
        Some(Slack {
            api_url,
            bot_token,
            directory_sync_interval,
        })
    }

    fn webhook(&mut self, index: usize, raw: RawWebhook) -> Option<Webhook> {
        let path = item("webhooks", index);
        let before = self.problems.len();
        let name = raw.name.as_deref().unwrap_or_default().trim().to_owned();
        self.printable(|| child(&path, "name"), &name);
        if let Some(channel) = &raw.channel {
            self.printable(|| child(&path, "channel"), channel);
        }
        if raw.name.is_some() && name.is_empty() {
            self.report(
                Problem::new(
                    "empty-name",
                    self.positions.value(&child(&path, "name")),
                    format!("`{path}.name` is empty"),
                )
                .help("give the webhook a display name, such as `name: General Alerts`"),
            );
        }
        let id = self.id(&path, raw.id.as_deref(), &name);
        if let Some(id) = &id {
            let field = if raw.id.is_some() { "id" } else { "name" };
            self.ids
                .push((id.clone(), self.positions.value(&child(&path, field))));
        }
        if raw.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            self.report(
                Problem::new("empty-channel", self.positions.value(&child(&path, "channel")), format!("`{path}.channel` is empty"))
                    .help("write the channel the webhook posts to, such as `channel: \"#alerts\"`, or remove the key"),
            );
        }
        let mentions = raw
            .mentions
            .iter()
            .enumerate()
            .filter_map(|(i, text)| self.mention(&format!("{path}.mentions[{i}]"), text))
            .collect();
        let url = raw
            .url
            .and_then(|url| self.sealed(url, &child(&path, "url"), "webhook URL"));
        // A missing name or url was reported by the structural pass.
        if self.problems.len() > before || raw.name.is_none() {
            self.unplaced.extend(url);
            return None;
        }
        Some(Webhook {
            id: id?,
            name,
            channel: raw.channel.map(|c| c.trim().to_owned()),
            url: url?,
            mentions,
            at: self.positions.value(&path),
        })
    }

    fn id(&mut self, path: &str, id: Option<&str>, name: &str) -> Option<String> {
        let Some(id) = id else {
            let slug = slug(name);
            if slug.is_empty() && !name.is_empty() {
                self.report(
                    Problem::new(
                        "invalid-id",
                        self.positions.value(&child(path, "name")),
                        format!("no id can be derived from the name `{}`", truncated(name, 40)),
                    )
                    .help("add an `id:` of a-z, 0-9 and '-'"),
                );
                return None;
            }
            return Some(slug);
        };
        let valid_chars = id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if id.is_empty() || id.len() > MAX_ID_LEN || !valid_chars {
            self.report(
                Problem::new(
                    "invalid-id",
                    self.positions.value(&child(path, "id")),
                    format!("`{}` is not a valid webhook id", truncated(id, 70)),
                )
                .help(format!(
                    "use 1 to {MAX_ID_LEN} characters of a-z, 0-9 and '-', such as `{}`",
                    suggest_id(id)
                )),
            );
            return None;
        }
        Some(id.to_owned())
    }

    /// Names, channels and mentions end up on terminals and in Slack: no control
    /// characters, which could rewrite what a reviewer sees. `path` is spelled out only
    /// for a problem.
    pub(super) fn printable(&mut self, path: impl FnOnce() -> String, text: &str) -> bool {
        if !text.chars().any(char::is_control) {
            return true;
        }
        let path = path();
        self.report(
            Problem::new(
                "control-character",
                self.positions.value(&path),
                format!("`{path}` contains a control character"),
            )
            .help("remove it: escapes, tabs and line breaks have no place in a name, channel or mention"),
        );
        false
    }

    pub(super) fn mention(&mut self, path: &str, text: &str) -> Option<Mention> {
        let at = self.positions.value(path);
        if !self.printable(|| path.to_owned(), text) {
            return None;
        }
        if text.trim().trim_start_matches('@').is_empty() {
            self.report(
                Problem::new("empty-mention", at, format!("`{path}` is empty"))
                    .help("write a user, email or group handle, such as `@finops-team`"),
            );
            return None;
        }
        Some(Mention {
            text: text.trim().to_owned(),
            at,
        })
    }

    fn sealed(&mut self, secret: RawSecret, path: &str, what: &str) -> Option<Sealed> {
        match secret {
            RawSecret::Plaintext(_) => {
                self.report(
                    Problem::new("plaintext-secret", self.positions.key(path), format!("`{path}` is not encrypted: the {what} must be an age-encrypted secret"))
                        .help(format!("run `hookwarden encrypt --yaml`, paste the {what} and press Enter, then replace the value of `{}` with the printed `age: |` block", path.rsplit('.').next().unwrap_or(path))),
                );
                None
            }
            RawSecret::Sealed(sealed) => Some(Sealed {
                digest: super::digest(&sealed.age),
                armored: sealed.age,
                field: path.to_owned(),
                at: self.positions.key(&child(path, "age")),
            }),
        }
    }

    fn unique_ids(&mut self) {
        let mut first: HashMap<&str, Position> = HashMap::new();
        let mut duplicates = Vec::new();
        for (id, at) in &self.ids {
            match first.get(id.as_str()) {
                Some(earlier) => duplicates.push(
                    Problem::new("duplicate-id", *at, format!("webhook id `{id}` is used twice"))
                        .related(*earlier, "first used here")
                        .help("give each webhook a unique `id:` (an id defaults to a slug of the name)"),
                ),
                None => {
                    first.insert(id, *at);
                }
            }
        }
        self.problems.extend(duplicates);
    }
}

/// `General Alerts!` -> `general-alerts`, at most 64 characters.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_ID_LEN);
    slug.trim_end_matches('-').to_owned()
}

fn suggest_id(id: &str) -> String {
    let slug = slug(id);
    if slug.is_empty() {
        "ops-alerts".to_owned()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs() {
        for (name, expected) in [
            ("General Alerts", "general-alerts"),
            ("  FinOps / Budgets!! ", "finops-budgets"),
            ("ops", "ops"),
            ("!!!", ""),
            ("Ünïcode team", "n-code-team"),
        ] {
            assert_eq!(slug(name), expected, "{name}");
        }
        assert_eq!(slug(&"a".repeat(100)).len(), 64);
    }
}
