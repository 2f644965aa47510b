//! `hookwarden store migrate`: bring the store's schema up to this hookwarden's.

use clap::Subcommand;

use super::Context;
use crate::error::{Error, Exit};
use crate::state::{PgStore, shown_url};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Run the schema migrations the store lacks (every command that opens a PostgreSQL
    /// store runs them too); refuses a store migrated by a newer hookwarden.
    Migrate,
}

pub fn run(ctx: &mut Context<'_>, command: &StoreCommand) -> Result<Exit, Error> {
    match command {
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
