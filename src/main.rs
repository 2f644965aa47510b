use std::process::ExitCode;

use clap::Parser;
use hookwarden::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    match hookwarden::run(&cli) {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprint!("{}", hookwarden::error::describe(&error));
            ExitCode::FAILURE
        }
    }
}
