//! A message's mentions: the route's, the webhook's and each alert's `mention` label or
//! annotation, resolved against the directory. One that resolves to no one is sent as
//! plain text and reported: the sender of a notification cannot fix it, so it is never
//! a refusal.

use crate::alert::escape;
use crate::directory::Index;

/// The most mentions one message carries; the rest are reported as unresolved.
pub const MAX_MENTIONS: usize = 50;

/// What a message says to ping people with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// In order, each once: Slack's form (`<@U…>`), or the plain text of one that did
    /// not resolve.
    pub shown: Vec<String>,
    /// The mentions that resolved to no one, as written.
    pub unresolved: Vec<String>,
}

impl Mentions {
    pub fn line(&self) -> Option<String> {
        (!self.shown.is_empty()).then(|| self.shown.join(" "))
    }
}

/// Resolves `mentions` in order, without repeats; `directory` is `None` until one was
/// synced, and then only `here`, `channel` and `everyone` resolve.
pub fn resolve<'a>(mentions: impl Iterator<Item = &'a str>, directory: Option<&Index>) -> Mentions {
    let fallback = Index::default();
    let index = directory.unwrap_or(&fallback);
    let mut result = Mentions::default();
    let mut seen = std::collections::HashSet::new();
    for mention in mentions {
        let key = mention.trim().trim_start_matches('@').to_lowercase();
        if key.is_empty() || !seen.insert(key) {
            continue;
        }
        if result.shown.len() >= MAX_MENTIONS {
            result.unresolved.push(mention.to_owned());
            continue;
        }
        let shown = match index.resolve(mention) {
            Ok(target) => target.slack(),
            Err(_) => {
                result.unresolved.push(mention.to_owned());
                escape(&format!("@{}", mention.trim().trim_start_matches('@')))
            }
        };
        if !result.shown.contains(&shown) {
            result.shown.push(shown);
        }
    }
    result
}
