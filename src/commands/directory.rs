//! `hookwarden directory sync|list|resolve`: the Slack directory the bot token sees.

use clap::Subcommand;
use serde::Serialize;

use super::Context;
use super::table::table;
use crate::clock::rfc3339_secs as timestamp;
use crate::directory::{Directory, Index};
use crate::error::{Error, Exit};
use crate::reconcile;
use crate::render::Format;

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Read every user and user group from Slack with the applied bot token.
    Sync,
    /// Show the synced users and user groups.
    List,
    /// Show what each mention resolves to; fails on an unknown or ambiguous one.
    Resolve {
        /// Handles, display names, emails, group handles, `here`, `channel`, `everyone`.
        #[arg(required = true, value_name = "MENTION")]
        mentions: Vec<String>,
    },
}

pub fn run(ctx: &mut Context<'_>, command: &DirectoryCommand) -> Result<Exit, Error> {
    super::no_markdown(ctx, "directory")?;
    match command {
        DirectoryCommand::Sync => sync(ctx),
        DirectoryCommand::List => list(ctx),
        DirectoryCommand::Resolve { mentions } => resolve(ctx, mentions),
    }
}

fn sync(ctx: &mut Context<'_>) -> Result<Exit, Error> {
    let keyring = ctx.keyring("directory sync")?;
    let store = ctx.open_store("directory sync")?;
    let (facts, secret) = reconcile::applied_token(&*store, &keyring)?.ok_or(Error::NoToken)?;
    let synced = super::slack::read_directory(&facts, &secret)?;
    store.replace_directory(&synced)?;
    let shown = match ctx.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "team_id": facts.team_id,
                "users": synced.directory.users.len(),
                "groups": synced.directory.groups.len(),
                "synced_at": timestamp(synced.synced_at),
            })
        ),
        _ => super::slack::synced_line(
            &facts,
            synced.directory.users.len(),
            synced.directory.groups.len(),
        ),
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

fn stored(ctx: &Context<'_>, command: &str) -> Result<Directory, Error> {
    let Some(store) = ctx.open_existing_store(command)? else {
        return Err(Error::NoState {
            looked: ctx.no_state(),
            named: ctx.state_named,
        });
    };
    store.directory()?.map(|s| s.directory).ok_or(Error::NotSynced)
}

fn list(ctx: &mut Context<'_>) -> Result<Exit, Error> {
    let directory = stored(ctx, "directory list")?;
    let shown = match ctx.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&directory).expect("serializes")
        ),
        _ => {
            let header = ["USER", "ID", "DISPLAY NAME", "REAL NAME", "EMAIL"].map(str::to_owned);
            let users: Vec<[String; 5]> = directory
                .users
                .iter()
                .map(|u| {
                    let email = u.email.clone().unwrap_or_else(|| "-".to_owned());
                    [
                        format!("@{}", u.name),
                        u.id.clone(),
                        u.display_name.clone(),
                        u.real_name.clone(),
                        email,
                    ]
                })
                .collect();
            let header_groups = ["GROUP", "ID", "NAME", "MEMBERS"].map(str::to_owned);
            let groups: Vec<[String; 4]> = directory
                .groups
                .iter()
                .map(|g| {
                    [
                        format!("@{}", g.handle),
                        g.id.clone(),
                        g.name.clone(),
                        g.users.len().to_string(),
                    ]
                })
                .collect();
            format!("{}\n{}", table(&header, &users), table(&header_groups, &groups))
        }
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

#[derive(Debug, Serialize)]
struct Resolution<'a> {
    mention: &'a str,
    /// The Slack form, when it resolved.
    slack: Option<String>,
    error: Option<String>,
}

fn resolve(ctx: &mut Context<'_>, mentions: &[String]) -> Result<Exit, Error> {
    let directory = stored(ctx, "directory resolve")?;
    let index = Index::new(directory);
    let resolutions: Vec<Resolution<'_>> = mentions
        .iter()
        .map(|mention| match index.resolve(mention) {
            Ok(target) => Resolution {
                mention,
                slack: Some(target.slack()),
                error: None,
            },
            Err(unresolved) => Resolution {
                mention,
                slack: None,
                error: Some(unresolved.describe(mention)),
            },
        })
        .collect();
    let shown = match ctx.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&resolutions).expect("serializes")
        ),
        _ => {
            let width = mentions.iter().map(|m| m.chars().count()).max().unwrap_or(0);
            resolutions
                .iter()
                .map(|r| match (&r.slack, &r.error) {
                    (Some(slack), _) => format!("{:<width$}  {slack}\n", r.mention),
                    (None, Some(error)) => format!("{:<width$}  error: {error}\n", r.mention),
                    (None, None) => String::new(),
                })
                .collect()
        }
    };
    ctx.print(&shown)?;
    let failed = resolutions.iter().any(|r| r.error.is_some());
    Ok(if failed { Exit::Failure } else { Exit::Success })
}
