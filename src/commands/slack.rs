//! What the commands share for talking to Slack: a runtime, the token check, and the
//! directory sync with its progress display.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Error;
use crate::secrets::Secret;
use crate::slack::{self, Client, Endpoints, Progress};
use crate::state::{Store, SyncedDirectory, TokenFacts};

/// The commands are sequential: one thread drives the few requests they make.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

pub fn client(api_url: &str) -> Client {
    Client::new(Endpoints::from_env(api_url))
}

/// `auth.test` and the scope check, before anything is written.
pub fn check_token(
    runtime: &tokio::runtime::Runtime,
    api_url: &str,
    token: &Secret,
) -> Result<TokenFacts, Error> {
    runtime.block_on(crate::reconcile::token_facts(&client(api_url), api_url, token))
}

/// Reads the directory `token` sees, with a progress line on a terminal.
pub fn fetch(
    runtime: &tokio::runtime::Runtime,
    facts: &TokenFacts,
    token: &Secret,
    now: u64,
) -> Result<SyncedDirectory, Error> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} Syncing the Slack directory of {prefix}: {msg}")
                .expect("a valid template"),
        );
        bar.set_prefix(facts.team.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let show = |p: Progress| bar.set_message(format!("{} users ({} pages)", p.users, p.pages));
    let result = runtime.block_on(slack::sync_directory(&client(&facts.api_url), token, &show));
    bar.finish_and_clear();
    Ok(SyncedDirectory {
        synced_at: now,
        directory: result?,
    })
}

/// Syncs and stores the directory; the stored one is replaced only on success.
pub fn sync(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    facts: &TokenFacts,
    token: &Secret,
    now: u64,
) -> Result<SyncedDirectory, Error> {
    let synced = fetch(runtime, facts, token, now)?;
    store.replace_directory(&synced)?;
    Ok(synced)
}

/// `Synced the Slack directory of Acme (T0001): 120 users, 4 user groups.`
pub fn synced_line(facts: &TokenFacts, synced: &SyncedDirectory) -> String {
    format!(
        "Synced the Slack directory of {} ({}): {} users, {} user groups.\n",
        facts.team,
        facts.team_id,
        synced.directory.users.len(),
        synced.directory.groups.len()
    )
}
