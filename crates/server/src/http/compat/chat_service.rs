//! Face 2, the "Chat Service": `/register`, `/login`, `/send`, `/messages`. Integer ids and
//! RFC 3339 timestamps.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use missive_store::{DirectMessage, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::IntId;
use crate::core::domain::MessageContent;
use crate::core::input::AllValid;
use crate::core::{LoginName, NewAccount, NewSession, Refresh};
use crate::error::{ApiError, ErrorBody, ErrorCode, FieldError, NotFoundAs, Problem};
use crate::extract::{Json, Query, UserAgent};
use crate::http::AuthUser;
use crate::http::paging::offset_page;
use crate::http::rate_limit::limited;
use crate::limits::rules;
use crate::state::AppState;

const TAG: &str = "Chat Service (compatibility)";
const DEFAULT_PAGE: i64 = 5;
const MAX_PAGE: i64 = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(limited(routes!(register), &[rules::FACE2_REGISTER]))
        .routes(limited(
            routes!(login),
            &[rules::FACE2_LOGIN, rules::FAILED_LOGINS],
        ))
        .routes(limited(routes!(send), &[rules::FACE2_SEND]))
        .routes(routes!(history))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ChatRegisterRequest)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "password": "correct-horse-battery"}))]
pub struct RegisterRequest {
    #[schema(min_length = 3, max_length = 50, pattern = r"^[A-Za-z0-9_.-]+$")]
    username: String,
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChatUser)]
pub struct UserPublic {
    id: i64,
    username: String,
    email: String,
    created_at: DateTime<Utc>,
    last_active: DateTime<Utc>,
}

impl From<User> for UserPublic {
    fn from(user: User) -> Self {
        Self {
            id: user.id.get(),
            username: user.username,
            email: user.email,
            created_at: user.created_at.to_datetime(),
            last_active: user.last_active_at.to_datetime(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ChatLoginRequest)]
#[schema(example = json!({"username": "alice", "password": "correct-horse-battery"}))]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChatLoginResponse)]
pub struct LoginResponse {
    access_token: String,
    #[schema(example = "bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ChatSendRequest)]
#[schema(example = json!({"recipient_id": 2, "content": "Hi Bob!"}))]
pub struct SendRequest {
    #[schema(value_type = i64)]
    recipient_id: IntId,
    /// 1 to 2000 characters (configurable).
    #[schema(min_length = 1)]
    content: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChatMessage)]
pub struct MessageOut {
    id: i64,
    sender_id: i64,
    recipient_id: i64,
    content: String,
    created_at: DateTime<Utc>,
}

impl From<DirectMessage> for MessageOut {
    fn from(
        DirectMessage {
            message,
            recipient_id,
        }: DirectMessage,
    ) -> Self {
        Self {
            id: message.id.get(),
            sender_id: message.sender_id.get(),
            recipient_id: recipient_id.get(),
            content: message.content,
            created_at: message.created_at.to_datetime(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The other user of the conversation.
    peer_id: i64,
    /// Page size, 1 to 100 (default 5).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Messages to skip from the newest (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChatHistoryPage)]
pub struct HistoryPage {
    /// Newest first.
    messages: Vec<MessageOut>,
    limit: i64,
    offset: i64,
    /// How many messages the whole conversation holds.
    total: i64,
}

const RECIPIENT_NOT_FOUND: ApiError =
    ApiError::not_found(ErrorCode::RecipientNotFound, "Recipient not found");

/// Create an account.
#[utoipa::path(post, path = "/register", tag = TAG, operation_id = "chat_register", request_body = RegisterRequest,
    responses(
        (status = 201, body = UserPublic),
        (status = 409, body = ErrorBody, description = "Username already exists / Email already exists"),
    ))]
async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<UserPublic>), ApiError> {
    let account = NewAccount::parse(Some(&body.username), &body.email, &body.password, None)?;
    let user = state.core().register(account).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Log in with username and password.
#[utoipa::path(post, path = "/login", tag = TAG, operation_id = "chat_login", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, body = ErrorBody, description = "Invalid credentials"),
    ))]
async fn login(
    State(state): State<AppState>,
    UserAgent(agent): UserAgent,
    Json(body): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let name = LoginName::Username(&body.username);
    let session = NewSession {
        user_agent: agent.as_deref(),
        refresh: Refresh::Without,
    };
    let (_, opened) = state.core().log_in(name, &body.password, session).await?;
    Ok(Json(LoginResponse {
        access_token: opened.access.token,
        token_type: "bearer",
        expires_in: opened.access.expires_in,
    }))
}

/// Send a message; the sender is the token's user.
#[utoipa::path(post, path = "/send", tag = TAG, operation_id = "chat_send", request_body = SendRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageOut),
        (status = 404, body = ErrorBody, description = "Recipient not found"),
    ))]
async fn send(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Json(body): Json<SendRequest>,
) -> Result<Json<MessageOut>, ApiError> {
    let (recipient, content) = (
        body.recipient_id
            .0
            .ok_or_else(|| FieldError::body("recipient_id", Problem::NotIntegerText)),
        MessageContent::parse(body.content, state.config().max_message_chars),
    )
        .all_valid()?;
    let message = state
        .core()
        .send_direct(user.id, UserId(recipient), &content)
        .await
        .not_found_as(RECIPIENT_NOT_FOUND)?;
    Ok(Json(message.into()))
}

/// The conversation with `peer_id`, newest first.
#[utoipa::path(get, path = "/messages", tag = TAG, operation_id = "chat_history", params(HistoryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = HistoryPage),
    ))]
async fn history(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Query(params): Query<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let (limit, offset) = offset_page(params.limit, params.offset, DEFAULT_PAGE, MAX_PAGE)?;
    let page = state
        .core()
        .direct_history(user.id, UserId(params.peer_id), limit, offset)
        .await?;
    Ok(Json(HistoryPage {
        messages: page.items.into_iter().map(MessageOut::from).collect(),
        limit,
        offset,
        total: page.total,
    }))
}
