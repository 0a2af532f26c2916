//! A small closed-loop load generator for benchmarks (see `bench/`): `concurrency` workers
//! each send one `GET url` (or, with `--body`, a `POST` of that JSON) with a bearer token,
//! wait for the answer, and repeat, for `duration` seconds. Prints requests per second and latency percentiles.
//!
//! Options for `bench/run.sh`:
//! - `--users FILE`: lines of `TOKEN PEER_ID`; worker `i` sends as line `i` (modulo the number
//!   of lines), with `{peer}` in the URLs and bodies replaced by that line's `PEER_ID`. So 64
//!   workers can be 64 users, each writing to or reading their own conversation.
//! - `--mix-url URL --mix-body JSON --mix-percent P`: that share of each worker's requests
//!   (evenly spaced) is a `POST` of `--mix-body` to `--mix-url` instead; each kind of request
//!   then gets a result line of its own as well.
//! - `--count N`: each worker sends exactly `N` requests and stops (`--count 1` with 64 workers
//!   is a burst of 64 concurrent requests). `{n}` in a body is replaced by the request's
//!   number, counted from 0 over all workers, so a burst can register distinct users.
//!
//! Failures are counted as 5xx, other non-2xx statuses, and socket errors (including
//! timeouts). Bounded on purpose: it talks only to 127.0.0.1 / localhost, runs at most 120 s
//! with at most 256 workers, and stops after 10 million requests.
//!
//! ```text
//! cargo run --release -p missive --example loadgen -- \
//!     --url 'http://127.0.0.1:8099/messages?peer_id=2&limit=20' --token "$TOKEN" \
//!     --concurrency 16 --duration 15
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
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
    /// Sent as `Authorization: Bearer <token>` (none when neither this nor --users is given).
    #[arg(long)]
    token: Option<String>,
    /// A file of `TOKEN PEER_ID` lines, one per user; worker i is line i (modulo their number).
    #[arg(long, conflicts_with = "token")]
    users: Option<PathBuf>,
    /// Workers, each with one request in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Seconds to run (with --count: at most).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120))]
    duration: u64,
    /// A JSON body: when given, each request is a POST of it instead of a GET.
    #[arg(long)]
    body: Option<String>,
    /// A second request, POSTed to this URL for --mix-percent of the requests.
    #[arg(long, requires = "mix_body")]
    mix_url: Option<String>,
    /// The JSON body of the second request.
    #[arg(long, requires = "mix_url")]
    mix_body: Option<String>,
    /// How many requests in a hundred are the second request.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    mix_percent: u64,
    /// Each worker sends exactly this many requests, then stops.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    count: Option<u64>,
    /// A label for the result line.
    #[arg(long, default_value = "run")]
    label: String,
}

/// What one worker saw: latencies of successful requests (microseconds) for each kind of
/// request (0: the main one, 1: the mixed-in one), and failures.
#[derive(Default)]
struct Tally {
    latencies: [Vec<u64>; 2],
    server_errors: u64,
    other_status: u64,
    socket_errors: u64,
}

impl Tally {
    fn failures(&self) -> u64 {
        self.server_errors + self.other_status + self.socket_errors
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    check_local(&args.url);
    if let Some(mix_url) = &args.mix_url {
        check_local(mix_url);
    }
    let users: Vec<(Option<String>, String)> = match &args.users {
        Some(path) => std::fs::read_to_string(path)
            .expect("a readable --users file")
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (token, peer) = line.trim().split_once(' ').expect("TOKEN PEER_ID lines");
                (Some(token.to_owned()), peer.trim().to_owned())
            })
            .collect(),
        None => vec![(args.token.clone(), String::new())],
    };
    assert!(!users.is_empty(), "--users names no user");

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::from(args.concurrency))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..usize::from(args.concurrency))
        .map(|index| {
            let (token, peer) = &users[index % users.len()];
            let with_peer = |text: &str| text.replace("{peer}", peer);
            let mut requests = vec![Request {
                url: reqwest::Url::parse(&with_peer(&args.url)).unwrap(),
                body: args.body.as_deref().map(with_peer),
            }];
            if let Some(mix_url) = &args.mix_url {
                requests.push(Request {
                    url: reqwest::Url::parse(&with_peer(mix_url)).unwrap(),
                    body: args.mix_body.as_deref().map(with_peer),
                });
            }
            let worker = Worker {
                client: client.clone(),
                token: token.clone(),
                requests,
                mix_percent: args.mix_percent,
                // Each worker starts at a different point of the mix pattern.
                offset: index as u64,
                count: args.count,
            };
            tokio::spawn(worker.run(deadline, sent.clone()))
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.unwrap();
        for (all, mine) in total.latencies.iter_mut().zip(tally.latencies) {
            all.extend(mine);
        }
        total.server_errors += tally.server_errors;
        total.other_status += tally.other_status;
        total.socket_errors += tally.socket_errors;
    }
    report(&args, started.elapsed(), total);
}

fn check_local(text: &str) {
    let url = reqwest::Url::parse(&text.replace("{peer}", "0")).expect("a valid URL");
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    assert!(
        local && url.scheme() == "http",
        "loadgen only talks to http://127.0.0.1"
    );
}

/// One request a worker repeats: a GET, or a POST of `body`.
struct Request {
    url: reqwest::Url,
    body: Option<String>,
}

struct Worker {
    client: reqwest::Client,
    token: Option<String>,
    /// The main request and, with --mix-url, the mixed-in one.
    requests: Vec<Request>,
    mix_percent: u64,
    offset: u64,
    count: Option<u64>,
}

impl Worker {
    /// Which request the worker's `k`th is: spreads `mix_percent` in a hundred evenly.
    fn kind(&self, k: u64) -> usize {
        if self.requests.len() == 1 {
            return 0;
        }
        let k = k + self.offset;
        usize::from((k + 1) * self.mix_percent / 100 > k * self.mix_percent / 100)
    }

    fn build(&self, kind: usize, n: u64) -> reqwest::RequestBuilder {
        let request = &self.requests[kind];
        let builder = match &request.body {
            Some(body) => self
                .client
                .post(request.url.clone())
                .header("content-type", "application/json")
                .body(body.replace("{n}", &n.to_string())),
            None => self.client.get(request.url.clone()),
        };
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn run(self, deadline: Instant, sent: Arc<AtomicU64>) -> Tally {
        let mut tally = Tally::default();
        let mut k = 0;
        while Instant::now() < deadline && self.count.is_none_or(|count| k < count) {
            let n = sent.fetch_add(1, Ordering::Relaxed);
            if n >= MAX_REQUESTS {
                break;
            }
            let kind = self.kind(k);
            k += 1;
            let began = Instant::now();
            match self.build(kind, n).send().await {
                Ok(response) => {
                    let status = response.status();
                    let read = response.bytes().await.is_ok();
                    if !read {
                        tally.socket_errors += 1;
                    } else if status.is_success() {
                        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                        tally.latencies[kind].push(micros);
                    } else if status.is_server_error() {
                        tally.server_errors += 1;
                    } else {
                        tally.other_status += 1;
                    }
                }
                Err(_) => tally.socket_errors += 1,
            }
        }
        tally
    }
}

fn report(args: &Args, elapsed: Duration, mut tally: Tally) {
    for latencies in &mut tally.latencies {
        latencies.sort_unstable();
    }
    let secs = elapsed.as_secs_f64();
    let mut all: Vec<u64> = tally.latencies.concat();
    all.sort_unstable();
    println!(
        "{}: {} ok, {} failed ({} 5xx, {} other status, {} socket) in {:.2} s = {:.0} req/s; \
         latency ms {} (concurrency {})",
        args.label,
        all.len(),
        tally.failures(),
        tally.server_errors,
        tally.other_status,
        tally.socket_errors,
        secs,
        all.len() as f64 / secs,
        percentiles(&all),
        args.concurrency,
    );
    if args.mix_url.is_some() {
        for (name, latencies) in ["main", "mixed-in"].iter().zip(&tally.latencies) {
            println!(
                "  {name}: {} ok = {:.0} req/s; latency ms {}",
                latencies.len(),
                latencies.len() as f64 / secs,
                percentiles(latencies),
            );
        }
    }
}

/// `p50 .. p90 .. p99 .. max ..` in milliseconds, of sorted microsecond latencies.
fn percentiles(sorted: &[u64]) -> String {
    let count = sorted.len();
    let at = |p: f64| -> f64 {
        if count == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * count as f64).ceil() as usize;
        sorted[rank.clamp(1, count) - 1] as f64 / 1000.0
    };
    format!(
        "p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        at(50.0),
        at(90.0),
        at(99.0),
        at(100.0)
    )
}
