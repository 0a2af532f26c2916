//! `/v1/conversations`: opening direct conversations and creating groups, listing them by
//! recent activity, renaming groups, and moving the caller's read position. A non-member is
//! told a conversation does not exist. (Members: `members.rs`.)

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use missive_store::{ConversationId, ConversationSummary, Timestamp, UserId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{ConversationOut, ConversationPage, ReadOut};
use super::messages::{IdempotencyHeaders, REPLAYED, idempotency_key};
use super::{TAG_CONVERSATIONS, path_id};
use crate::core::domain::GroupTitle;
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs, Problem};
use crate::extract::{Json, Query};
use crate::http::AuthUser;
use crate::http::paging::{keyset_page, page_limit, read_time_cursor, time_cursor};
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

pub(super) const CONVERSATION_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::ConversationNotFound, "Conversation not found");
const USER_NOT_FOUND: ApiError = ApiError::not_found(ErrorCode::UserNotFound, "User not found");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(limited(routes!(open), &[rules::V1_OPEN]))
        .routes(routes!(list))
        .routes(routes!(by_id))
        .routes(limited(routes!(rename), &[rules::V1_GROUP]))
        .routes(limited(routes!(mark_read), &[rules::V1_READ]))
}

/// `{"peer_id": N}` opens the direct conversation with user N; `{"kind": "group", "title":
/// "...", "member_ids": [...]}` creates a group.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"kind": "group", "title": "Release crew", "member_ids": [2, 3]}))]
pub struct OpenConversation {
    /// `direct` (the default) or `group`.
    #[schema(example = "direct")]
    kind: Option<String>,
    /// Direct: the other user; the caller's own id opens their notes to self.
    peer_id: Option<i64>,
    /// Group: its name, 1 to 100 characters.
    title: Option<String>,
    /// Group: its members besides the caller, who owns it.
    member_ids: Option<Vec<i64>>,
}

/// What a request to open a conversation asks for.
enum Opening {
    Direct(UserId),
    Group(GroupTitle, Vec<UserId>),
}

impl OpenConversation {
    fn parse(self) -> Result<Opening, ApiError> {
        // A field of the other kind is refused rather than ignored: the client meant
        // something this request would not do.
        let stray = |field: &str| FieldError::new(field, "is not for this kind of conversation");
        match self.kind.as_deref() {
            None | Some("direct") => {
                if self.title.is_some() {
                    return Err(stray("title").into());
                }
                if self.member_ids.is_some() {
                    return Err(stray("member_ids").into());
                }
                let peer = self
                    .peer_id
                    .ok_or_else(|| FieldError::body("peer_id", Problem::Missing))?;
                Ok(Opening::Direct(UserId(peer)))
            }
            Some("group") if self.peer_id.is_some() => Err(stray("peer_id").into()),
            Some("group") => {
                let title = self
                    .title
                    .ok_or_else(|| FieldError::body("title", Problem::Missing))?;
                let members = self.member_ids.unwrap_or_default();
                Ok(Opening::Group(
                    GroupTitle::parse(&title)?,
                    members.into_iter().map(UserId).collect(),
                ))
            }
            Some(_) => Err(FieldError::new("kind", "must be 'direct' or 'group'").into()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"title": "Release crew"}))]
pub struct Rename {
    /// 1 to 100 characters.
    title: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"seq": 42}))]
pub struct MarkRead {
    /// The `seq` of the newest message the caller has read.
    #[schema(minimum = 0)]
    seq: i64,
}

/// The direct conversation with `peer_id`, opened if there is none yet (201 when this request
/// opened it, 200 when it already existed); or a new group (201) owned by the caller, with
/// `member_ids` as members (at most `MISSIVE_MAX_GROUP_MEMBERS` in all). A group's creation
/// with an `Idempotency-Key` is made once: a retry of the same request answers the group made
/// the first time (201, `Idempotent-Replayed: true`), the same key with another request is
/// refused (`idempotency_key_reused`). Opening a direct conversation is idempotent anyway: the
/// key is checked for form only.
#[utoipa::path(post, path = "/v1/conversations", tag = TAG_CONVERSATIONS,
    params(IdempotencyHeaders),
    request_body = OpenConversation, security(("bearer" = [])),
    responses(
        (status = 201, body = ConversationOut, description = "Opened or created now", headers(
            ("Idempotent-Replayed" = String, description = "`true` on a group creation's replay"))),
        (status = 200, body = ConversationOut, description = "Already open"),
        (status = 404, body = ErrorBody, description = "`user_not_found`"),
        (status = 422, body = ErrorBody, description = "No `peer_id`, bad `title`, too many members, bad key or `idempotency_key_reused`"),
    ))]
async fn open(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    headers: HeaderMap,
    Json(body): Json<OpenConversation>,
) -> Result<Response, ApiError> {
    let opening = body.parse()?;
    let key = idempotency_key(&headers)?;
    let (summary, status, replayed) = match opening {
        Opening::Direct(peer) => {
            let (summary, created) = state
                .core()
                .open_direct(user.id, peer)
                .await
                .not_found_as(USER_NOT_FOUND)?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (summary, status, false)
        }
        Opening::Group(title, members) => {
            let (group, replayed) = state
                .core()
                .create_group(user.id, &title, &members, key)
                .await
                .not_found_as(USER_NOT_FOUND)?;
            (group, StatusCode::CREATED, replayed)
        }
    };
    let mut response = (status, Json(ConversationOut::from(summary))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The caller's conversations, most recent activity first, a page at a time. A conversation
/// that gets a message while you page moves to the front: start again to see it there.
#[utoipa::path(get, path = "/v1/conversations", tag = TAG_CONVERSATIONS, params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConversationPage),
        (status = 422, body = ErrorBody, description = "Bad `limit` or `cursor`"),
    ))]
async fn list(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ConversationPage>, ApiError> {
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    // One more than asked tells whether another page follows.
    let summaries = state
        .core()
        .conversations(user.id, after, limit + 1)
        .await?;
    let (summaries, next_cursor) = keyset_page(summaries, limit, encode_cursor);
    Ok(Json(ConversationPage {
        conversations: summaries.into_iter().map(ConversationOut::from).collect(),
        next_cursor,
    }))
}

/// One of the caller's conversations.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = TAG_CONVERSATIONS,
    operation_id = "conversation_by_id",
    params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, body = ConversationOut),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
    ))]
async fn by_id(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    let summary = state
        .core()
        .conversation(ConversationId(id), user.id)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(Json(summary.into()))
}

/// Rename a group (its owner and admins). Every member's stream gets `conversation.updated`,
/// and the history a `conversation.renamed` notice.
#[utoipa::path(patch, path = "/v1/conversations/{id}", tag = TAG_CONVERSATIONS,
    params(("id" = i64, Path, minimum = 1)), request_body = Rename, security(("bearer" = [])),
    responses(
        (status = 200, body = ConversationOut),
        (status = 403, body = ErrorBody, description = "`not_allowed`: a plain member"),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
        (status = 409, body = ErrorBody, description = "`not_a_group`"),
    ))]
async fn rename(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<Rename>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    let title = GroupTitle::parse(&body.title)?;
    let summary = state
        .core()
        .rename_group(ConversationId(id), user.id, &title)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(Json(summary.into()))
}

/// Mark everything up to `seq` as read. The position only moves forward, and never past the
/// conversation's newest message.
#[utoipa::path(post, path = "/v1/conversations/{id}/read", tag = TAG_CONVERSATIONS,
    params(("id" = i64, Path, minimum = 1)), request_body = MarkRead, security(("bearer" = [])),
    responses(
        (status = 200, body = ReadOut),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
    ))]
async fn mark_read(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<MarkRead>,
) -> Result<Json<ReadOut>, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    if body.seq < 0 {
        return Err(FieldError::new("seq", "must be 0 or more").into());
    }
    let read = state
        .core()
        .mark_read(ConversationId(id), user.id, body.seq)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    Ok(Json(read.into()))
}

/// The cursor after `summary`.
fn encode_cursor(summary: &ConversationSummary) -> String {
    time_cursor(summary.activity_at, summary.id.get())
}

fn decode_cursor(cursor: &str) -> Result<(Timestamp, ConversationId), FieldError> {
    let (activity, id) = read_time_cursor(cursor)?;
    Ok((activity, ConversationId(id)))
}
