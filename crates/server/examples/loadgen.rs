//! A small closed-loop load generator for benchmarks (see `bench/`): `concurrency` workers
//! each send one `GET url` (or, with `--body`, a `POST` of that JSON) with a bearer token,
//! wait for the answer, and repeat, for `duration` seconds. Prints requests per second and latency percentiles.
//!
//! Bounded on purpose: it talks only to 127.0.0.1 / localhost, runs at most 120 s with at
//! most 256 workers, and stops after 10 million requests.
//!
//! ```text
//! cargo run --release -p missive --example loadgen -- \
//!     --url 'http://127.0.0.1:8099/messages?peer_id=2&limit=20' --token "$TOKEN" \
//!     --concurrency 16 --duration 15
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

const MAX_REQUESTS: u64 = 10_000_000;

#[derive(Parser)]
struct Args {
    /// The URL to GET (http://127.0.0.1:PORT/... or http://localhost:PORT/...).
    #[arg(long)]
    url: String,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(long)]
    token: String,
    /// Workers, each with one request in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Seconds to run.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120))]
    duration: u64,
    /// A JSON body: when given, each request is a POST of it instead of a GET.
    #[arg(long)]
    body: Option<String>,
    /// A label for the result line.
    #[arg(long, default_value = "run")]
    label: String,
}

/// What one worker saw: latencies of successful requests (microseconds), and failures.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    failures: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let url = reqwest::Url::parse(&args.url).expect("a valid URL");
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    assert!(
        local && url.scheme() == "http",
        "loadgen only talks to http://127.0.0.1"
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::from(args.concurrency))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let request = Request {
                client: client.clone(),
                url: url.clone(),
                token: args.token.clone(),
                body: args.body.clone(),
            };
            tokio::spawn(worker(request, deadline, sent.clone()))
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.unwrap();
        total.latencies.extend(tally.latencies);
        total.failures += tally.failures;
    }
    report(&args, started.elapsed(), total);
}

/// The one request every worker repeats.
struct Request {
    client: reqwest::Client,
    url: reqwest::Url,
    token: String,
    body: Option<String>,
}

impl Request {
    fn build(&self) -> reqwest::RequestBuilder {
        let request = match &self.body {
            Some(body) => self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .body(body.clone()),
            None => self.client.get(self.url.clone()),
        };
        request.bearer_auth(&self.token)
    }
}

async fn worker(request: Request, deadline: Instant, sent: Arc<AtomicU64>) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
        let began = Instant::now();
        let response = request.build().send().await;
        let ok = match response {
            Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
            tally.latencies.push(micros);
        } else {
            tally.failures += 1;
        }
    }
    tally
}

fn report(args: &Args, elapsed: Duration, mut tally: Tally) {
    tally.latencies.sort_unstable();
    let count = tally.latencies.len();
    let percentile = |p: f64| -> f64 {
        if count == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * count as f64).ceil() as usize;
        tally.latencies[rank.clamp(1, count) - 1] as f64 / 1000.0
    };
    println!(
        "{}: {} ok, {} failed in {:.1} s = {:.0} req/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} \
         max {:.2} (concurrency {})",
        args.label,
        count,
        tally.failures,
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        percentile(100.0),
        args.concurrency,
    );
}
