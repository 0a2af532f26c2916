//! `/v1`: missive's own API. Sessions with rotating refresh tokens, users, direct
//! conversations and groups with gapless history, duplicate-safe sends, edits, deletes, read
//! state and receipts, typing, and live events.

mod auth;
mod conversations;
mod dto;
mod events;
mod export;
mod members;
mod messages;
mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(conversations::routes())
        .merge(members::routes())
        .merge(messages::routes())
}

/// The live routes (event streams): long-lived, so outside the request timeout.
pub fn live_routes() -> OpenApiRouter<AppState> {
    events::routes()
}

/// The tag of each `/v1` area in the OpenAPI document.
const TAG_AUTH: &str = "v1: accounts and sessions";
const TAG_USERS: &str = "v1: users";
const TAG_CONVERSATIONS: &str = "v1: conversations";
const TAG_MESSAGES: &str = "v1: messages";
const TAG_EVENTS: &str = "v1: live events";

/// An id from the path; anything that is not one is the route's own 404, like an unknown id.
fn path_id(raw: &str, not_found: ApiError) -> Result<i64, ApiError> {
    crate::core::domain::canonical_id(raw).ok_or(not_found)
}
