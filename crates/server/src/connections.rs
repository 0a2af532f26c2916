//! Accepting and serving HTTP/1.1 connections, with the limits `axum::serve` does not offer:
//! a deadline for each request's head, a cap on open connections, accept errors that never
//! stop the loop, and a graceful shutdown bounded in time.
//!
//! A client that opens a connection and sends nothing, or its headers a byte at a time, is cut
//! off once the head timeout passes; the same deadline closes keep-alive connections left idle
//! between requests. At the cap, the loop stops accepting until a connection closes (new ones
//! wait in the kernel's backlog), so descriptors never run out under a flood.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The largest request head (request line and headers) a client may send; larger ones get 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Descriptors kept back from the connection cap for Redis, files and logs, besides those of
/// the database pool (up to three per connection: a SQLite database, its log and its index).
const RESERVED_DESCRIPTORS: u64 = 256;
const DESCRIPTORS_PER_DB_CONNECTION: u64 = 3;

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once (further ones wait to be accepted).
    pub max_connections: usize,
    /// How long a connection has to deliver a request's complete head, from when it opens or
    /// finishes its previous response.
    pub head_timeout: Duration,
    /// How long shutdown waits for requests in flight before closing their connections.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish and closes idle connections; connections still busy after
/// `shutdown_grace` are dropped. (The work of a request whose connection is dropped still runs
/// to its end on its own task: see `http::run_to_completion`.)
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let tasks = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let stopping = CancellationToken::new();
    let cut_off = CancellationToken::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut accept_errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let (stream, peer, permit) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_errors.pause_after(err).await;
                continue;
            }
        };
        accept_errors.recovered();
        // Small writes (an event, a short JSON answer) go out at once.
        let _ = stream.set_nodelay(true);
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        // Upgrades are for live delivery's WebSockets: an upgraded socket leaves hyper (and
        // this permit) and must be counted by whoever takes it.
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let (stopping, cut_off) = (stopping.clone(), cut_off.clone());
        tasks.spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    cut_off.run_until_cancelled(connection).await
                }
            };
            if let Some(Err(err)) = ended {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    stopping.cancel();
    tasks.close();
    if tokio::time::timeout(limits.shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "shutdown: connections still busy after the grace period are dropped"
        );
        cut_off.cancel();
    }
}

/// Waits for room under the connection cap, then for a connection.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit)> {
    // The semaphore is never closed, so acquiring only ever waits.
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

/// Accept failures: one that concerns a single connection (it was reset before we took it) is
/// skipped; running out of descriptors or memory pauses accepting briefly, so the connections
/// already open can finish and free some, and is logged once per episode rather than per try.
#[derive(Default)]
struct AcceptErrors {
    failing: bool,
}

impl AcceptErrors {
    async fn pause_after(&mut self, err: io::Error) {
        let per_connection = matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        );
        if per_connection {
            return;
        }
        if !self.failing {
            tracing::warn!(error = %err, "cannot accept connections; retrying");
            self.failing = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("accepting connections again");
        }
    }
}

/// The connection cap the process can really hold: the configured one, lowered to fit the
/// descriptor limit (raised to its hard maximum first, as servers usually do) minus what the
/// database pool of `db_connections` and the rest of the process need.
pub fn fit_to_descriptors(configured: usize, db_connections: u32) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit");
            return configured;
        }
    };
    let reserved = RESERVED_DESCRIPTORS + DESCRIPTORS_PER_DB_CONNECTION * u64::from(db_connections);
    let room = usize::try_from(limit.saturating_sub(reserved)).unwrap_or(usize::MAX);
    if room < configured {
        tracing::warn!(
            configured,
            open_file_limit = limit,
            cap = room.max(1),
            "MISSIVE_MAX_CONNECTIONS lowered to fit the open-file limit (raise it with ulimit -n)"
        );
    }
    configured.min(room).max(1)
}
