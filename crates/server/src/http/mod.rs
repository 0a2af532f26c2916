//! The HTTP surface: every face's routes, the docs, and the middleware every request passes
//! through (request ids, logging, CORS, body limit, timeout, panic guard, JSON errors).

mod auth_user;
mod compat;
mod docs;
mod health;
mod paging;
pub(crate) mod rate_limit;
mod v1;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{Instrument, Span};
use utoipa_axum::router::OpenApiRouter;

use crate::config::CorsOrigins;
use crate::error::{ApiError, body_for_status};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The generated OpenAPI document of every route (also what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = api_routes().split_for_parts().1;
    api.merge(v1::live_routes().split_for_parts().1);
    docs::finish(api)
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(compat::routes())
        .merge(health::routes())
        .merge(v1::routes())
}

pub use crate::client_ip::{ForwardedHeader, parse_trusted};
pub use auth_user::{AuthUser, bearer_token};

pub fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let completion = Completion {
        tasks: state.tasks().clone(),
        in_flight: Arc::new(Semaphore::new(config.max_connections)),
        max_body_bytes: config.max_body_bytes,
    };
    let (routes, mut api) = api_routes().split_for_parts();
    let (live, live_api) = v1::live_routes().split_for_parts();
    api.merge(live_api);
    // Event streams live as long as their clients: no request timeout, and nothing to run
    // to completion (they write nothing).
    let live = live
        .with_state(state.clone())
        .layer(axum::Extension(state.clone()))
        .layer(CatchPanicLayer::custom(panic_response));
    // `/metrics` on the main address unless `MISSIVE_METRICS_BIND` gives it one of its own.
    let routes = if config.metrics_bind.is_none() {
        routes.route("/metrics", axum::routing::get(crate::metrics::render))
    } else {
        routes
    };
    // `Router::layer` wraps every route and the fallback; the last layer added is the
    // outermost. Reading bottom-up: the request id exists before anything logs, and every
    // response, even a timeout or a panic, leaves as JSON with CORS headers and the id.
    routes
        .merge(docs::routes(docs::finish(api)))
        .merge(web::routes())
        .fallback(compat::fastapi::fallback)
        .with_state(state.clone())
        // For the rate-limit middleware each limited route carries (route layers cannot be
        // given the state when the routes are declared, before it exists).
        .layer(axum::Extension(state))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            completion,
            run_to_completion,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .merge(live)
        .layer(axum::middleware::map_response(json_error_bodies))
        // Sees each route's template and the final status (a timeout's 503 included).
        .layer(axum::middleware::from_fn(crate::metrics::track_request))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(&config.cors_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// Longest `X-Request-ID` a client may choose; longer or unprintable ones are replaced.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// A client's request id is echoed and logged with every line of its request, so only a short,
/// printable one is kept; any other is dropped and a new one made in its place.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(&REQUEST_ID).is_none_or(|id| {
        let id = id.as_bytes();
        !id.is_empty() && id.len() <= MAX_REQUEST_ID_CHARS && id.iter().all(u8::is_ascii_graphic)
    });
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// What [`run_to_completion`] needs: the tracker its tasks join, and the room left for them.
#[derive(Clone)]
struct Completion {
    tasks: TaskTracker,
    /// Requests whose work is still running, answered or not: bounded, so that clients who
    /// hang up and come back cannot pile up work faster than it finishes.
    in_flight: Arc<Semaphore>,
    max_body_bytes: usize,
}

/// Reads the request's body, then runs the rest of the request on a task of its own that always
/// runs to its end, so neither a client hanging up nor the request timeout stops a use case
/// halfway (say, between its commit and the cache entries it retires). The caller still gets
/// its timeout answer on time.
///
/// The body is read here, before the work is detached, so that a client sending it slowly is
/// still cut off by the request timeout (which drops this future, and with it the body).
async fn run_to_completion(
    State(completion): State<Completion>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = Arc::clone(&completion.in_flight).try_acquire_owned() else {
        tracing::warn!("too many requests in flight; answering 503");
        return ApiError::Unavailable.into_response();
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, completion.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(err) => return unreadable_body(err).into_response(),
    };
    let request = Request::from_parts(parts, Body::from(body));
    let work = next.run(request).instrument(Span::current());
    let answered = completion.tasks.spawn(async move {
        let response = work.await;
        drop(permit);
        response
    });
    match answered.await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "a request task failed");
            ApiError::Internal.into_response()
        }
    }
}

/// 413 for a body over the limit; 400 for one that broke off (the client is likely gone).
fn unreadable_body(err: axum::Error) -> ApiError {
    if err.into_inner().is::<http_body_util::LengthLimitError>() {
        ApiError::PayloadTooLarge
    } else {
        ApiError::unreadable_body()
    }
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str);
    tracing::info_span!("request", request_id, method = %request.method(), route)
}

fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = format_args!("{:.2}", latency.as_secs_f64() * 1000.0),
        "served"
    );
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic message may hold internals; it is logged by the panic hook, not returned.
    tracing::error!("a request handler panicked");
    ApiError::Internal.into_response()
}

/// A safety net: an error that some layer or the framework answered with a non-JSON body (a
/// timeout, a 405, a bad path) gets the standard JSON error body. Headers such as `Allow` stay.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&body_for_status(status)).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow_origin = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.clone()),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        // Whatever headers the client asks for, as the seeds allowed: a header is no
        // credential here (authentication is a bearer token, never a cookie).
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            REQUEST_ID,
            HeaderName::from_static("retry-after"),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(3600))
}
