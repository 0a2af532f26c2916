//! `/v1/conversations`: opening direct conversations, listing them by recent activity, and
//! moving the caller's read position. A non-member is told a conversation does not exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use missive_store::{ConversationId, ConversationSummary, Timestamp, UserId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{ConversationOut, ConversationPage, ReadOut};
use super::{TAG_CONVERSATIONS, path_id};
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs};
use crate::extract::{Json, Query};
use crate::http::AuthUser;
use crate::http::paging::page_limit;
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
        .routes(limited(routes!(mark_read), &[rules::V1_READ]))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"peer_id": 2}))]
pub struct OpenConversation {
    /// The other user; the caller's own id opens their notes to self.
    peer_id: i64,
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

/// The direct conversation with `peer_id`, opened if there is none yet: 201 when this request
/// opened it, 200 when it already existed.
#[utoipa::path(post, path = "/v1/conversations", tag = TAG_CONVERSATIONS,
    request_body = OpenConversation, security(("bearer" = [])),
    responses(
        (status = 201, body = ConversationOut, description = "Opened now"),
        (status = 200, body = ConversationOut, description = "Already open"),
        (status = 404, body = ErrorBody, description = "`user_not_found`"),
    ))]
async fn open(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Json(body): Json<OpenConversation>,
) -> Result<(StatusCode, Json<ConversationOut>), ApiError> {
    let (summary, created) = state
        .core()
        .open_direct(user.id, UserId(body.peer_id))
        .await
        .not_found_as(USER_NOT_FOUND)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary.into())))
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
    let mut summaries = state
        .core()
        .conversations(user.id, after, limit + 1)
        .await?;
    let more = summaries.len() as i64 > limit;
    summaries.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = summaries.last().filter(|_| more).map(encode_cursor);
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

/// The cursor after `summary`: opaque to clients, `<activity micros>.<id>` inside.
fn encode_cursor(summary: &ConversationSummary) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", summary.activity_at.0, summary.id))
}

fn decode_cursor(cursor: &str) -> Result<(Timestamp, ConversationId), FieldError> {
    let invalid = || FieldError::new("cursor", "is not a cursor this API gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (activity, id) = text.split_once('.').ok_or_else(invalid)?;
    let activity = activity.parse().map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((Timestamp(activity), ConversationId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let cursor = URL_SAFE_NO_PAD.encode("1700000000000000.42");
        assert_eq!(
            decode_cursor(&cursor),
            Ok((Timestamp(1_700_000_000_000_000), ConversationId(42)))
        );
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("1.x")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
