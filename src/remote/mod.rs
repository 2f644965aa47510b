//! Commands run by the daemon for another process, and the one client of the daemon's
//! API.
//!
//! While the daemon holds the state, a command run by hand sends its arguments and the
//! files it names (the desired-state file, a saved plan) over the daemon's admin socket
//! (`$STATE/admin.sock`, mode 0600); a CI runner without the age key sends them with
//! `--remote URL` to `/v1/admin/run`, behind `HOOKWARDEN_ADMIN_TOKEN_FILE`. The daemon
//! runs the command with its own state and identity and answers with the command's
//! output, exit code and any file it wrote, which the caller prints and writes: the same
//! output and exit codes as a local run.
//!
//! This module holds what crosses that line ([`Request`], [`Response`]), what the daemon
//! lends the command ([`Lent`]), and the [`Client`] that `send`, `alerts` and the
//! forwarding CLI use.

mod client;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use client::{Client, Target};

use crate::render::Format;
use crate::secrets::Keyring;
use crate::state::Store;

/// The admin socket's name in the state directory and in systemd's runtime directory.
pub const SOCKET: &str = "admin.sock";

/// Where the CLI looks for a daemon when no state is named and the working directory
/// holds none: the socket of a unit with `RuntimeDirectory=hookwarden`.
pub const RUNTIME_SOCKET: &str = "/run/hookwarden/admin.sock";

/// [`RUNTIME_SOCKET`], or the one `HOOKWARDEN_ADMIN_SOCKET` names.
pub fn runtime_socket() -> PathBuf {
    std::env::var_os("HOOKWARDEN_ADMIN_SOCKET")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(RUNTIME_SOCKET), PathBuf::from)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The command line, without the program name.
    pub args: Vec<String>,
    /// `user@host` of the caller, for the audit log.
    #[serde(default)]
    pub actor: Option<String>,
    /// The caller's desired-state file path and output format, resolved there (from its
    /// flags or environment), never from the daemon's environment.
    pub config: PathBuf,
    pub format: Format,
    /// Whether the caller's standard input is a terminal.
    #[serde(default)]
    pub terminal: bool,
    /// The caller's files, by the path the arguments name them with.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub stdout: String,
    pub stderr: String,
    pub exit: u8,
    /// Files the command wrote (`plan --out`), for the caller to write.
    pub files: BTreeMap<String, String>,
}

impl Response {
    /// A command that could not run: `stderr` says why.
    pub fn refused(stderr: String) -> Self {
        Response {
            stdout: String::new(),
            stderr,
            exit: 1,
            files: BTreeMap::new(),
        }
    }
}

/// What the daemon lends a command it runs for another process.
#[derive(Debug, Clone)]
pub struct Lent {
    pub store: Arc<Store>,
    pub keyring: Arc<Keyring>,
    /// How the caller came, for the audit log: `via the admin socket`, `via --remote`.
    pub via: &'static str,
}

/// Runs a forwarded command with what the daemon lends it: handed to the daemon by
/// its composition root, which knows the commands.
pub type Runner = Arc<dyn Fn(Request, Lent) -> Response + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the endpoint answered {status}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the hookwarden endpoint at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
}
