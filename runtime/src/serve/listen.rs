//! The public listener's accept loop: one task per connection, HTTP/1.1 or h2c as the
//! client speaks, drained gracefully at shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use crate::serve::dispatch::{State, handle};

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The accept loop of the public listener. Connections run as tasks of a `JoinSet`, so
/// the ones still open when the drain bound elapses are aborted, not leaked.
pub(super) async fn serve_public(
    listener: TcpListener,
    state: Arc<State>,
    stop: impl Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer enables hyper's header read timeout against slow or idle clients.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_failed(error).await;
                        continue;
                    }
                };
                // Small request and response heads must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let peer = peer.ip();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), peer, request));
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(error) = watcher.watch(connection).await {
                        debug!(%error, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut stop => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            connections = connections.len(),
            "connections still open after the shutdown timeout; closing them"
        );
    }
    connections.shutdown().await;
}

async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    // These concern one connection that went away before it was accepted.
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        debug!(%error, "accept failed");
        return;
    }
    error!(%error, "accept failed; pausing");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}
