//! A real database outage: the app reaches PostgreSQL through a TCP proxy that the test cuts
//! (dropping live connections and refusing new ones) and then restores. Requests during the
//! outage get 503s, never 500s or hangs, and service resumes by itself afterwards.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use missive_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{TestApp, test_config};

/// Forwards connections to `target` while up; when cut, drops every live connection and
/// closes new ones at once, as a crashed or partitioned database server would look.
struct Proxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (up, watch_up) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*watch_up.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, target, watch_up.clone()));
            }
        });
        Self { address, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// The URL with its host and port replaced by the proxy's.
fn through(url: &str, proxy: SocketAddr) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(proxy.port())).unwrap();
    parsed.to_string()
}

fn target_of(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).unwrap();
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test]
async fn a_lost_postgres_gives_503s_and_the_service_recovers_by_itself() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let proxy = Proxy::start(target_of(&db.url)).await;
    let proxied_url = through(&db.url, proxy.address);
    let app = TestApp::start(db, move |db| {
        let mut config = test_config(db);
        config.database_url = missive::config::Secret::new(proxied_url);
        config
    })
    .await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let send = |content: &'static str| {
        app.post(
            "/send",
            json!({"recipient_id": bob, "content": content}),
            Some(&alice),
        )
    };
    assert_eq!(send("before").await.status, StatusCode::OK);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let reply = send("during").await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a 503 must come quickly"
        );
    }
    assert_eq!(
        app.get("/readyz", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while Instant::now() < deadline {
        status = send("after").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "service did not recover after the database returned"
    );
    let history = app
        .get(&format!("/messages?peer_id={bob}&limit=100"), Some(&alice))
        .await;
    let contents: Vec<&str> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // Nothing sent during the outage was half-written; what succeeded is all there.
    assert_eq!(contents.first(), Some(&"after"));
    assert_eq!(contents.last(), Some(&"before"));
    assert!(!contents.contains(&"during"), "{contents:?}");
}
