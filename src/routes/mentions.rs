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
                let name = mention.trim().trim_start_matches('@');
                // An email stays as written; a handle or a name gets its `@`.
                if name.contains('@') {
                    escape(name)
                } else {
                    escape(&format!("@{name}"))
                }
            }
        };
        if !result.shown.contains(&shown) {
            result.shown.push(shown);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn an_unresolved_mention_is_shown_as_written_with_one_at() {
        let mentions = resolve(["jane.doe@example.com", "@nobody", "someone"].into_iter(), None);
        assert_eq!(mentions.shown, ["jane.doe@example.com", "@nobody", "@someone"]);
        assert_eq!(mentions.unresolved.len(), 3);
    }
}
