//! Connections that misbehave: clients that open a connection and say nothing, or send their
//! headers a byte at a time, are cut off by the header timeout; the connection cap holds
//! under a flood; and honest clients keep being served throughout.

use std::time::{Duration, Instant};

use missive_store::testing::TestDb;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, test_config};

const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

async fn app_with(max_connections: usize) -> TestApp {
    TestApp::start(TestDb::sqlite().await, |db| missive::config::Config {
        header_timeout: HEAD_TIMEOUT,
        max_connections,
        ..test_config(db)
    })
    .await
}

/// Waits until the server closes the connection, for at most `within`; whether it did.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or similar answer before closing is fine; keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_and_slow_header_connections_are_closed_while_others_are_served() {
    let app = app_with(10_000).await;
    // Half say nothing at all; half start a request and never finish its headers.
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut stream = TcpStream::connect(app.address).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    // Meanwhile honest requests are answered at once.
    for _ in 0..20 {
        let reply = app.get("/healthz", None).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    // Keep trickling a byte into one of the slow ones: progress does not extend the deadline.
    let trickler = &mut idle[1];
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = trickler.write_all(b"a").await;
    }
    let started = Instant::now();
    for (i, stream) in idle.iter_mut().enumerate() {
        let within = (HEAD_TIMEOUT * 3).saturating_sub(started.elapsed());
        assert!(
            closed_by_server(stream, within).await,
            "connection {i} still open after {:?}",
            started.elapsed()
        );
    }
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_for_a_free_slot() {
    let app = app_with(4).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(app.address).await.unwrap());
    }
    // Give the server time to accept all four and reach its cap.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    // A fresh client (no pooled connection): queued in the backlog, then served once the
    // silent connections time out.
    let client = reqwest::Client::new();
    let reply = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= HEAD_TIMEOUT / 2,
        "served after {waited:?}: the cap of 4 did not hold"
    );
    assert!(waited < HEAD_TIMEOUT * 4, "served only after {waited:?}");
    drop(silent);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = app_with(10_000).await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &buf[..read]
    );
    assert!(closed_by_server(&mut stream, HEAD_TIMEOUT * 3).await);
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_cut_off_by_the_request_timeout() {
    let app = TestApp::start(TestDb::sqlite().await, |db| missive::config::Config {
        request_timeout: Duration::from_secs(1),
        ..test_config(db)
    })
    .await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(
            b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    // A byte every 200 ms: always some progress, never the whole body.
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(5) {
        let _ = stream.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the connection was held for {:?}",
        started.elapsed()
    );
}
