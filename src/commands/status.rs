//! `hookwarden status`: the applied webhooks and token, as the state holds them.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::cli::{Format, Global};
use crate::error::{Error, Exit};
use crate::state::Applied;

#[derive(Debug, Serialize)]
struct Status<'a> {
    state_serial: u64,
    webhooks: Vec<WebhookStatus<'a>>,
    bot_token: TokenStatus,
}

#[derive(Debug, Serialize)]
struct WebhookStatus<'a> {
    id: &'a str,
    name: &'a str,
    channel: Option<&'a str>,
    url: &'a str,
    mentions: &'a [String],
    created_at: String,
    updated_at: String,
    rotated_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenStatus {
    set: bool,
    set_at: Option<String>,
    rotated_at: Option<String>,
}

pub fn run(global: &Global, out: &mut dyn Write) -> Result<Exit, Error> {
    let applied = match super::open_existing_store(global, "status")? {
        Some(store) => store.applied()?,
        None => Applied::default(),
    };
    let status = status(&applied);
    let shown = match global.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&status).expect("serializes")),
        Format::Text => text(&status),
        Format::Markdown => {
            return Err(Error::FormatUnsupported {
                command: "status",
                format: "markdown",
            });
        }
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

fn status(applied: &Applied) -> Status<'_> {
    let webhooks = applied
        .webhooks
        .iter()
        .map(|w| WebhookStatus {
            id: &w.id,
            name: &w.name,
            channel: w.channel.as_deref(),
            url: &w.url.redacted,
            mentions: &w.mentions,
            created_at: super::timestamp(w.created_at),
            updated_at: super::timestamp(w.updated_at),
            rotated_at: w.rotated_at.map(super::timestamp),
        })
        .collect();
    let token = applied.token.as_ref();
    Status {
        state_serial: applied.serial,
        webhooks,
        bot_token: TokenStatus {
            set: token.is_some(),
            set_at: token.map(|t| super::timestamp(t.set_at)),
            rotated_at: token.and_then(|t| t.rotated_at.map(super::timestamp)),
        },
    }
}

fn text(status: &Status<'_>) -> String {
    if status.webhooks.is_empty() && !status.bot_token.set {
        return format!("Nothing applied yet (state serial {}).\n", status.state_serial);
    }
    let header = ["ID", "NAME", "CHANNEL", "URL", "CREATED", "UPDATED", "ROTATED"].map(str::to_owned);
    let rows: Vec<[String; 7]> = status
        .webhooks
        .iter()
        .map(|w| {
            [
                w.id.to_owned(),
                w.name.to_owned(),
                w.channel.unwrap_or("-").to_owned(),
                w.url.to_owned(),
                w.created_at.clone(),
                w.updated_at.clone(),
                w.rotated_at.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let mut out = table(&header, &rows);
    let token = match (&status.bot_token.set_at, &status.bot_token.rotated_at) {
        (None, _) => "not set".to_owned(),
        (Some(set), None) => format!("set since {set}"),
        (Some(set), Some(rotated)) => format!("set since {set}, rotated {rotated}"),
    };
    let _ = write!(
        out,
        "\nBot token: {token}\nState serial: {}\n",
        status.state_serial
    );
    out
}

/// Left-aligned columns, two spaces apart.
pub(super) fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
