//! The command line as clap reads it: the global options and the commands, each
//! command's own arguments defined beside it in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands::alerts::{AlertsCommand, SendArgs};
use crate::commands::apply::ApplyArgs;
use crate::commands::daemon::DaemonArgs;
use crate::commands::directory::DirectoryCommand;
use crate::commands::encrypt::EncryptArgs;
use crate::commands::history::HistoryArgs;
use crate::commands::plan::PlanArgs;
use crate::commands::render::RenderArgs;
use crate::commands::routes::RoutesCommand;
use crate::commands::store::StoreCommand;
use crate::commands::updatekeys::UpdatekeysArgs;
use crate::render::Format;

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
#[command(next_help_heading = "Global options")]
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

    /// The store: sled:DIR (the default, in the state directory) or postgres://USER@HOST/DB
    /// (password from the URL, PGPASSWORD, ~/.pgpass or HOOKWARDEN_STORE_PASSWORD_FILE).
    #[arg(long, global = true, env = "HOOKWARDEN_STORE", value_name = "URL", value_parser = store_url)]
    pub store: Option<String>,

    /// age identity file. Without it: HOOKWARDEN_AGE_KEY (the key itself),
    /// HOOKWARDEN_IDENTITY (a path), $CREDENTIALS_DIRECTORY/age-identity, then
    /// ~/.config/hookwarden/identity.txt.
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Run plan, apply, status, history, directory or render on the daemon at URL, which uses its
    /// own state and age identity (admin token: HOOKWARDEN_ADMIN_TOKEN_FILE).
    #[arg(long, global = true, env = "HOOKWARDEN_REMOTE", value_name = "URL")]
    pub remote: Option<String>,

    /// Log lines on stderr as text or JSON objects (level from RUST_LOG, default warn).
    #[arg(long, global = true, env = "HOOKWARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Output format, where the output is data (markdown: `plan` only).
    #[arg(long, global = true, env = "HOOKWARDEN_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How log lines (on stderr) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Global {
    /// Whether a state directory was named (`--state`, `HOOKWARDEN_STATE_DIR`, systemd's
    /// `$STATE_DIRECTORY`), rather than the working directory's `.hookwarden` assumed.
    pub fn state_named(&self) -> bool {
        self.store.is_some()
            || self.state.is_some()
            || std::env::var_os("STATE_DIRECTORY").is_some_and(|d| !d.is_empty())
    }

    /// The PostgreSQL store's URL, when `--store` names one.
    pub fn postgres(&self) -> Option<&str> {
        self.store.as_deref().filter(|s| !s.starts_with("sled:"))
    }

    /// `--state`/`HOOKWARDEN_STATE_DIR`, else systemd's `$STATE_DIRECTORY` (its first
    /// entry), else `.hookwarden`.
    pub fn state_dir(&self) -> PathBuf {
        let systemd = || {
            let dirs = std::env::var_os("STATE_DIRECTORY")?;
            let first = dirs.to_str()?.split(':').next()?.to_owned();
            (!first.is_empty()).then(|| PathBuf::from(first))
        };
        let sled = self
            .store
            .as_deref()
            .and_then(|s| s.strip_prefix("sled:"))
            .map(PathBuf::from);
        sled.or_else(|| self.state.clone())
            .or_else(systemd)
            .unwrap_or_else(|| PathBuf::from(".hookwarden"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired-state file; decrypts and checks the secrets when an identity is
    /// available.
    Validate,
    /// Encrypt a secret read from standard input, for the desired-state file.
    Encrypt(EncryptArgs),
    /// Re-encrypt the file's secrets to its `recipients:`, after a key was added or removed.
    Updatekeys(UpdatekeysArgs),
    /// Show what apply would change: creates, updates, rotations and deletes.
    Plan(PlanArgs),
    /// Make the applied state match the desired state, or apply a saved plan exactly.
    Apply(ApplyArgs),
    /// Show the applied webhooks and bot token.
    Status,
    /// Show the audit log of applies.
    History(HistoryArgs),
    /// The Slack directory (users and user groups) the bot token sees.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Run the alert endpoint and deliver alerts to Slack.
    Daemon(DaemonArgs),
    /// Send one alert through the daemon's endpoint.
    Send(SendArgs),
    /// Inspect and retry alerts held by the daemon.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Check the file's routes: which webhooks an alert with given labels reaches.
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Print the Slack messages a notification or alert would become, sending nothing.
    Render(RenderArgs),
    /// The store's schema: `store migrate`.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print the JSON Schema of the desired-state file.
    Schema,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write hookwarden.1 and hookwarden-COMMAND.1 into DIR.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the daemon runs this command for others while it holds the state.
    pub fn is_forwarded(&self) -> bool {
        matches!(
            self,
            Command::Plan(_)
                | Command::Apply(_)
                | Command::Status
                | Command::History(_)
                | Command::Directory(_)
                | Command::Render(_)
        )
    }
}

/// The global options each command ignores, by their ids: left out of its help (and of
/// its nested commands' help), still accepted. A nested command is named by its path.
const IGNORED: &[(&str, &[&str])] = &[
    ("validate", &["state", "store", "remote"]),
    ("encrypt", &["state", "store", "identity", "remote", "format"]),
    ("updatekeys", &["state", "store", "remote"]),
    ("status", &["config", "identity"]),
    ("history", &["config", "identity"]),
    ("directory", &["config"]),
    ("directory list", &["identity"]),
    ("directory resolve", &["identity"]),
    ("daemon", &["remote", "format"]),
    ("send", &["config", "state", "store", "identity", "remote"]),
    ("alerts", &["config", "state", "store", "identity", "remote"]),
    ("routes", &["state", "store", "identity", "remote"]),
    ("render", &["identity"]),
    ("store", &["config", "state", "identity", "remote", "format"]),
    ("schema", GLOBALS),
    ("completions", GLOBALS),
    ("man", GLOBALS),
];

const GLOBALS: &[&str] = &[
    "config",
    "state",
    "store",
    "identity",
    "remote",
    "log_format",
    "format",
];

/// `sled:DIR` or a `postgres://` URL.
fn store_url(arg: &str) -> Result<String, String> {
    if arg.strip_prefix("sled:").is_some_and(|dir| !dir.is_empty())
        || arg.starts_with("postgres://")
        || arg.starts_with("postgresql://")
    {
        Ok(arg.to_owned())
    } else {
        Err("expected sled:DIR or postgres://USER@HOST/DB".to_owned())
    }
}

impl Cli {
    /// The command line as help, man pages and completions show it: each command lists
    /// only the global options it uses.
    pub fn scoped() -> clap::Command {
        let mut command = Cli::command();
        let globals: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|arg| arg.is_global_set())
            .cloned()
            .collect();
        // A command that has its own copy of a global option is not given the shared one,
        // and its nested commands inherit the copy: a hidden copy leaves it out of help.
        for (path, ignored) in IGNORED {
            let hidden: Vec<clap::Arg> = globals
                .iter()
                .filter(|arg| ignored.contains(&arg.get_id().as_str()))
                .map(|arg| arg.clone().hide(true))
                .collect();
            let names: Vec<&str> = path.split(' ').collect();
            command = with_hidden(command, &names, &hidden);
        }
        command
    }
}

/// `command` with the nested command at `path` given `hidden`.
fn with_hidden(command: clap::Command, path: &[&str], hidden: &[clap::Arg]) -> clap::Command {
    match path {
        [] => hidden
            .iter()
            .fold(command, |command, arg| command.arg(arg.clone())),
        [name, rest @ ..] => command.mut_subcommand(name, |sub| with_hidden(sub, rest, hidden)),
    }
}
