//! `hookwarden store migrate`: bring the store's schema up to this hookwarden's.

use clap::Subcommand;

use super::Context;
use crate::error::{Error, Exit};
use crate::state::{PgStore, SledStore, StateError, shown_url};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Run the schema migrations the store lacks (every command that opens a PostgreSQL
    /// store runs them too); refuses a store migrated by a newer hookwarden.
    Migrate,
    /// Copy a sled state, with its queued alerts, into a new PostgreSQL database.
    Copy {
        /// The state to copy: sled:DIR (its daemon stopped).
        #[arg(long, value_name = "sled:DIR")]
        from: String,
        /// The database to copy it into: postgres://USER@HOST/DB, empty.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub fn run(ctx: &mut Context<'_>, command: &StoreCommand) -> Result<Exit, Error> {
    match command {
        StoreCommand::Copy { from, to } => copy(ctx, from, to),
        StoreCommand::Migrate => {
            let Some(url) = ctx.postgres.clone() else {
                ctx.print(&format!(
                    "The sled store in {} needs no migration: it is upgraded when it is opened.\n",
                    ctx.state_dir.display()
                ))?;
                return Ok(Exit::Success);
            };
            let password = std::env::var_os("HOOKWARDEN_STORE_PASSWORD_FILE").map(std::path::PathBuf::from);
            let store = PgStore::open(&url, password.as_deref(), &ctx.state_dir)?;
            let version = store.migrate()?;
            ctx.print(&format!(
                "The store {} is at schema version {version}.\n",
                shown_url(&url)
            ))?;
            Ok(Exit::Success)
        }
    }
}

fn copy(ctx: &mut Context<'_>, from: &str, to: &str) -> Result<Exit, Error> {
    let unsupported = |reason: &str| StateError::Database {
        store: shown_url(to),
        reason: reason.to_owned(),
    };
    let Some(dir) = from.strip_prefix("sled:").filter(|d| !d.is_empty()) else {
        return Err(unsupported("--from must name a sled state: sled:DIR").into());
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(unsupported("--to must be a postgres:// URL").into());
    }
    let dir = std::path::Path::new(dir);
    if !dir.is_dir() {
        return Err(Error::NoState {
            looked: format!("there is no state in {}", dir.display()),
            named: true,
        });
    }
    let holder = format!("pid {}, {}, hookwarden store copy", std::process::id(), ctx.actor);
    let source = SledStore::open(dir, &holder)?;
    let snapshot = source.snapshot()?;
    let serial = snapshot.serial;
    let queued = snapshot.alerts.iter().filter(|(_, queued, _)| *queued).count();
    let password = std::env::var_os("HOOKWARDEN_STORE_PASSWORD_FILE").map(std::path::PathBuf::from);
    let target = PgStore::open(to, password.as_deref(), &ctx.state_dir)?;
    let alerts = target.restore(snapshot)?;
    ctx.print(&format!(
        "Copied the state in {} (serial {serial}) to {}: {alerts} alerts, {queued} of them queued.\n",
        dir.display(),
        shown_url(to)
    ))?;
    Ok(Exit::Success)
}
