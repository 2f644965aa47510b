//! Command-line interface: clap definitions and dispatch, nothing else.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands::{apply, daemon, directory, encrypt, history, plan, send, status, validate};
use crate::error::{Error, Exit};

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

    /// Run plan, apply, status, history or directory on the daemon at URL, which uses its
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
    /// `--state`/`HOOKWARDEN_STATE_DIR`, else systemd's `$STATE_DIRECTORY` (its first
    /// entry), else `.hookwarden`.
    pub fn state_dir(&self) -> PathBuf {
        let systemd = || {
            let dirs = std::env::var_os("STATE_DIRECTORY")?;
            let first = dirs.to_str()?.split(':').next()?.to_owned();
            (!first.is_empty()).then(|| PathBuf::from(first))
        };
        self.state
            .clone()
            .or_else(systemd)
            .unwrap_or_else(|| PathBuf::from(".hookwarden"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired-state file; decrypts and checks the secrets when an identity is
    /// available.
    Validate,
    /// Encrypt a secret read from standard input, for the desired-state file.
    Encrypt(EncryptArgs),
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

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan (ciphertexts only) for `hookwarden apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`: apply exactly it, or refuse if the state has moved.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,

    /// Apply without asking (required off a terminal, unless a plan file is given).
    #[arg(long)]
    pub auto_approve: bool,

    /// Allow a plan that deletes every webhook or more than half of them.
    #[arg(long)]
    pub allow_mass_delete: bool,

    /// Check with Slack that each created or rotated webhook exists (without posting a
    /// message) before writing anything.
    #[arg(long)]
    pub verify: bool,
}

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

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Where the HTTP API listens: HOST:PORT, or unix:PATH for a unix socket.
    #[arg(
        long,
        env = "HOOKWARDEN_LISTEN",
        default_value = "127.0.0.1:8787",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// auto: apply every valid change of the file; off: only report drift.
    #[arg(long, value_enum, default_value_t = crate::daemon::ApplyMode::Auto)]
    pub apply: crate::daemon::ApplyMode,

    /// How often to check the file even without a change event.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub periodic: humantime::Duration,

    /// Messages per second per webhook (0: no pacing).
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub rate: f64,

    /// Messages a webhook may send at once after a quiet spell.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub burst: u32,

    /// The first retry's delay after a 5xx or a network error; it doubles up to 5 minutes.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub retry_first: humantime::Duration,

    /// Refuse new alerts (503) while this many wait.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub queue_limit: usize,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The webhook's id.
    #[arg(long)]
    pub webhook: String,

    /// The message.
    #[arg(long)]
    pub text: String,

    /// Mention a user or group (repeatable): handle, display name, email, `here`.
    #[arg(long = "mention", value_name = "MENTION")]
    pub mentions: Vec<String>,

    /// De-duplicate: another alert with this key within 24 hours is not sent again.
    #[arg(long)]
    pub key: Option<String>,

    /// Send the text as Slack mrkdwn, unescaped.
    #[arg(long)]
    pub mrkdwn: bool,

    /// The daemon's base URL [default: http://$HOOKWARDEN_LISTEN, else http://127.0.0.1:8787]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The failed alerts (dead letters).
    List {
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// One alert's status, attempts and last error.
    Show {
        id: String,
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Queue a failed alert again.
    Retry {
        id: String,
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Check the hash chain and report the first entry that was altered.
    #[arg(long)]
    pub verify: bool,
}

/// Runs the command `cli` names: through the daemon when it holds the state (or with
/// `--remote`), here otherwise.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    let mut out = std::io::stdout().lock();
    if crate::admin::forwarded(&cli.command)
        && let Some(via) = crate::admin::route(&cli.global)
    {
        return crate::admin::forward(&cli.global, &via, std::env::args().skip(1).collect(), &mut out);
    }
    run_to(cli, &mut out)
}

/// Runs the command `cli` names here, writing its output to `out`.
pub fn run_to(cli: &Cli, out: &mut dyn Write) -> Result<Exit, Error> {
    let mut out = out;
    match &cli.command {
        Command::Validate => validate::run(&cli.global, &mut out),
        Command::Encrypt(args) => encrypt::run(&cli.global, args, &mut std::io::stdin().lock(), &mut out),
        Command::Plan(args) => plan::run(&cli.global, args, &mut out),
        Command::Apply(args) => apply::run(&cli.global, args, &mut out),
        Command::Status => status::run(&cli.global, &mut out),
        Command::History(args) => history::run(&cli.global, args, &mut out),
        Command::Directory(command) => directory::run(&cli.global, command, &mut out),
        Command::Daemon(args) => daemon::run(&cli.global, args),
        Command::Send(args) => send::send(&cli.global, args, &mut out),
        Command::Alerts(command) => send::alerts(&cli.global, command, &mut out),
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
        Command::Man { out_dir } => {
            man_pages(out_dir.as_deref(), &mut out).map_err(Error::Output)?;
            Ok(Exit::Success)
        }
    }
}

fn man_pages(out_dir: Option<&std::path::Path>, out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command();
    let Some(dir) = out_dir else {
        return clap_mangen::Man::new(command).render(out);
    };
    std::fs::create_dir_all(dir)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("hookwarden-{}", sub.get_name());
        let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
        clap_mangen::Man::new(sub.clone().name(name)).render(&mut file)?;
    }
    clap_mangen::Man::new(command).render(&mut std::fs::File::create(dir.join("hookwarden.1"))?)
}
