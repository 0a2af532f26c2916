//! Live delivery: each user's event stream over long-poll (`/v1/events`), Server-Sent Events
//! (`/v1/events/stream`) and WebSocket (`/v1/events/ws`), all on one gapless cursor. Every
//! wait on a stream has a deadline, so a stream that goes quiet fails its test instead of
//! hanging it. Two instances: over one PostgreSQL with Redis (when both `TEST_DATABASE_URL`
//! and `TEST_REDIS_URL` are set), and over one database without Redis (the poller).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use missive_store::Timestamp;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsFrame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::cache::{Cached, cached_apps, with_redis};
use crate::helpers::{PASSWORD, Reply, TestApp, TestRedis, apps, keys, status_is, test_config};
use crate::v1_conversations::{User, conversation, mark_read, sent, v1_user};
use crate::v1_messages::send_keyed;

/// The longest any single expected item may take to arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(5);
/// How long a stream must stay silent to count as "got nothing".
pub(crate) const QUIET: Duration = Duration::from_millis(400);
/// WebSocket close codes.
const SESSION_ENDED: u16 = 4001;
const RESTARTING: u16 = 1012;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Poll,
    Sse,
    Ws,
}

pub(crate) const TRANSPORTS: [Transport; 3] = [Transport::Poll, Transport::Sse, Transport::Ws];

/// What a stream gave next.
#[derive(Debug)]
pub(crate) enum Next {
    /// An event or a control frame.
    Item(Value),
    /// The stream ended: the WebSocket close code, the long-poll's HTTP status, or `None`
    /// (SSE ended, or a WebSocket dropped without a close frame).
    Closed(Option<u16>),
    /// Nothing within the wait.
    Quiet,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

enum Inner {
    Poll {
        client: reqwest::Client,
        url: String,
        token: String,
        next: Option<i64>,
        pending: VecDeque<Value>,
    },
    Sse {
        response: reqwest::Response,
        text: String,
        pending: VecDeque<Value>,
    },
    Ws(Box<Socket>),
}

/// One open event stream of one user, over one transport.
pub(crate) struct Live {
    pub(crate) label: String,
    transport: Transport,
    inner: Inner,
}

fn query(after: Option<i64>) -> String {
    after
        .map(|after| format!("?after={after}"))
        .unwrap_or_default()
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://{}/v1/events/ws{query}", app.address)
}

/// Connects a WebSocket with a bearer header (or none).
async fn ws_connect(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = ws_url(app, query).into_client_request().unwrap();
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.headers_mut().insert("authorization", value);
    }
    let connected = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await;
    connected
        .expect("the WebSocket handshake timed out")
        .map(|(socket, _)| socket)
}

/// Connects a WebSocket whose socket receives into a small kernel buffer, so that a client
/// that does not read soon holds the server's writes back.
async fn ws_connect_small(app: &TestApp, token: &str, query: &str) -> Socket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.address).await.unwrap();
    let mut request = ws_url(app, query).into_client_request().unwrap();
    let value = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert("authorization", value);
    let handshake = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream));
    let (socket, _) = tokio::time::timeout(WAIT, handshake)
        .await
        .expect("the WebSocket handshake timed out")
        .unwrap();
    socket
}

impl Live {
    /// Opens `who`'s stream after `after` (`None`: from now on). A long-poll "opens" with one
    /// request when `after` is omitted, so that "now" is when this returns, as for the others.
    pub(crate) async fn open(
        app: &TestApp,
        who: &User,
        transport: Transport,
        after: Option<i64>,
    ) -> Self {
        Self::open_with(app, &who.token, transport, after, None).await
    }

    async fn open_with(
        app: &TestApp,
        token: &str,
        transport: Transport,
        after: Option<i64>,
        last_event_id: Option<i64>,
    ) -> Self {
        let label = format!("{} {transport:?}", app.label());
        let inner = match transport {
            Transport::Poll => {
                let mut inner = Inner::Poll {
                    client: app.client.clone(),
                    url: app.url("/v1/events"),
                    token: token.to_owned(),
                    next: after,
                    pending: VecDeque::new(),
                };
                if after.is_none() {
                    let Inner::Poll { next, .. } = &mut inner else {
                        unreachable!()
                    };
                    let reply = app.get("/v1/events", Some(token)).await;
                    status_is(app, &reply, StatusCode::OK);
                    assert_eq!(reply.body["events"], json!([]), "{label}: {}", reply.body);
                    assert_eq!(reply.body["next"], reply.body["head"], "{label}");
                    *next = reply.body["next"].as_i64();
                }
                inner
            }
            Transport::Sse => {
                let mut request = app
                    .client
                    .get(app.url(&format!("/v1/events/stream{}", query(after))))
                    .bearer_auth(token);
                if let Some(id) = last_event_id {
                    request = request.header("Last-Event-ID", id.to_string());
                }
                let response = tokio::time::timeout(WAIT, request.send())
                    .await
                    .expect("SSE request timed out")
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{label}");
                let content_type = response.headers()["content-type"].to_str().unwrap();
                assert!(
                    content_type.starts_with("text/event-stream"),
                    "{label}: {content_type}"
                );
                Inner::Sse {
                    response,
                    text: String::new(),
                    pending: VecDeque::new(),
                }
            }
            Transport::Ws => {
                let socket = ws_connect(app, Some(token), &query(after)).await;
                Inner::Ws(Box::new(
                    socket.unwrap_or_else(|err| panic!("{label}: {err}")),
                ))
            }
        };
        Self {
            label,
            transport,
            inner,
        }
    }

    fn from_socket(app: &TestApp, socket: Socket) -> Self {
        Self {
            label: format!("{} Ws", app.label()),
            transport: Transport::Ws,
            inner: Inner::Ws(Box::new(socket)),
        }
    }

    /// The next item, or how the stream ended, or `Quiet` after `wait`.
    pub(crate) async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        let label = self.label.clone();
        match &mut self.inner {
            Inner::Poll {
                client,
                url,
                token,
                next,
                pending,
            } => loop {
                if let Some(item) = pending.pop_front() {
                    return Next::Item(item);
                }
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                if remaining.is_zero() {
                    return Next::Quiet;
                }
                let after = next.expect("a long-poll cursor");
                let secs = remaining.as_secs();
                let request = client
                    .get(format!("{url}?after={after}&timeout={secs}"))
                    .bearer_auth(&*token)
                    .send();
                let response = tokio::time::timeout(remaining + Duration::from_secs(3), request)
                    .await
                    .unwrap_or_else(|_| panic!("{label}: a long-poll outlived its timeout"));
                let Ok(response) = response else {
                    return Next::Closed(None);
                };
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status != StatusCode::OK {
                    return Next::Closed(Some(status.as_u16()));
                }
                *next = Some(body["next"].as_i64().unwrap());
                pending.extend(body["events"].as_array().unwrap().iter().cloned());
                if pending.is_empty() && secs == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Inner::Sse {
                response,
                text,
                pending,
            } => loop {
                if let Some(item) = pending.pop_front() {
                    return Next::Item(item);
                }
                if let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    pending.extend(parse_sse(&label, &block));
                    continue;
                }
                match tokio::time::timeout_at(deadline, response.chunk()).await {
                    Err(_) => return Next::Quiet,
                    Ok(Ok(Some(bytes))) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
                    Ok(Ok(None) | Err(_)) => return Next::Closed(None),
                }
            },
            Inner::Ws(socket) => loop {
                match tokio::time::timeout_at(deadline, socket.next()).await {
                    Err(_) => return Next::Quiet,
                    Ok(None | Some(Err(_))) => return Next::Closed(None),
                    Ok(Some(Ok(WsFrame::Text(text)))) => {
                        let item = serde_json::from_str(text.as_str())
                            .unwrap_or_else(|err| panic!("{label}: {err}: {text}"));
                        return Next::Item(item);
                    }
                    Ok(Some(Ok(WsFrame::Close(frame)))) => {
                        return Next::Closed(frame.map(|frame| u16::from(frame.code)));
                    }
                    Ok(Some(Ok(_))) => {}
                }
            },
        }
    }

    /// The next item, which must come within [`WAIT`].
    pub(crate) async fn item(&mut self) -> Value {
        match self.next(WAIT).await {
            Next::Item(item) => item,
            other => panic!("{}: expected an item, got {other:?}", self.label),
        }
    }

    /// The next `n` items.
    pub(crate) async fn items(&mut self, n: usize) -> Vec<Value> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.item().await);
        }
        items
    }

    /// SSE and WebSocket: the next item is `ready`; returns its head. (A long-poll has no
    /// `ready`: nothing to read.)
    pub(crate) async fn ready(&mut self) -> Option<i64> {
        if self.transport == Transport::Poll {
            return None;
        }
        let item = self.item().await;
        assert_eq!(keys(&item), ["head", "type"], "{}: {item}", self.label);
        assert_eq!(item["type"], "ready", "{}: {item}", self.label);
        Some(item["head"].as_i64().unwrap())
    }

    /// Nothing arrives for a while.
    pub(crate) async fn quiet(&mut self) {
        match self.next(QUIET).await {
            Next::Quiet => {}
            other => panic!("{}: expected nothing, got {other:?}", self.label),
        }
    }

    /// WebSocket only: sends the client frame `frame` (a `typing` frame).
    pub(crate) async fn say(&mut self, frame: Value) {
        let Inner::Ws(socket) = &mut self.inner else {
            panic!("{}: only a WebSocket takes client frames", self.label)
        };
        socket.send(WsFrame::text(frame.to_string())).await.unwrap();
    }

    /// The stream ends within `wait`; returns the close code or status.
    async fn closed(&mut self, wait: Duration) -> Option<u16> {
        loop {
            match self.next(wait).await {
                Next::Closed(code) => return code,
                // A stream may still deliver what it had before it ends.
                Next::Item(item) if item["seq"].is_i64() => {}
                other => panic!("{}: expected the stream to end, got {other:?}", self.label),
            }
        }
    }
}

/// Parses one SSE message block; checks that `event:` names the type and `id:` the seq.
fn parse_sse(label: &str, block: &str) -> Option<Value> {
    let (mut id, mut event, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            other => panic!("{label}: unexpected SSE field {other:?} in {block:?}"),
        }
    }
    if data.is_empty() {
        return None;
    }
    let item: Value = serde_json::from_str(&data.join("\n"))
        .unwrap_or_else(|err| panic!("{label}: {err}: {block:?}"));
    assert_eq!(
        event.as_deref(),
        item["type"].as_str(),
        "{label}: {block:?}"
    );
    let seq = item["seq"].as_i64().map(|seq| seq.to_string());
    assert_eq!(
        id, seq,
        "{label}: the id is the seq (none for control): {block:?}"
    );
    Some(item)
}

pub(crate) fn types(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect()
}

fn seqs(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|item| item["seq"].as_i64().unwrap())
        .collect()
}

/// Logs `username` in again: a second session.
async fn login(app: &TestApp, username: &str) -> User {
    let body = json!({"login": username, "password": PASSWORD});
    let reply = app.post("/v1/auth/login", body, None).await;
    status_is(app, &reply, StatusCode::OK);
    User {
        id: reply.body["user"]["id"].as_i64().unwrap(),
        token: reply.body["access_token"].as_str().unwrap().to_owned(),
    }
}

async fn edit(app: &TestApp, who: &User, message: i64, text: &str) {
    let body = Some(json!({"content": text}));
    let path = format!("/v1/messages/{message}");
    let reply = app.call(Method::PATCH, &path, body, who.auth()).await;
    status_is(app, &reply, StatusCode::OK);
}

async fn delete(app: &TestApp, who: &User, message: i64) {
    let path = format!("/v1/messages/{message}");
    let reply = app.call(Method::DELETE, &path, None, who.auth()).await;
    status_is(app, &reply, StatusCode::OK);
}

async fn hide(app: &TestApp, who: &User, message: i64) {
    let path = format!("/v1/messages/{message}?for=me");
    let reply = app.call(Method::DELETE, &path, None, who.auth()).await;
    status_is(app, &reply, StatusCode::NO_CONTENT);
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().unwrap()
}

/// Every event from 0, read over long-poll pages of `limit`.
pub(crate) async fn replay(app: &TestApp, who: &User, limit: i64) -> Vec<Value> {
    let mut after = 0;
    let mut events = Vec::new();
    loop {
        let path = format!("/v1/events?after={after}&limit={limit}");
        let reply = app.get(&path, who.auth()).await;
        status_is(app, &reply, StatusCode::OK);
        let page = reply.body["events"].as_array().unwrap().clone();
        if page.is_empty() {
            assert_eq!(reply.body["next"], after, "{}", app.label());
            assert_eq!(reply.body["head"], after, "{}", app.label());
            return events;
        }
        assert!(page.len() as i64 <= limit);
        after = reply.body["next"].as_i64().unwrap();
        assert_eq!(page.last().unwrap()["seq"], after, "{}", app.label());
        events.extend(page);
    }
}

/// Asserts `items` are events numbered `from`, `from + 1`, ... with no gap.
#[track_caller]
pub(crate) fn gapless(label: &str, items: &[Value], from: i64) {
    let expected: Vec<i64> = (from..from + items.len() as i64).collect();
    assert_eq!(seqs(items), expected, "{label}: {items:?}");
}

/// Opens `who`'s stream from the start over `transport` and reads its first events, which
/// must be gapless from 1 and of the `expected` types, in order.
pub(crate) async fn from_the_start(
    app: &TestApp,
    who: &User,
    transport: Transport,
    expected: &[&str],
) -> (Live, Vec<Value>) {
    let mut live = Live::open(app, who, transport, Some(0)).await;
    let items = live.items(expected.len()).await;
    gapless(&live.label, &items, 1);
    assert_eq!(types(&items), expected, "{}: {items:?}", live.label);
    (live, items)
}

// Every event type, on every transport.

#[tokio::test]
async fn every_event_type_arrives_in_order_on_every_transport_for_each_member() {
    // With Redis too (when configured): its doorbell and its cache.
    for Cached { app, redis: _redis } in cached_apps().await {
        let label = app.label();
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let mut streams = Vec::new();
        for transport in TRANSPORTS {
            for who in [&alice, &bob] {
                let mut live = Live::open(&app, who, transport, Some(0)).await;
                assert_eq!(live.ready().await.unwrap_or(0), 0, "{label}");
                streams.push((who.id, live));
            }
        }
        // Each step must reach every stream it concerns before the next, so what each
        // event shows ("the message as it is now") is what that step made.
        let mut got: Vec<Vec<Value>> = vec![Vec::new(); streams.len()];
        macro_rules! expect {
            ($who:expr) => {
                for (i, (user, live)) in streams.iter_mut().enumerate() {
                    if $who.contains(user) {
                        got[i].push(live.item().await);
                    }
                }
            };
        }
        let both = [alice.id, bob.id];

        let id_ = conversation(&app, &alice, &bob).await;
        expect!(both);
        let first = sent(&app, &alice, id_, "first").await;
        expect!(both);
        let second = sent(&app, &bob, id_, "second").await;
        expect!(both);
        edit(&app, &alice, id(&first), "first, edited").await;
        expect!(both);
        delete(&app, &alice, id(&first)).await;
        expect!(both);
        hide(&app, &bob, id(&second)).await;
        expect!([bob.id]);
        let read = mark_read(&app, &bob, id_, 2).await;
        status_is(&app, &read, StatusCode::OK);
        expect!(both);
        // The faces' sends, with the same /v1 tokens.
        let chat = app
            .post(
                "/send",
                json!({"recipient_id": bob.id, "content": "from /send"}),
                alice.auth(),
            )
            .await;
        status_is(&app, &chat, StatusCode::OK);
        expect!(both);
        let body = json!({"recipient_id": alice.id.to_string(), "content": "from /messages/"});
        let face = app.post("/messages/", body, bob.auth()).await;
        status_is(&app, &face, StatusCode::OK);
        expect!(both);
        // A read position that does not move is no event (the streams stay quiet below).
        status_is(&app, &mark_read(&app, &bob, id_, 2).await, StatusCode::OK);

        for (i, (user, live)) in streams.iter_mut().enumerate() {
            let items = &got[i];
            let who = if *user == alice.id { "alice" } else { "bob" };
            let label = format!("{} for {who}", live.label);
            let expected: &[&str] = if *user == alice.id {
                &[
                    "conversation.created",
                    "message.created",
                    "message.created",
                    "message.edited",
                    "message.deleted",
                    "conversation.read",
                    "message.created",
                    "message.created",
                ]
            } else {
                &[
                    "conversation.created",
                    "message.created",
                    "message.created",
                    "message.edited",
                    "message.deleted",
                    "message.hidden",
                    "conversation.read",
                    "message.created",
                    "message.created",
                ]
            };
            assert_eq!(types(items), expected, "{label}: {items:?}");
            gapless(&label, items, 1);
            assert!(items.iter().all(|e| e["conversation_id"] == id_), "{label}");
            assert!(items.iter().all(|e| e["at"].is_string()), "{label}");

            let created = &items[0];
            assert_eq!(created["conversation"]["id"], id_, "{label}: {created}");
            let peer = if *user == alice.id { bob.id } else { alice.id };
            assert_eq!(
                created["conversation"]["peer"]["id"], peer,
                "{label}: {created}"
            );

            assert_eq!(items[1]["message"]["content"], "first", "{label}");
            assert_eq!(items[1]["message"]["id"], id(&first), "{label}");
            assert_eq!(items[1]["message"]["sender_id"], alice.id, "{label}");
            assert_eq!(items[2]["message"]["content"], "second", "{label}");
            assert_eq!(items[2]["message"]["seq"], 2, "{label}");
            assert_eq!(items[3]["message"]["content"], "first, edited", "{label}");
            assert!(items[3]["message"]["edited_at"].is_string(), "{label}");
            assert_eq!(items[4]["message"]["id"], id(&first), "{label}");
            assert_eq!(items[4]["message"]["deleted"], true, "{label}");
            assert!(
                items[4]["message"]["content"].is_null(),
                "{label}: {}",
                items[4]
            );

            let rest = if *user == bob.id {
                let hidden = &items[5];
                assert_eq!(
                    keys(hidden),
                    [
                        "at",
                        "conversation_id",
                        "message_id",
                        "message_seq",
                        "seq",
                        "type"
                    ],
                    "{label}: {hidden}"
                );
                assert_eq!(hidden["message_id"], id(&second), "{label}");
                assert_eq!(hidden["message_seq"], 2, "{label}");
                &items[6..]
            } else {
                &items[5..]
            };
            let read = &rest[0];
            assert_eq!(read["user_id"], bob.id, "{label}: {read}");
            assert_eq!(read["last_read_seq"], 2, "{label}: {read}");
            assert!(read.get("message").is_none(), "{label}: {read}");
            assert_eq!(rest[1]["message"]["content"], "from /send", "{label}");
            assert_eq!(rest[1]["message"]["sender_id"], alice.id, "{label}");
            assert_eq!(rest[2]["message"]["content"], "from /messages/", "{label}");
            assert_eq!(rest[2]["message"]["sender_id"], bob.id, "{label}");
        }
        join_all(streams.iter_mut().map(|(_, live)| live.quiet())).await;
    }
}

/// The compatibility faces write through the same use cases: a face send that opens a
/// conversation, and a face edit, reach the /v1 streams.
#[tokio::test]
async fn a_face_send_that_opens_a_conversation_and_a_face_edit_reach_the_streams() {
    for app in apps().await {
        let (alice, carol) = (v1_user(&app, "alice").await, v1_user(&app, "carol").await);
        let mut streams = Vec::new();
        for who in [&alice, &carol] {
            for transport in TRANSPORTS {
                let mut live = Live::open(&app, who, transport, Some(0)).await;
                live.ready().await;
                streams.push(live);
            }
        }
        let body = json!({"recipient_id": carol.id, "content": "hello via /send"});
        let reply = app.post("/send", body, alice.auth()).await;
        status_is(&app, &reply, StatusCode::OK);
        let message = reply.body["id"].as_i64().unwrap();
        let body = json!({"content": "edited via the message service"});
        let reply = app
            .put(&format!("/messages/{message}"), body, alice.auth())
            .await;
        status_is(&app, &reply, StatusCode::OK);

        for live in &mut streams {
            let items = live.items(3).await;
            gapless(&live.label, &items, 1);
            assert_eq!(
                types(&items),
                ["conversation.created", "message.created", "message.edited"],
                "{}",
                live.label
            );
            assert_eq!(items[1]["message"]["id"], message, "{}", live.label);
            assert_eq!(
                items[2]["message"]["content"], "edited via the message service",
                "{}",
                live.label
            );
        }
        join_all(streams.iter_mut().map(Live::quiet)).await;
    }
}

// Resuming with a cursor.

/// Five rounds of send, send, edit, delete by `who`: 20 events for each member.
async fn twenty_changes(app: &TestApp, who: &User, conversation: i64) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for round in 0..5 {
        let kept = sent(app, who, conversation, &format!("kept {round}")).await;
        let gone = sent(app, who, conversation, &format!("gone {round}")).await;
        edit(app, who, id(&kept), &format!("kept {round}, edited")).await;
        delete(app, who, id(&gone)).await;
        kinds.extend([
            "message.created",
            "message.created",
            "message.edited",
            "message.deleted",
        ]);
    }
    kinds
}

#[tokio::test]
async fn a_stream_resumed_with_its_cursor_gets_exactly_what_it_missed_then_ready() {
    // With Redis too (when configured): its doorbell and its cache.
    for Cached { app, redis: _redis } in cached_apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        sent(&app, &bob, id_, "before").await;
        for transport in TRANSPORTS {
            let mut live = Live::open(&app, &bob, transport, Some(0)).await;
            let mut last = 0;
            // Read everything so far, then go away.
            loop {
                match live.next(Duration::from_millis(300)).await {
                    Next::Item(item) if item["type"] == "ready" => {
                        assert_eq!(item["head"], last, "{}", live.label);
                        break;
                    }
                    Next::Item(item) => {
                        assert_eq!(item["seq"], last + 1, "{}: {item}", live.label);
                        last += 1;
                    }
                    Next::Quiet if transport == Transport::Poll => break,
                    other => panic!("{}: {other:?}", live.label),
                }
            }
            drop(live);

            let kinds = twenty_changes(&app, &alice, id_).await;

            let mut live = match transport {
                // `Last-Event-ID` takes the place of `after`, as for a browser's EventSource.
                // It takes precedence over `after`.
                Transport::Sse => Live::open_with(&app, &bob.token, transport, Some(0), Some(last)),
                _ => Live::open_with(&app, &bob.token, transport, Some(last), None),
            }
            .await;
            let missed = live.items(20).await;
            assert_eq!(types(&missed), kinds, "{}", live.label);
            gapless(&live.label, &missed, last + 1);
            let head = live.ready().await;
            assert!(head.is_none_or(|head| head == last + 20), "{}", live.label);
            live.quiet().await;
        }
    }
}

// "From now", a cursor past the head, one below the floor, and the long-poll's wait.

#[tokio::test]
async fn without_after_a_stream_gets_only_what_happens_from_now_on() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        for n in 0..3 {
            sent(&app, &alice, id_, &format!("old {n}")).await;
        }
        for transport in TRANSPORTS {
            // Three messages, then one more per transport before this one.
            let head = replay(&app, &bob, 1000).await.len() as i64;
            let mut live = Live::open(&app, &bob, transport, None).await;
            let ready = live.ready().await;
            assert!(ready.is_none_or(|ready| ready == head), "{}", live.label);
            live.quiet().await;

            sent(&app, &alice, id_, "new").await;
            let new = live.item().await;
            assert_eq!(new["type"], "message.created", "{}: {new}", live.label);
            assert_eq!(new["message"]["content"], "new", "{}", live.label);
            let head_now = replay(&app, &bob, 1000).await.len() as i64;
            assert_eq!(new["seq"], head_now, "{}", live.label);
        }
        // A long-poll without `after` waits for the next event, and answers with it.
        let head = replay(&app, &bob, 1000).await.len() as i64;
        let started = Instant::now();
        let (page, _) = tokio::join!(app.get("/v1/events?timeout=10", bob.auth()), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sent(&app, &alice, id_, "waited for").await
        });
        status_is(&app, &page, StatusCode::OK);
        assert_eq!(seqs(page.body["events"].as_array().unwrap()), [head + 1]);
        assert_eq!(page.body["next"], head + 1, "{}", app.label());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{}: {took:?}", app.label());
    }
}

/// Expects a `reset` frame (then, on SSE and WebSocket, `ready` at the head).
async fn expect_reset(live: &mut Live, head: i64, floor: i64) {
    let reset = live.item().await;
    assert_eq!(
        reset,
        json!({"type": "reset", "head": head, "floor": floor}),
        "{}",
        live.label
    );
    assert!(
        live.ready().await.is_none_or(|ready| ready == head),
        "{}",
        live.label
    );
}

#[tokio::test]
async fn a_cursor_past_the_head_gets_a_reset_and_the_stream_goes_on_from_the_head() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        sent(&app, &alice, id_, "one").await;
        let head = 2;
        for transport in TRANSPORTS {
            let mut live = Live::open(&app, &bob, transport, Some(head + 5)).await;
            expect_reset(&mut live, head, 0).await;
            live.quiet().await;
        }
        let page = app.get("/v1/events?after=99", bob.auth()).await;
        status_is(&app, &page, StatusCode::OK);
        assert_eq!(
            page.body,
            json!({"events": [{"type": "reset", "head": head, "floor": 0}], "next": head, "head": head})
        );
        // And from the head on, what comes next arrives.
        let mut live = Live::open(&app, &bob, Transport::Ws, Some(99)).await;
        expect_reset(&mut live, head, 0).await;
        sent(&app, &alice, id_, "two").await;
        let next = live.item().await;
        assert_eq!(next["seq"], head + 1, "{}: {next}", live.label);
    }
}

#[tokio::test]
async fn a_cursor_below_the_floor_of_purged_events_gets_a_reset() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        for n in 0..3 {
            sent(&app, &alice, id_, &format!("old {n}")).await;
        }
        let head = 4;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let purged = app.db.store().purge_events(Timestamp::now()).await.unwrap();
        assert_eq!(purged, 2 * head as u64, "{}", app.label());

        for transport in TRANSPORTS {
            let mut live = Live::open(&app, &bob, transport, Some(0)).await;
            expect_reset(&mut live, head, head).await;
            // At the floor itself nothing is missing.
            let mut at_floor = Live::open(&app, &bob, transport, Some(head)).await;
            assert_eq!(at_floor.ready().await.unwrap_or(head), head);
            at_floor.quiet().await;
        }
        sent(&app, &alice, id_, "after the purge").await;
        let page = app.get("/v1/events?after=0", bob.auth()).await;
        assert_eq!(page.body["events"][0]["type"], "reset", "{}", page.body);
        assert_eq!(page.body["events"][0]["floor"], head, "{}", page.body);
        let page = app
            .get(&format!("/v1/events?after={head}"), bob.auth())
            .await;
        assert_eq!(seqs(page.body["events"].as_array().unwrap()), [head + 1]);
    }
}

/// A long-poll whose read found nothing must still hear an event committed while it was
/// reading: many users poll while their peer sends, at the same moment, in rounds; every
/// poll must answer as soon as its event is committed, not at its timeout.
#[tokio::test]
async fn a_waiting_long_poll_hears_an_event_committed_while_it_was_reading() {
    const USERS: usize = 12;
    const ROUNDS: usize = 30;
    let mut failures = Vec::new();
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let mut readers = Vec::new();
        for n in 0..USERS {
            let reader = v1_user(&app, &format!("reader{n}")).await;
            let id_ = conversation(&app, &alice, &reader).await;
            readers.push((reader, id_, 1_i64));
        }
        let mut late = Vec::new();
        for round in 0..ROUNDS {
            let trials = readers.iter().map(|(reader, id_, head)| {
                let app = &app;
                let alice = &alice;
                async move {
                    let path = format!("/v1/events?after={head}&timeout=3");
                    let started = Instant::now();
                    let (page, _) = tokio::join!(app.get(&path, reader.auth()), async {
                        // Land the commit somewhere in the poll's first read.
                        tokio::time::sleep(Duration::from_micros(150 * (round % 20) as u64)).await;
                        sent(app, alice, *id_, "now").await
                    });
                    (page, started.elapsed())
                }
            });
            for ((page, took), (_, _, head)) in join_all(trials).await.into_iter().zip(&mut readers)
            {
                status_is(&app, &page, StatusCode::OK);
                *head += 1;
                let events = page.body["events"].as_array().map_or(0, Vec::len);
                // Answered at its timeout (with the event, read then): it slept through it.
                if events != 1 || took > Duration::from_millis(1500) {
                    late.push((round, took));
                }
            }
            if !late.is_empty() {
                break;
            }
        }
        if !late.is_empty() {
            failures.push(format!(
                "{}: late long-polls (round, time): {late:?}",
                app.label()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// Concurrent writers.

#[tokio::test]
async fn concurrent_sends_reach_both_streams_once_each_with_gapless_seqs() {
    const EACH: usize = 15;
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let mut streams = Vec::new();
        for who in [&alice, &bob] {
            let mut live = Live::open(&app, who, Transport::Ws, Some(0)).await;
            live.ready().await;
            streams.push(live);
        }
        let id_ = conversation(&app, &alice, &bob).await;
        let sends =
            (0..EACH).flat_map(|n| [(&alice, format!("alice {n}")), (&bob, format!("bob {n}"))]);
        let sends = sends.map(|(who, text)| {
            let app = &app;
            async move { id(&sent(app, who, id_, &text).await) }
        });
        let ids: HashSet<i64> = join_all(sends).await.into_iter().collect();
        assert_eq!(ids.len(), 2 * EACH);

        for live in &mut streams {
            let items = live.items(1 + 2 * EACH).await;
            gapless(&live.label, &items, 1);
            assert_eq!(items[0]["type"], "conversation.created", "{}", live.label);
            let got: Vec<i64> = items[1..]
                .iter()
                .map(|e| e["message"]["id"].as_i64().unwrap())
                .collect();
            let unique: HashSet<i64> = got.iter().copied().collect();
            assert_eq!(unique, ids, "{}: {got:?}", live.label);
            assert_eq!(got.len(), unique.len(), "{}: {got:?}", live.label);
            // Message seqs rise with stream seqs: commit order.
            let message_seqs: Vec<i64> = items[1..]
                .iter()
                .map(|e| e["message"]["seq"].as_i64().unwrap())
                .collect();
            let expected: Vec<i64> = (1..=2 * EACH as i64).collect();
            assert_eq!(message_seqs, expected, "{}", live.label);
            live.quiet().await;
        }
    }
}

/// Three users, three conversations, every member sending and editing in both of theirs at
/// once: the writes lock each user's head in one order, so none deadlocks, and every stream
/// stays gapless with each conversation's messages in their order.
#[tokio::test]
async fn concurrent_writes_across_conversations_sharing_members_keep_every_stream_gapless() {
    const SENDS: usize = 6;
    const EDITS: usize = 3;
    for app in apps().await {
        let users = [
            v1_user(&app, "alice").await,
            v1_user(&app, "bob").await,
            v1_user(&app, "carol").await,
        ];
        let mut streams = Vec::new();
        for who in &users {
            let mut live = Live::open(&app, who, Transport::Ws, Some(0)).await;
            live.ready().await;
            streams.push(live);
        }
        let pairs = [(0, 1), (0, 2), (1, 2)];
        let mut conversations = Vec::new();
        let mut first_messages = Vec::new();
        for (a, b) in pairs {
            let id_ = conversation(&app, &users[a], &users[b]).await;
            for who in [a, b] {
                let message = sent(&app, &users[who], id_, "first").await;
                first_messages.push((who, id(&message)));
            }
            conversations.push((id_, a, b));
        }
        let app_ = &app;
        let users_ = &users;
        let mut writes: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
        for &(id_, a, b) in &conversations {
            for who in [a, b] {
                for n in 0..SENDS {
                    writes.push(Box::pin(async move {
                        sent(app_, &users_[who], id_, &format!("{who} {n}")).await;
                    }));
                }
            }
        }
        for &(who, message) in &first_messages {
            for n in 0..EDITS {
                writes.push(Box::pin(async move {
                    edit(app_, &users_[who], message, &format!("edit {n}")).await;
                }));
            }
        }
        join_all(writes).await;

        let per_conversation = 1 + 2 + 2 * SENDS + 2 * EDITS;
        for (user, live) in streams.iter_mut().enumerate() {
            let items = live.items(2 * per_conversation).await;
            gapless(&live.label, &items, 1);
            for &(id_, a, b) in &conversations {
                if user != a && user != b {
                    assert!(items.iter().all(|e| e["conversation_id"] != id_));
                    continue;
                }
                let mine: Vec<&Value> = items
                    .iter()
                    .filter(|e| e["conversation_id"] == id_)
                    .collect();
                assert_eq!(mine.len(), per_conversation, "{}", live.label);
                let created: Vec<i64> = mine
                    .iter()
                    .filter(|e| e["type"] == "message.created")
                    .map(|e| e["message"]["seq"].as_i64().unwrap())
                    .collect();
                let expected: Vec<i64> = (1..=2 + 2 * SENDS as i64).collect();
                assert_eq!(created, expected, "{}: user {user}", live.label);
            }
            live.quiet().await;
        }
    }
}

// Two instances.

/// Bob streams on `second`, Alice sends on `first`, `sends` times in a row; each event must
/// arrive within `within`.
async fn across_instances(first: &TestApp, second: &TestApp, sends: i64, within: Duration) {
    let alice = v1_user(first, "alice").await;
    let bob = v1_user(second, "bob").await;
    let id_ = conversation(first, &alice, &bob).await;
    let mut live = Live::open(second, &bob, Transport::Ws, Some(1)).await;
    live.ready().await;
    for n in 0..sends {
        let started = Instant::now();
        let message = sent(first, &alice, id_, &format!("across {n}")).await;
        let event = match live.next(within + Duration::from_secs(2)).await {
            Next::Item(event) => event,
            other => panic!("{}: {other:?}", live.label),
        };
        let took = started.elapsed();
        assert_eq!(event["message"]["id"], id(&message), "{}", live.label);
        assert_eq!(event["seq"], n + 2, "{}", live.label);
        assert!(took < within, "{}: send {n} took {took:?}", live.label);
    }
}

/// Two instances over one fresh PostgreSQL schema sharing one Redis (doorbell and cache),
/// both subscribed; `None` unless `TEST_DATABASE_URL` and `TEST_REDIS_URL` are both set.
pub(crate) async fn two_instances_with_redis() -> Option<(TestApp, TestApp, TestRedis)> {
    let (db, redis) = (TestDb::postgres().await, TestRedis::new());
    let (db, redis) = (db?, redis?);
    let first = TestApp::start(db, |db| with_redis(db, &redis.url, &redis.prefix)).await;
    let second =
        TestApp::start_second(&first, |db| with_redis(db, &redis.url, &redis.prefix)).await;
    // Let the instances subscribe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Some((first, second, redis))
}

#[tokio::test]
async fn with_redis_an_event_made_on_one_instance_reaches_a_stream_on_the_other_at_once() {
    let Some((first, second, _redis)) = two_instances_with_redis().await else {
        return;
    };
    // Three in a row: the poller alone (every 2 s) could not make each in under 1 s.
    across_instances(&first, &second, 3, Duration::from_secs(1)).await;

    // A session ended through one instance ends its streams on the other at once too.
    let dave = v1_user(&first, "dave").await;
    let mut live = Live::open(&second, &dave, Transport::Ws, None).await;
    live.ready().await;
    let logout = first
        .call(Method::POST, "/v1/auth/logout", None, dave.auth())
        .await;
    status_is(&first, &logout, StatusCode::NO_CONTENT);
    let started = Instant::now();
    assert_eq!(
        live.closed(WAIT).await,
        Some(SESSION_ENDED),
        "{}",
        live.label
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{}: {took:?}", live.label);
}

#[tokio::test]
async fn without_redis_an_event_made_on_one_instance_reaches_the_other_within_the_poll() {
    for db in TestDb::all().await {
        let first = TestApp::start(db, test_config).await;
        let second = TestApp::start_second(&first, test_config).await;
        across_instances(&first, &second, 1, Duration::from_secs(5)).await;
    }
}

// Ends.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Logout,
    LogoutAll,
    PasswordChange,
    /// `DELETE /v1/sessions/{id}` from another session.
    Revoked,
    AccountDeleted,
}

/// Ends the session `alice` streams on (from `other`, a second session, where it must).
async fn end_session(app: &TestApp, ending: Ending, alice: &User, other: &User) {
    let reply = match ending {
        Ending::Logout => {
            app.call(Method::POST, "/v1/auth/logout", None, alice.auth())
                .await
        }
        Ending::LogoutAll => {
            app.call(Method::POST, "/v1/auth/logout-all", None, other.auth())
                .await
        }
        Ending::PasswordChange => {
            let body = json!({"current_password": PASSWORD,
                "new_password": "a-brand-new-horse-battery"});
            app.call(Method::PATCH, "/v1/users/me", Some(body), other.auth())
                .await
        }
        Ending::Revoked => {
            let sessions = app.get("/v1/sessions", other.auth()).await;
            status_is(app, &sessions, StatusCode::OK);
            let sessions = sessions.body.as_array().unwrap().clone();
            let streaming = sessions.iter().find(|s| s["current"] == false).unwrap();
            let path = format!("/v1/sessions/{}", streaming["id"]);
            app.call(Method::DELETE, &path, None, other.auth()).await
        }
        Ending::AccountDeleted => {
            let user = missive_store::UserId(alice.id);
            app.core.delete_user(user).await.unwrap();
            return;
        }
    };
    assert!(reply.status.is_success(), "{ending:?}: {}", reply.body);
}

#[tokio::test]
async fn every_way_a_session_ends_ends_its_open_streams_at_once() {
    let endings = [
        Ending::Logout,
        Ending::LogoutAll,
        Ending::PasswordChange,
        Ending::Revoked,
        Ending::AccountDeleted,
    ];
    // With Redis too (when configured): its doorbell and its cache.
    for Cached { app, redis: _redis } in cached_apps().await {
        for (n, ending) in endings.into_iter().enumerate() {
            let username = format!("alice{n}");
            let alice = v1_user(&app, &username).await;
            let other = login(&app, &username).await;
            let mut ws = Live::open(&app, &alice, Transport::Ws, None).await;
            let mut sse = Live::open(&app, &alice, Transport::Sse, None).await;
            let mut poll = Live::open(&app, &alice, Transport::Poll, None).await;
            ws.ready().await;
            sse.ready().await;
            // A stream of the other session (which only some endings end).
            let mut kept = Live::open(&app, &other, Transport::Ws, None).await;
            kept.ready().await;

            let end = async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                end_session(&app, ending, &alice, &other).await;
                Instant::now()
            };
            let timed = async |live: &mut Live| {
                let code = live.closed(Duration::from_secs(6)).await;
                (code, Instant::now())
            };
            let (ended_at, (ws_code, ws_at), (sse_code, sse_at), (poll_code, poll_at)) =
                tokio::join!(end, timed(&mut ws), timed(&mut sse), timed(&mut poll));
            let label = format!("{} {ending:?}", app.label());
            assert_eq!(ws_code, Some(SESSION_ENDED), "{label}: WebSocket");
            assert_eq!(sse_code, None, "{label}: SSE");
            assert_eq!(poll_code, Some(401), "{label}: long-poll");
            for (what, at) in [
                ("WebSocket", ws_at),
                ("SSE", sse_at),
                ("long-poll", poll_at),
            ] {
                let took = at.saturating_duration_since(ended_at);
                assert!(
                    took < Duration::from_secs(3),
                    "{label}: {what} took {took:?}"
                );
            }
            // The ended session cannot stream again.
            let refused = app.get("/v1/events", alice.auth()).await;
            status_is(&app, &refused, StatusCode::UNAUTHORIZED);
            match ending {
                Ending::Logout | Ending::PasswordChange | Ending::Revoked => kept.quiet().await,
                Ending::LogoutAll | Ending::AccountDeleted => {
                    assert_eq!(kept.closed(WAIT).await, Some(SESSION_ENDED), "{label}");
                }
            }
        }
    }
}

/// A session that ends while its stream is still replaying a backlog ends the stream then,
/// not after the whole backlog has gone to the logged-out client.
#[tokio::test]
async fn a_session_that_ends_during_a_backlog_replay_ends_the_stream_before_the_backlog_does() {
    const BACKLOG: usize = 500;
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        let filler = "y".repeat(1000);
        for chunk in 0..BACKLOG / 10 {
            let sends = (0..10).map(|n| {
                let text = format!("{} {filler}", chunk * 10 + n);
                let (app, alice) = (&app, &alice);
                async move { sent(app, alice, id_, &text).await }
            });
            join_all(sends).await;
        }
        let total = 1 + BACKLOG as i64;
        // A reader with small buffers, so the server cannot have written everything yet.
        let socket = ws_connect_small(&app, &bob.token, "?after=0").await;
        let mut live = Live::from_socket(&app, socket);
        assert_eq!(live.item().await["seq"], 1, "{}", live.label);
        let logout = app
            .call(Method::POST, "/v1/auth/logout", None, bob.auth())
            .await;
        status_is(&app, &logout, StatusCode::NO_CONTENT);
        let mut last = 1;
        let code = loop {
            match live.next(WAIT).await {
                Next::Item(item) if item["seq"].is_i64() => {
                    assert_eq!(item["seq"], last + 1, "{}", live.label);
                    last += 1;
                }
                Next::Item(item) => assert_eq!(item["type"], "ready", "{}", live.label),
                Next::Closed(code) => break code,
                Next::Quiet => panic!("{}: still open after seq {last}", live.label),
            }
        };
        assert_eq!(code, Some(SESSION_ENDED), "{}", live.label);
        assert!(
            last < total,
            "{}: the logged-out client got the whole backlog ({last} of {total})",
            live.label
        );
    }
}

// Who sees what.

#[tokio::test]
async fn a_non_member_never_sees_another_conversations_events() {
    for app in apps().await {
        let carol = v1_user(&app, "carol").await;
        let mut carols = Vec::new();
        for transport in TRANSPORTS {
            let mut live = Live::open(&app, &carol, transport, Some(0)).await;
            live.ready().await;
            carols.push(live);
        }
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        let message = sent(&app, &alice, id_, "between us").await;
        sent(&app, &bob, id_, "indeed").await;
        edit(&app, &alice, id(&message), "between us, edited").await;
        hide(&app, &bob, id(&message)).await;
        status_is(&app, &mark_read(&app, &bob, id_, 2).await, StatusCode::OK);
        let mut bobs = Live::open(&app, &bob, Transport::Ws, Some(0)).await;
        assert_eq!(bobs.items(6).await.len(), 6);

        join_all(carols.iter_mut().map(Live::quiet)).await;
        let page = app.get("/v1/events?after=0", carol.auth()).await;
        assert_eq!(
            page.body,
            json!({"events": [], "next": 0, "head": 0}),
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn a_hidden_message_never_reaches_the_hider_again_not_even_on_replay() {
    const SECRET: &str = "hide this text";
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        let message = sent(&app, &alice, id_, SECRET).await;
        let mut live = Live::open(&app, &bob, Transport::Ws, Some(0)).await;
        assert_eq!(live.items(2).await[1]["message"]["content"], SECRET);
        live.ready().await;

        hide(&app, &bob, id(&message)).await;
        let hidden = live.item().await;
        assert_eq!(hidden["type"], "message.hidden", "{}: {hidden}", live.label);
        // Whatever happens to it later reaches Bob without its content.
        edit(&app, &alice, id(&message), &format!("{SECRET}, edited")).await;
        let later = live.item().await;
        assert_eq!(later["type"], "message.hidden", "{}: {later}", live.label);
        assert!(later.get("message").is_none(), "{}: {later}", live.label);
        assert_eq!(later["message_id"], id(&message), "{}", live.label);

        for transport in TRANSPORTS {
            let expected = [
                "conversation.created",
                "message.hidden",
                "message.hidden",
                "message.hidden",
            ];
            let (mut live, items) = from_the_start(&app, &bob, transport, &expected).await;
            let replayed = &items[1];
            assert_eq!(replayed["message_id"], id(&message), "{}", live.label);
            assert_eq!(replayed["message_seq"], 1, "{}", live.label);
            for item in &items {
                assert!(!item.to_string().contains(SECRET), "{}: {item}", live.label);
            }
            live.ready().await;
        }
        // Alice still sees her message as it is.
        let alices = replay(&app, &alice, 1).await;
        assert_eq!(types(&alices)[1..], ["message.created", "message.edited"]);
        assert_eq!(alices[1]["message"]["content"], format!("{SECRET}, edited"));
    }
}

/// A peer's deleted account leaves the direct conversation, and the stream that told of it,
/// as they were: replaying it shows the messages, from a sender who is now `deleted:<id>`.
#[tokio::test]
async fn a_deleted_peer_leaves_the_stream_and_its_messages_as_they_were() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        sent(&app, &alice, id_, "from alice").await;
        sent(&app, &bob, id_, "from bob").await;
        app.core
            .delete_user(missive_store::UserId(alice.id))
            .await
            .unwrap();
        for transport in TRANSPORTS {
            let expected = ["conversation.created", "message.created", "message.created"];
            let (mut live, items) = from_the_start(&app, &bob, transport, &expected).await;
            let contents: Vec<&str> = items[1..]
                .iter()
                .map(|item| item["message"]["content"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(contents, ["from alice", "from bob"], "{}", live.label);
            let peer = &items[0]["conversation"]["peer"]["username"];
            assert_eq!(peer, &format!("deleted:{}", alice.id), "{}", live.label);
            assert_eq!(live.ready().await.unwrap_or(3), 3, "{}", live.label);
        }
    }
}

/// A write that changes nothing appends nothing: a replayed idempotent send, a second delete,
/// a second hide, a read position that does not move.
#[tokio::test]
async fn a_write_that_changes_nothing_appends_no_event() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id_ = conversation(&app, &alice, &bob).await;
        let mut streams = Vec::new();
        for who in [&alice, &bob] {
            let mut live = Live::open(&app, who, Transport::Ws, None).await;
            live.ready().await;
            streams.push(live);
        }
        // After each step, what it made, read before the next (each event shows its message
        // as it is when read); the repeats in between must have added nothing.
        let mut got = [Vec::new(), Vec::new()];
        macro_rules! read {
            ($alice:expr, $bob:expr) => {
                for (n, (live, count)) in streams.iter_mut().zip([$alice, $bob]).enumerate() {
                    got[n].extend(live.items(count).await);
                }
            };
        }
        let first = send_keyed(&app, &alice, id_, "keyed", "key-1").await;
        let again = send_keyed(&app, &alice, id_, "keyed", "key-1").await;
        assert_eq!(first.body["id"], again.body["id"], "{}", app.label());
        read!(1, 1);
        let message = id(&first.body);
        delete(&app, &alice, message).await;
        delete(&app, &alice, message).await;
        read!(1, 1);
        let other = sent(&app, &alice, id_, "two").await;
        read!(1, 1);
        hide(&app, &bob, id(&other)).await;
        hide(&app, &bob, id(&other)).await;
        read!(0, 1);
        status_is(&app, &mark_read(&app, &bob, id_, 1).await, StatusCode::OK);
        status_is(&app, &mark_read(&app, &bob, id_, 1).await, StatusCode::OK);
        status_is(&app, &mark_read(&app, &bob, id_, 0).await, StatusCode::OK);
        read!(1, 1);

        let alices = [
            "message.created",
            "message.deleted",
            "message.created",
            "conversation.read",
        ];
        let bobs = [
            "message.created",
            "message.deleted",
            "message.created",
            "message.hidden",
            "conversation.read",
        ];
        for ((live, items), expected) in streams.iter_mut().zip(&got).zip([&alices[..], &bobs[..]])
        {
            gapless(&live.label, items, 2);
            assert_eq!(types(items), expected, "{}", live.label);
            live.quiet().await;
        }
    }
}

// WebSocket authentication, parameters and the closing handshake.

#[tokio::test]
async fn a_websocket_authenticates_with_a_first_frame_and_is_closed_on_a_bad_one() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let mut socket = ws_connect(&app, None, "?after=0").await.unwrap();
        let auth = json!({"type": "auth", "token": bob.token}).to_string();
        socket.send(WsFrame::text(auth)).await.unwrap();
        let mut live = Live::from_socket(&app, socket);
        assert_eq!(live.ready().await, Some(0));
        conversation(&app, &alice, &bob).await;
        assert_eq!(live.item().await["type"], "conversation.created");

        let refused = [
            json!({"type": "auth", "token": "not-a-token"}).to_string(),
            json!({"type": "auth", "token": format!("{}x", bob.token)}).to_string(),
            json!({"type": "hello", "token": bob.token}).to_string(),
            "not json".to_owned(),
        ];
        for frame in refused {
            let mut socket = ws_connect(&app, None, "").await.unwrap();
            socket.send(WsFrame::text(frame.clone())).await.unwrap();
            let mut live = Live::from_socket(&app, socket);
            let code = live.closed(WAIT).await;
            assert_eq!(code, Some(SESSION_ENDED), "{}: {frame}", app.label());
        }

        // A logged-out token in the first frame is refused too.
        let gone = login(&app, "bob").await;
        app.call(Method::POST, "/v1/auth/logout", None, gone.auth())
            .await;
        let mut socket = ws_connect(&app, None, "").await.unwrap();
        let auth = json!({"type": "auth", "token": gone.token}).to_string();
        socket.send(WsFrame::text(auth)).await.unwrap();
        let code = Live::from_socket(&app, socket).closed(WAIT).await;
        assert_eq!(code, Some(SESSION_ENDED), "{}", app.label());
    }
}

#[tokio::test]
async fn a_websocket_answers_a_client_ping_with_a_pong_at_most_once_a_second() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let mut live = Live::open(&app, &alice, Transport::Ws, Some(0)).await;
        live.ready().await;

        live.say(json!({"type": "ping"})).await;
        assert_eq!(
            live.item().await,
            json!({"type": "pong"}),
            "{}",
            app.label()
        );
        // A flood gets no more answers than one a second.
        for _ in 0..20 {
            live.say(json!({"type": "ping"})).await;
        }
        live.quiet().await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        live.say(json!({"type": "ping"})).await;
        assert_eq!(
            live.item().await,
            json!({"type": "pong"}),
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn a_bad_bearer_header_on_the_upgrade_is_a_401() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let logged_out = login(&app, "alice").await;
        app.call(Method::POST, "/v1/auth/logout", None, logged_out.auth())
            .await;
        for token in ["not-a-token", &logged_out.token] {
            let refused = ws_connect(&app, Some(token), "").await;
            match refused {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 401, "{}", app.label());
                }
                Err(other) => panic!("{}: {other}", app.label()),
                Ok(_) => panic!("{}: the upgrade was accepted", app.label()),
            }
        }
        // A bad cursor is refused before the upgrade as well.
        let refused = ws_connect(&app, Some(&alice.token), "?after=-1").await;
        assert!(
            matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 422),
            "{}: {refused:?}",
            app.label()
        );
        let sse = app.get("/v1/events/stream", Some("not-a-token")).await;
        status_is(&app, &sse, StatusCode::UNAUTHORIZED);
        let poll = app.get("/v1/events", None).await;
        status_is(&app, &poll, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn bad_cursors_limits_and_timeouts_are_a_422_naming_the_parameter() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let mut wrong = Vec::new();
        for (path, field) in [
            ("/v1/events?after=-1", "after"),
            ("/v1/events?limit=0", "limit"),
            ("/v1/events?limit=1001", "limit"),
            ("/v1/events?timeout=61", "timeout"),
            ("/v1/events/stream?after=-1", "after"),
            // Not a number: named like every other /v1 query parameter, not a bare 400.
            ("/v1/events?after=x", "after"),
            ("/v1/events?limit=ten", "limit"),
            ("/v1/events?timeout=-1", "timeout"),
            ("/v1/events/stream?after=x", "after"),
        ] {
            let reply = app.get(path, alice.auth()).await;
            let named = reply.field_names().iter().any(|name| name.ends_with(field));
            if reply.status != StatusCode::UNPROCESSABLE_ENTITY || !named {
                wrong.push(format!("{path}: {} {}", reply.status, reply.body));
            }
        }
        assert!(wrong.is_empty(), "{}: {wrong:#?}", app.label());
        let reply = app
            .get("/v1/events?limit=1000&timeout=0", alice.auth())
            .await;
        status_is(&app, &reply, StatusCode::OK);
    }
}

/// RFC 6455 §5.5.1: an endpoint that receives a Close frame it did not start answers with
/// one, so a client's close is clean (a browser's `wasClean`), not a reset.
#[tokio::test]
async fn a_clients_close_frame_is_answered_with_a_close_frame() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let socket = ws_connect(&app, Some(&alice.token), "").await.unwrap();
        let mut live = Live::from_socket(&app, socket);
        live.ready().await;
        let Inner::Ws(socket) = &mut live.inner else {
            unreachable!()
        };
        let bye = CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        };
        socket.send(WsFrame::Close(Some(bye))).await.unwrap();
        let answer = tokio::time::timeout(WAIT, socket.next()).await;
        assert!(
            matches!(&answer, Ok(Some(Ok(WsFrame::Close(_))))),
            "{}: {answer:?}",
            app.label()
        );
    }
}

// Shutdown.

#[tokio::test]
async fn shutting_down_closes_websockets_with_1012_and_ends_the_other_streams() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let mut ws = Live::open(&app, &alice, Transport::Ws, None).await;
        let mut sse = Live::open(&app, &alice, Transport::Sse, None).await;
        ws.ready().await;
        sse.ready().await;
        let label = app.label();
        let poll = app
            .client
            .get(app.url("/v1/events?timeout=10"))
            .bearer_auth(&alice.token)
            .send();
        // The database outlives the app.
        let _db = app.db.clone();
        let stop = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(app);
            Instant::now()
        };
        let waited = async {
            let started = Instant::now();
            let response = tokio::time::timeout(Duration::from_secs(15), poll).await;
            let response = response.expect("the long-poll answers").unwrap();
            (Reply::read(response).await, started.elapsed())
        };
        let (stopped, ws_code, sse_code, (poll, poll_took)) = tokio::join!(
            stop,
            ws.closed(Duration::from_secs(5)),
            sse.closed(Duration::from_secs(5)),
            waited
        );
        assert_eq!(ws_code, Some(RESTARTING), "{label}");
        assert_eq!(sse_code, None, "{label}");
        let took = stopped.elapsed();
        assert!(took < Duration::from_secs(3), "{label}: {took:?}");
        // A waiting long-poll answers (empty) at once rather than at its timeout.
        assert_eq!(poll.status, StatusCode::OK, "{label}: {}", poll.body);
        assert_eq!(poll.body["events"], json!([]), "{label}");
        assert!(poll_took < Duration::from_secs(5), "{label}: {poll_took:?}");
    }
}

// A slow reader.

#[tokio::test]
async fn a_websocket_that_does_not_read_holds_nobody_up_and_later_gets_everything() {
    const SENDS: usize = 300;
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let carol = v1_user(&app, "carol").await;
        let id_ = conversation(&app, &alice, &bob).await;
        let socket = ws_connect_small(&app, &bob.token, "?after=0").await;
        let mut slow = Live::from_socket(&app, socket);
        assert_eq!(slow.item().await["type"], "conversation.created");
        assert_eq!(slow.ready().await, Some(1));
        // Big enough that the socket's buffers fill long before the end.
        let filler = "x".repeat(1500);
        let started = Instant::now();
        for n in 0..SENDS {
            sent(&app, &alice, id_, &format!("{n} {filler}")).await;
        }
        let sending = started.elapsed();
        // Others are answered promptly while Bob's socket is full.
        let mut carols_live = Live::open(&app, &carol, Transport::Ws, Some(0)).await;
        carols_live.ready().await;
        let carols = conversation(&app, &carol, &alice).await;
        for _ in 0..5 {
            let asked = Instant::now();
            let me = app.get("/v1/users/me", carol.auth()).await;
            status_is(&app, &me, StatusCode::OK);
            sent(&app, &carol, carols, "still here").await;
            let took = asked.elapsed();
            assert!(took < Duration::from_secs(1), "{}: {took:?}", app.label());
        }
        let carol_items = carols_live.items(6).await;
        gapless(&carols_live.label, &carol_items, 1);

        // Now Bob reads: every event, in order.
        let items = slow.items(SENDS).await;
        gapless(&slow.label, &items, 2);
        for (n, item) in items.iter().enumerate() {
            let content = item["message"]["content"].as_str().unwrap();
            assert!(content.starts_with(&format!("{n} ")), "{}", slow.label);
        }
        slow.quiet().await;
        assert!(
            sending < Duration::from_secs(60),
            "{}: {sending:?}",
            app.label()
        );
    }
}
