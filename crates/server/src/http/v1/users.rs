//! `/v1/users`: the caller's own account, and finding other users.

use axum::extract::{Path, State};
use missive_store::UserId;
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{Me, PublicUser};
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
        .routes(limited(routes!(update_me), &[rules::V1_ACCOUNT]))
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
