//! Face 1, the "Message Service": `/auth/register`, `/auth/login`, `/messages/`. Ids are JSON
//! strings and timestamps `YYYY-MM-DDTHH:MM:SS` (UTC), as its README shows.

use axum::extract::{Path, State};
use missive_store::{ConflictKind, DirectMessage, MessageId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::StrId;
use crate::core::domain::{MessageContent, canonical_id};
use crate::core::{CoreError, LoginName, NewAccount, NewSession, Opened, Refresh};
use crate::error::{ApiError, ErrorBody, ErrorCode, NotFoundAs};
use crate::extract::{Json, Query, UserAgent};
use crate::http::AuthUser;
use crate::http::paging::offset_page;
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const TAG: &str = "Message Service (compatibility)";
const DEFAULT_LIST_LIMIT: i64 = 1000;
const MAX_LIST_LIMIT: i64 = 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(limited(routes!(register), &[rules::FACE1_REGISTER]))
        .routes(limited(
            routes!(login),
            &[rules::FACE1_LOGIN, rules::FAILED_LOGINS],
        ))
        .routes(limited(routes!(send_message), &[rules::FACE1_SEND]))
        .routes(limited(routes!(list_messages), &[rules::FACE1_LIST]))
        .routes(limited(routes!(update_message), &[rules::FACE1_EDIT]))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = MessageServiceRegisterRequest)]
#[schema(example = json!({"email": "user@example.com", "password": "securePassword123", "full_name": "Jane Doe"}))]
pub struct RegisterRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// At most 200 characters; blank means none.
    #[schema(max_length = 200)]
    full_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = MessageServiceLoginRequest)]
#[schema(example = json!({"email": "user@example.com", "password": "securePassword123"}))]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MessageServiceToken)]
pub struct TokenResponse {
    access_token: String,
    #[schema(example = "bearer")]
    token_type: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"recipient_id": "123", "content": "Hello, how are you?"}))]
pub struct MessageCreate {
    /// The recipient's id, as a string or an integer.
    #[schema(value_type = String)]
    recipient_id: StrId,
    /// 1 to 2000 characters (configurable).
    #[schema(min_length = 1)]
    content: String,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"content": "Updated message content"}))]
pub struct MessageUpdate {
    /// 1 to 2000 characters (configurable).
    #[schema(min_length = 1)]
    content: String,
}

#[derive(Serialize, ToSchema)]
pub struct SentResponse {
    #[schema(example = "Message sent successfully")]
    message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct MessageRead {
    #[schema(example = "17")]
    id: String,
    sender_id: String,
    recipient_id: String,
    content: String,
    /// When the message was sent or last edited, UTC.
    #[schema(example = "2025-09-07T12:34:56")]
    timestamp: String,
}

impl From<DirectMessage> for MessageRead {
    fn from(
        DirectMessage {
            message,
            recipient_id,
        }: DirectMessage,
    ) -> Self {
        let at = message
            .edited_at
            .unwrap_or(message.created_at)
            .to_datetime();
        Self {
            id: message.id.to_string(),
            sender_id: message.sender_id.to_string(),
            recipient_id: recipient_id.to_string(),
            content: message.content,
            timestamp: at.format("%Y-%m-%dT%H:%M:%S").to_string(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many messages, 1 to 1000 (default 1000): the most recent ones.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// How many of the most recent to skip, to page back in time (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

const MESSAGE_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::MessageNotFound, "Message not found");
const RECIPIENT_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::RecipientNotFound, "Recipient not found");

/// This face's sessions end with their access token: no refresh token.
fn session(user_agent: Option<&str>) -> NewSession<'_> {
    NewSession {
        user_agent,
        refresh: Refresh::Without,
    }
}

fn token_response(opened: Opened) -> Json<TokenResponse> {
    Json(TokenResponse {
        access_token: opened.access.token,
        token_type: "bearer",
    })
}

/// Register with an e-mail address; the answer is an access token. A username is derived
/// from the e-mail's local part (see the README).
#[utoipa::path(post, path = "/auth/register", tag = TAG,
    operation_id = "message_service_register", request_body = RegisterRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = ErrorBody,
            description = "Email already registered (`email_taken`), or the body is not valid JSON"),
    ))]
async fn register(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    Json(body): Json<RegisterRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let account = NewAccount::parse(None, &body.email, &body.password, body.full_name)?;
    let registered = state
        .core()
        .register_and_log_in(account, session(agent.as_deref()))
        .await;
    match registered {
        Ok((_, opened)) => Ok(token_response(opened)),
        Err(CoreError::Taken(ConflictKind::Email)) => Err(ApiError::BadRequest {
            code: ErrorCode::EmailTaken,
            detail: "Email already registered".into(),
        }),
        // Derived usernames are retried until one is free; none was.
        Err(CoreError::Taken(ConflictKind::Username)) => Err(ApiError::Internal),
        Err(err) => Err(err.into()),
    }
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/auth/login", tag = TAG,
    operation_id = "message_service_login", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = ErrorBody, description = "Invalid credentials"),
    ))]
async fn login(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    Json(body): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let name = LoginName::Email(&body.email);
    let login = session(agent.as_deref());
    let (_, opened) = state.core().log_in(name, &body.password, login).await?;
    Ok(token_response(opened))
}

/// Send a message to another user.
#[utoipa::path(post, path = "/messages/", tag = TAG, request_body = MessageCreate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SentResponse),
        (status = 404, body = ErrorBody, description = "Recipient not found"),
    ))]
async fn send_message(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Json(body): Json<MessageCreate>,
) -> Result<Json<SentResponse>, ApiError> {
    let content = MessageContent::parse(body.content, state.config().max_message_chars)?;
    let recipient = body.recipient_id.0.ok_or(RECIPIENT_NOT_FOUND)?;
    state
        .core()
        .send_direct(user.id, UserId(recipient), &content)
        .await
        .not_found_as(RECIPIENT_NOT_FOUND)?;
    Ok(Json(SentResponse {
        message: "Message sent successfully",
    }))
}

/// The messages the caller sent or received, oldest first: the most recent 1000 unless
/// `limit`/`offset` say otherwise.
#[utoipa::path(get, path = "/messages/", tag = TAG, params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = [MessageRead]),
        (status = 404, body = ErrorBody, description = "No messages found"),
    ))]
async fn list_messages(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<MessageRead>>, ApiError> {
    let (limit, offset) = offset_page(
        params.limit,
        params.offset,
        DEFAULT_LIST_LIMIT,
        MAX_LIST_LIMIT,
    )?;
    let messages = state.core().direct_messages(user.id, limit, offset).await?;
    if messages.is_empty() {
        return Err(ApiError::not_found(
            ErrorCode::NoMessages,
            "No messages found",
        ));
    }
    Ok(Json(messages.into_iter().map(MessageRead::from).collect()))
}

/// Change the content of one of the caller's own messages; it keeps its place.
#[utoipa::path(put, path = "/messages/{message_id}", tag = TAG, request_body = MessageUpdate,
    params(("message_id" = String, Path, description = "The message's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageRead),
        (status = 404, body = ErrorBody, description = "Message not found"),
    ))]
async fn update_message(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(message_id): Path<String>,
    Json(body): Json<MessageUpdate>,
) -> Result<Json<MessageRead>, ApiError> {
    let id = canonical_id(&message_id).ok_or(MESSAGE_NOT_FOUND)?;
    let content = MessageContent::parse(body.content, state.config().max_message_chars)?;
    // Someone else's message, or a deleted one, is one this face cannot see.
    let message = match state
        .core()
        .edit_direct_message(MessageId(id), user.id, &content)
        .await
    {
        Err(CoreError::NotFound | CoreError::NotSender | CoreError::MessageDeleted) => {
            return Err(MESSAGE_NOT_FOUND);
        }
        other => other?,
    };
    Ok(Json(message.into()))
}
