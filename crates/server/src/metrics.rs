//! Prometheus metrics through the `metrics` facade: one recorder for the process, rendered in
//! the text exposition format at `GET /metrics` (or on `MISSIVE_METRICS_BIND`). Counters and
//! histograms are recorded where things happen; gauges of state held elsewhere (the database
//! pool, Redis, the password queue) are read when scraped. The README lists every metric.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::limits::LimiterHealth;
use crate::state::AppState;

/// Request and database latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The recorder's handle, installed on first use; `None` when another recorder was installed
/// first (nothing is exported then).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Installs the recorder before anything records (what is recorded before is lost).
pub fn install() {
    let _ = handle();
}

/// How often histogram samples are folded into their buckets, scraped or not.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into their buckets every few seconds until dropped: the recorder
/// keeps every sample until then, so an instance nobody scrapes would otherwise grow with
/// every request.
pub async fn upkeep() {
    let Some(handle) = handle() else { return };
    let mut ticks = tokio::time::interval(UPKEEP_EVERY);
    loop {
        ticks.tick().await;
        handle.run_upkeep();
    }
}

/// `GET /metrics`: every metric, in Prometheus' text format.
pub async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    sample_gauges(&state).await;
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Counts one operation that would have used Redis and did without it (`what`: `rate_limit`,
/// counted in-process; `cache`, read from or left to the database; `doorbell`, left to the
/// other instances' pollers).
pub fn redis_fallback(what: &'static str) {
    metrics::counter!("missive_redis_fallbacks_total", "use" => what).increment(1);
}

/// The gauges whose state lives elsewhere, read now.
async fn sample_gauges(state: &AppState) {
    let (open, idle) = state.core().pool_usage();
    metrics::gauge!("missive_db_pool_connections", "state" => "idle").set(idle as f64);
    let busy = (open as usize).saturating_sub(idle);
    metrics::gauge!("missive_db_pool_connections", "state" => "in_use").set(busy as f64);
    if state.config().redis_url.is_some() {
        let up = matches!(state.limiter().health().await, LimiterHealth::Ok);
        metrics::gauge!("missive_redis_up").set(if up { 1.0 } else { 0.0 });
    }
    let (queued, running) = state.core().password_work();
    metrics::gauge!("missive_password_hashes", "state" => "queued").set(queued as f64);
    metrics::gauge!("missive_password_hashes", "state" => "running").set(running as f64);
}

/// Middleware: counts each request by route template, method and status, and times it.
pub async fn track_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // Known methods only: anything else would let clients mint label values.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("missive_http_request_duration_seconds",
        "route" => route.clone(), "method" => method)
    .record(started.elapsed().as_secs_f64());
    metrics::counter!("missive_http_requests_total",
        "route" => route, "method" => method, "status" => status)
    .increment(1);
    response
}

/// A request refused by rate-limit rule `rule`.
pub fn rate_limited(rule: &'static str) {
    metrics::counter!("missive_rate_limited_total", "rule" => rule).increment(1);
}

/// A cached read answered from the cache (`hit`) or the database (`miss`).
pub fn cache_read(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("missive_cache_reads_total", "result" => result).increment(1);
}

/// An open live stream, counted while it lives.
pub struct StreamGauge(&'static str);

impl StreamGauge {
    pub fn open(transport: &'static str) -> Self {
        metrics::gauge!("missive_live_streams", "transport" => transport).increment(1.0);
        Self(transport)
    }

    /// One event handed to this stream's client.
    pub fn delivered(&self) {
        metrics::counter!("missive_events_delivered_total", "transport" => self.0).increment(1);
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("missive_live_streams", "transport" => self.0).decrement(1.0);
    }
}
