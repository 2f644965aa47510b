//! `hookwarden daemon`: the alert endpoint and its delivery workers, under systemd or
//! by hand. This is the daemon's composition root: it opens the state, finds the
//! identity and the tokens, binds the listener, and hands the daemon the runner of the
//! commands forwarded to it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Context;
use crate::daemon::{self, AdminSockets, ApplyMode, DaemonError, Listener, Options};
use crate::delivery::{DIGEST_MAX, Pacing, Retry};
use crate::error::{Error, Exit};
use crate::remote::Runner;
use crate::secrets::{ADMIN_TOKEN_FILE, API_TOKEN_FILE, token_from_env};

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
    #[arg(long, value_enum, default_value_t = ApplyMode::Auto)]
    pub apply: ApplyMode,

    /// How often to check the file even without a change event.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub periodic: humantime::Duration,

    /// Messages per second per webhook (0: no pacing).
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub rate: f64,

    /// Messages a webhook may send at once after a quiet spell.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub burst: u32,

    /// on: when more alerts wait for a webhook than its burst, send them in digests, many
    /// alerts a message; off: one message per alert.
    #[arg(long, value_enum, default_value_t = Digest::On)]
    pub digest: Digest,

    /// The most alerts one digest carries (Slack's 50 blocks a message bound it too).
    #[arg(long, default_value_t = DIGEST_MAX, value_name = "N", value_parser = digest_max)]
    pub digest_max: usize,

    /// The first retry's delay after a 5xx or a network error; it doubles up to 5 minutes.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub retry_first: humantime::Duration,

    /// Refuse new alerts (503) while this many wait.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub queue_limit: usize,

    /// Open connections the API takes at most; beyond, a new one is closed at once.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,

    /// How long the state may stay unwritable (a full disk) before the daemon stops with
    /// exit code 1, so that a restart reopens it once there is space.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub storage_timeout: humantime::Duration,

    /// A notification from Alertmanager or Grafana equal to one accepted this recently
    /// (an HA peer's copy: same group key, status and alerts) is not queued again.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub dedup_window: humantime::Duration,

    /// On a shared store (`--store postgres://…`): how long a daemon holds a webhook's
    /// deliveries without renewing; another daemon takes the webhook over this long after
    /// its daemon died or lost the database. 1s to 10m.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = lease)]
    pub lease: humantime::Duration,

    /// Give the admin sockets to GROUP (mode 0660): its members' `hookwarden plan|apply|status…`
    /// run through this daemon. Default: the daemon's user alone (0600).
    #[arg(long, env = "HOOKWARDEN_ADMIN_GROUP", value_name = "GROUP", value_parser = admin_group)]
    pub admin_group: Option<(String, u32)>,
}

/// `--digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Digest {
    On,
    Off,
}

fn lease(arg: &str) -> Result<humantime::Duration, String> {
    let lease: humantime::Duration = arg.parse().map_err(|e| format!("{e} (for example 10s)"))?;
    let within = Duration::from_secs(1)..=Duration::from_secs(600);
    if within.contains(&lease.into()) {
        Ok(lease)
    } else {
        Err("a lease lasts 1s to 10m".to_owned())
    }
}

fn digest_max(arg: &str) -> Result<usize, String> {
    match arg.parse::<usize>() {
        Ok(n) if (2..=50).contains(&n) => Ok(n),
        _ => Err("a digest carries 2 to 50 alerts (use --digest off for one message per alert)".to_owned()),
    }
}

/// Runs the daemon until SIGTERM or SIGINT; `runner` runs what the admin socket and
/// remote admin forward.
pub fn run(ctx: &mut Context<'_>, args: &DaemonArgs, runner: Runner) -> Result<Exit, Error> {
    let keyring = ctx.keyring("daemon")?;
    let api_token = token_from_env(API_TOKEN_FILE)?;
    let store = ctx.open_store("daemon")?;
    let options = Options {
        config: ctx.config.clone(),
        apply: args.apply,
        debounce: Duration::from_millis(250),
        periodic: args.periodic.into(),
        pacing: Pacing {
            per_second: args.rate,
            burst: args.burst,
            digest_max: (args.digest == Digest::On).then_some(args.digest_max),
        },
        retry: Retry {
            first: args.retry_first.into(),
            ..Retry::default()
        },
        queue_limit: args.queue_limit,
        max_connections: args.max_connections.max(1),
        storage_timeout: args.storage_timeout.into(),
        lease: args.lease.into(),
        dedup_window: args.dedup_window.into(),
        api_token,
        admin_token: token_from_env(ADMIN_TOKEN_FILE)?,
        admin: admin_sockets(args),
    };
    // One thread serves the sled store, whose calls never wait on the network. On a
    // database, a call waits for its answer: the runtime then has a thread per core, and
    // a call moves the thread's other tasks to another while it waits.
    let runtime = if store.shared() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    // Blocking threads (a pass's parsing, the store's calls) end a second after their
    // last work, instead of idling on for ten.
    .thread_keep_alive(Duration::from_secs(1))
    .build()
    .expect("a tokio runtime starts");
    let out = &mut *ctx.out;
    runtime.block_on(async {
        let (listener, shown) = bind(&args.listen).await?;
        // Said once ready: the state loaded, the first pass done, the admin socket bound.
        let ready = move || {
            let _ = out.write_all(format!("hookwarden daemon listening on {shown}\n").as_bytes());
            let _ = out.flush();
        };
        daemon::run(
            listener,
            store,
            keyring,
            options,
            runner,
            ready,
            shutdown_signal(),
        )
        .await
    })?;
    Ok(Exit::Success)
}

/// systemd's `$RUNTIME_DIRECTORY` (its first entry), and `--admin-group` looked up.
fn admin_sockets(args: &DaemonArgs) -> AdminSockets {
    let runtime_dir = std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|dirs| dirs.to_str()?.split(':').next().map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty());
    AdminSockets {
        runtime_dir,
        group: args.admin_group.clone(),
    }
}

/// A group name or id, and its id.
fn admin_group(arg: &str) -> Result<(String, u32), String> {
    crate::actor::group_id(arg).map(|gid| (arg.to_owned(), gid))
}

/// `unix:/path/to.sock` or `HOST:PORT`; returns the listener and how to reach it.
async fn bind(address: &str) -> Result<(Listener, String), DaemonError> {
    let failed = |source| DaemonError::Listen {
        address: address.to_owned(),
        source,
    };
    if let Some(path) = address.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).map_err(failed)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
        return Ok((Listener::Unix(listener), format!("unix:{path}")));
    }
    let listener = tokio::net::TcpListener::bind(address).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((Listener::Tcp(listener), format!("http://{bound}")))
}

/// SIGTERM or SIGINT. The handlers are installed now, before the daemon says it is
/// ready, so that an early signal is not the default, fatal one.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler installs");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler installs");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down: draining deliveries in flight");
    }
}
