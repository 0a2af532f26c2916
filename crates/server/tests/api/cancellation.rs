//! Clients that hang up at every point of a request, while others are being served: nobody
//! gets a 5xx, during or after.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, apps};

/// Sends and history reads that the client abandons after 1 to 15 ms, at whatever stage the
/// server has reached.
async fn abandon_requests(app: &TestApp, token: &str, peer: i64, seed: u64) {
    for i in 0..120u64 {
        let timeout = Duration::from_millis(1 + (i * 7 + seed) % 15);
        let request = if i % 2 == 0 {
            app.client
                .post(app.url("/send"))
                .json(&json!({"recipient_id": peer, "content": "maybe"}))
        } else {
            app.client
                .get(app.url(&format!("/messages?peer_id={peer}&limit=20")))
        };
        let _ = request.bearer_auth(token).timeout(timeout).send().await;
    }
}

/// Sends and reads that run to the end; every answer must be a success.
async fn honest_requests(app: &TestApp, token: &str, peer: i64, rounds: usize) {
    for _ in 0..rounds {
        let sent = app
            .post(
                "/send",
                json!({"recipient_id": peer, "content": "kept"}),
                Some(token),
            )
            .await;
        assert_eq!(
            sent.status,
            StatusCode::OK,
            "{}: {}",
            app.label(),
            sent.body
        );
        let read = app
            .get(&format!("/messages?peer_id={peer}&limit=20"), Some(token))
            .await;
        assert_eq!(
            read.status,
            StatusCode::OK,
            "{}: {}",
            app.label(),
            read.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_midway_never_cause_errors_for_others() {
    for app in apps().await {
        let (alice, alice_token) = app.chat_user("alice").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        tokio::join!(
            abandon_requests(&app, &alice_token, bob, 0),
            abandon_requests(&app, &bob_token, alice, 3),
            abandon_requests(&app, &alice_token, bob, 5),
            honest_requests(&app, &bob_token, alice, 40),
            honest_requests(&app, &alice_token, bob, 40),
        );
        // Afterwards, more concurrent sends than the pool has connections all succeed.
        let after = (0..24).map(|_| honest_requests(&app, &alice_token, bob, 1));
        futures::future::join_all(after).await;
    }
}
