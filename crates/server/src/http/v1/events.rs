//! `/v1/events`: each user's event stream, live, over long-poll, Server-Sent Events and
//! WebSocket, all on the same cursor (see the README's "Live delivery"). A stream holds a
//! cursor, not a queue: it reads the database after its cursor whenever the doorbell rings,
//! and writes with backpressure, so a slow client only lags.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::Stream;
use missive_store::{ConversationId, Event, EventKind, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::TAG_EVENTS;
use super::dto::{ConversationOut, MessageOut};
use crate::auth::TokenSubject;
use crate::core::{Batch, Core, CoreError, LiveEvent, MAX_EVENT_PAGE};
use crate::doorbell::Typing;
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Query};
use crate::http::paging::page_limit;
use crate::http::{AuthUser, bearer_token};
use crate::metrics::StreamGauge;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 100;
/// Longest a long-poll waits for an event.
const MAX_WAIT_SECS: u64 = 60;
/// Events a stream reads from the database at a time.
const STREAM_BATCH: i64 = 100;
/// Items a stream may have ready for a client that has not taken them yet.
const STREAM_BUFFER: usize = 16;
/// How often a stream checks that its session is still open even when nothing rings.
const SESSION_RECHECK: Duration = Duration::from_secs(30);
/// After a database error, how long a stream waits before reading again.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How often the server pings a WebSocket, and how long it waits for any frame back.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long a WebSocket without a bearer header has to send its `auth` frame.
const AUTH_FRAME_WAIT: Duration = Duration::from_secs(10);
/// WebSocket close code: the session ended (logout, password change, revoked) or the token
/// was refused. Reconnect only with new credentials.
const CLOSE_SESSION_ENDED: u16 = 4001;
/// WebSocket close code (RFC 6455 "service restart"): reconnect with the same cursor.
const CLOSE_RESTARTING: u16 = 1012;
/// Small WebSocket buffers: an idle socket should cost kilobytes, not the default 256 KiB.
/// Clients send only small frames (auth, pongs), so reads start at 1 KiB (a larger frame
/// grows the buffer as it comes); the write buffer grows only as far as frames need.
const WS_READ_BUFFER: usize = 1024;
const WS_WRITE_BUFFER: usize = 4 * 1024;
const WS_MAX_WRITE_BUFFER: usize = 256 * 1024;
const WS_MAX_MESSAGE: usize = 16 * 1024;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(poll))
        .routes(routes!(stream))
        .routes(routes!(websocket))
}

/// One event of the caller's stream. `type` says what happened; the other fields present
/// depend on it (see the README). A `message.hidden` event, and any event about a message the
/// caller has hidden, carries `message_id` and `message_seq` only: never the content.
#[derive(Serialize, ToSchema)]
#[schema(as = V1Event)]
pub struct EventOut {
    /// Position in the caller's stream: 1, 2, 3... with no gaps, in commit order.
    seq: i64,
    #[serde(rename = "type")]
    #[schema(example = "message.created")]
    kind: &'static str,
    conversation_id: i64,
    at: DateTime<Utc>,
    /// `message.*` (not hidden): the message as it is now (a tombstone once deleted);
    /// `member.*`, `conversation.updated`: the group's notice of the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<MessageOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_seq: Option<i64>,
    /// `conversation.created`, `conversation.updated`, `member.*`: the conversation as the
    /// caller sees it now (absent once they are no longer in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<ConversationOut>,
    /// `conversation.read`: whose read position moved (the caller's own, or another
    /// member's); `member.*`: who joined, left, was removed or changed role.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_read_seq: Option<i64>,
}

impl From<LiveEvent> for EventOut {
    fn from(
        LiveEvent {
            event,
            conversation,
        }: LiveEvent,
    ) -> Self {
        let Event {
            seq,
            kind,
            conversation_id,
            at,
            message,
            hidden_from_reader,
            user,
            read_seq,
        } = event;
        let hidden = hidden_from_reader || kind == EventKind::MessageHidden;
        let mut out = Self {
            seq,
            kind: kind.as_str(),
            conversation_id: conversation_id.get(),
            at: at.to_datetime(),
            message: None,
            message_id: None,
            message_seq: None,
            conversation: conversation.map(ConversationOut::from),
            user_id: user.map(UserId::get),
            last_read_seq: read_seq,
        };
        match message {
            Some(message) if hidden => {
                out.kind = EventKind::MessageHidden.as_str();
                out.message_id = Some(message.id.get());
                out.message_seq = Some(message.seq);
            }
            message => out.message = message.map(MessageOut::from),
        }
        out
    }
}

/// A control frame: `ready` once a stream has caught up; `reset` when its cursor is older
/// than the events kept (or not from this stream): refetch over REST, then resume from
/// `head`.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[schema(as = V1EventControl)]
pub struct Control {
    #[serde(rename = "type")]
    #[schema(example = "ready")]
    kind: &'static str,
    head: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    floor: Option<i64>,
}

impl Control {
    fn ready(head: i64) -> Self {
        Self {
            kind: "ready",
            head,
            floor: None,
        }
    }

    fn reset(head: i64, floor: i64) -> Self {
        Self {
            kind: "reset",
            head,
            floor: Some(floor),
        }
    }
}

/// Someone else is typing in one of the caller's conversations: ephemeral (no `seq`, never
/// replayed, dropped first when the client is behind). Show it for a few seconds.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[schema(as = V1Typing)]
pub struct TypingOut {
    #[serde(rename = "type")]
    #[schema(example = "typing")]
    kind: &'static str,
    conversation_id: i64,
    user_id: i64,
}

impl From<Typing> for TypingOut {
    fn from(typing: Typing) -> Self {
        Self {
            kind: "typing",
            conversation_id: typing.conversation.get(),
            user_id: typing.user.get(),
        }
    }
}

/// An event, a control frame, or (streams only) a typing notice.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = V1StreamItem)]
pub enum Item {
    Event(Box<EventOut>),
    Control(Control),
    Typing(TypingOut),
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Events after `after`, oldest first; or one `reset` frame.
    events: Vec<Item>,
    /// Pass as `after` next time.
    next: i64,
    /// The position of the caller's newest event.
    head: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollParams {
    /// The last position seen; `0` is the start of what is kept. Omitted: from now on.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Seconds to wait for an event when there is none yet, 0 to 60 (default 0).
    #[param(minimum = 0, maximum = 60)]
    timeout: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The last position seen; `0` is the start of what is kept. Omitted: from now on.
    /// (SSE: `Last-Event-ID` takes precedence.)
    #[param(minimum = 0)]
    after: Option<i64>,
}

fn cursor(after: Option<i64>) -> Result<Option<i64>, FieldError> {
    match after {
        Some(after) if after < 0 => Err(FieldError::query(
            "after",
            crate::error::Problem::Below { min: 0, max: None },
        )),
        other => Ok(other),
    }
}

/// Long-poll: the caller's events after `after`, at once if there are any, else as soon as
/// one comes (up to `timeout` seconds). Pass `next` as `after` the next time.
#[utoipa::path(get, path = "/v1/events", tag = TAG_EVENTS, operation_id = "v1_events_poll",
    params(PollParams), security(("bearer" = [])),
    responses(
        (status = 200, body = EventPage),
        (status = 422, body = ErrorBody, description = "Bad `after`, `limit` or `timeout`"),
    ))]
async fn poll(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(params): Query<PollParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_EVENT_PAGE)?;
    let mut after = cursor(params.after)?;
    let wait = params.timeout.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(FieldError::query(
            "timeout",
            crate::error::Problem::Above {
                min: 0,
                max: MAX_WAIT_SECS as i64,
            },
        )
        .into());
    }
    let core = state.core();
    let subject = subject(&caller);
    // Listening starts before the first read, so nothing committed in between is missed.
    let mut listener = core.listen(caller.user.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        // Marked seen before reading, so that a ring during the read still wakes the wait.
        let sessions = listener.bell.borrow_and_update().sessions;
        let (events, head) = match core.events(caller.user.id, after, limit).await? {
            Batch::Reset { head, floor } => {
                let reset = Item::Control(Control::reset(head, floor));
                return Ok(Json(EventPage {
                    events: vec![reset],
                    next: head,
                    head,
                }));
            }
            Batch::Events { events, head } => (events, head),
        };
        let next = events.last().map_or(after.unwrap_or(head), |e| e.event.seq);
        after = Some(next);
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            let events = events
                .into_iter()
                .map(|e| Item::Event(Box::new(e.into())))
                .collect();
            return Ok(Json(EventPage { events, next, head }));
        }
        tokio::select! {
            _ = listener.bell.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = state.stopping().cancelled() => {}
        }
        if listener.bell.borrow().sessions != sessions && !core.session_is_open(subject).await? {
            return Err(CoreError::InvalidToken.into());
        }
        if state.stopping().is_cancelled() {
            let events = Vec::new();
            return Ok(Json(EventPage { events, next, head }));
        }
    }
}

/// Server-Sent Events: the caller's events after `after` (or `Last-Event-ID`), each as
/// `id: <seq>`, `event: <type>`, `data: <json>`; then `event: ready` once caught up, then
/// events as they happen, and `event: typing` (no id) when another member types. A comment line keeps the connection alive every 30 seconds. The
/// stream ends when the session does.
#[utoipa::path(get, path = "/v1/events/stream", tag = TAG_EVENTS, operation_id = "v1_events_sse",
    params(StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = Item,
            description = "One `V1Event` or `V1EventControl` per message"),
        (status = 422, body = ErrorBody, description = "Bad `after`"),
    ))]
async fn stream(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let after = cursor(last_event_id.or(params.after))?;
    let items = follow(&state, subject(&caller), after, "sse");
    let events = futures::stream::unfold(items, |mut items| async move {
        let sent = match items.recv().await? {
            Sent::Item(Item::Event(event)) => SseEvent::default()
                .id(event.seq.to_string())
                .event(event.kind)
                .json_data(&event),
            Sent::Item(Item::Control(control)) => {
                SseEvent::default().event(control.kind).json_data(control)
            }
            Sent::Item(Item::Typing(typing)) => {
                SseEvent::default().event(typing.kind).json_data(typing)
            }
            Sent::End(_) => return None,
        };
        let sent = sent.unwrap_or_else(|_| SseEvent::default().comment("unencodable event"));
        Some((Ok(sent), items))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(30))))
}

/// WebSocket: the same events and control frames as the SSE stream, one JSON object per
/// text frame. Authenticate with `Authorization: Bearer` on the upgrade request or, from a
/// browser (which cannot set headers on a WebSocket), with a first text frame
/// `{"type": "auth", "token": "<access token>"}` within 10 seconds, which keeps the token
/// out of URLs and logs. The server pings every 30 seconds. Close codes: 4001 when the
/// session ends or the token is refused (log in again), 1012 when the server restarts
/// (reconnect with your cursor). The client may send `{"type": "typing", "conversation_id":
/// N}` while its user types, and `{"type": "ping"}`, answered with `{"type": "pong"}` (at
/// most one a second); other frames are ignored.
#[utoipa::path(get, path = "/v1/events/ws", tag = TAG_EVENTS, operation_id = "v1_events_ws",
    params(StreamParams),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade request"),
        (status = 401, body = ErrorBody, description = "A bearer header that is refused"),
        (status = 422, body = ErrorBody, description = "Bad `after`"),
    ))]
async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let after = cursor(params.after)?;
    let subject = match bearer_token(&headers) {
        Some(token) => Some(authenticate(state.core(), token).await?),
        None => None,
    };
    let upgrade = upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE);
    // The socket's task belongs to the tracker, so shutdown waits for its close frame.
    let token = state.tasks().token();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            serve_socket(state, socket, subject, after).await;
            drop(token);
        })
        .into_response())
}

async fn authenticate(core: &Core, token: &str) -> Result<TokenSubject, ApiError> {
    let subject = core
        .tokens()
        .verify(token)
        .map_err(|_| ApiError::from(CoreError::InvalidToken))?;
    core.authenticate(subject).await?;
    Ok(subject)
}

fn subject(caller: &AuthUser) -> TokenSubject {
    TokenSubject {
        user_id: caller.user.id,
        session_id: caller.session_id,
    }
}

#[derive(Deserialize)]
struct AuthFrame {
    #[serde(rename = "type")]
    kind: String,
    token: String,
}

/// A frame a client sends once authenticated.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Typing {
        conversation_id: i64,
    },
    /// Answered with `{"type": "pong"}`: browsers can neither send nor see WebSocket pings,
    /// and a client that hears nothing back knows its connection is dead before TCP does.
    Ping,
}

/// Least time between two answered pings of one socket (the ones between get no answer).
const PING_FRAME_GAP: Duration = Duration::from_secs(1);
const PONG: &str = r#"{"type":"pong"}"#;

/// Least time between two typing frames of one socket that are acted on (each costs a
/// membership check); the ones between are dropped.
const TYPING_FRAME_GAP: Duration = Duration::from_millis(250);

async fn serve_socket(
    state: AppState,
    mut socket: WebSocket,
    subject: Option<TokenSubject>,
    after: Option<i64>,
) {
    let subject = match subject {
        Some(subject) => subject,
        None => match Box::pin(auth_frame(&state, &mut socket)).await {
            Some(subject) => subject,
            None => return close(socket, CLOSE_SESSION_ENDED, "not authenticated").await,
        },
    };
    let mut items = follow(&state, subject, after, "websocket");
    let mut pings = tokio::time::interval(PING_INTERVAL);
    pings.tick().await;
    let mut heard_since_ping = true;
    let mut last_typing: Option<tokio::time::Instant> = None;
    let mut last_pong: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            item = items.recv() => match item {
                Some(Sent::Item(item)) => {
                    let Ok(text) = serde_json::to_string(&item) else { continue };
                    if socket.send(Frame::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Sent::End(End::SessionEnded)) => {
                    return close(socket, CLOSE_SESSION_ENDED, "session ended").await;
                }
                Some(Sent::End(End::ShuttingDown)) | None => {
                    return close(socket, CLOSE_RESTARTING, "server restarting; resume with your cursor").await;
                }
            },
            frame = socket.recv() => match frame {
                Some(Ok(Frame::Close(_))) => {
                    // Answer the client's close frame (tungstenite has queued the reply).
                    let _ = futures::SinkExt::close(&mut socket).await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(frame)) => {
                    heard_since_ping = true;
                    let Frame::Text(text) = frame else { continue };
                    let due = |last: Option<tokio::time::Instant>, gap| last.is_none_or(|at| at.elapsed() >= gap);
                    match serde_json::from_str(text.as_str()) {
                        Ok(ClientFrame::Typing { conversation_id }) if due(last_typing, TYPING_FRAME_GAP) => {
                            last_typing = Some(tokio::time::Instant::now());
                            // Not a member: ignored, as the socket gives no answers.
                            let _ = state.core().typing(subject.user_id, ConversationId(conversation_id)).await;
                        }
                        Ok(ClientFrame::Ping) if due(last_pong, PING_FRAME_GAP) => {
                            last_pong = Some(tokio::time::Instant::now());
                            if socket.send(Frame::Text(PONG.into())).await.is_err() {
                                return;
                            }
                        }
                        _ => {}
                    }
                }
            },
            _ = pings.tick() => {
                if !heard_since_ping {
                    // Silent for a whole interval after a ping: the peer is gone.
                    return;
                }
                heard_since_ping = false;
                if socket.send(Frame::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits for `{"type": "auth", "token": ...}` and checks it.
async fn auth_frame(state: &AppState, socket: &mut WebSocket) -> Option<TokenSubject> {
    let frame = tokio::time::timeout(AUTH_FRAME_WAIT, socket.recv()).await;
    let Ok(Some(Ok(Frame::Text(text)))) = frame else {
        return None;
    };
    let frame: AuthFrame = serde_json::from_str(text.as_str()).ok()?;
    if frame.kind != "auth" {
        return None;
    }
    authenticate(state.core(), &frame.token).await.ok()
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Frame::Close(Some(frame))).await;
}

/// Why a stream ended (other than its client going away).
enum End {
    SessionEnded,
    ShuttingDown,
}

enum Sent {
    Item(Item),
    End(End),
}

/// Starts following the subject's stream after `after` on a task of its own, which hands
/// over what to send through a small channel: a client that reads slowly holds that task
/// at its next send, so nothing piles up in memory. The task ends when the receiver is
/// dropped, the session ends, or the server shuts down.
fn follow(
    state: &AppState,
    subject: TokenSubject,
    after: Option<i64>,
    transport: &'static str,
) -> mpsc::Receiver<Sent> {
    let (items, received) = mpsc::channel(STREAM_BUFFER);
    let (core, stopping) = (state.core().clone(), state.stopping().clone());
    state.tasks().spawn(async move {
        let gauge = StreamGauge::open(transport);
        let end = tokio::select! {
            end = run_stream(&core, subject, after, &items, &gauge) => end,
            () = stopping.cancelled() => Some(End::ShuttingDown),
        };
        if let Some(end) = end {
            let _ = items.send(Sent::End(end)).await;
        }
    });
    received
}

/// Reads and hands over events until the client goes away (`None`) or the stream ends.
async fn run_stream(
    core: &Core,
    subject: TokenSubject,
    mut after: Option<i64>,
    items: &mpsc::Sender<Sent>,
    gauge: &StreamGauge,
) -> Option<End> {
    let user = subject.user_id;
    let mut listener = core.listen(user);
    let mut hears_typing = true;
    let mut ready = false;
    let mut sessions = listener.bell.borrow_and_update().sessions;
    // The session may have ended between the request's check and `listen`.
    if session_ended(core, subject).await {
        return Some(End::SessionEnded);
    }
    loop {
        // Boxed, like every database call here: the future is freed once it is done, so an
        // idle stream holds only its small waiting state (10,000 of them stay cheap).
        let (events, head) = match Box::pin(core.events(user, after, STREAM_BATCH)).await {
            Ok(Batch::Events { events, head }) => (events, head),
            Ok(Batch::Reset { head, floor }) => {
                send(items, Item::Control(Control::reset(head, floor))).await?;
                after = Some(head);
                continue;
            }
            Err(err) => {
                tracing::debug!(error = %err, "event stream could not read; retrying");
                tokio::time::sleep(RETRY_AFTER_ERROR).await;
                continue;
            }
        };
        let caught_up = (events.len() as i64) < STREAM_BATCH;
        after = Some(events.last().map_or(after.unwrap_or(head), |e| e.event.seq));
        for event in events {
            send(items, Item::Event(Box::new(event.into()))).await?;
            gauge.delivered();
        }
        if !caught_up {
            // Still replaying a backlog: a session that ended meanwhile ends the stream now,
            // not after the backlog. (`borrow`, not `borrow_and_update`: a head ring must
            // still wake the wait once caught up.)
            let now = listener.bell.borrow().sessions;
            if now != sessions {
                if session_ended(core, subject).await {
                    return Some(End::SessionEnded);
                }
                sessions = now;
            }
            continue;
        }
        if !ready {
            ready = true;
            send(items, Item::Control(Control::ready(head))).await?;
        }
        // Caught up: wait for a ring, the client leaving, or the periodic session check.
        // Others' typing passes straight through meanwhile.
        let recheck_at = tokio::time::sleep(SESSION_RECHECK);
        tokio::pin!(recheck_at);
        let recheck = loop {
            tokio::select! {
                changed = listener.bell.changed() => {
                    if changed.is_err() {
                        // The bell is gone (not while this listener holds it; defensively):
                        // fall back to reading on the recheck interval rather than spinning.
                        tokio::time::sleep(SESSION_RECHECK).await;
                    }
                    break changed.is_err();
                },
                () = items.closed() => return None,
                () = &mut recheck_at => break true,
                typing = listener.typing.recv(), if hears_typing => match typing {
                    // Passed on only while fresh, and only while the client keeps up (half
                    // the buffer free), never waited for: typing is the first thing to go.
                    Ok(heard)
                        if heard.typing.user != user
                            && heard.is_fresh()
                            && items.capacity() * 2 >= STREAM_BUFFER =>
                    {
                        let _ = items.try_send(Sent::Item(Item::Typing(heard.typing.into())));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => hears_typing = false,
                },
            }
        };
        let now = listener.bell.borrow_and_update().sessions;
        if (recheck || now != sessions) && session_ended(core, subject).await {
            return Some(End::SessionEnded);
        }
        sessions = now;
    }
}

/// Whether the stream's session is known to have ended (a database that cannot say keeps
/// the stream open).
async fn session_ended(core: &Core, subject: TokenSubject) -> bool {
    matches!(Box::pin(core.session_is_open(subject)).await, Ok(false))
}

/// Hands one item over; `None` when the client has gone.
async fn send(items: &mpsc::Sender<Sent>, item: Item) -> Option<()> {
    items.send(Sent::Item(item)).await.ok()
}
