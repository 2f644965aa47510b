//! `hookwarden daemon`: the alert endpoint and its delivery workers, under systemd or
//! by hand.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::cli::{DaemonArgs, Global};
use crate::daemon::{self, Listener, Options};
use crate::error::{Error, Exit};
use crate::outbox::{Pacing, Retry};
use crate::secrets::Secret;

pub fn run(global: &Global, args: &DaemonArgs) -> Result<Exit, Error> {
    let keyring = super::keyring(global, "daemon")?;
    let api_token = api_token()?;
    let store = super::open_store(global, "daemon")?;
    let options = Options {
        config: global.config.clone(),
        apply: args.apply,
        debounce: Duration::from_millis(250),
        periodic: args.periodic.into(),
        pacing: Pacing {
            per_second: args.rate,
            burst: args.burst,
        },
        retry: Retry {
            first: args.retry_first.into(),
            ..Retry::default()
        },
        queue_limit: args.queue_limit,
        api_token,
        admin_token: crate::admin::admin_token()?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(async {
        let (listener, shown) = bind(&args.listen).await?;
        // Said once ready: the state loaded, the first pass done, the admin socket bound.
        let ready = move || println!("hookwarden daemon listening on {shown}");
        daemon::run(listener, store, keyring, options, ready, shutdown_signal()).await
    })?;
    Ok(Exit::Success)
}

/// `HOOKWARDEN_API_TOKEN_FILE`: the bearer token every request but the health checks
/// must carry.
pub fn api_token() -> Result<Option<Secret>, Error> {
    crate::admin::token_from_file("HOOKWARDEN_API_TOKEN_FILE")
}

/// `unix:/path/to.sock` or `HOST:PORT`; returns the listener and how to reach it.
async fn bind(address: &str) -> Result<(Listener, String), Error> {
    let failed = |source| Error::Listen {
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
