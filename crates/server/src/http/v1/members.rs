//! `/v1/conversations/{id}/members`: who is in a conversation (with their read positions:
//! read receipts), and for groups adding, removing, leaving and roles; and `.../typing`.
//! The rules are in `missive_store::groups`; a non-member is told the conversation does not
//! exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use missive_store::{ConversationId, Role, UserId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::conversations::CONVERSATION_NOT_FOUND;
use super::dto::{ConversationOut, MemberOut, MemberPage};
use super::{TAG_CONVERSATIONS, path_id};
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs};
use crate::extract::{Json, Query};
use crate::http::AuthUser;
use crate::http::paging::{keyset_page, page_limit, read_time_cursor, time_cursor};
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

const MEMBER_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::MemberNotFound, "Member not found");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(limited(routes!(add), &[rules::V1_GROUP]))
        .routes(limited(routes!(remove, change_role), &[rules::V1_GROUP]))
        .routes(limited(routes!(typing), &[rules::V1_TYPING]))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"user_id": 3}))]
pub struct AddMember {
    user_id: i64,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"role": "admin"}))]
pub struct ChangeRole {
    /// `admin` or `member`; `owner` hands the group over (the caller becomes an admin).
    role: String,
}

/// The members of one of the caller's conversations (direct or group), in the order they
/// joined, with each one's role and read position: the read receipts.
#[utoipa::path(get, path = "/v1/conversations/{id}/members", tag = TAG_CONVERSATIONS,
    operation_id = "v1_members", params(("id" = i64, Path, minimum = 1), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MemberPage),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
        (status = 422, body = ErrorBody, description = "Bad `limit` or `cursor`"),
    ))]
async fn list(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<MemberPage>, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let after = match params.cursor.as_deref() {
        Some(cursor) => {
            let (joined, member) = read_time_cursor(cursor)?;
            Some((joined, UserId(member)))
        }
        None => None,
    };
    let members = state
        .core()
        .members(ConversationId(id), user.id, after, limit + 1)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    let (members, next_cursor) = keyset_page(members, limit, |last| {
        time_cursor(last.joined_at, last.user.id.get())
    });
    Ok(Json(MemberPage {
        members: members.into_iter().map(MemberOut::from).collect(),
        next_cursor,
    }))
}

/// Add a member to a group (its owner and admins): 201 when added now, 200 when they were
/// already in it. They can read the whole history; what is unread for them starts after
/// the `member.added` notice.
#[utoipa::path(post, path = "/v1/conversations/{id}/members", tag = TAG_CONVERSATIONS,
    operation_id = "v1_add_member", params(("id" = i64, Path, minimum = 1)),
    request_body = AddMember, security(("bearer" = [])),
    responses(
        (status = 201, body = ConversationOut, description = "Added now"),
        (status = 200, body = ConversationOut, description = "Already a member"),
        (status = 403, body = ErrorBody, description = "`not_allowed`: a plain member"),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`, `user_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_a_group`, `group_full`"),
    ))]
async fn add(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<AddMember>,
) -> Result<(StatusCode, Json<ConversationOut>), ApiError> {
    let group = ConversationId(path_id(&id, CONVERSATION_NOT_FOUND)?);
    let core = state.core();
    let added = core
        .add_member(group, user.id, UserId(body.user_id))
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    let summary = core
        .conversation(group, user.id)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary.into())))
}

/// Remove a member from a group, or leave it (`me`, or your own id). Owners and admins
/// remove members; only the owner removes an admin; nobody removes the owner. An owner who
/// leaves hands the group to the longest-standing admin, else member; a group whose last
/// member leaves is deleted. The member's stream gets `member.removed`, then nothing more of
/// the group, which answers them 404 from then on.
#[utoipa::path(delete, path = "/v1/conversations/{id}/members/{user_id}", tag = TAG_CONVERSATIONS,
    operation_id = "v1_remove_member",
    params(("id" = i64, Path, minimum = 1),
        ("user_id" = String, Path, description = "A user id, or `me` to leave")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed, or left"),
        (status = 403, body = ErrorBody, description = "`not_allowed`"),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`, `member_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_a_group`"),
    ))]
async fn remove(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let group = ConversationId(path_id(&id, CONVERSATION_NOT_FOUND)?);
    let member = member_id(&member, user.id)?;
    state
        .core()
        .remove_member(group, user.id, member)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member's role (the owner only). Making a member `owner` hands the group over:
/// the caller becomes an admin.
#[utoipa::path(patch, path = "/v1/conversations/{id}/members/{user_id}", tag = TAG_CONVERSATIONS,
    operation_id = "v1_change_role",
    params(("id" = i64, Path, minimum = 1),
        ("user_id" = String, Path, description = "A user id (`me` is the caller: refused, 403)")),
    request_body = ChangeRole, security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed (or it was that already)"),
        (status = 403, body = ErrorBody, description = "`not_allowed`: not the owner, or the owner's own role"),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`, `member_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_a_group`"),
        (status = 422, body = ErrorBody, description = "Unknown `role`"),
    ))]
async fn change_role(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path((id, member)): Path<(String, String)>,
    Json(body): Json<ChangeRole>,
) -> Result<StatusCode, ApiError> {
    let group = ConversationId(path_id(&id, CONVERSATION_NOT_FOUND)?);
    let member = member_id(&member, user.id)?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| FieldError::new("role", "must be 'owner', 'admin' or 'member'"))?;
    state
        .core()
        .set_role(group, user.id, member, role)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Say that you are typing (for clients without a WebSocket, which send `{"type": "typing",
/// "conversation_id": N}` instead). The other members' open streams get a `typing` frame;
/// repeat every few seconds while typing (more often is coalesced).
#[utoipa::path(post, path = "/v1/conversations/{id}/typing", tag = TAG_CONVERSATIONS,
    operation_id = "v1_typing", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Passed on (or coalesced into one passed on just before)"),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
    ))]
async fn typing(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    state
        .core()
        .typing(user.id, ConversationId(id))
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member in a path: their id, or `me`.
fn member_id(raw: &str, me: UserId) -> Result<UserId, ApiError> {
    if raw == "me" {
        return Ok(me);
    }
    Ok(UserId(path_id(raw, MEMBER_NOT_FOUND)?))
}
