//! Serving HTTP/1 on a listener with limits on every connection, since axum's `serve`
//! sets none: a cap on open connections (beyond it a new one is closed at once), a
//! deadline for each request's headers (which also closes a connection idle between
//! requests), and a deadline for each request, body included.
//!
//! Connections are served by hyper's HTTP/1 builder with tokio's timer; shutdown asks
//! each open connection to finish its request and close.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every connection of a listener may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; beyond, a new one is closed at once.
    pub connections: usize,
    /// A request's headers must have arrived this long after the connection is ready
    /// for them: a slow client, or one idle between requests, is closed.
    pub headers: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 1024,
            headers: Duration::from_secs(10),
        }
    }
}

/// A listener of TCP or unix connections.
pub(super) trait Accept {
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    async fn next(&self) -> std::io::Result<Self::Io>;
}

impl Accept for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn next(&self) -> std::io::Result<Self::Io> {
        let (stream, _) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Accept for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    async fn next(&self) -> std::io::Result<Self::Io> {
        Ok(self.accept().await?.0)
    }
}

/// Serves `app` on `listener` within `limits` until `stop`; then waits for the open
/// connections to finish their requests. Over the cap, `refused` is told.
pub(super) async fn serve(
    listener: impl Accept,
    app: axum::Router,
    limits: Limits,
    stop: &CancellationToken,
    refused: impl Fn(),
) {
    let open = Arc::new(Semaphore::new(limits.connections));
    let connections = TaskTracker::new();
    loop {
        let io = tokio::select! {
            accepted = listener.next() => match accepted {
                Ok(io) => io,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused();
            drop(io);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = stop.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    connections.close();
    connections.wait().await;
}
