//! In the caller: whether a command goes to the daemon, and sending it there. The daemon
//! answers with the command's output, exit code and the file it wrote, which are printed
//! and written here as a local run would.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::args::{Cli, Command, Global};
use crate::error::{Error, Exit};
use crate::remote::{Client, Request, SOCKET, Target, runtime_socket};
use crate::secrets::{ADMIN_TOKEN_FILE, token_from_env};
use crate::state::Store;

/// Where a forwarded command goes.
#[derive(Debug)]
pub(super) enum Via {
    Socket(PathBuf),
    Remote(String),
}

/// How long a caller waits for the daemon (`HOOKWARDEN_ADMIN_TIMEOUT`, default 5
/// minutes: an apply may sync a large directory).
fn timeout() -> Duration {
    std::env::var("HOOKWARDEN_ADMIN_TIMEOUT")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(Duration::from_secs(300))
}

/// Whether this command goes to a daemon, and where. `--remote` says so; otherwise a
/// daemon that holds the state and listens on its admin socket; and when no state is
/// named and the working directory holds none, the daemon on this host's runtime socket
/// (`/run/hookwarden/admin.sock`), if there is one.
pub(super) fn route(global: &Global) -> Option<Via> {
    if let Some(url) = &global.remote {
        return Some(Via::Remote(url.clone()));
    }
    // A shared database is used directly: every host and CI reach it the same way.
    if global.postgres().is_some() {
        return None;
    }
    let dir = global.state_dir();
    if global.state_named() || dir.exists() {
        let socket = dir.join(SOCKET);
        // The daemon holds the sled state there, or uses a database and listens there.
        let live = || std::os::unix::net::UnixStream::connect(&socket).is_ok();
        return (socket.exists() && (Store::is_held(&dir) || live())).then_some(Via::Socket(socket));
    }
    let socket = runtime_socket();
    socket.exists().then_some(Via::Socket(socket))
}

/// Sends the command line to the daemon, prints its output, writes its files, and
/// returns its exit code.
pub(super) fn forward(
    global: &Global,
    via: &Via,
    args: Vec<String>,
    out: &mut dyn Write,
) -> Result<Exit, Error> {
    // A file the daemon could not take (too large, not UTF-8) is refused here, with
    // its position, as a local run would.
    if let Err(error @ crate::config::ConfigError::Invalid(_)) = crate::config::read(&global.config) {
        return Err(error.into());
    }
    let request = request(global, args)?;
    let expected = out_file(&request.args);
    let client = match via {
        Via::Remote(url) => Client::new(
            Target::Http(url.clone()),
            token_from_env(ADMIN_TOKEN_FILE)?,
            timeout(),
        ),
        Via::Socket(path) => Client::new(Target::Socket(path.clone()), None, timeout()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let response = runtime.block_on(client.run(&request))?;
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
    Ok(Exit::from_code(response.exit))
}

/// The command line and the files it names (the desired-state file, a saved plan to
/// apply), as the daemon needs them to run it for us.
fn request(global: &Global, args: Vec<String>) -> Result<Request, Error> {
    let mut files = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&global.config) {
        files.insert(global.config.display().to_string(), text);
    }
    // The file the command reads, never more than the daemon takes; one that cannot be
    // read is left out, and the daemon says so as a local run would.
    if let Some(path) = read_file(&args) {
        match crate::commands::read_bounded(&path, crate::server::ADMIN_BODY_LIMIT) {
            Ok(text) => {
                files.insert(path.display().to_string(), text);
            }
            Err(error @ Error::InputTooLarge { .. }) => return Err(error),
            Err(_) => {}
        }
    }
    Ok(Request {
        args: without_remote(args),
        actor: Some(crate::actor::local()),
        config: global.config.clone(),
        format: global.format,
        terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
        files,
    })
}

/// The file the command reads besides the desired state, if any: `apply PLANFILE`'s
/// plan, `render`'s body.
fn read_file(args: &[String]) -> Option<PathBuf> {
    match parse(args)?.command {
        Command::Apply(apply) => apply.plan_file,
        Command::Render(render) => render.input().map(Path::to_owned),
        _ => None,
    }
}

/// `plan --out FILE`'s file, if any.
fn out_file(args: &[String]) -> Option<String> {
    match parse(args)?.command {
        Command::Plan(plan) => plan.out.map(|p| p.display().to_string()),
        _ => None,
    }
}

fn parse(args: &[String]) -> Option<Cli> {
    Cli::try_parse_from(std::iter::once("hookwarden").chain(args.iter().map(String::as_str))).ok()
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
