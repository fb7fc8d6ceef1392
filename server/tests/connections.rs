//! Connection limits of the real server (finding 5 of the attacker probe, issue 10): a client
//! that stops halfway through its headers, or idles on a keep-alive connection, is disconnected
//! after the header timeout; a request that takes too long is answered 408 (the live metrics
//! stream is not cut); connections beyond the cap wait until another one closes.

mod common;

use std::time::{Duration, Instant};

use common::{admin_auth, spawn_app_with, TestApp};
use okrflow_server::serve::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app_with(limits: ConnectionLimits) -> TestApp {
    spawn_app_with(|c| c.limits = limits).await
}

/// Reads until the server closes the connection, for at most `within`; returns what was read
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut bytes = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

/// Reads one response head and its `Content-Length` body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("readable");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&bytes));
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: okrflow\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_halfway_through_its_headers_is_disconnected() {
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(1), ..Default::default() };
    let app = app_with(limits).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HT").await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "still connected 5 s after half a request line");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the timeout: {:?}", started.elapsed());
    // Others are served all the while.
    let mut other = TcpStream::connect(app.addr).await.unwrap();
    other.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut other).await.starts_with("HTTP/1.1 200"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(1), ..Default::default() };
    let app = app_with(limits).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // A second request on the same connection works…
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // …but idling is not.
    let (rest, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "an idle keep-alive connection was kept 5 s");
    assert!(!rest.contains("200"), "{rest}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_whose_body_never_arrives_is_answered_408() {
    let limits = ConnectionLimits { request_timeout: Duration::from_secs(1), ..Default::default() };
    let app = app_with(limits).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/list_logs HTTP/1.1\r\nHost: okrflow\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nsource=Mem",
        admin_auth()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("longer than 1 s"), "{answer}");
    assert!(closed, "the connection closes after a 408");
    assert!(started.elapsed() >= Duration::from_millis(900));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_metrics_stream_is_not_cut_by_the_request_timeout() {
    let limits = ConnectionLimits { request_timeout: Duration::from_secs(1), ..Default::default() };
    let app = app_with(limits).await;
    let mut response = reqwest::Client::new()
        .post(app.url("/api/stream_metrics"))
        .header("authorization", admin_auth())
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("stream opens");
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let mut late = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("a sample within 5 s")
            .expect("the stream is readable")
            .expect("the stream is still open");
        if started.elapsed() > Duration::from_millis(1500) && !chunk.is_empty() {
            late += 1;
        }
    }
    assert!(late > 0, "samples keep coming after the request timeout");
    drop(response);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_until_another_closes() {
    let limits = ConnectionLimits { max_connections: 2, ..Default::default() };
    let app = app_with(limits).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let mut second = TcpStream::connect(app.addr).await.unwrap();
    second.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"), "two connections are served");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The third connects (the kernel's backlog takes it) but is not served…
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(early.is_err(), "a connection past the cap was served: {early:?}");
    // …until one of the others closes.
    drop(first);
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
    drop(second);
    drop(third);
    app.stop().await.unwrap();
}
