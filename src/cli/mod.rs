//! The command line: clap's definitions ([`args`]), where a command runs ([`forward`]:
//! in the daemon that holds the state, or here), and the dispatch that builds each
//! command's context and calls it ([`dispatch`]).

mod args;
mod dispatch;
mod forward;

pub use args::{Cli, Command, Global, LogFormat};

use crate::error::{Error, Exit};

/// Runs the command `cli` names: through the daemon when it holds the state (or with
/// `--remote`), here otherwise.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    if cli.command.is_forwarded()
        && let Some(via) = forward::route(&cli.global)
    {
        let args = std::env::args().skip(1).collect();
        return forward::forward(&cli.global, &via, args, &mut std::io::stdout().lock());
    }
    dispatch::local(cli)
}
