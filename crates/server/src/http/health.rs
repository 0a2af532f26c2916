//! Liveness (`/health`, `/healthz`: the process answers) and readiness (`/readyz`: it can
//! reach its database; it also says whether rate limits are shared), for load balancers and
//! orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::limits::LimiterHealth;
use crate::state::AppState;

const TAG: &str = "Health";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`; `degraded` when the instance serves but Redis is unreachable (rate limits are
    /// counted per instance meanwhile); `unavailable` (503) when the database is down;
    /// `stopping` (503) once shutdown has begun.
    status: &'static str,
    /// `ok` or `unreachable` (`unknown` while stopping).
    database: &'static str,
    /// `ok` (shared through Redis), `degraded` (Redis unreachable: counted per instance until
    /// it returns) or `in_process` (no Redis configured); `unknown` while stopping.
    #[schema(example = "ok")]
    rate_limits: &'static str,
    /// On 503 only: the error body every route uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = TAG, responses((status = 200, body = Status)))]
async fn health() -> axum::Json<Status> {
    axum::Json(Status { status: "ok" })
}

/// The process is up (same as `/health`).
#[utoipa::path(get, path = "/healthz", tag = TAG, responses((status = 200, body = Status)))]
async fn healthz() -> axum::Json<Status> {
    health().await
}

/// The instance can serve: its database answers. An unreachable Redis leaves it serving
/// (200, status `degraded`): rate limits then hold per instance.
#[utoipa::path(get, path = "/readyz", tag = TAG, responses(
    (status = 200, body = Readiness),
    (status = 503, body = Readiness, description = "The database is unreachable, or the instance is stopping"),
))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    if state.stopping().is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Readiness {
                status: "stopping",
                database: "unknown",
                rate_limits: "unknown",
                detail: Some("Shutting down"),
                code: Some("service_unavailable"),
            }),
        );
    }
    let (database, limiter) = tokio::join!(state.core().database_ready(), state.limiter().health());
    let (rate_limits, degraded) = match (&state.config().redis_url, limiter) {
        (None, _) => ("in_process", false),
        (Some(_), LimiterHealth::Ok) => ("ok", false),
        (Some(_), LimiterHealth::Degraded) => ("degraded", true),
    };
    match database {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(Readiness {
                status: if degraded { "degraded" } else { "ok" },
                database: "ok",
                rate_limits,
                detail: None,
                code: None,
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Readiness {
                    status: "unavailable",
                    database: "unreachable",
                    rate_limits,
                    detail: Some("Database unreachable"),
                    code: Some("service_unavailable"),
                }),
            )
        }
    }
}
