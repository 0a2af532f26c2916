//! `/v1` messages: a conversation's history by `seq`, duplicate-safe sends, edits with their
//! history, and deleting for everyone or hiding for oneself. A non-member is told a message
//! (or its conversation) does not exist.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use missive_store::{ConversationId, HistoryWindow, MessageId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::conversations::CONVERSATION_NOT_FOUND;
use super::dto::{MessageHistory, MessageOut, MessagePage};
use super::{TAG_MESSAGES, path_id};
use crate::core::SendRequest;
use crate::core::domain::MessageContent;
use crate::core::input::AllValid;
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs};
use crate::extract::{Json, Query};
use crate::http::AuthUser;
use crate::http::paging::page_limit;
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;
const MAX_KEY_LEN: usize = 255;
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub(super) const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

const MESSAGE_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::MessageNotFound, "Message not found");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(limited(routes!(send), &[rules::V1_SEND]))
        .routes(limited(routes!(edit), &[rules::V1_EDIT]))
        .routes(limited(routes!(delete), &[rules::V1_DELETE]))
        .routes(routes!(versions))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"content": "Hello, Bob!"}))]
pub struct MessageBody {
    /// 1 to 2000 characters (configurable).
    #[schema(min_length = 1)]
    content: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Read backward: the newest messages with a `seq` below this. Not with `after`.
    #[param(minimum = 0)]
    before: Option<i64>,
    /// Read forward: the oldest messages with a `seq` above this (`0` is the start). Not with
    /// `before`.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// `me` hides the message from the caller only; absent deletes it for everyone.
    #[serde(rename = "for")]
    #[param(value_type = Option<DeleteFor>, inline)]
    scope: Option<String>,
}

// The one value `for` takes, for the document; the handler reads a string, so that another
// value gets its own message.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum DeleteFor {
    Me,
}

/// The headers `send` (and a group's creation) reads from its `HeaderMap`, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct IdempotencyHeaders {
    /// Makes retries safe: 1 to 255 printable ASCII characters.
    #[param(rename = "Idempotency-Key", required = false)]
    #[param(min_length = 1, max_length = 255, pattern = r"^[ -~]+$")]
    idempotency_key: String,
}

/// A window of the conversation's history, ascending by `seq`. With no cursor, the newest
/// `limit` messages; `before=X` reads backward, `after=X` forward (`after=0` from the start).
/// `next_cursor` is always where to continue in the same direction (the smallest `seq` of
/// the page, to pass as `before`; or the largest, to pass as `after`, which is also how to
/// poll for new messages); it is `null` only when a backward read found nothing.
/// `has_more` says whether more messages lie beyond the page right now. Deleted messages
/// keep their `seq` as tombstones; messages the caller hid are left out.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = TAG_MESSAGES,
    operation_id = "v1_history",
    params(("id" = i64, Path, minimum = 1), HistoryParams), security(("bearer" = [])),
    responses(
        (status = 200, body = MessagePage),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
        (status = 422, body = ErrorBody, description = "Bad `limit`, a negative cursor, or both `before` and `after`"),
    ))]
async fn history(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<MessagePage>, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    let (window, limit) = history_window(&params)?;
    let page = state
        .core()
        .history(ConversationId(id), user.id, window, limit)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    let next_cursor = match window {
        HistoryWindow::Latest | HistoryWindow::Before(_) => page.messages.first().map(|m| m.seq),
        HistoryWindow::After(after) => Some(page.messages.last().map_or(after, |m| m.seq)),
    };
    Ok(Json(MessagePage {
        messages: page.messages.into_iter().map(MessageOut::from).collect(),
        has_more: page.has_more,
        next_cursor,
    }))
}

fn history_window(params: &HistoryParams) -> Result<(HistoryWindow, i64), ApiError> {
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    for (field, seq) in [("before", params.before), ("after", params.after)] {
        if seq.is_some_and(|seq| seq < 0) {
            return Err(FieldError::new(field, "must be 0 or more").into());
        }
    }
    let window = match (params.before, params.after) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new("after", "cannot be combined with before").into());
        }
        (Some(seq), None) => HistoryWindow::Before(seq),
        (None, Some(seq)) => HistoryWindow::After(seq),
        (None, None) => HistoryWindow::Latest,
    };
    Ok((window, limit))
}

/// Send a message. With an `Idempotency-Key` header (1 to 255 printable ASCII characters), a
/// retry of the same request stores nothing new and answers with the message stored the first
/// time, marked `Idempotent-Replayed: true`; the same key with a different request is refused
/// (`idempotency_key_reused`). Keys are remembered for a configurable time (24 hours by default).
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = TAG_MESSAGES,
    operation_id = "v1_send",
    params(
        ("id" = i64, Path, minimum = 1),
        IdempotencyHeaders,
    ),
    request_body = MessageBody, security(("bearer" = [])),
    responses(
        (status = 201, body = MessageOut, headers(
            ("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 404, body = ErrorBody, description = "`conversation_not_found`"),
        (status = 409, body = ErrorBody, description = "`conversation_closed`: the other member deleted their account"),
        (status = 422, body = ErrorBody, description = "Bad content or key, or `idempotency_key_reused`"),
    ))]
async fn send(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<MessageBody>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, CONVERSATION_NOT_FOUND)?;
    let (key, content) = (
        idempotency_key(&headers),
        MessageContent::parse(body.content, state.config().max_message_chars),
    )
        .all_valid()?;
    let request = SendRequest {
        conversation: ConversationId(id),
        sender: user.id,
        content: &content,
        idempotency_key: key,
    };
    let (message, replayed) = state
        .core()
        .send(request)
        .await
        .not_found_as(CONVERSATION_NOT_FOUND)?;
    let mut response = (StatusCode::CREATED, Json(MessageOut::from(message))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The `Idempotency-Key` header, if sent: one, of 1 to 255 printable ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, FieldError> {
    let invalid = || {
        FieldError::new(
            IDEMPOTENCY_KEY,
            "must be 1 to 255 printable ASCII characters",
        )
    };
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(FieldError::new(IDEMPOTENCY_KEY, "must be sent once"));
    }
    let key = value.to_str().map_err(|_| invalid())?;
    let printable = key.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_LEN || !printable {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// Change the content of one of the caller's messages; the earlier content is kept in its
/// history.
#[utoipa::path(patch, path = "/v1/messages/{id}", tag = TAG_MESSAGES,
    params(("id" = i64, Path, minimum = 1)), request_body = MessageBody, security(("bearer" = [])),
    responses(
        (status = 200, body = MessageOut),
        (status = 403, body = ErrorBody, description = "`not_message_sender`"),
        (status = 404, body = ErrorBody, description = "`message_not_found`"),
        (status = 409, body = ErrorBody, description = "`message_deleted`, `notice_unchangeable`"),
    ))]
async fn edit(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<MessageBody>,
) -> Result<Json<MessageOut>, ApiError> {
    let id = path_id(&id, MESSAGE_NOT_FOUND)?;
    let edited = state
        .core()
        .edit_message(MessageId(id), user.id, body.content)
        .await
        .not_found_as(MESSAGE_NOT_FOUND)?;
    Ok(Json(edited.into()))
}

/// Every content the message has had, oldest first, the current one last. A deleted
/// message has no versions left.
#[utoipa::path(get, path = "/v1/messages/{id}/history", tag = TAG_MESSAGES,
    params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, body = MessageHistory),
        (status = 404, body = ErrorBody, description = "`message_not_found`"),
    ))]
async fn versions(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<MessageHistory>, ApiError> {
    let id = path_id(&id, MESSAGE_NOT_FOUND)?;
    let (message, earlier) = state
        .core()
        .message_versions(MessageId(id), user.id)
        .await
        .not_found_as(MESSAGE_NOT_FOUND)?;
    Ok(Json(MessageHistory::new(message, earlier)))
}

/// Delete a message for everyone (its sender only): it stays in the history as a tombstone
/// at its `seq`, with no content, and its earlier versions are forgotten. Deleting it again
/// answers the same tombstone. With `for=me`, any member hides it from their own views only
/// (204).
#[utoipa::path(delete, path = "/v1/messages/{id}", tag = TAG_MESSAGES,
    params(("id" = i64, Path, minimum = 1), DeleteParams), security(("bearer" = [])),
    responses(
        (status = 200, body = MessageOut, description = "Deleted for everyone"),
        (status = 204, description = "Hidden for the caller"),
        (status = 403, body = ErrorBody, description = "`not_message_sender`"),
        (status = 404, body = ErrorBody, description = "`message_not_found`"),
        // Deleting a group's notice answers 409; groups added that answer without declaring it.
        (status = 409, body = ErrorBody, description = "`notice_unchangeable`: a group's notice"),
        (status = 422, body = ErrorBody, description = "`for` is not `me`"),
    ))]
async fn delete(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<Response, ApiError> {
    let core = state.core();
    match params.scope.as_deref() {
        Some("me") => {
            let id = path_id(&id, MESSAGE_NOT_FOUND)?;
            core.hide_message(MessageId(id), user.id)
                .await
                .not_found_as(MESSAGE_NOT_FOUND)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(_) => {
            Err(FieldError::new("for", "must be `me`, or absent to delete for everyone").into())
        }
        None => {
            let id = path_id(&id, MESSAGE_NOT_FOUND)?;
            let deleted = core
                .delete_message(MessageId(id), user.id)
                .await
                .not_found_as(MESSAGE_NOT_FOUND)?;
            Ok(Json(MessageOut::from(deleted)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_of_bounded_length() {
        assert_eq!(idempotency_key(&HeaderMap::new()), Ok(None));
        assert_eq!(
            idempotency_key(&with_key("retry-1 a")),
            Ok(Some("retry-1 a"))
        );
        assert!(idempotency_key(&with_key("")).is_err());
        assert!(idempotency_key(&with_key(&"k".repeat(255))).is_ok());
        assert!(idempotency_key(&with_key(&"k".repeat(256))).is_err());
        let mut twice = with_key("a");
        twice.append(IDEMPOTENCY_KEY, HeaderValue::from_static("b"));
        assert!(idempotency_key(&twice).is_err());
        let tab = with_key("a\tb");
        assert!(idempotency_key(&tab).is_err());
    }
}
