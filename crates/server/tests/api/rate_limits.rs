//! Rate limits as clients meet them: the seeds' limits on their routes, 429 with Retry-After
//! and the seeds' strings, RateLimit-* headers, refused requests changing nothing, keys by
//! user or by client IP, and forwarded addresses believed only from trusted proxies.

use missive::limits::Rules;
use missive_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, TestApp, test_config};

/// An app on SQLite with the given rules and trusted proxies.
async fn limited_app(rules: Rules, trusted: &str) -> TestApp {
    let trusted = missive::http::parse_trusted(trusted).unwrap();
    TestApp::start(TestDb::sqlite().await, move |db| {
        let mut config = test_config(db);
        config.rate_limits = rules;
        config.trusted_proxies = trusted;
        config
    })
    .await
}

async fn login_from(app: &TestApp, forwarded_for: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post(app.url("/login"))
        .json(&json!({"username": "nobody", "password": PASSWORD}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    Reply::read(request.send().await.unwrap()).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or(""))
}

#[tokio::test]
async fn the_31st_chat_send_in_a_minute_is_refused_and_stores_nothing() {
    let app = limited_app(Rules::parse("face2.register=off").unwrap(), "").await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let send = |n: usize| {
        app.post(
            "/send",
            json!({"recipient_id": bob, "content": format!("m{n}")}),
            Some(&alice),
        )
    };

    for n in 0..30 {
        let reply = send(n).await;
        assert_eq!(reply.status, StatusCode::OK, "send {n}: {}", reply.body);
        assert_eq!(header(&reply, "ratelimit-remaining"), (29 - n).to_string());
    }
    let refused = send(30).await;

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.detail(), "Rate limit exceeded");
    assert_eq!(refused.code(), "rate_limited");
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&refused, "ratelimit-limit"), "30");
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    let history = app
        .get(&format!("/messages?peer_id={bob}&limit=100"), Some(&alice))
        .await;
    assert_eq!(history.body["total"], 30, "the refused send stored nothing");
}

#[tokio::test]
async fn the_sixth_chat_login_from_one_address_is_refused_in_the_seeds_words() {
    let app = limited_app(Rules::default(), "").await;
    for attempt in 0..5 {
        let reply = login_from(&app, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let refused = login_from(&app, None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.detail(), "Too many login attempts, try later");
    assert!(!header(&refused, "retry-after").is_empty());
}

#[tokio::test]
async fn an_invented_forwarded_address_does_not_dodge_the_limit() {
    let app = limited_app(Rules::default(), "").await;
    for n in 0..5 {
        login_from(&app, Some(&format!("198.51.100.{n}"))).await;
    }
    let refused = login_from(&app, Some("203.0.113.99")).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = limited_app(Rules::default(), "127.0.0.1").await;
    for _ in 0..5 {
        login_from(&app, Some("198.51.100.1")).await;
    }
    let first_client = login_from(&app, Some("198.51.100.1")).await;
    let second_client = login_from(&app, Some("198.51.100.2")).await;
    assert_eq!(first_client.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        second_client.status,
        StatusCode::UNAUTHORIZED,
        "another client is not limited"
    );
}

#[tokio::test]
async fn limits_are_per_user_and_unlimited_routes_carry_no_headers() {
    let app = limited_app(
        Rules::parse("face2.register=off,face2.login=off").unwrap(),
        "",
    )
    .await;
    let (alice_id, alice) = app.chat_user("alice").await;
    let (bob_id, bob) = app.chat_user("bob").await;
    let first = app
        .post(
            "/messages/",
            json!({"recipient_id": bob_id, "content": "hi"}),
            Some(&alice),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        (
            header(&first, "ratelimit-limit"),
            header(&first, "ratelimit-remaining")
        ),
        ("1", "0")
    );

    let second = app
        .post(
            "/messages/",
            json!({"recipient_id": bob_id, "content": "again"}),
            Some(&alice),
        )
        .await;
    let bobs = app
        .post(
            "/messages/",
            json!({"recipient_id": alice_id, "content": "hello"}),
            Some(&bob),
        )
        .await;

    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "face 1 allows 1 send a minute"
    );
    assert_eq!(bobs.status, StatusCode::OK, "bob has his own budget");
    let unlimited = app
        .get(&format!("/messages?peer_id={bob_id}"), Some(&alice))
        .await;
    assert!(unlimited.headers.get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn overrides_change_a_named_limit() {
    let app = limited_app(
        Rules::parse("face2.register=off,face2.send=2/min").unwrap(),
        "",
    )
    .await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = app
            .post(
                "/send",
                json!({"recipient_id": bob, "content": "x"}),
                Some(&alice),
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn failed_logins_are_throttled_on_every_face_and_correct_ones_never() {
    let app = limited_app(Rules::default(), "").await;
    let account = json!({"email": "erin@example.com", "password": PASSWORD});
    let registered = app.post("/auth/register", account.clone(), None).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    // The Message Service has no login limit of its own: correct logins are never counted.
    for attempt in 0..15 {
        let reply = app.post("/auth/login", account.clone(), None).await;
        assert_eq!(reply.status, StatusCode::OK, "correct login {attempt}");
    }
    // Wrong passwords, on two faces, share one budget of ten a minute.
    let wrong_face1 = json!({"email": "erin@example.com", "password": "not-the-password"});
    let wrong_v1 = json!({"login": "erin@example.com", "password": "not-the-password"});
    for attempt in 0..10 {
        let reply = if attempt % 2 == 0 {
            app.post("/auth/login", wrong_face1.clone(), None).await
        } else {
            app.post("/v1/auth/login", wrong_v1.clone(), None).await
        };
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "wrong login {attempt}"
        );
    }
    // Now every login from that address waits, even with the right password.
    let right_v1 = json!({"login": "erin@example.com", "password": PASSWORD});
    for (path, body) in [("/auth/login", account), ("/v1/auth/login", right_v1)] {
        let refused = app.post(path, body, None).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(refused.detail(), "Too many login attempts, try later");
        let retry: u64 = header(&refused, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
    }
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_gets_no_more_tries_than_the_limit() {
    let app = limited_app(Rules::default(), "").await;
    let account = json!({"email": "fay@example.com", "password": PASSWORD});
    app.post("/auth/register", account.clone(), None).await;
    let wrong = json!({"email": "fay@example.com", "password": "guess-guess-guess"});
    let attempts = (0..40).map(|_| app.post("/auth/login", wrong.clone(), None));
    let answers = futures::future::join_all(attempts).await;
    let tried = answers
        .iter()
        .filter(|reply| reply.status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|reply| reply.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (10, 30));
    let right = app.post("/auth/login", account, None).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Every route that carries a rule in force by default, as the OpenAPI document says (the same
/// call that puts a rule on a route documents its 429).
#[test]
fn the_limited_routes_are_the_ones_the_tables_name() {
    let api = serde_json::to_value(missive::http::openapi()).unwrap();
    let mut limited: Vec<String> = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["responses"].get("429").is_some() {
                limited.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    limited.sort();
    let mut expected = vec![
        "POST /auth/login",
        "POST /messages/",
        "GET /messages/",
        "PUT /messages/{message_id}",
        "POST /login",
        "POST /send",
        "POST /v1/auth/register",
        "POST /v1/auth/login",
        "POST /v1/auth/refresh",
        "PATCH /v1/users/me",
        "DELETE /v1/users/me",
        "GET /v1/users/me/export",
        "GET /v1/users",
        "POST /v1/conversations",
        "POST /v1/conversations/{id}/messages",
        "PATCH /v1/messages/{id}",
        "DELETE /v1/messages/{id}",
        "POST /v1/conversations/{id}/read",
        "PATCH /v1/conversations/{id}",
        "POST /v1/conversations/{id}/members",
        "DELETE /v1/conversations/{id}/members/{user_id}",
        "PATCH /v1/conversations/{id}/members/{user_id}",
        "POST /v1/conversations/{id}/typing",
    ];
    expected.sort_unstable();
    assert_eq!(limited, expected);
}
