//! The built-in layout: a group as Block Kit, a header with `[FIRING:N]`/`[RESOLVED]`
//! and the group's name, the mentions, then each alert's summary, description, labels
//! and links. Slack's limits are kept by splitting into several messages in order
//! (`(2/3)`), never by dropping an alert.

use serde_json::{Value, json};

use super::mentions::Mentions;
use super::notification::{Alert, Notification};
use crate::alert::escape;

/// Slack refuses more blocks than this.
pub const MAX_BLOCKS: usize = 50;
/// A section's text, at most.
pub const MAX_SECTION: usize = 3000;
/// A header's text, at most.
pub const MAX_HEADER: usize = 150;
/// A message's text, at most; the blocks' text is kept under it too.
pub const MAX_TEXT: usize = 40_000;
/// One alert's text at most, so that it fits a message of its own beside the header.
const MAX_ALERT_TEXT: usize = 36_000;

/// `[FIRING:2] DiskFull` or `[RESOLVED] DiskFull`.
pub fn title(group: &Notification) -> String {
    let firing = group.alerts.iter().filter(|a| a.is_firing()).count();
    let name = group
        .common_labels
        .get("alertname")
        .or_else(|| group.group_labels.get("alertname"))
        .map(String::as_str)
        .or_else(|| group.alerts.first().map(Alert::name))
        .unwrap_or("alerts");
    if firing > 0 {
        format!("[FIRING:{firing}] {name}")
    } else {
        format!("[RESOLVED] {name}")
    }
}

/// The group's messages, in order.
pub fn messages(group: &Notification, mentions: &Mentions) -> Vec<Value> {
    let title = title(group);
    let mention_line = mentions.line();
    let mut units: Vec<Vec<String>> = group
        .alerts
        .iter()
        .map(|alert| sections(&alert_text(alert, &group.external_url)))
        .collect();
    if group.truncated_alerts > 0 {
        units.push(vec![format!(
            "_{} more alerts were left out by the sender (`max_alerts`)._",
            group.truncated_alerts
        )]);
    }
    let fixed_blocks = 1 + usize::from(mention_line.is_some());
    let fixed_chars = title.chars().count() + mention_line.as_deref().map_or(0, |m| m.chars().count()) + 16;
    let parts = pack(&units, MAX_BLOCKS - fixed_blocks, MAX_TEXT - fixed_chars);
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, sections)| {
            let heading = if count > 1 {
                format!("{title} ({}/{count})", i + 1)
            } else {
                title.clone()
            };
            let mut blocks = vec![json!({
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(&heading, MAX_HEADER), "emoji": true},
            })];
            if let Some(line) = &mention_line {
                blocks.push(section(line));
            }
            blocks.extend(sections.iter().map(|text| section(text)));
            let fallback = match &mention_line {
                Some(line) => format!("{} {line}", escape(&heading)),
                None => escape(&heading),
            };
            json!({"text": fallback, "blocks": blocks})
        })
        .collect()
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Units (each an alert's sections) packed in order into parts that keep both budgets;
/// a unit never straddles two parts, and every part holds at least one unit.
fn pack(units: &[Vec<String>], blocks: usize, chars: usize) -> Vec<Vec<String>> {
    let mut parts: Vec<Vec<String>> = Vec::new();
    let (mut used_blocks, mut used_chars) = (0, 0);
    for unit in units {
        let size: usize = unit.iter().map(|s| s.chars().count()).sum();
        let fits = used_blocks + unit.len() <= blocks && used_chars + size <= chars;
        if parts.is_empty() || !fits {
            parts.push(Vec::new());
            (used_blocks, used_chars) = (0, 0);
        }
        parts
            .last_mut()
            .expect("a part was pushed")
            .extend(unit.iter().cloned());
        used_blocks += unit.len();
        used_chars += size;
    }
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    parts
}

/// One alert as mrkdwn, every value escaped.
fn alert_text(alert: &Alert, external_url: &str) -> String {
    let summary = alert.annotations.get("summary");
    let state = if alert.is_firing() { "Firing" } else { "Resolved" };
    let mut text = format!("*{state}: {}*", escape(alert.name()));
    if let Some(summary) = summary {
        text.push_str(&format!(" {}", escape(summary)));
    }
    if let Some(description) = alert.annotations.get("description") {
        text.push_str(&format!("\n{}", escape(description)));
    }
    let labels: Vec<String> = alert
        .labels
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "alertname" | "mention"))
        .map(|(name, value)| format!("`{}={}`", escape(name), escape(value)))
        .collect();
    if !labels.is_empty() {
        text.push_str(&format!("\n{}", labels.join(" ")));
    }
    if let Some(values) = &alert.values {
        let shown: Vec<String> = values.iter().map(|(k, v)| format!("{}={v}", escape(k))).collect();
        text.push_str(&format!("\nValues: {}", escape(&shown.join(", "))));
    }
    let links = links(alert, external_url);
    if !links.is_empty() {
        text.push_str(&format!("\n{}", links.join(" | ")));
    }
    truncate(&text, MAX_ALERT_TEXT)
}

fn links(alert: &Alert, external_url: &str) -> Vec<String> {
    let link = |url: &str, label: &str| format!("<{}|{label}>", escape(url).replace('|', "%7C"));
    let mut links = Vec::new();
    if !alert.generator_url.is_empty() {
        links.push(link(&alert.generator_url, "Source"));
    }
    for (url, label) in [(&alert.dashboard_url, "Dashboard"), (&alert.panel_url, "Panel")] {
        if let Some(url) = url.as_deref().filter(|u| !u.is_empty()) {
            links.push(link(url, label));
        }
    }
    let silence = alert
        .silence_url
        .clone()
        .or_else(|| silence_url(alert, external_url));
    if let Some(url) = silence.filter(|_| alert.is_firing()) {
        links.push(link(&url, "Silence"));
    }
    links
}

/// Alertmanager's new-silence page, filled in with the alert's labels.
fn silence_url(alert: &Alert, external_url: &str) -> Option<String> {
    if external_url.is_empty() || alert.labels.is_empty() {
        return None;
    }
    let matchers: Vec<String> = alert
        .labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let filter: String =
        url::form_urlencoded::byte_serialize(format!("{{{}}}", matchers.join(",")).as_bytes()).collect();
    Some(format!(
        "{}/#/silences/new?filter={filter}",
        external_url.trim_end_matches('/')
    ))
}

/// `text` in sections of at most [`MAX_SECTION`] characters, split at a line break
/// where one is near.
fn sections(text: &str) -> Vec<String> {
    let mut sections = Vec::new();
    let mut rest = text;
    while rest.chars().count() > MAX_SECTION {
        let cut = rest
            .char_indices()
            .nth(MAX_SECTION)
            .map_or(rest.len(), |(i, _)| i);
        let cut = match rest[..cut].rfind('\n') {
            Some(newline) if newline > cut / 2 => newline + 1,
            _ => unbroken(&rest[..cut]),
        };
        let (head, tail) = rest.split_at(cut);
        sections.push(head.to_owned());
        rest = tail;
    }
    if !rest.is_empty() || sections.is_empty() {
        sections.push(rest.to_owned());
    }
    sections
}

/// Where to cut `head` so that no escaped entity (`&amp;`) or link (`<url|text>`) is cut
/// in two: before one that is open at its end, if that leaves something.
fn unbroken(head: &str) -> usize {
    let open = |start: char, end: char| {
        head.rfind(start)
            .filter(|&at| at > 0 && !head[at..].contains(end))
    };
    match open('<', '>').or_else(|| open('&', ';').filter(|&at| head.len() - at < 8)) {
        Some(at) => at,
        None => head.len(),
    }
}

/// At most `max` characters, with `…` where it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
