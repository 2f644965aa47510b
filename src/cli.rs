//! Command-line interface: clap definitions and dispatch, nothing else.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Exit};
use crate::{encrypt, validate};

/// Declarative Slack alert webhooks: age-encrypted desired state in git, checked,
/// planned and applied from CI.
#[derive(Debug, Parser)]
#[command(name = "hookwarden", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the command name.
#[derive(Debug, Args)]
pub struct Global {
    /// The desired-state file.
    #[arg(
        short,
        long,
        global = true,
        env = "HOOKWARDEN_CONFIG",
        value_name = "FILE",
        default_value = "hookwarden.yaml"
    )]
    pub config: PathBuf,

    /// State directory [default: $STATE_DIRECTORY under systemd, else .hookwarden]
    #[arg(long, global = true, env = "HOOKWARDEN_STATE_DIR", value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// age identity file. Without it: HOOKWARDEN_AGE_KEY (the key itself),
    /// HOOKWARDEN_IDENTITY (a path), $CREDENTIALS_DIRECTORY/age-identity, then
    /// ~/.config/hookwarden/identity.txt.
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Output format, where the output is data.
    #[arg(long, global = true, env = "HOOKWARDEN_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired-state file; decrypts and checks the secrets when an identity is
    /// available.
    Validate,
    /// Encrypt a secret read from standard input, for the desired-state file.
    Encrypt(EncryptArgs),
    /// Print the JSON Schema of the desired-state file.
    Schema,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Encrypt to this recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`); repeatable.
    /// Default: the file's `recipients:`.
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Encrypt to the recipients listed in FILE, one a line; repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// Print a YAML `age: |` block, ready to paste under `url:` or `bot_token:`.
    #[arg(long)]
    pub yaml: bool,
}

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Validate => validate::run(&cli.global, &mut out),
        Command::Encrypt(args) => encrypt::run(&cli.global, args, &mut std::io::stdin().lock(), &mut out),
        Command::Schema => {
            let schema =
                serde_json::to_string_pretty(&crate::config::raw::schema()).expect("a schema serializes");
            writeln!(out, "{schema}").map_err(Error::Output)?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "hookwarden", &mut out);
            Ok(Exit::Success)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(Error::Output)?;
            Ok(Exit::Success)
        }
    }
}
