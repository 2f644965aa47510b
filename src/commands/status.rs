//! `hookwarden status`: the applied webhooks and token, as the state holds them.

use std::fmt::Write as _;

use serde::Serialize;

use super::Context;
use super::table::table;
use crate::clock::rfc3339_secs as timestamp;
use crate::error::{Error, Exit};
use crate::render::Format;
use crate::slack::REQUIRED_SCOPES;
use crate::state::{Applied, SyncedDirectory};

#[derive(Debug, Serialize)]
struct Status<'a> {
    state_serial: u64,
    webhooks: Vec<WebhookStatus<'a>>,
    bot_token: TokenStatus,
    directory: Option<DirectoryStatus>,
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
    /// The workspace, as `auth.test` named it when the token was applied.
    team_id: Option<String>,
    team: Option<String>,
    /// Whether the token had every scope hookwarden needs when it was applied.
    scopes_ok: Option<bool>,
}

#[derive(Debug, Serialize)]
struct DirectoryStatus {
    synced_at: String,
    users: usize,
    groups: usize,
}

pub fn run(ctx: &mut Context<'_>) -> Result<Exit, Error> {
    super::no_markdown(ctx, "status")?;
    let Some(store) = ctx.open_existing_store("status")? else {
        let nothing = Applied::default();
        let status = status(&nothing, None);
        let shown = match ctx.format {
            Format::Json => {
                ctx.note(&format!("note: {}\n", ctx.no_state()));
                json(&status)
            }
            _ => format!("Nothing applied yet: {}.\n", ctx.no_state()),
        };
        ctx.print(&shown)?;
        return Ok(Exit::Success);
    };
    let (applied, directory) = (store.applied()?, store.directory()?);
    let status = status(&applied, directory.as_ref());
    let shown = match ctx.format {
        Format::Json => json(&status),
        _ => text(&status),
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

fn json(status: &Status<'_>) -> String {
    format!("{}\n", serde_json::to_string_pretty(status).expect("serializes"))
}

fn status<'a>(applied: &'a Applied, directory: Option<&SyncedDirectory>) -> Status<'a> {
    let webhooks = applied
        .webhooks
        .iter()
        .map(|w| WebhookStatus {
            id: &w.id,
            name: &w.name,
            channel: w.channel.as_deref(),
            url: &w.url.redacted,
            mentions: &w.mentions,
            created_at: timestamp(w.created_at),
            updated_at: timestamp(w.updated_at),
            rotated_at: w.rotated_at.map(timestamp),
        })
        .collect();
    let token = applied.token.as_ref();
    let facts = token.and_then(|t| t.facts.as_ref());
    Status {
        state_serial: applied.serial,
        webhooks,
        bot_token: TokenStatus {
            set: token.is_some(),
            set_at: token.map(|t| timestamp(t.set_at)),
            rotated_at: token.and_then(|t| t.rotated_at.map(timestamp)),
            team_id: facts.map(|f| f.team_id.clone()),
            team: facts.map(|f| f.team.clone()),
            scopes_ok: facts.map(|f| REQUIRED_SCOPES.iter().all(|s| f.scopes.iter().any(|g| g == s))),
        },
        directory: directory.map(|d| DirectoryStatus {
            synced_at: timestamp(d.synced_at),
            users: d.directory.users.len(),
            groups: d.directory.groups.len(),
        }),
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
    let token = &status.bot_token;
    let mut line = match (&token.set_at, &token.rotated_at) {
        (None, _) => "not set".to_owned(),
        (Some(set), None) => format!("set since {set}"),
        (Some(set), Some(rotated)) => format!("set since {set}, rotated {rotated}"),
    };
    if let (Some(team), Some(team_id)) = (&token.team, &token.team_id) {
        let _ = write!(line, "; team {team} ({team_id})");
    }
    match token.scopes_ok {
        Some(true) => line.push_str("; scopes ok"),
        Some(false) => line.push_str("; scopes missing"),
        None => {}
    }
    let directory = match &status.directory {
        Some(d) => format!(
            "{} users, {} user groups, synced {}",
            d.users, d.groups, d.synced_at
        ),
        None => "not synced".to_owned(),
    };
    let _ = write!(
        out,
        "\nBot token: {line}\nDirectory: {directory}\nState serial: {}\n",
        status.state_serial
    );
    out
}
