//! An alert request, checked and turned into the message Slack receives.
//!
//! Pure: the request, the webhook's default mentions and the directory in, a Slack
//! payload or a refusal out. Mentions are resolved by the rules of [`crate::directory`];
//! text is escaped (`&`, `<`, `>`) unless the caller asks for mrkdwn, so that alert
//! content cannot ping `@channel` or forge a mention.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::directory::{Index, Unresolved};

/// Slack truncates text beyond this.
pub const MAX_TEXT: usize = 40_000;
/// Slack refuses more blocks than this with `invalid_blocks`.
pub const MAX_BLOCKS: usize = 50;

/// `POST /v1/alerts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRequest {
    pub webhook: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub blocks: Option<Vec<Value>>,
    /// De-duplicates alerts with the same key within 24 hours.
    #[serde(default)]
    pub key: Option<String>,
    /// Send `text` as Slack mrkdwn, unescaped.
    #[serde(default)]
    pub mrkdwn: bool,
}

/// The most mentions one alert may ask for: each costs a directory lookup, and a
/// message that pings more people than this is a mistake.
pub const MAX_MENTIONS: usize = 50;

/// The most alerts one `POST /v1/alerts/batch` takes.
pub const MAX_BATCH: usize = 1000;

/// `POST /v1/alerts/batch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertBatch {
    pub alerts: Vec<AlertRequest>,
}

/// Why an alert was refused; `code` is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    TextTooLong(usize),
    TooManyBlocks(usize),
    TooManyMentions(usize),
    /// The block at this index is not an object with a `type`.
    InvalidBlock(usize),
    BadKey,
    UnknownMentions(Vec<MentionProblem>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MentionProblem {
    pub mention: String,
    pub message: String,
    /// For an ambiguous mention, what it could mean; for an unknown one, close matches.
    pub candidates: Vec<String>,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Empty => "empty_alert",
            Refusal::TextTooLong(_) => "text_too_long",
            Refusal::TooManyBlocks(_) => "too_many_blocks",
            Refusal::TooManyMentions(_) => "too_many_mentions",
            Refusal::InvalidBlock(_) => "invalid_block",
            Refusal::BadKey => "invalid_key",
            Refusal::UnknownMentions(_) => "unknown_mention",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Empty => "an alert needs `text` or `blocks`".to_owned(),
            Refusal::TextTooLong(n) => {
                format!("`text` has {n} characters; Slack truncates beyond {MAX_TEXT}")
            }
            Refusal::InvalidBlock(i) => {
                format!("`blocks[{i}]` is not a Block Kit block: an object with a `type`")
            }
            Refusal::TooManyMentions(n) => {
                format!("`mentions` has {n} entries; at most {MAX_MENTIONS} are taken")
            }
            Refusal::TooManyBlocks(n) => {
                format!("`blocks` has {n} blocks; Slack refuses more than {MAX_BLOCKS}")
            }
            Refusal::BadKey => "`key` must be 1 to 256 bytes, without control characters".to_owned(),
            Refusal::UnknownMentions(problems) => {
                let list: Vec<&str> = problems.iter().map(|p| p.mention.as_str()).collect();
                format!(
                    "mentions that resolve to no one, or to more than one: {}",
                    list.join(", ")
                )
            }
        }
    }
}

/// Checks `request` for a webhook whose default mentions are `defaults` and turns it
/// into Slack's JSON payload. `directory` is `None` until one was synced; then only
/// `here`, `channel` and `everyone` resolve.
pub fn build(
    request: &AlertRequest,
    defaults: &[String],
    directory: Option<&Index>,
) -> Result<Value, Refusal> {
    let text = request.text.as_deref().unwrap_or_default();
    let blocks = request.blocks.as_deref().unwrap_or_default();
    if text.trim().is_empty() && blocks.is_empty() {
        return Err(Refusal::Empty);
    }
    let length = text.chars().count();
    if length > MAX_TEXT {
        return Err(Refusal::TextTooLong(length));
    }
    if blocks.len() > MAX_BLOCKS {
        return Err(Refusal::TooManyBlocks(blocks.len()));
    }
    if let Some(i) = blocks
        .iter()
        .position(|b| !b.get("type").is_some_and(Value::is_string))
    {
        return Err(Refusal::InvalidBlock(i));
    }
    if request.mentions.len() > MAX_MENTIONS {
        return Err(Refusal::TooManyMentions(request.mentions.len()));
    }
    if request
        .key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 256 || k.chars().any(char::is_control))
    {
        return Err(Refusal::BadKey);
    }
    let mentions = resolve(defaults.iter().chain(&request.mentions), directory)?;
    let body = if request.mrkdwn {
        text.to_owned()
    } else {
        escape(text)
    };
    let text = match (mentions.is_empty(), body.is_empty()) {
        (true, _) => body,
        (false, true) => mentions.join(" "),
        (false, false) => format!("{} {body}", mentions.join(" ")),
    };
    // What Slack receives counts, after escaping and mentions.
    let length = text.chars().count();
    if length > MAX_TEXT {
        return Err(Refusal::TextTooLong(length));
    }
    let mut payload = json!({ "text": text });
    if !blocks.is_empty() {
        payload["blocks"] = Value::Array(blocks.to_vec());
    }
    Ok(payload)
}

/// Each mention in its Slack form, in order, without repeats.
fn resolve<'a>(
    mentions: impl Iterator<Item = &'a String>,
    directory: Option<&Index>,
) -> Result<Vec<String>, Refusal> {
    let fallback = Index::default();
    let index = directory.unwrap_or(&fallback);
    let mut resolved: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for mention in mentions {
        match index.resolve(mention) {
            Ok(target) => {
                let slack = target.slack();
                if !resolved.contains(&slack) {
                    resolved.push(slack);
                }
            }
            Err(unresolved) => {
                let candidates = match &unresolved {
                    Unresolved::Unknown { suggestions } => suggestions.clone(),
                    Unresolved::Ambiguous { candidates } => candidates.clone(),
                };
                let message = if directory.is_none() {
                    format!("`{mention}` cannot be resolved: the Slack directory was never synced")
                } else {
                    unresolved.describe(mention)
                };
                problems.push(MentionProblem {
                    mention: mention.clone(),
                    message,
                    candidates,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(Refusal::UnknownMentions(problems))
    }
}

/// Slack's escaping for message text: only these three are special.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Directory, Group, User};

    fn directory() -> Directory {
        Directory {
            users: vec![User {
                id: "U001".into(),
                name: "jane".into(),
                display_name: "Jane".into(),
                real_name: "Jane Doe".into(),
                email: None,
            }],
            groups: vec![Group {
                id: "S001".into(),
                handle: "finops".into(),
                name: "FinOps".into(),
                users: vec![],
            }],
        }
    }

    fn request(text: &str, mentions: &[&str]) -> AlertRequest {
        AlertRequest {
            webhook: "ops".into(),
            text: Some(text.into()),
            mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
            blocks: None,
            key: None,
            mrkdwn: false,
        }
    }

    #[test]
    fn messages() {
        let directory = directory();
        let index = Index::new(directory.clone());
        let cases: Vec<(&str, AlertRequest, &[&str], Result<Value, &str>)> = vec![
            (
                "plain",
                request("disk full", &[]),
                &[],
                Ok(json!({"text": "disk full"})),
            ),
            (
                "escaped",
                request("<!channel> & <@U001> > 1", &[]),
                &[],
                Ok(json!({"text": "&lt;!channel&gt; &amp; &lt;@U001&gt; &gt; 1"})),
            ),
            (
                "mrkdwn",
                AlertRequest {
                    mrkdwn: true,
                    ..request("*bold* <https://x|x>", &[])
                },
                &[],
                Ok(json!({"text": "*bold* <https://x|x>"})),
            ),
            (
                "mentions first",
                request("budget", &["@jane", "here"]),
                &["@finops"],
                Ok(json!({"text": "<!subteam^S001> <@U001> <!here> budget"})),
            ),
            (
                "repeats once",
                request("x", &["jane", "@Jane"]),
                &[],
                Ok(json!({"text": "<@U001> x"})),
            ),
            (
                "blocks",
                AlertRequest {
                    text: None,
                    blocks: Some(vec![json!({"type": "divider"})]),
                    ..request("", &[])
                },
                &[],
                Ok(json!({"text": "", "blocks": [{"type": "divider"}]})),
            ),
            ("empty", request("  ", &[]), &[], Err("empty_alert")),
            (
                "too long",
                request(&"x".repeat(MAX_TEXT + 1), &[]),
                &[],
                Err("text_too_long"),
            ),
            (
                "just long enough",
                request(&"é".repeat(MAX_TEXT), &[]),
                &[],
                Ok(json!({"text": "é".repeat(MAX_TEXT)})),
            ),
            (
                "too long once escaped",
                request(&"&".repeat(MAX_TEXT / 2), &[]),
                &[],
                Err("text_too_long"),
            ),
            (
                "too many blocks",
                AlertRequest {
                    blocks: Some(vec![json!({}); MAX_BLOCKS + 1]),
                    ..request("x", &[])
                },
                &[],
                Err("too_many_blocks"),
            ),
            (
                "unknown mention",
                request("x", &["@nobody"]),
                &[],
                Err("unknown_mention"),
            ),
            (
                "unknown default mention",
                request("x", &[]),
                &["@gone"],
                Err("unknown_mention"),
            ),
        ];
        for (case, request, defaults, expected) in cases {
            let defaults: Vec<String> = defaults.iter().map(|d| (*d).to_owned()).collect();
            let got = build(&request, &defaults, Some(&index)).map_err(|r| r.code());
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn text_cannot_forge_a_mention() {
        let directory = directory();
        let index = Index::new(directory.clone());
        let payload = build(
            &request("ping <!everyone> <!subteam^S001|@finops> <@U001>", &[]),
            &[],
            Some(&index),
        )
        .expect("valid");
        let text = payload["text"].as_str().expect("text");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
    }

    #[test]
    fn unsynced_directories_resolve_only_the_special_mentions() {
        assert_eq!(
            build(&request("x", &["here"]), &[], None),
            Ok(json!({"text": "<!here> x"}))
        );
        let Err(Refusal::UnknownMentions(problems)) = build(&request("x", &["@jane"]), &[], None) else {
            panic!("refused")
        };
        assert_eq!(
            problems[0].message,
            "`@jane` cannot be resolved: the Slack directory was never synced"
        );
    }
}
