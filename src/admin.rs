//! Running `plan`, `apply`, `status`, `history` and `directory` through the daemon.
//!
//! While the daemon holds the state, a command run by hand sends its arguments and the
//! files it names (the desired-state file, a saved plan) over the daemon's admin socket
//! (`$STATE/admin.sock`, mode 0600); a CI runner without the age key sends them with
//! `--remote URL` to `/v1/admin/run`, behind `HOOKWARDEN_ADMIN_TOKEN_FILE`. The daemon
//! runs the command with its own state and identity and answers with the command's
//! output, exit code and any file it wrote, which the caller prints and writes: the same
//! output and exit codes as a local run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, Command, Global};
use crate::commands::session::{self, Session};
use crate::error::{Error, Exit};
use crate::secrets::{Keyring, Secret};
use crate::state::Store;

/// The admin socket's name in the state directory.
pub const SOCKET: &str = "admin.sock";

/// How long a caller waits for the daemon (`HOOKWARDEN_ADMIN_TIMEOUT`, default 5
/// minutes: an apply may sync a large directory).
fn timeout() -> Duration {
    std::env::var("HOOKWARDEN_ADMIN_TIMEOUT")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(Duration::from_secs(300))
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
    pub config: std::path::PathBuf,
    pub format: crate::cli::Format,
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

/// Whether `command` is one the daemon runs for others.
pub fn forwarded(command: &Command) -> bool {
    matches!(
        command,
        Command::Plan(_) | Command::Apply(_) | Command::Status | Command::History(_) | Command::Directory(_)
    )
}

/// In the daemon: runs `request` with the daemon's state and identity.
pub fn execute(request: Request, store: Arc<Store>, keyring: Arc<Keyring>, via: &str) -> Response {
    let mut cli = match Cli::try_parse_from(std::iter::once("hookwarden".to_owned()).chain(request.args)) {
        Ok(cli) => cli,
        Err(error) => {
            return Response {
                stdout: String::new(),
                stderr: error.render().to_string(),
                exit: 1,
                files: BTreeMap::new(),
            };
        }
    };
    if !forwarded(&cli.command) {
        let stderr =
            "error: the daemon runs only plan, apply, status, history and directory for others\n".to_owned();
        return Response {
            stdout: String::new(),
            stderr,
            exit: 1,
            files: BTreeMap::new(),
        };
    }
    cli.global.config = request.config;
    cli.global.format = request.format;
    let session = Session {
        store: Some(store),
        keyring: Some(keyring),
        // As the caller names itself: the admin socket's mode or the admin token is what
        // vouches for it.
        actor: Some(format!(
            "{} ({via})",
            request.actor.as_deref().unwrap_or("unknown")
        )),
        files: request.files,
        written: BTreeMap::new(),
        stderr: String::new(),
        terminal: request.terminal,
    };
    let mut stdout = Vec::new();
    let (result, session) = session::within(session, || crate::cli::run_to(&cli, &mut stdout));
    let mut stderr = session.stderr.clone();
    let exit = match result {
        Ok(exit) => exit_code(exit),
        Err(error) => {
            stderr.push_str(&crate::error::describe(&error));
            1
        }
    };
    Response {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
        exit,
        files: session.written,
    }
}

fn exit_code(exit: Exit) -> u8 {
    match exit {
        Exit::Success => 0,
        Exit::Failure => 1,
        Exit::Changes => 2,
    }
}

/// Where a forwarded command goes.
#[derive(Debug)]
pub enum Via {
    Socket(std::path::PathBuf),
    Remote(String),
}

/// In the caller: whether this command goes to a daemon, and where. `--remote` says so;
/// otherwise a daemon that holds the state and listens on its admin socket.
pub fn route(global: &Global) -> Option<Via> {
    if let Some(url) = &global.remote {
        return Some(Via::Remote(url.clone()));
    }
    let dir = global.state_dir();
    let socket = dir.join(SOCKET);
    (socket.exists() && Store::is_held(&dir)).then_some(Via::Socket(socket))
}

/// Sends the command line to the daemon, prints its output, writes its files, and
/// returns its exit code.
pub fn forward(global: &Global, via: &Via, args: Vec<String>, out: &mut dyn Write) -> Result<Exit, Error> {
    let mut files = BTreeMap::new();
    for path in [Some(global.config.as_path()), plan_file(&args)]
        .into_iter()
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(path) {
            files.insert(path.display().to_string(), text);
        }
    }
    let request = Request {
        args: without_remote(args),
        actor: Some(crate::reconcile::actor()),
        config: global.config.clone(),
        format: global.format,
        terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
        files,
    };
    let expected = out_file(&request.args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let response = runtime.block_on(async {
        match via {
            Via::Remote(url) => remote(url, &request).await,
            Via::Socket(path) => socket(path, &request).await,
        }
    })?;
    // Only the file this command was asked to write: an endpoint cannot place others.
    for (path, text) in response
        .files
        .iter()
        .filter(|(path, _)| expected.as_deref() == Some(path.as_str()))
    {
        write_private(Path::new(path), text).map_err(Error::Output)?;
    }
    out.write_all(response.stdout.as_bytes()).map_err(Error::Output)?;
    eprint!("{}", response.stderr);
    Ok(match response.exit {
        0 => Exit::Success,
        2 => Exit::Changes,
        _ => Exit::Failure,
    })
}

/// `apply PLANFILE`'s file, if any.
fn plan_file(args: &[String]) -> Option<&Path> {
    let cli =
        Cli::try_parse_from(std::iter::once("hookwarden").chain(args.iter().map(String::as_str))).ok()?;
    match cli.command {
        Command::Apply(apply) => apply
            .plan_file
            .and_then(|p| args.iter().find(|a| Path::new(a) == p).map(Path::new)),
        _ => None,
    }
}

/// `plan --out FILE`'s file, if any.
fn out_file(args: &[String]) -> Option<String> {
    let cli =
        Cli::try_parse_from(std::iter::once("hookwarden").chain(args.iter().map(String::as_str))).ok()?;
    match cli.command {
        Command::Plan(plan) => plan.out.map(|p| p.display().to_string()),
        _ => None,
    }
}

/// The daemon must not forward again.
fn without_remote(args: Vec<String>) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip = false;
    for arg in args {
        if skip {
            skip = false;
        } else if arg == "--remote" {
            skip = true;
        } else if !arg.starts_with("--remote=") {
            kept.push(arg);
        }
    }
    kept
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The admin token a remote caller sends (`HOOKWARDEN_ADMIN_TOKEN_FILE`).
pub fn admin_token() -> Result<Option<Secret>, Error> {
    token_from_file("HOOKWARDEN_ADMIN_TOKEN_FILE")
}

/// The token in the file the environment variable `var` names, if it names one.
pub fn token_from_file(var: &str) -> Result<Option<Secret>, Error> {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = std::path::PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::TokenFile {
        path: path.clone(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::EmptyTokenFile { path });
    }
    Ok(Some(Secret::new(token)))
}

async fn remote(url: &str, request: &Request) -> Result<Response, Error> {
    let endpoint = format!("{}/v1/admin/run", url.trim_end_matches('/'));
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: url.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout())
        .build()
        .expect("a client builds");
    let mut call = client.post(&endpoint).json(request);
    if let Some(token) = admin_token()? {
        call = call.bearer_auth(token.expose());
    }
    let answer = call
        .send()
        .await
        .map_err(|e| unreachable(crate::slack::describe(e)))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let text = |field: &str| body["error"][field].as_str().unwrap_or_default().to_owned();
        return Err(Error::Api {
            status: status.as_u16(),
            code: text("code"),
            message: text("message"),
        });
    }
    serde_json::from_value(body)
        .map_err(|e| unreachable(format!("an answer that is not a command's result ({e})")))
}

async fn socket(path: &Path, request: &Request) -> Result<Response, Error> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: format!("unix:{}", path.display()),
        reason,
    };
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(connection);
        let body = serde_json::to_vec(request).expect("a request serializes");
        let call = hyper::Request::post("/v1/admin/run")
            .header("host", "hookwarden")
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .expect("a valid request");
        let answer = sender
            .send_request(call)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let bytes = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        serde_json::from_slice::<Response>(&bytes)
            .map_err(|e| unreachable(format!("an answer that is not a command's result ({e})")))
    };
    let limit = timeout();
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {limit:?}")))?
}
