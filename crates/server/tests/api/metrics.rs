//! `GET /metrics`: the Prometheus exposition parses, and its series move with what happens
//! (requests by route template, method and status; their latency; cache reads; rate-limit
//! refusals; open live streams and events delivered; the database pool). The recorder is one
//! per process and tests run side by side, so every check is of a change this test caused.

use std::collections::BTreeMap;

use missive::limits::Rules;
use missive_store::testing::TestDb;
use reqwest::StatusCode;

use crate::helpers::{TestApp, test_config};
use crate::live::{Live, Transport};
use crate::v1_conversations::{conversation, sent, v1_user};

/// One sample: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the text exposition: every sample line into its series and value. Panics on a line
/// that is not one (a comment, or `name{label="value",...} value`).
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample: series and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels end with }");
                let labels = inner
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        samples.insert((name, labels), value);
    }
    samples
}

async fn scrape(app: &TestApp) -> BTreeMap<Series, f64> {
    let reply = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let kind = reply.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    parse(&reply.text().await.unwrap())
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_and_move_with_requests_streams_cache_and_refusals() {
    let rules = Rules::parse("v1.search=2/min").unwrap();
    let app = TestApp::start(TestDb::sqlite().await, move |db| {
        let mut config = test_config(db);
        config.rate_limits = rules;
        config
    })
    .await;
    let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
    let id = conversation(&app, &alice, &bob).await;
    let mut stream = Live::open(&app, &bob, Transport::Ws, None).await;
    stream.ready().await;
    let before = scrape(&app).await;

    let me = app.get("/v1/users/me", alice.auth()).await;
    assert_eq!(me.status, StatusCode::OK);
    let unknown = app.get("/no/such/route", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for _ in 0..3 {
        app.get("/v1/users?q=a", alice.auth()).await;
    }
    sent(&app, &alice, id, "hello").await;
    stream.item().await;
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let me_route = [
        ("route", "/v1/users/me"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(moved("missive_http_requests_total", &me_route) >= 1.0);
    let timed = [("route", "/v1/users/me"), ("method", "GET")];
    assert!(moved("missive_http_request_duration_seconds_count", &timed) >= 1.0);
    assert!(value(&after, "missive_http_request_duration_seconds_sum", &timed) > 0.0);
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(moved("missive_http_requests_total", &unmatched) >= 1.0);
    assert!(moved("missive_rate_limited_total", &[("rule", "v1.search")]) >= 1.0);
    // Every authenticated request reads the session through the cache.
    let reads = moved("missive_cache_reads_total", &[("result", "hit")])
        + moved("missive_cache_reads_total", &[("result", "miss")]);
    assert!(reads >= 1.0);
    assert!(
        value(
            &after,
            "missive_live_streams",
            &[("transport", "websocket")]
        ) >= 1.0
    );
    assert!(
        moved(
            "missive_events_delivered_total",
            &[("transport", "websocket")]
        ) >= 1.0
    );
    let pool = value(&after, "missive_db_pool_connections", &[("state", "idle")])
        + value(
            &after,
            "missive_db_pool_connections",
            &[("state", "in_use")],
        );
    assert!(pool >= 1.0, "no pool connections counted");
    // The sends wrote, the history reads read.
    for access in ["read", "write"] {
        let timed = [("access", access)];
        assert!(
            moved("missive_db_query_duration_seconds_count", &timed) >= 1.0,
            "{access}"
        );
    }
    assert!(after.contains_key(&(
        "missive_password_hashes".to_owned(),
        [("state".to_owned(), "queued".to_owned())].into()
    )));
}

#[tokio::test]
async fn with_a_metrics_address_metrics_are_served_there_only() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let app = TestApp::start(TestDb::sqlite().await, move |db| {
        let mut config = test_config(db);
        config.metrics_bind = Some(address);
        config
    })
    .await;
    let main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let mut served = None;
    for _ in 0..50 {
        if let Ok(reply) = app
            .client
            .get(format!("http://{address}/metrics"))
            .send()
            .await
        {
            served = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let served = served.expect("metrics on their own address");
    assert_eq!(served.status(), StatusCode::OK);
    let samples = parse(&served.text().await.unwrap());
    assert!(
        samples
            .keys()
            .any(|(name, _)| name == "missive_db_pool_connections")
    );
}
