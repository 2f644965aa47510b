//! The daemon's listeners: the API (alerts, status, and remote admin when an admin token
//! is set) and the admin socket, each served until shutdown within the drain deadline.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connections::{self, Limits};
use super::{DRAIN_DEADLINE, DaemonError, Shared, load};
use crate::explain::describe;
use crate::remote::{Lent, SOCKET};
use crate::secrets::Secret;
use crate::server::{self, AdminAccess, AppState};

/// Where the API listens.
#[derive(Debug)]
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// The API, with the alert token and, when an admin token is set, `/v1/admin/run`.
pub(super) fn api(ctx: &Arc<Shared>) -> axum::Router {
    let remote = ctx
        .options
        .admin_token
        .clone()
        .map(|token| admin_access(ctx, Some(token)));
    server::router(app_state(ctx, ctx.options.api_token.clone(), remote))
}

/// The API's state, with `api_token` guarding the alert routes and `admin` enabling
/// `/v1/admin/run`.
fn app_state(ctx: &Shared, api_token: Option<Secret>, admin: Option<AdminAccess>) -> Arc<AppState> {
    Arc::new(AppState {
        outbox: ctx.outbox.clone(),
        store: ctx.store.clone(),
        catalog: ctx.catalog.clone(),
        metrics: ctx.metrics.clone(),
        api_token,
        queue_limit: ctx.options.queue_limit,
        dedup_window: ctx.options.dedup_window,
        problems: ctx.problems.clone(),
        admin,
    })
}

/// Open connections the admin socket takes: the CLI makes one a command.
const ADMIN_CONNECTIONS: usize = 16;

/// The admin sockets, `$STATE/admin.sock` and `$RUNTIME_DIRECTORY/admin.sock`: the CLI
/// on this host, while the daemon holds the state. Their file mode is the guard: 0600,
/// or 0660 for the `--admin-group`.
pub(super) fn admin_sockets(
    ctx: &Arc<Shared>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<(), DaemonError> {
    let sockets = &ctx.options.admin;
    let paths = std::iter::once(ctx.store.dir().join(SOCKET))
        .chain(sockets.runtime_dir.as_ref().map(|dir| dir.join(SOCKET)));
    for socket in paths {
        // A PostgreSQL store's daemon has no state directory of its own until now.
        if let Some(dir) = socket
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| DaemonError::Listen {
                    address: socket.display().to_string(),
                    source,
                })?;
        }
        let listener = bind_private(&socket, sockets.group.as_ref())?;
        let inode = std::fs::symlink_metadata(&socket)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let app = server::router(app_state(ctx, None, Some(admin_access(ctx, None))));
        let stop = cancel.clone();
        tasks.spawn(async move {
            let limits = Limits {
                connections: ADMIN_CONNECTIONS,
                ..Limits::default()
            };
            let refused = || {
                tracing::warn!("an admin socket has {ADMIN_CONNECTIONS} connections open; closed a new one");
            };
            if let Err(error) = until(Listener::Unix(listener), app, limits, &stop, refused).await {
                tracing::error!(%error, "the admin socket failed");
            }
            remove_own(&socket, inode);
        });
    }
    Ok(())
}

/// A unix socket at `path` (replacing a stale one) for its owner, and for `group` when
/// given.
fn bind_private(path: &Path, group: Option<&(String, u32)>) -> Result<tokio::net::UnixListener, DaemonError> {
    let failed = |source| DaemonError::Listen {
        address: path.display().to_string(),
        source,
    };
    // A socket another daemon still answers on is its: not replaced.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(failed(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another hookwarden daemon listens on it",
        )));
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path).map_err(failed)?;
    let given = match group {
        Some((name, gid)) => rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(*gid)))
            .map(|()| 0o660)
            .map_err(|errno| DaemonError::AdminGroup {
                socket: path.display().to_string(),
                group: name.clone(),
                source: errno.into(),
            }),
        None => Ok(0o600),
    };
    let mode = given.inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(failed)?;
    Ok(listener)
}

/// Removes the socket at `path` if it is still the one bound as `inode`, not another
/// daemon's since.
fn remove_own(path: &Path, inode: Option<u64>) {
    use std::os::unix::fs::MetadataExt as _;
    if inode.is_some() && std::fs::symlink_metadata(path).ok().map(|m| m.ino()) == inode {
        let _ = std::fs::remove_file(path);
    }
}

/// Runs commands for others with the daemon's state and identity, then reloads what
/// they may have changed.
fn admin_access(ctx: &Arc<Shared>, token: Option<Secret>) -> AdminAccess {
    let ctx = ctx.clone();
    let via = if token.is_some() {
        "via --remote"
    } else {
        "via the admin socket"
    };
    let run = move |request| {
        let lent = Lent {
            store: ctx.store.clone(),
            keyring: ctx.keyring.clone(),
            via,
        };
        let response = (ctx.runner)(request, lent);
        // The state may have moved: the next pass looks again, whatever the digest.
        ctx.forget_digest();
        ctx.trigger.notify_one();
        if let Err(error) = load::reload_blocking(&ctx) {
            tracing::error!(error = %describe(&error).trim_end(), "cannot reload the applied state");
        }
        response
    };
    AdminAccess {
        token,
        run: Arc::new(run),
    }
}

/// Serves `app` until `stop` within `limits`; graceful shutdown waits for open
/// connections, and a client that never finishes its request gets the drain deadline.
pub(super) async fn until(
    listener: Listener,
    app: axum::Router,
    limits: Limits,
    stop: &CancellationToken,
    refused: impl Fn(),
) -> std::io::Result<()> {
    let serve = async {
        match listener {
            Listener::Tcp(listener) => connections::serve(listener, app, limits, stop, refused).await,
            Listener::Unix(listener) => connections::serve(listener, app, limits, stop, refused).await,
        }
    };
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        () = serve => Ok(()),
        () = deadline => {
            tracing::warn!("connections still open {DRAIN_DEADLINE:?} after the shutdown signal; closing them");
            Ok(())
        }
    }
}
