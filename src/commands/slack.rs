//! What the commands share for talking to Slack: reading a directory with a progress
//! line on a terminal, and the line that says what was read.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Error;
use crate::reconcile;
use crate::secrets::Secret;
use crate::slack::Progress;
use crate::state::{SyncedDirectory, TokenFacts};

/// A spinner on stderr while a directory is read, when stderr is a terminal; cleared
/// once it is dropped.
pub struct SyncBar(ProgressBar);

impl SyncBar {
    pub fn new(facts: &TokenFacts) -> Self {
        if !std::io::stderr().is_terminal() {
            return SyncBar(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} Syncing the Slack directory of {prefix}: {msg}")
                .expect("a valid template"),
        );
        bar.set_prefix(facts.team.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        SyncBar(bar)
    }

    pub fn show(&self, progress: Progress) {
        self.0.set_message(format!(
            "{} users ({} {})",
            progress.users,
            progress.pages,
            if progress.pages == 1 { "page" } else { "pages" }
        ));
    }
}

impl Drop for SyncBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Reads the directory `token` sees, with a progress line on a terminal.
pub fn read_directory(facts: &TokenFacts, token: &Secret) -> Result<SyncedDirectory, Error> {
    let bar = SyncBar::new(facts);
    let show = |progress| bar.show(progress);
    Ok(super::runtime().block_on(reconcile::read_directory(facts, token, &show))?)
}

/// `Synced the Slack directory of Acme (T0001): 120 users, 4 user groups.`
pub fn synced_line(facts: &TokenFacts, users: usize, groups: usize) -> String {
    format!(
        "Synced the Slack directory of {} ({}): {users} users, {groups} user groups.\n",
        facts.team, facts.team_id,
    )
}
