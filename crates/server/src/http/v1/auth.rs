//! `/v1/auth/*` and `/v1/sessions`: registering, logging in, refreshing and ending sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use missive_store::{SessionId, User};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{SessionOut, SessionTokens};
use super::{TAG_AUTH, path_id};
use crate::core::{LoginName, NewAccount, NewSession, Opened, Refresh};
use crate::error::{ApiError, ErrorBody, ErrorCode, NotFoundAs};
use crate::extract::{Json, UserAgent};
use crate::http::AuthUser;
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(limited(routes!(register), &[rules::V1_REGISTER]))
        .routes(limited(
            routes!(login),
            &[rules::V1_LOGIN, rules::FAILED_LOGINS],
        ))
        .routes(limited(routes!(refresh), &[rules::V1_REFRESH]))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = V1RegisterRequest)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "password": "correct-horse-battery", "full_name": "Alice Liddell"}))]
pub struct RegisterRequest {
    #[schema(min_length = 3, max_length = 50, pattern = r"^[A-Za-z0-9_.-]+$")]
    username: String,
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// At most 200 characters; blank means none.
    #[schema(max_length = 200)]
    full_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = V1LoginRequest)]
#[schema(example = json!({"login": "alice", "password": "correct-horse-battery"}))]
pub struct LoginRequest {
    /// A username or an e-mail address.
    login: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// A `/v1` login's session: with a refresh token.
fn v1_session(user_agent: Option<&str>) -> NewSession<'_> {
    NewSession {
        user_agent,
        refresh: Refresh::With,
    }
}

fn session_tokens(user: User, opened: Opened) -> SessionTokens {
    SessionTokens {
        user: user.into(),
        access_token: opened.access.token,
        token_type: "bearer",
        expires_in: opened.access.expires_in,
        refresh_token: opened.refresh_token.unwrap_or_default(),
    }
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/v1/auth/register", tag = TAG_AUTH, operation_id = "v1_register", request_body = RegisterRequest,
    responses(
        (status = 201, body = SessionTokens),
        (status = 409, body = ErrorBody, description = "`username_taken` or `email_taken`"),
    ))]
async fn register(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<SessionTokens>), ApiError> {
    let account = NewAccount::parse(
        Some(&body.username),
        &body.email,
        &body.password,
        body.full_name,
    )?;
    let (user, opened) = state
        .core()
        .register_and_log_in(account, v1_session(agent.as_deref()))
        .await?;
    Ok((StatusCode::CREATED, Json(session_tokens(user, opened))))
}

/// Sign in with a username or e-mail address.
#[utoipa::path(post, path = "/v1/auth/login", tag = TAG_AUTH, operation_id = "v1_login", request_body = LoginRequest,
    responses(
        (status = 200, body = SessionTokens),
        (status = 401, body = ErrorBody, description = "`invalid_credentials`"),
    ))]
async fn login(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    Json(body): Json<LoginRequest>,
) -> Result<Json<SessionTokens>, ApiError> {
    let name = if body.login.contains('@') {
        LoginName::Email(&body.login)
    } else {
        LoginName::Username(&body.login)
    };
    let session = v1_session(agent.as_deref());
    let (user, opened) = state.core().log_in(name, &body.password, session).await?;
    Ok(Json(session_tokens(user, opened)))
}

/// Spend a refresh token for a new access token and a new refresh token. Each refresh token
/// works once: presenting a spent one again ends its whole session (`refresh_token_reused`),
/// since only a stolen copy would be presented twice.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = TAG_AUTH, request_body = RefreshRequest,
    responses(
        (status = 200, body = SessionTokens),
        (status = 401, body = ErrorBody, description = "`invalid_refresh_token` or `refresh_token_reused`"),
    ))]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<SessionTokens>, ApiError> {
    let presented = body.refresh_token.trim();
    let (user, opened) = state.core().refresh_session(presented).await?;
    Ok(Json(session_tokens(user, opened)))
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/v1/auth/logout", tag = TAG_AUTH, security(("bearer" = [])),
    responses((status = 204)))]
async fn logout(
    State(state): State<AppState>,
    AuthUser { user, session_id }: AuthUser,
) -> Result<StatusCode, ApiError> {
    state.core().log_out(session_id, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the user, this one included.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = TAG_AUTH, security(("bearer" = [])),
    responses((status = 204)))]
async fn logout_all(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
) -> Result<StatusCode, ApiError> {
    state.core().end_all_sessions(user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's open sessions, most recently used first.
#[utoipa::path(get, path = "/v1/sessions", tag = TAG_AUTH, security(("bearer" = [])),
    responses((status = 200, body = [SessionOut])))]
async fn list_sessions(
    State(state): State<AppState>,
    AuthUser { user, session_id }: AuthUser,
) -> Result<Json<Vec<SessionOut>>, ApiError> {
    let sessions = state.core().open_sessions(user.id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionOut::new(session, session_id))
            .collect(),
    ))
}

/// End one of the user's sessions.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = TAG_AUTH, security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204),
        (status = 404, body = ErrorBody, description = "`session_not_found`"),
    ))]
async fn end_session(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    const NOT_FOUND: ApiError =
        ApiError::not_found(ErrorCode::SessionNotFound, "Session not found");
    let id = path_id(&id, NOT_FOUND)?;
    state
        .core()
        .end_session(SessionId(id), user.id)
        .await
        .not_found_as(NOT_FOUND)?;
    Ok(StatusCode::NO_CONTENT)
}
