//! The HTTP/1.1 accept loop, in place of `axum::serve`, which cannot bound how long a client
//! may take: a header-read timeout (which hyper also applies to idle keep-alive connections
//! waiting for their next request), a timeout for ordinary requests, and a cap on concurrent
//! connections (past it, new connections wait in the kernel's backlog until one closes).
//! Keeps what `axum::serve` did: TCP_NODELAY, `ConnectInfo<SocketAddr>`, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::Router;
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// How long clients may take, and how many may be connected at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// From the first byte of a request (or, between requests, from the last response) to the
    /// end of its headers. Slow-header clients and idle keep-alive connections are closed.
    pub header_timeout: Duration,
    /// From the end of the headers to the response's head, for every request except the
    /// long-lived ones ([`is_long_lived`]).
    pub request_timeout: Duration,
}

impl ConnectionLimits {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1_024;
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Requests that last by design: the live metrics stream, file uploads, downloads and
/// conversions, and MLflow artifact transfers (their size, not the server, decides how long they
/// take; a conversion cut off would leave its output unrecorded).
pub fn is_long_lived(path: &str) -> bool {
    use leptos::server_fn::ServerFn;
    path == <app::live::StreamMetrics as ServerFn>::PATH
        || path == <app::pages::files::ConvertFile as ServerFn>::PATH
        || path == "/api/v1/files"
        || path.starts_with("/api/v1/files/")
        || path.starts_with("/api/2.0/mlflow-artifacts/")
        || path.starts_with("/ajax-api/2.0/mlflow-artifacts/")
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks every
/// connection to finish its current request, and returns once all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Each connection holds a receiver: `stop` tells them to finish, `closed()` on the sender
    // completes once the last one has dropped its receiver.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Leptos streams pages in several writes; without TCP_NODELAY, Nagle's algorithm and
        // the client's delayed ACK hold each page back by ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let timed = !is_long_lived(req.uri().path());
            let response = router.clone().oneshot(req);
            async move {
                if !timed {
                    return response.await;
                }
                match tokio::time::timeout(limits.request_timeout, response).await {
                    Ok(done) => done,
                    Err(_) => Ok::<_, Infallible>(request_timed_out(limits.request_timeout)),
                }
            }
        });
        let connection = http.serve_connection(TokioIo::new(tcp), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(connection);
            let stopping = async move {
                // The guard `wait_for` returns must not live across an await: it is not Send.
                let _ = stop.wait_for(|stopping| *stopping).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // Timeouts and clients going away are routine; nothing to alarm anyone with.
                tracing::debug!(%remote, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

/// Errors of one incoming connection (it reset before we took it) are routine; others (out of
/// file descriptors) would repeat at once, so the loop pauses before trying again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted) {
        return;
    }
    tracing::error!("cannot accept connections: {e}; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn request_timed_out(limit: Duration) -> axum::response::Response {
    let message = format!("the request took longer than {} s and was cut off", limit.as_secs_f32());
    let body = serde_json::json!({ "error": message, "status": 408 });
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    // Part of the request may still be unread: this connection cannot carry another one.
    response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::is_long_lived;

    #[test]
    fn only_streams_and_file_transfers_are_long_lived() {
        assert!(is_long_lived("/api/stream_metrics"));
        assert!(is_long_lived("/api/v1/files"));
        assert!(is_long_lived("/api/v1/files/abc/content"));
        assert!(is_long_lived("/api/convert_file"));
        assert!(!is_long_lived("/api/v1/filesystem"));
        assert!(!is_long_lived("/api/list_logs"));
        assert!(!is_long_lived("/"));
    }
}
