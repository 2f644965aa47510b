//! Digests: consecutive queued alerts of one webhook packed into one Slack message, in
//! queue order, within Slack's limits, each alert whole; the mentions they carry
//! gathered, each once, at the top.
//!
//! Pure: the alerts' payloads (as Slack would receive each alone) in, how many share a
//! message and that message out.
//!
//! A digest is Block Kit: the mentions in one section at the top, then each alert in
//! turn, as its own blocks, or as sections of its text (split at line ends within
//! Slack's 3,000 characters a section) when it has none.

use serde_json::{Value, json};

/// Slack refuses more blocks than this with `invalid_blocks`.
pub const MAX_BLOCKS: usize = 50;
/// Slack refuses a section's text longer than this.
pub const MAX_SECTION: usize = 3000;
/// The characters of text a message may carry in all: Slack truncates `text` beyond
/// it, and a digest keeps its blocks within it too.
pub const MAX_TEXT: usize = 40_000;

/// One alert as a digest carries it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    mentions: Vec<String>,
    blocks: Vec<Value>,
    /// Characters of text in `blocks`.
    chars: usize,
}

/// How many of the leading `payloads`, at most `max`, share one message: at least 1,
/// since an alert too large to share one goes alone, as it is.
pub fn fits(payloads: &[&Value], max: usize) -> usize {
    let mut mentions: Vec<String> = Vec::new();
    let (mut blocks, mut chars) = (0, 0);
    let mut count = 0;
    for payload in payloads.iter().take(max) {
        let entry = entry(payload);
        if !shareable(&entry) {
            break;
        }
        let mut with = mentions.clone();
        merge(&mut with, &entry.mentions);
        let line = mention_sections(&with);
        let header_chars = with.iter().map(|m| m.chars().count() + 1).sum::<usize>();
        let total_blocks = blocks + entry.blocks.len() + line.len();
        // The mentions show twice: in their section and in the fallback text.
        let total_chars = chars + entry.chars + 2 * header_chars + summary(count + 1).len();
        if total_blocks > MAX_BLOCKS || total_chars > MAX_TEXT {
            break;
        }
        mentions = with;
        blocks += entry.blocks.len();
        chars += entry.chars;
        count += 1;
    }
    count.max(1)
}

/// The message that carries `payloads`, in order. One payload is sent as it is.
pub fn message(payloads: &[&Value]) -> Value {
    if let [only] = payloads {
        return (*only).clone();
    }
    let entries: Vec<Entry> = payloads.iter().map(|p| entry(p)).collect();
    let mut mentions = Vec::new();
    for entry in &entries {
        merge(&mut mentions, &entry.mentions);
    }
    let mut blocks = mention_sections(&mentions);
    blocks.extend(entries.into_iter().flat_map(|e| e.blocks));
    let text = if mentions.is_empty() {
        summary(payloads.len())
    } else {
        format!("{} {}", mentions.join(" "), summary(payloads.len()))
    };
    json!({"text": text, "blocks": blocks})
}

/// The digest's fallback text, which notifications show.
fn summary(alerts: usize) -> String {
    format!("{alerts} alerts")
}

/// `payload` as a digest carries it: its mentions apart, its blocks, or its text as
/// sections.
fn entry(payload: &Value) -> Entry {
    let text = payload["text"].as_str().unwrap_or_default();
    let mut mentions = Vec::new();
    // The mentions a request asked for lead its text, with blocks or without.
    let (found, rest) = leading_mentions(text);
    merge(&mut mentions, &found);
    let mut blocks: Vec<Value> = payload["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| match mention_line(block) {
            Some(found) => {
                merge(&mut mentions, &found);
                false
            }
            None => true,
        })
        .cloned()
        .collect();
    if blocks.is_empty() {
        blocks = split(rest).into_iter().map(|part| section(&part)).collect();
    }
    let chars = blocks.iter().map(block_chars).sum();
    Entry {
        mentions,
        blocks,
        chars,
    }
}

/// Whether an entry's blocks are within Slack's limits, so that it cannot get a digest
/// refused for its neighbours.
fn shareable(entry: &Entry) -> bool {
    entry.blocks.len() <= MAX_BLOCKS
        && entry.blocks.iter().all(|block| {
            block["text"]["text"]
                .as_str()
                .is_none_or(|text| text.chars().count() <= MAX_SECTION)
        })
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The mentions in sections at the top, as few as Slack's section limit allows.
fn mention_sections(mentions: &[String]) -> Vec<Value> {
    if mentions.is_empty() {
        return Vec::new();
    }
    split(&mentions.join(" ")).iter().map(|s| section(s)).collect()
}

/// Adds each of `found` to `into` that is not there yet, in order.
fn merge(into: &mut Vec<String>, found: &[String]) {
    for mention in found {
        if !into.contains(mention) {
            into.push(mention.clone());
        }
    }
}

/// A section that holds only mentions (the built-in layout's mention line): them.
fn mention_line(block: &Value) -> Option<Vec<String>> {
    if block["type"] != "section" {
        return None;
    }
    let text = block["text"]["text"].as_str()?;
    let (found, rest) = leading_mentions(text);
    (!found.is_empty() && rest.trim().is_empty()).then_some(found)
}

/// The mentions a text starts with (`<@U…> <!subteam^S…> body`), and the rest.
fn leading_mentions(text: &str) -> (Vec<String>, &str) {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        match mention_at(trimmed) {
            Some(len) => {
                found.push(trimmed[..len].to_owned());
                rest = &trimmed[len..];
            }
            None => {
                let rest = if found.is_empty() { text } else { trimmed };
                return (found, rest);
            }
        }
    }
}

/// The length of the Slack mention `text` starts with, if it starts with one.
fn mention_at(text: &str) -> Option<usize> {
    for fixed in ["<!here>", "<!channel>", "<!everyone>"] {
        if text.starts_with(fixed) {
            return Some(fixed.len());
        }
    }
    let id_start = if text.starts_with("<@") {
        2
    } else if text.starts_with("<!subteam^") {
        "<!subteam^".len()
    } else {
        return None;
    };
    let end = text.find('>')?;
    let id = &text[id_start..end];
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(end + 1)
}

/// `text` in parts of at most [`MAX_SECTION`] characters, cut after a line end where
/// there is one, else after a space, else anywhere; none empty.
fn split(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let Some((limit, _)) = rest.char_indices().nth(MAX_SECTION) else {
            parts.push(rest.to_owned());
            break;
        };
        let head = &rest[..limit];
        let cut = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .map_or(limit, |at| at + 1);
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts
}

/// The characters of text a block carries, wherever Block Kit puts text.
fn block_chars(block: &Value) -> usize {
    match block {
        Value::String(text) => text.chars().count(),
        Value::Array(items) => items.iter().map(block_chars).sum(),
        Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| *key != "type")
            .map(|(_, value)| block_chars(value))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
