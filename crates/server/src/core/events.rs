//! Each user's event stream, as live delivery reads it: a page of events after a cursor, or
//! a reset when the cursor is older than what is kept (or from another database), and the
//! doorbell a stream waits on between pages.

use missive_store::prelude::*;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use missive_store::{ConversationId, ConversationSummary, Event, EventKind, StoreError, UserId};

use super::{Core, CoreError};
use crate::auth::TokenSubject;
use crate::doorbell::{Listener, Ring};

/// Most events one page holds.
pub const MAX_PAGE: i64 = 1000;

/// One event as a client gets it.
pub struct LiveEvent {
    pub event: Event,
    /// `conversation.created`, `conversation.updated` and `member.*`: the conversation as
    /// the reader sees it now (`None` if it is gone, or they are no longer in it).
    pub conversation: Option<ConversationSummary>,
}

/// What reading a stream after a cursor gives.
pub enum Batch {
    /// Events after the cursor (possibly none), and the stream's head.
    Events { events: Vec<LiveEvent>, head: i64 },
    /// The cursor is below the floor (those events are gone) or above the head (it is not
    /// this stream's): refetch over REST, then resume from `head`.
    Reset { head: i64, floor: i64 },
}

impl Core {
    /// Up to `limit` events after `after` (`None`: from now on, which is an empty batch at
    /// the head).
    pub async fn events(
        &self,
        user: UserId,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Batch, CoreError> {
        let Some(after) = after else {
            let heads = self.store().event_heads(&[user]).await?;
            let &[(_, head)] = heads.as_slice() else {
                return Err(CoreError::NotFound);
            };
            return Ok(Batch::Events {
                events: Vec::new(),
                head,
            });
        };
        let page = self.store().events_after(user, after, limit).await?;
        if after < page.floor || after > page.head {
            return Ok(Batch::Reset {
                head: page.head,
                floor: page.floor,
            });
        }
        // Each conversation a page's events carry is read once, however many events of it
        // the page holds (a busy group's changes come in runs).
        let mut summaries: HashMap<ConversationId, Option<ConversationSummary>> = HashMap::new();
        let mut events = Vec::with_capacity(page.events.len());
        for event in page.events {
            let conversation = match event.kind {
                EventKind::ConversationCreated
                | EventKind::ConversationUpdated
                | EventKind::MemberAdded
                | EventKind::MemberRemoved
                | EventKind::MemberUpdated => {
                    let id = event.conversation_id;
                    match summaries.entry(id) {
                        Entry::Occupied(read) => read.get().clone(),
                        Entry::Vacant(unread) => {
                            let summary = self.store().conversation_summary(id, user).await?;
                            unread.insert(summary).clone()
                        }
                    }
                }
                EventKind::MessageCreated
                | EventKind::MessageEdited
                | EventKind::MessageDeleted
                | EventKind::MessageHidden
                | EventKind::ConversationRead => None,
            };
            events.push(LiveEvent {
                event,
                conversation,
            });
        }
        Ok(Batch::Events {
            events,
            head: page.head,
        })
    }

    /// The bell a stream of `user` waits on. Listen before reading, so that nothing
    /// committed between the read and the wait goes unheard.
    pub fn listen(&self, user: UserId) -> Listener {
        self.0.doorbell.listen(user)
    }

    /// Whether the session behind a stream's token is still open (streams ask again when
    /// their user's sessions change).
    pub async fn session_is_open(&self, subject: TokenSubject) -> Result<bool, CoreError> {
        match self.authenticate(subject).await {
            Ok(_) => Ok(true),
            Err(CoreError::InvalidToken) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Rings for every stream open here whose head moved without a ring being heard: the
    /// backstop for rings lost while Redis was away or made by another process.
    pub async fn poll_heads(&self) -> Result<(), StoreError> {
        let users = self.0.doorbell.listening();
        for chunk in users.chunks(500) {
            for (user, head) in self.store().event_heads(chunk).await? {
                self.0.doorbell.ring_here(Ring::Head(user, head));
            }
        }
        Ok(())
    }
}
