use std::process::ExitCode;

use std::io::IsTerminal;

use clap::FromArgMatches;
use hookwarden::cli::{Cli, LogFormat};

fn main() -> ExitCode {
    let parsed = Cli::scoped()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Usage errors exit 1 like every other error: 2 means "changes" for `plan`.
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Logs go to stderr, so stdout stays the command's output; RUST_LOG picks the level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.global.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    match hookwarden::run(&cli) {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprint!("{}", hookwarden::error::describe(&error));
            ExitCode::FAILURE
        }
    }
}
