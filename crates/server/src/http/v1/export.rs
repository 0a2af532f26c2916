//! `GET /v1/users/me/export`: the user's data as one JSON document, written a page at a time
//! into the response as it is read, so memory stays bounded whatever the history's size.

use chrono::{DateTime, Utc};
use missive_store::{ConversationId, HistoryWindow, Timestamp, User};
use serde::Serialize;
use tokio::sync::mpsc::Sender;
use utoipa::ToSchema;

use super::dto::{ConversationOut, Me, MessageOut};
use crate::core::{Core, CoreError};

/// Messages read (and written out) at a time.
const PAGE: i64 = 500;

/// The document's shape (for the OpenAPI schema; it is written piece by piece).
#[derive(Serialize, ToSchema)]
pub struct Export {
    exported_at: DateTime<Utc>,
    user: Me,
    /// Every conversation the user is in, in the order they began.
    conversations: Vec<ExportedConversation>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedConversation {
    /// As `GET /v1/conversations/{id}` shows it to the user.
    conversation: ConversationOut,
    /// All of its messages the user has not hidden, in `seq` order.
    messages: Vec<MessageOut>,
}

/// Why an export stopped short (the response is cut off, so the client sees invalid JSON).
#[derive(Debug, thiserror::Error)]
pub enum ExportFailed {
    #[error("the export could not be completed: {0}")]
    Failed(CoreError),
    /// Its writer ended without finishing (it panicked, or was stopped).
    #[error("the export was interrupted")]
    Interrupted,
}

/// Writes the export of the conversations `ids` into `out`. Returns early, quietly, if the
/// client hangs up.
pub async fn write(
    core: &Core,
    user: User,
    ids: Vec<ConversationId>,
    out: &Sender<Result<Vec<u8>, ExportFailed>>,
) -> Result<(), ExportFailed> {
    match write_all(core, user, ids, out).await {
        Ok(()) | Err(Stop::Gone) => Ok(()),
        Err(Stop::Failed(err)) => {
            tracing::warn!(error = %err, "export stopped");
            Err(ExportFailed::Failed(err))
        }
    }
}

/// Why writing stopped early.
enum Stop {
    /// The client went away: stop reading.
    Gone,
    Failed(CoreError),
}

impl From<CoreError> for Stop {
    fn from(err: CoreError) -> Self {
        Self::Failed(err)
    }
}

async fn write_all(
    core: &Core,
    user: User,
    ids: Vec<ConversationId>,
    out: &Sender<Result<Vec<u8>, ExportFailed>>,
) -> Result<(), Stop> {
    let send = |bytes: Vec<u8>| async move { out.send(Ok(bytes)).await.map_err(|_| Stop::Gone) };
    let head = format!(
        "{{\"exported_at\":{},\"user\":{},\"conversations\":[",
        json(&Timestamp::now().to_datetime()),
        json(&Me::from(user.clone())),
    );
    send(head.into_bytes()).await?;
    let mut first = true;
    for id in ids {
        let summary = match core.conversation(id, user.id).await {
            Ok(summary) => summary,
            // Left (or deleted) since it was listed.
            Err(CoreError::NotFound) => continue,
            Err(err) => return Err(err.into()),
        };
        let separator = if first { "" } else { "," };
        first = false;
        let opening = format!(
            "{separator}{{\"conversation\":{},\"messages\":[",
            json(&ConversationOut::from(summary))
        );
        send(opening.into_bytes()).await?;
        let mut after = 0;
        let mut first_message = true;
        loop {
            let window = match core
                .history(id, user.id, HistoryWindow::After(after), PAGE)
                .await
            {
                Ok(window) => window,
                Err(CoreError::NotFound) => break,
                Err(err) => return Err(err.into()),
            };
            let mut chunk = Vec::new();
            for message in window.messages {
                after = message.seq;
                if !first_message {
                    chunk.push(b',');
                }
                first_message = false;
                chunk.extend(json(&MessageOut::from(message)).into_bytes());
            }
            if !chunk.is_empty() {
                send(chunk).await?;
            }
            if !window.has_more {
                break;
            }
        }
        send(b"]}".to_vec()).await?;
    }
    send(b"]}".to_vec()).await?;
    Ok(())
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("the DTOs always serialize")
}
