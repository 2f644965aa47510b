//! The desired-state file as written: the serde and JSON Schema view of version 1.
//!
//! These types accept only known keys and check nothing else; `validate` turns them
//! into the valid model. `schema/hookwarden.schema.json` is generated from them, so
//! the field docs below are what editors show while the file is being written.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Desired state of Slack alert webhooks, managed by hookwarden.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hookwarden desired state")]
pub struct RawConfig {
    /// Format version of this file. Must be 1.
    // Optional here only so that a wrongly typed version, already reported by the
    // structural pass, does not hide the rest of the file's problems.
    #[schemars(required, range(min = 1, max = 1))]
    pub version: Option<u32>,
    /// age recipients (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`) that `hookwarden encrypt`
    /// encrypts to when no `-r`/`-R` is given.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Slack workspace settings.
    #[serde(default)]
    pub slack: Option<RawSlack>,
    /// Named incoming webhooks, each a destination for alerts.
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
    /// Label routes for notifications from Alertmanager and Grafana
    /// (`POST /v1/alertmanager`, `POST /v1/grafana`). The first route that matches an
    /// alert wins; `continue: true` goes on to the next.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// Message templates by id, for `routes[].template`.
    #[serde(default)]
    pub templates: BTreeMap<String, RawTemplate>,
}

/// A label route: which webhooks the alerts it matches go to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Route")]
pub struct RawRoute {
    /// Label equality, against each alert's labels (`{team: finops}`). A label an alert
    /// does not have matches only the empty string.
    #[serde(default, rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// Regular expressions, anchored at both ends, against each alert's labels
    /// (`{severity: "critical|page"}`).
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// The notification's `receiver` (the Alertmanager receiver's name) must equal it.
    #[serde(default)]
    pub receiver: Option<String>,
    /// The webhooks the matched alerts go to, by id. Required, at least one.
    // Optional here only so that a missing list, already reported by the structural
    // pass, does not hide the route's other problems.
    #[schemars(required, length(min = 1))]
    pub webhooks: Option<Vec<String>>,
    /// Users or groups @mentioned in the messages of this route (`@finops-team`).
    #[serde(default)]
    pub mentions: Vec<String>,
    /// A template id from `templates:`; the built-in layout otherwise.
    #[serde(default)]
    pub template: Option<String>,
    /// Go on to the next route after this one matched. Default false.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// A message template, in MiniJinja, rendered over the notification as it arrived.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Template")]
pub struct RawTemplate {
    /// The message's text (Slack mrkdwn), also the notification text of the message.
    /// Values are escaped for Slack unless the template says `| safe`. Required.
    // Optional here for the same reason as a route's `webhooks`.
    #[schemars(required)]
    pub text: Option<String>,
    /// Renders to a JSON array of Block Kit blocks; use `| tojson` for values.
    #[serde(default)]
    pub blocks: Option<String>,
}

/// Slack workspace settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Slack")]
pub struct RawSlack {
    /// Slack Web API base URL. Default `https://slack.com/api`; GovSlack uses
    /// `https://slack-gov.com/api`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Bot token (`xoxb-…`), age-encrypted. Enables directory sync and @mentions; needs
    /// the scopes `users:read`, `users:read.email` and `usergroups:read`.
    #[serde(default)]
    pub bot_token: Option<RawSecret>,
    /// How often the daemon re-syncs the Slack directory, as a duration (`30m`, `6h`).
    /// Default `6h`.
    #[serde(default)]
    pub directory_sync_interval: Option<String>,
}

/// A Slack incoming webhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Webhook")]
pub struct RawWebhook {
    /// Stable key: `a`-`z`, `0`-`9` and `-`, 1 to 64 characters. Defaults to a slug of
    /// `name`. Renaming a webhook keeps its history only while its id stays the same.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    pub id: Option<String>,
    /// Display name, shown in plans and status. Required.
    // Optional here only so that a missing name, already reported by the structural pass,
    // does not hide the entry's other problems.
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// The channel the webhook posts to, as a label (`#alerts`). Slack posts to the
    /// channel chosen when the webhook was created; this is never sent as an override.
    #[serde(default)]
    pub channel: Option<String>,
    /// The webhook URL (`https://hooks.slack.com/services/T…/B…/…`), age-encrypted.
    /// Required.
    // Optional here for the same reason as `name`.
    #[schemars(required)]
    pub url: Option<RawSecret>,
    /// Users or groups @mentioned in every alert sent to this webhook (`@finops-team`,
    /// `jane@example.com`, `here`).
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// A secret as written. A plaintext value is accepted here only so that validation can
/// report it with a way to fix it; its text is never kept.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    Sealed(RawSealed),
    Plaintext(IgnoredAny),
}

/// An age-encrypted secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Secret")]
pub struct RawSealed {
    /// ASCII-armored age ciphertext (`-----BEGIN AGE ENCRYPTED FILE-----` …), as printed
    /// by `hookwarden encrypt` or `age -a`.
    pub age: String,
}

/// Editors should only ever suggest the encrypted form.
impl JsonSchema for RawSecret {
    fn schema_name() -> Cow<'static, str> {
        RawSealed::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        RawSealed::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        RawSealed::json_schema(generator)
    }
}

/// The JSON Schema of the desired-state file, as `hookwarden schema` prints it.
pub fn schema() -> Schema {
    schemars::schema_for!(RawConfig)
}
