//! `/v1/users`: the caller's own account, and finding other users.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use missive_store::UserId;
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{Me, PublicUser};
use super::export::{Export, ExportFailed};
use super::{TAG_USERS, path_id};
use crate::core::domain::{Password, parse_full_name};
use crate::core::input::AllValid;
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs};
use crate::extract::{Json, Query};
use crate::http::AuthUser;
use crate::http::paging::page_limit;
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const MAX_SEARCH: i64 = 50;
const USER_NOT_FOUND: ApiError = ApiError::not_found(ErrorCode::UserNotFound, "User not found");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(limited(routes!(update_me, delete_me), &[rules::V1_ACCOUNT]))
        .routes(limited(routes!(export_me), &[rules::V1_EXPORT]))
        .routes(limited(routes!(search), &[rules::V1_SEARCH]))
        .routes(routes!(by_id))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"full_name": "Alice L.", "current_password": "correct-horse-battery", "new_password": "a-new-long-password"}))]
pub struct UpdateMe {
    /// A new display name; `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    full_name: Option<Option<String>>,
    /// Required to change the password.
    current_password: Option<String>,
    /// 8 to 128 characters. Changing it ends every other session.
    #[schema(min_length = 8, max_length = 128)]
    new_password: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The start of a username, matched ignoring case: 1 to 50 characters once surrounding
    /// spaces are trimmed, without NUL.
    #[param(min_length = 1, max_length = 50)]
    #[param(pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    q: String,
    /// 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/users/me", tag = TAG_USERS, security(("bearer" = [])),
    responses((status = 200, body = Me)))]
async fn me(AuthUser { user, .. }: AuthUser) -> Json<Me> {
    Json(user.into())
}

/// Change the display name and/or the password.
#[utoipa::path(patch, path = "/v1/users/me", tag = TAG_USERS, request_body = UpdateMe,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 403, body = ErrorBody, description = "`current_password_incorrect`"),
    ))]
async fn update_me(
    State(state): State<AppState>,
    AuthUser { user, session_id }: AuthUser,
    Json(body): Json<UpdateMe>,
) -> Result<Json<Me>, ApiError> {
    // Everything is checked before anything is written: a refused request changes nothing.
    let full_name = body.full_name.map(parse_full_name).transpose();
    let password_change = match (body.current_password, body.new_password) {
        (_, None) => Ok(None),
        (None, Some(_)) => Err(FieldError::new("current_password", "field required")),
        (Some(current), Some(new)) => Password::parse(&new)
            .map(|new| Some((current, new)))
            .map_err(|err| FieldError {
                field: Some("new_password".into()),
                ..err
            }),
    };
    let (full_name, password_change) = (full_name, password_change).all_valid()?;
    let user = state
        .core()
        .update_account(&user, session_id, full_name, password_change)
        .await?;
    Ok(Json(user.into()))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct-horse-battery"}))]
pub struct DeleteMe {
    /// The account's current password.
    password: String,
}

/// Delete the account, for good. What the user sent stays in the conversations of those who
/// received it, under a name that is no one's (`deleted:<id>`); their groups pass on as if
/// they had left; their direct conversations take no new messages; their sessions, keys,
/// hidden messages and events are gone. Export first to keep a copy.
#[utoipa::path(delete, path = "/v1/users/me", tag = TAG_USERS, request_body = DeleteMe,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted; every session has ended"),
        (status = 403, body = ErrorBody, description = "`current_password_incorrect`"),
    ))]
async fn delete_me(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Json(body): Json<DeleteMe>,
) -> Result<StatusCode, ApiError> {
    state
        .core()
        .delete_own_account(&user, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything of the user's, as one JSON document: their profile and every conversation they
/// are in (as they see it) with its messages in order, hidden ones left out. Streamed as it is
/// read, so any size of history costs the server little memory; a document cut short (the
/// connection breaks) is not valid JSON, so a partial export cannot pass for a whole one.
#[utoipa::path(get, path = "/v1/users/me/export", tag = TAG_USERS,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Export, content_type = "application/json"),
    ))]
async fn export_me(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
) -> Result<Response, ApiError> {
    // Read before answering, so that a database that is down is a 503, not a 200 cut short.
    let ids = state.core().conversation_ids(user.id).await?;
    let (chunks_tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, ExportFailed>>(4);
    let finished = Arc::new(AtomicBool::new(false));
    let core = state.core().clone();
    let writer_finished = Arc::clone(&finished);
    state.tasks().spawn(async move {
        match super::export::write(&core, user, ids, &chunks_tx).await {
            Ok(()) => writer_finished.store(true, Ordering::Release),
            Err(err) => {
                let _ = chunks_tx.send(Err(err)).await;
            }
        }
    });
    // The writer's channel closing without its having finished (a panic, say) must not read
    // as a complete download: the body then ends with an error, and the connection breaks.
    let mut interrupted = false;
    let chunks = futures::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        Poll::Ready(None) if !interrupted && !finished.load(Ordering::Acquire) => {
            interrupted = true;
            Poll::Ready(Some(Err(ExportFailed::Interrupted)))
        }
        other => other,
    });
    let headers = [
        (CONTENT_TYPE, "application/json"),
        (
            CONTENT_DISPOSITION,
            "attachment; filename=\"missive-export.json\"",
        ),
        (CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, Body::from_stream(chunks)).into_response())
}

/// Find users by the start of their username.
#[utoipa::path(get, path = "/v1/users", tag = TAG_USERS, params(SearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = [PublicUser]),
    ))]
async fn search(
    State(state): State<AppState>,
    _caller: AuthUser,
    Query(params): Query<SearchParams>,
) -> Result<Json<Vec<PublicUser>>, ApiError> {
    let prefix = params.q.trim();
    if prefix.is_empty() || prefix.chars().count() > 50 || prefix.contains('\0') {
        return Err(FieldError::new("q", "must be 1 to 50 characters").into());
    }
    let limit = page_limit(params.limit, 20, MAX_SEARCH)?;
    let users = state.core().search_users(prefix, limit).await?;
    Ok(Json(users.into_iter().map(PublicUser::from).collect()))
}

/// A user's public profile.
#[utoipa::path(get, path = "/v1/users/{id}", tag = TAG_USERS, operation_id = "user_by_id", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PublicUser),
        (status = 404, body = ErrorBody, description = "`user_not_found`"),
    ))]
async fn by_id(
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<PublicUser>, ApiError> {
    let id = path_id(&id, USER_NOT_FOUND)?;
    let user = state
        .core()
        .user(UserId(id))
        .await
        .not_found_as(USER_NOT_FOUND)?;
    Ok(Json(user.into()))
}
