//! The live-delivery benchmark's client (see `bench/live.sh`): four scenarios against a
//! running missive, over its WebSocket event stream `GET /v1/events/ws`.
//!
//! - `latency`: registers `--streams` users and `--senders` senders (each stream user opens a
//!   direct conversation with sender `i % senders`), sends `--messages` messages at `--rate`
//!   per second with no stream open (the baseline), then opens one WebSocket per stream user
//!   on `--stream-url` (which may be another instance than `--send-url`), waits for every
//!   `ready`, and sends the same number of messages at the same rate again, round robin over
//!   the conversations, each with its send time in its content. Reports the delivery latency
//!   (from just before the `POST` to the frame read at the receiving socket), the messages
//!   received against those expected (lost, duplicated, gaps in `seq`), and the sends' HTTP
//!   round trips with and without streams open.
//! - `idle`: opens `--sockets` WebSockets as `--users` users (a user may have many streams),
//!   each read to `ready`, holds them, and says how many are still open. With `--pause-file`
//!   it stops at checkpoints (`baseline`: users registered, no socket yet; `open`: every
//!   socket open; `closed`: all closed again) by writing the checkpoint's name to that file
//!   and waiting until it is removed, so a script can read the server's memory at each.
//! - `reconnect`: `--clients` clients (as `--users` users) each read their stream from 0 to
//!   `ready`, all disconnect, one peer sends `--missed` messages to each user, then every
//!   client reconnects at once with its last `seq`. Each must receive exactly the missed
//!   events, in order and gapless, then `ready` with the right head. Reports errors, lost
//!   events and the time to catch up.
//! - `group`: registers `--members` users, the first creates a group with all the others, and
//!   each member opens one WebSocket on `--stream-url`, read to `ready`. Then `--warmup`
//!   unmeasured and `--sends` measured messages go into the group one at a time, from
//!   member `k % members` in turn: each send waits until every open stream has the event (or
//!   `--wait` seconds), then `--pause-ms`, so each fan-out is measured alone. Reports the
//!   sends' HTTP round trips, the time from just before each `POST` until the *last* stream
//!   has the event, the same for every stream, and the events lost.
//!
//! Each scenario ends with one `result <scenario> key=value ...` line for scripts. Bounded on
//! purpose, like `loadgen`: it talks only to 127.0.0.1 / localhost, opens at most 20,000
//! sockets, sends at most 100,000 messages, and gives up on a scenario after 5 minutes. It
//! raises its own open-file limit to the hard limit (each socket is a descriptor).
//!
//! ```text
//! cargo run --release -p missive --example live_bench -- \
//!     latency --send-url http://127.0.0.1:8110 --streams 1000 --messages 2000 --rate 200
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const MAX_SOCKETS: u64 = 20_000;
const MAX_MESSAGES: u64 = 100_000;
/// A whole scenario, setup included, gives up after this.
const SCENARIO_LIMIT: Duration = Duration::from_secs(300);
/// A socket not `ready` this long after it connected counts as failed.
const READY_WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct-horse-battery";
/// The longest a checkpoint of `--pause-file` waits for the file to be removed.
const PAUSE_LIMIT: Duration = Duration::from_secs(120);

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Prefix of the names of the users this run registers (default: from the pid and time).
    #[arg(long, global = true)]
    prefix: Option<String>,
    /// Requests and socket handshakes in flight at once while setting up.
    #[arg(long, global = true, default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=512))]
    concurrency: u16,
}

#[derive(Subcommand)]
enum Scenario {
    /// Send → event latency, and the cost of a send with streams open.
    Latency(LatencyArgs),
    /// Many idle WebSockets.
    Idle(IdleArgs),
    /// Clients reconnecting at once with their cursors.
    Reconnect(ReconnectArgs),
    /// Fan-out: sends into one group whose every member has a stream open.
    Group(GroupArgs),
}

/// Where users register and send, and where the WebSockets connect.
#[derive(clap::Args)]
struct Servers {
    /// Where users register and messages are sent (http://127.0.0.1:PORT).
    #[arg(long)]
    send_url: String,
    /// Where the WebSockets connect (default: --send-url); another instance on the same
    /// database and Redis measures delivery across instances.
    #[arg(long)]
    stream_url: Option<String>,
}

impl Servers {
    /// (where to send, where to stream).
    fn endpoints(&self) -> Result<(Endpoint, Endpoint), String> {
        let stream_url = self.stream_url.as_deref().unwrap_or(&self.send_url);
        Ok((endpoint(&self.send_url)?, endpoint(stream_url)?))
    }
}

#[derive(clap::Args)]
struct LatencyArgs {
    #[command(flatten)]
    servers: Servers,
    /// Stream users, one WebSocket each.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_SOCKETS))]
    streams: u64,
    /// Users who send; stream user i talks with sender i % senders.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    senders: u64,
    /// Messages per phase (with and without streams).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGES))]
    messages: u64,
    /// Messages per second (open loop: a slow answer does not delay the next send).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5000))]
    rate: u64,
    /// Most sends in flight at once.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=1024))]
    in_flight: u64,
    /// Skip the phase without streams.
    #[arg(long)]
    no_baseline: bool,
    /// Seconds to wait for the last events after the last send was answered.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    drain: u64,
}

#[derive(clap::Args)]
struct IdleArgs {
    /// The server (http://127.0.0.1:PORT).
    #[arg(long)]
    url: String,
    /// WebSockets to open.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=MAX_SOCKETS))]
    sockets: u64,
    /// Users the sockets belong to (socket i is user i % users).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    users: u64,
    /// Seconds to hold the sockets open (without --pause-file).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=120))]
    hold: u64,
    /// Checkpoints: write `baseline`, `open`, `closed` here and wait until it is removed.
    #[arg(long)]
    pause_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ReconnectArgs {
    /// The server (http://127.0.0.1:PORT).
    #[arg(long)]
    url: String,
    /// Clients, one WebSocket each.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_SOCKETS))]
    clients: u64,
    /// Users the clients belong to (client i is user i % users; default: one each).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SOCKETS))]
    users: Option<u64>,
    /// Messages the peer sends each user while the clients are away.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    missed: u64,
    /// Seconds each reconnecting client has to catch up.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=120))]
    timeout: u64,
}

#[derive(clap::Args)]
struct GroupArgs {
    #[command(flatten)]
    servers: Servers,
    /// Members of the group, its owner included, one WebSocket each (the server allows
    /// `MISSIVE_MAX_GROUP_MEMBERS`, 1000 by default).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=MAX_SOCKETS))]
    members: u64,
    /// Measured sends, one at a time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    sends: u64,
    /// Sends before them, alike but not measured.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup: u64,
    /// Milliseconds between one send's last event and the next send.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pause_ms: u64,
    /// Seconds a send waits for every stream to have its event.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    wait: u64,
}

fn main() {
    let cli = Cli::parse();
    let limit = raise_open_files();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let prefix = cli.prefix.clone().unwrap_or_else(default_prefix);
    let common = Common {
        prefix,
        concurrency: usize::from(cli.concurrency),
    };
    let outcome = runtime.block_on(async {
        let run = async {
            match cli.scenario {
                Scenario::Latency(args) => latency(&common, args, limit).await,
                Scenario::Idle(args) => idle(&common, args, limit).await,
                Scenario::Reconnect(args) => reconnect(&common, args, limit).await,
                Scenario::Group(args) => group(&common, args, limit).await,
            }
        };
        match tokio::time::timeout(SCENARIO_LIMIT, run).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("gave up after {} s", SCENARIO_LIMIT.as_secs())),
        }
    });
    // Sockets still held by tasks are dropped with the runtime, without waiting for them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Err(message) = outcome {
        eprintln!("live_bench: {message}");
        std::process::exit(1);
    }
}

struct Common {
    prefix: String,
    concurrency: usize,
}

fn default_prefix() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("lb{}x{:x}", std::process::id(), secs % 0x10_0000)
}

/// Raises the soft open-file limit to the hard one; returns it.
fn raise_open_files() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            eprintln!("live_bench: cannot raise the open-file limit: {err}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

fn check_room(sockets: u64, limit: u64) -> Result<(), String> {
    if sockets + 64 > limit {
        return Err(format!(
            "{sockets} sockets need more descriptors than the open-file limit allows ({limit}); \
             raise it with ulimit -n"
        ));
    }
    Ok(())
}

// ---- time ------------------------------------------------------------------------------------

static BASE: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the process's time base: what messages carry as their send time.
fn now_us() -> u64 {
    micros(BASE.get_or_init(Instant::now).elapsed())
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

// ---- endpoints and HTTP ----------------------------------------------------------------------

/// A server: `http://127.0.0.1:PORT` (or `ws://`), as the address to connect to and the bases of
/// its URLs.
#[derive(Clone)]
struct Endpoint {
    addr: String,
    http: String,
    ws: String,
}

fn endpoint(text: &str) -> Result<Endpoint, String> {
    let url = url::Url::parse(text).map_err(|err| format!("{text}: {err}"))?;
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    if !local || !matches!(url.scheme(), "http" | "ws") {
        return Err(format!("{text}: live_bench only talks to http://127.0.0.1"));
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(Endpoint {
        addr: format!("{host}:{port}"),
        http: format!("http://{host}:{port}"),
        ws: format!("ws://{host}:{port}"),
    })
}

#[derive(Clone)]
struct Account {
    id: i64,
    token: Arc<str>,
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(endpoint: &Endpoint, pool: usize) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .unwrap();
        Self {
            client,
            base: endpoint.http.clone(),
        }
    }

    /// POSTs `body` to `path`; the answer's JSON if it is `expect`ed, else a short reason.
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        expect: &[u16],
    ) -> Result<Value, String> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|err| http_error(&err))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|err| http_error(&err))?;
        if !expect.contains(&status) {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(format!("HTTP {status} {code}").trim_end().to_owned());
        }
        serde_json::from_slice(&bytes).map_err(|_| format!("HTTP {status}: not JSON"))
    }

    async fn register(&self, name: &str) -> Result<Account, String> {
        let body =
            json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        let out = self.post("/v1/auth/register", None, &body, &[201]).await?;
        match (out["user"]["id"].as_i64(), out["access_token"].as_str()) {
            (Some(id), Some(token)) => Ok(Account {
                id,
                token: token.into(),
            }),
            _ => Err("register: unexpected answer".to_owned()),
        }
    }

    /// Opens (or finds) a conversation as `who`: `{"peer_id": N}` is the direct one with N,
    /// `{"kind": "group", ...}` a new group; its id.
    async fn open(&self, who: &Account, body: &Value) -> Result<i64, String> {
        let out = self
            .post("/v1/conversations", Some(&who.token), body, &[200, 201])
            .await?;
        out["id"].as_i64().ok_or_else(|| "open: no id".to_owned())
    }

    async fn send(&self, token: &str, conversation: i64, content: &str) -> Result<(), String> {
        let body = json!({"content": content});
        let path = format!("/v1/conversations/{conversation}/messages");
        self.post(&path, Some(token), &body, &[201]).await.map(drop)
    }
}

fn http_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "HTTP timeout".to_owned()
    } else if err.is_connect() {
        "HTTP connect error".to_owned()
    } else {
        "HTTP socket error".to_owned()
    }
}

/// Runs `f(0..n)`, `concurrency` at a time; the results in order.
async fn run_all<T, F, Fut>(n: u64, concurrency: usize, f: F) -> Vec<T>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = T>,
{
    futures::stream::iter(0..n)
        .map(f)
        .buffered(concurrency)
        .collect()
        .await
}

/// Registers `{prefix}{role}{i}` for i in 0..n.
async fn register_all(
    api: &Api,
    common: &Common,
    role: &str,
    n: u64,
) -> Result<Vec<Account>, String> {
    // Registrations queue on the server's password-hashing threads: more at once only waits.
    let concurrency = common.concurrency.min(16);
    let prefix = &common.prefix;
    let accounts = run_all(n, concurrency, |i| async move {
        api.register(&format!("{prefix}{role}{i}")).await
    })
    .await;
    accounts
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("registering {role} users: {err}"))
}

// ---- WebSockets ------------------------------------------------------------------------------

type Socket = WebSocketStream<TcpStream>;

/// Small buffers: thousands of sockets should not cost the client gigabytes.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Opens `token`'s stream after `after` (`None`: from now on), with a bearer header.
async fn connect(server: &Endpoint, token: &str, after: Option<i64>) -> Result<Socket, String> {
    let query = after
        .map(|after| format!("?after={after}"))
        .unwrap_or_default();
    let mut request = format!("{}/v1/events/ws{query}", server.ws)
        .into_client_request()
        .map_err(|err| format!("bad request: {err}"))?;
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let stream = TcpStream::connect(&server.addr)
        .await
        .map_err(|err| format!("connect: {:?}", err.kind()))?;
    let _ = stream.set_nodelay(true);
    let handshake = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()));
    match tokio::time::timeout(READY_WAIT, handshake).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            Err(format!("handshake: HTTP {}", response.status().as_u16()))
        }
        Ok(Err(err)) => Err(format!("handshake: {}", short(&err.to_string()))),
        Err(_) => Err("handshake: timed out".to_owned()),
    }
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    seq: Option<i64>,
    head: Option<i64>,
    message: Option<IncomingMessage>,
}

#[derive(Deserialize)]
struct IncomingMessage {
    content: Option<String>,
}

impl Incoming {
    fn content(&self) -> Option<&str> {
        self.message.as_ref()?.content.as_deref()
    }
}

/// What a socket said next.
enum Got {
    Event(Incoming),
    Ready(i64),
    Reset,
    /// Closed or broken, and why.
    Gone(String),
}

/// The next event or control frame (pings and pongs are skipped; tungstenite answers pings).
async fn next_item(socket: &mut Socket) -> Got {
    loop {
        match socket.next().await {
            None => return Got::Gone("connection ended without a close frame".to_owned()),
            Some(Err(err)) => return Got::Gone(format!("read: {}", short(&err.to_string()))),
            Some(Ok(WsMessage::Text(text))) => {
                let Ok(item) = serde_json::from_str::<Incoming>(text.as_str()) else {
                    return Got::Gone("unparsable frame".to_owned());
                };
                return match item.kind.as_str() {
                    "ready" => Got::Ready(item.head.unwrap_or(-1)),
                    "reset" => Got::Reset,
                    _ => Got::Event(item),
                };
            }
            Some(Ok(WsMessage::Close(frame))) => {
                let code = frame.map_or(0, |frame| u16::from(frame.code));
                return Got::Gone(format!("closed by the server ({code})"));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Reads up to `ready`: the events before it and the head it gives.
async fn until_ready(socket: &mut Socket) -> Result<(Vec<Incoming>, i64), String> {
    let read = async {
        let mut events = Vec::new();
        loop {
            match next_item(socket).await {
                Got::Event(event) => events.push(event),
                Got::Ready(head) => return Ok((events, head)),
                Got::Reset => return Err("reset frame".to_owned()),
                Got::Gone(why) => return Err(why),
            }
        }
    };
    tokio::time::timeout(READY_WAIT, read)
        .await
        .unwrap_or_else(|_| Err("no ready in time".to_owned()))
}

/// Closes politely, waiting briefly for the server's close frame.
async fn close(mut socket: Socket) {
    let polite = async {
        let _ = socket.close(None).await;
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), polite).await;
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

// ---- tallies ---------------------------------------------------------------------------------

/// Errors by kind.
#[derive(Default)]
struct Errors(BTreeMap<String, u64>);

impl Errors {
    fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    fn merge(&mut self, other: Self) {
        for (kind, count) in other.0 {
            *self.0.entry(kind).or_default() += count;
        }
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            return "0".to_owned();
        }
        let kinds: Vec<String> = self.0.iter().map(|(k, n)| format!("{n} x {k}")).collect();
        format!("{} ({})", self.total(), kinds.join(", "))
    }
}

/// Percentiles in milliseconds of microsecond samples (sorted here).
struct Summary {
    sorted: Vec<u64>,
}

impl Summary {
    fn new(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    fn at(&self, p: f64) -> f64 {
        let count = self.sorted.len();
        if count == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * count as f64).ceil() as usize;
        self.sorted[rank.clamp(1, count) - 1] as f64 / 1000.0
    }

    fn mean(&self) -> f64 {
        if self.sorted.is_empty() {
            return f64::NAN;
        }
        self.sorted.iter().sum::<u64>() as f64 / self.sorted.len() as f64 / 1000.0
    }

    fn describe(&self) -> String {
        format!(
            "p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} mean {:.2}",
            self.at(50.0),
            self.at(90.0),
            self.at(99.0),
            self.at(100.0),
            self.mean()
        )
    }

    /// `name_p50=.. name_p90=..` for the result line.
    fn fields(&self, name: &str) -> String {
        format!(
            "{name}_p50={:.2} {name}_p90={:.2} {name}_p99={:.2} {name}_max={:.2} {name}_mean={:.2}",
            self.at(50.0),
            self.at(90.0),
            self.at(99.0),
            self.at(100.0),
            self.mean()
        )
    }
}

// ---- sending and receiving timed messages ----------------------------------------------------

/// Sends message `k` of phase `tag` as `token` into `conversation`, with its send time inside
/// (see [`parse_live`]); the HTTP round trip in microseconds.
async fn send_timed(
    api: &Api,
    token: &str,
    conversation: i64,
    tag: &str,
    k: u64,
) -> Result<u64, String> {
    let content = format!("{tag} k={k} t={}", now_us());
    let sent = Instant::now();
    api.send(token, conversation, &content).await?;
    Ok(micros(sent.elapsed()))
}

/// How many sockets have received each message `k` (a socket counts a message once).
struct Arrivals {
    each: Vec<AtomicU64>,
    total: AtomicU64,
}

impl Arrivals {
    fn new(messages: u64) -> Arc<Self> {
        Arc::new(Self {
            each: (0..messages).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
        })
    }

    fn has(&self, k: u64) -> bool {
        k < self.each.len() as u64
    }

    fn add(&self, k: u64) {
        self.each[usize::try_from(k).unwrap()].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    fn of(&self, k: u64) -> u64 {
        self.each[usize::try_from(k).unwrap()].load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Polls `done` every 2 ms until it holds or `limit` has passed; whether it held.
async fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What receiving sockets saw besides the messages meant for them.
#[derive(Default)]
struct Oddities {
    /// A message again on the same socket.
    duplicates: u64,
    /// An event whose `seq` was not the previous one + 1.
    gaps: u64,
    /// A benchmark message meant for another socket.
    misdelivered: u64,
    /// Any other event.
    unexpected: u64,
    errors: Errors,
}

impl Oddities {
    fn merge(&mut self, other: Self) {
        self.duplicates += other.duplicates;
        self.gaps += other.gaps;
        self.misdelivered += other.misdelivered;
        self.unexpected += other.unexpected;
        self.errors.merge(other.errors);
    }
}

/// What one receiving socket saw.
#[derive(Default)]
struct Received {
    /// (message k, delivery latency in microseconds), each message once.
    messages: Vec<(u64, u64)>,
    odd: Oddities,
}

/// Reads `socket`, whose stream is at `head`, until `stop`, counting each message in
/// `arrivals`. With `shard` (i, n), only the messages `k` with `k % n == i` are meant for it.
async fn receive(
    mut socket: Socket,
    mut head: i64,
    shard: Option<(u64, u64)>,
    arrivals: Arc<Arrivals>,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let mut out = Received::default();
    let mut seen = HashSet::new();
    loop {
        let got = tokio::select! {
            _ = stop.changed() => break,
            got = next_item(&mut socket) => got,
        };
        match got {
            Got::Event(event) => {
                let now = now_us();
                let seq = event.seq.unwrap_or(-1);
                if seq != head + 1 {
                    out.odd.gaps += 1;
                }
                head = head.max(seq);
                match parse_live(&event).filter(|&(k, _)| arrivals.has(k)) {
                    None => out.odd.unexpected += 1,
                    Some((k, _)) if !seen.insert(k) => out.odd.duplicates += 1,
                    Some((k, at)) => {
                        if shard.is_some_and(|(i, n)| k % n != i) {
                            out.odd.misdelivered += 1;
                        }
                        out.messages.push((k, now.saturating_sub(at)));
                        arrivals.add(k);
                    }
                }
            }
            Got::Ready(_) => {}
            Got::Reset => out.odd.errors.add("reset frame"),
            Got::Gone(why) => {
                out.odd.errors.add(format!("stream: {why}"));
                return out;
            }
        }
    }
    close(socket).await;
    out
}

/// `live k=K t=T` in a `message.created` event: (K, T).
fn parse_live(event: &Incoming) -> Option<(u64, u64)> {
    if event.kind != "message.created" {
        return None;
    }
    let rest = event.content()?.strip_prefix("live k=")?;
    let (k, at) = rest.split_once(" t=")?;
    Some((k.parse().ok()?, at.parse().ok()?))
}

type Receivers = Vec<Option<JoinHandle<Received>>>;

/// Opens one stream from now on per account on `server`, each read to `ready`, and reads each
/// on with [`receive`] until `stop`; `sharded`: account i's socket of n is meant for the
/// messages `k % n == i` only, else for every message. The receivers in account order (`None`
/// where the stream did not open), and why those did not.
async fn open_receivers(
    server: &Endpoint,
    accounts: &[Account],
    concurrency: usize,
    sharded: bool,
    arrivals: &Arc<Arrivals>,
    stop: &watch::Receiver<bool>,
) -> (Receivers, Errors) {
    let opening = Instant::now();
    let n = accounts.len() as u64;
    let opened = run_all(n, concurrency, |i| async move {
        let who = &accounts[usize::try_from(i).unwrap()];
        let mut socket = connect(server, &who.token, None).await?;
        let (events, head) = until_ready(&mut socket).await?;
        if !events.is_empty() {
            return Err("events before ready on a stream from now on".to_owned());
        }
        Ok((socket, head))
    })
    .await;
    let mut errors = Errors::default();
    let mut receivers = Vec::with_capacity(opened.len());
    for (i, outcome) in (0..).zip(opened) {
        receivers.push(match outcome {
            Ok((socket, head)) => Some(tokio::spawn(receive(
                socket,
                head,
                sharded.then_some((i, n)),
                arrivals.clone(),
                stop.clone(),
            ))),
            Err(err) => {
                errors.add(format!("open: {err}"));
                None
            }
        });
    }
    println!(
        "  {} of {n} streams open and ready on {} in {:.1} s; open errors: {}",
        receivers.iter().flatten().count(),
        server.http,
        opening.elapsed().as_secs_f64(),
        errors.describe()
    );
    (receivers, errors)
}

/// Receivers still reading.
fn still_open(receivers: &Receivers) -> u64 {
    receivers
        .iter()
        .flatten()
        .filter(|receiver| !receiver.is_finished())
        .count() as u64
}

/// What the receivers saw, together.
struct Delivered {
    /// By message `k`: its delivery latency at each socket that got it, in microseconds.
    latencies: Vec<Vec<u64>>,
    odd: Oddities,
}

/// Waits for the receivers (once told to stop) and adds up what they saw of `messages`
/// messages.
async fn collect(receivers: Receivers, messages: u64) -> Delivered {
    let mut out = Delivered {
        latencies: vec![Vec::new(); usize::try_from(messages).unwrap()],
        odd: Oddities::default(),
    };
    for receiver in receivers.into_iter().flatten() {
        let got = receiver.await.unwrap();
        for (k, latency) in got.messages {
            out.latencies[usize::try_from(k).unwrap()].push(latency);
        }
        out.odd.merge(got.odd);
    }
    out
}

// ---- latency ---------------------------------------------------------------------------------

/// Where message `k` goes: `k % targets` is both the conversation and the receiving socket.
struct Target {
    sender_token: Arc<str>,
    conversation: i64,
}

struct SendPhase {
    latencies: Summary,
    ok: u64,
    errors: Errors,
    /// Which messages were answered 201 (by `k`).
    sent: Vec<bool>,
    elapsed: Duration,
}

impl SendPhase {
    /// `N ok, M failed in S s; latency ms ...`
    fn outcome(&self) -> String {
        format!(
            "{} ok, {} failed in {:.1} s; latency ms {}",
            self.ok,
            self.errors.total(),
            self.elapsed.as_secs_f64(),
            self.latencies.describe()
        )
    }
}

/// Sends `messages` messages at `rate` per second, message `k` to target `k % targets`, with
/// `content(k, send time)`.
async fn send_phase(
    api: &Arc<Api>,
    targets: &Arc<Vec<Target>>,
    args: &LatencyArgs,
    tag: &'static str,
) -> SendPhase {
    let permits = Arc::new(Semaphore::new(usize::try_from(args.in_flight).unwrap()));
    let began = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(usize::try_from(args.messages).unwrap());
    for k in 0..args.messages {
        let at = start + Duration::from_secs_f64(k as f64 / args.rate as f64);
        tokio::time::sleep_until(at).await;
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (api, targets) = (api.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let target = &targets[usize::try_from(k).unwrap() % targets.len()];
            let outcome = send_timed(&api, &target.sender_token, target.conversation, tag, k).await;
            drop(permit);
            outcome
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = Errors::default();
    let mut sent = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await.unwrap() {
            Ok(micros) => {
                latencies.push(micros);
                sent.push(true);
            }
            Err(err) => {
                errors.add(format!("send: {err}"));
                sent.push(false);
            }
        }
    }
    SendPhase {
        ok: latencies.len() as u64,
        latencies: Summary::new(latencies),
        errors,
        sent,
        elapsed: began.elapsed(),
    }
}
async fn latency(common: &Common, args: LatencyArgs, limit: u64) -> Result<(), String> {
    check_room(args.streams + args.in_flight, limit)?;
    let (send_server, stream_server) = args.servers.endpoints()?;
    let api = Arc::new(Api::new(
        &send_server,
        usize::try_from(args.in_flight).unwrap(),
    ));
    let concurrency = common.concurrency;

    let setup = Instant::now();
    let senders = register_all(&api, common, "s", args.senders).await?;
    let streamers = register_all(&api, common, "r", args.streams).await?;
    let conversations = run_all(args.streams, concurrency, |i| {
        let (api, senders, streamers) = (&api, &senders, &streamers);
        async move {
            let who = &streamers[usize::try_from(i).unwrap()];
            let sender = &senders[usize::try_from(i % args.senders).unwrap()];
            api.open(who, &json!({"peer_id": sender.id})).await
        }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(|err| format!("opening conversations: {err}"))?;
    let targets: Arc<Vec<Target>> = Arc::new(
        conversations
            .iter()
            .enumerate()
            .map(|(i, &conversation)| Target {
                sender_token: senders[i % senders.len()].token.clone(),
                conversation,
            })
            .collect(),
    );
    // Warm-up (not measured): one message in up to 200 conversations.
    let warm = args.streams.min(200);
    let warmed = run_all(warm, concurrency.min(16), |i| {
        let (api, targets) = (&api, &targets);
        async move {
            let target = &targets[usize::try_from(i).unwrap()];
            api.send(&target.sender_token, target.conversation, "warm-up")
                .await
        }
    })
    .await;
    if let Some(Err(err)) = warmed.into_iter().find(Result::is_err) {
        return Err(format!("warm-up sends: {err}"));
    }
    println!(
        "latency: {} stream users and {} senders registered, {} conversations opened in {:.1} s",
        args.streams,
        args.senders,
        conversations.len(),
        setup.elapsed().as_secs_f64()
    );

    let baseline = if args.no_baseline {
        None
    } else {
        let phase = send_phase(&api, &targets, &args, "base").await;
        println!("  send, no stream open: {}", phase.outcome());
        Some(phase)
    };

    // Open every stream, each read to `ready`.
    let arrivals = Arrivals::new(args.messages);
    let (stop, stopped) = watch::channel(false);
    let (receivers, open_errors) = open_receivers(
        &stream_server,
        &streamers,
        concurrency,
        true,
        &arrivals,
        &stopped,
    )
    .await;
    let is_open: Vec<bool> = receivers.iter().map(Option::is_some).collect();
    let open = receivers.iter().flatten().count();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let live = send_phase(&api, &targets, &args, "live").await;
    println!("  send, {open} streams open: {}", live.outcome());
    // Expected: every message answered 201 whose receiver is open.
    let expected = (0..args.messages)
        .filter(|&k| live.sent[k as usize] && is_open[(k % args.streams) as usize])
        .count() as u64;
    let drain = Duration::from_secs(args.drain);
    wait_until(drain, || arrivals.total() >= expected).await;
    let _ = stop.send(true);
    let Delivered { latencies, odd } = collect(receivers, args.messages).await;
    // A message at more than one socket counts once, at the first; the others as duplicates.
    let mut delivery = Vec::new();
    let mut duplicates = odd.duplicates;
    for got in &latencies {
        if let Some((&first, others)) = got.split_first() {
            delivery.push(first);
            duplicates += others.len() as u64;
        }
    }
    let (gaps, misdelivered, unexpected) = (odd.gaps, odd.misdelivered, odd.unexpected);
    let mut errors = open_errors;
    errors.merge(odd.errors);
    let received = delivery.len() as u64;
    let lost = (0..args.messages)
        .filter(|&k| {
            let k = k as usize;
            live.sent[k] && is_open[k % is_open.len()] && latencies[k].is_empty()
        })
        .count() as u64;
    let delivery = Summary::new(delivery);
    println!(
        "  delivery (send -> event at the socket): {received} of {expected} received, {lost} lost, \
         {duplicates} duplicate, {gaps} seq gaps, {misdelivered} misdelivered, {unexpected} \
         other events; latency ms {}",
        delivery.describe()
    );
    let mut line = format!(
        "result latency streams={} open={} messages={} rate={} expected={expected} \
         received={received} lost={lost} duplicates={duplicates} gaps={gaps} \
         misdelivered={misdelivered} live_send_failed={} {} {}",
        args.streams,
        open,
        args.messages,
        args.rate,
        live.errors.total(),
        delivery.fields("delivery"),
        live.latencies.fields("live_send"),
    );
    if let Some(baseline) = &baseline {
        let ratio_p50 = live.latencies.at(50.0) / baseline.latencies.at(50.0);
        let ratio_mean = live.latencies.mean() / baseline.latencies.mean();
        println!("  send cost with / without streams: p50 {ratio_p50:.2}x, mean {ratio_mean:.2}x");
        errors.merge(Errors(
            baseline
                .errors
                .0
                .iter()
                .map(|(k, n)| (format!("baseline {k}"), *n))
                .collect(),
        ));
        let _ = write!(
            line,
            " base_send_failed={} {} send_ratio_p50={ratio_p50:.2} send_ratio_mean={ratio_mean:.2}",
            baseline.errors.total(),
            baseline.latencies.fields("base_send"),
        );
    }
    errors.merge(live.errors);
    println!("  errors: {}", errors.describe());
    let _ = write!(line, " errors={}", errors.total());
    println!("{line}");
    Ok(())
}

// ---- group -----------------------------------------------------------------------------------

async fn group(common: &Common, args: GroupArgs, limit: u64) -> Result<(), String> {
    check_room(args.members + 16, limit)?;
    let (send_server, stream_server) = args.servers.endpoints()?;
    let api = Api::new(&send_server, common.concurrency);

    let setup = Instant::now();
    let members = register_all(&api, common, "g", args.members).await?;
    let (owner, others) = members.split_first().unwrap();
    let body = json!({
        "kind": "group",
        "title": format!("live_bench {}", common.prefix),
        "member_ids": others.iter().map(|member| member.id).collect::<Vec<_>>(),
    });
    let group = api
        .open(owner, &body)
        .await
        .map_err(|err| format!("creating the group: {err}"))?;
    println!(
        "group: {} users registered, all in one group, in {:.1} s",
        args.members,
        setup.elapsed().as_secs_f64()
    );

    let total = args.warmup + args.sends;
    let arrivals = Arrivals::new(total);
    let (stop, stopped) = watch::channel(false);
    let (receivers, mut errors) = open_receivers(
        &stream_server,
        &members,
        common.concurrency,
        false,
        &arrivals,
        &stopped,
    )
    .await;
    let open = receivers.iter().flatten().count() as u64;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // One at a time: each send waits until every stream still open has its event, then the
    // pause. Measured: (k, HTTP round trip) of the sends answered 201 after the warm-up.
    let sending = Instant::now();
    let mut measured = Vec::new();
    let (mut send_errors, mut timed_out) = (Errors::default(), 0);
    for k in 0..total {
        let who = &members[usize::try_from(k % args.members).unwrap()];
        match send_timed(&api, &who.token, group, "live", k).await {
            Ok(round_trip) => {
                if k >= args.warmup {
                    measured.push((k, round_trip));
                }
                let everywhere = || arrivals.of(k) >= still_open(&receivers);
                if !wait_until(Duration::from_secs(args.wait), everywhere).await {
                    timed_out += 1;
                }
            }
            Err(err) => send_errors.add(format!("send: {err}")),
        }
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    }
    let sending_secs = sending.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let Delivered { latencies, odd } = collect(receivers, total).await;

    // For each measured send: when the last stream had it (if every stream did), and each.
    let (mut last, mut each) = (Vec::new(), Vec::new());
    for &(k, _) in &measured {
        let got = &latencies[usize::try_from(k).unwrap()];
        each.extend_from_slice(got);
        if got.len() as u64 == open {
            last.extend(got.iter().max());
        }
    }
    let sent = measured.len() as u64;
    let expected = sent * open;
    let received = each.len() as u64;
    let lost = expected.saturating_sub(received);
    let complete = last.len();
    let send_failed = send_errors.total();
    errors.merge(send_errors);
    errors.merge(odd.errors);
    let send = Summary::new(
        measured
            .into_iter()
            .map(|(_, round_trip)| round_trip)
            .collect(),
    );
    let (last, each) = (Summary::new(last), Summary::new(each));
    println!(
        "  {} sends into the group (after {} not measured), one at a time from member k % {}, \
         {} ms apart, in {sending_secs:.1} s: {sent} ok, {send_failed} failed, {timed_out} not on \
         every stream within {} s",
        args.sends, args.warmup, args.members, args.pause_ms, args.wait
    );
    println!("  send (HTTP round trip) ms {}", send.describe());
    println!(
        "  send -> the last of {open} streams has the event ({complete} of {sent} sends reached \
         them all) ms {}",
        last.describe()
    );
    println!("  send -> event at each stream ms {}", each.describe());
    println!(
        "  events: {received} of {expected} received, {lost} lost, {} duplicate, {} seq gaps, \
         {} other events; errors: {}",
        odd.duplicates,
        odd.gaps,
        odd.unexpected,
        errors.describe()
    );
    let (size, sends) = (args.members, args.sends);
    println!(
        "result group members={size} streams={size} open={open} sends={sends} sent={sent} \
         send_failed={send_failed} complete={complete} expected={expected} received={received} \
         lost={lost} duplicates={} gaps={} unexpected={} {} {} {} errors={}",
        odd.duplicates,
        odd.gaps,
        odd.unexpected,
        send.fields("send"),
        last.fields("last"),
        each.fields("stream"),
        errors.total()
    );
    Ok(())
}

// ---- idle ------------------------------------------------------------------------------------

/// Writes `name` to the pause file and waits until it is removed (at most [`PAUSE_LIMIT`]).
async fn checkpoint(pause_file: Option<&Path>, name: &str) {
    let Some(path) = pause_file else { return };
    let staging = path.with_extension("tmp");
    std::fs::write(&staging, name).expect("a writable --pause-file");
    std::fs::rename(&staging, path).expect("a writable --pause-file");
    let until = Instant::now() + PAUSE_LIMIT;
    while path.exists() {
        if Instant::now() > until {
            eprintln!("live_bench: nobody removed {} in time", path.display());
            let _ = std::fs::remove_file(path);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn idle(common: &Common, args: IdleArgs, limit: u64) -> Result<(), String> {
    check_room(args.sockets, limit)?;
    let server = endpoint(&args.url)?;
    let users = {
        let api = Api::new(&server, common.concurrency);
        register_all(&api, common, "i", args.users).await?
        // Dropping the client closes its pooled connections: they would count against the
        // server's connection cap.
    };
    checkpoint(args.pause_file.as_deref(), "baseline").await;

    let open = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let opening = Instant::now();
    let opened = run_all(args.sockets, common.concurrency, |i| {
        let (server, users) = (&server, &users);
        async move {
            let who = &users[usize::try_from(i % args.users).unwrap()];
            let mut socket = connect(server, &who.token, None).await?;
            until_ready(&mut socket).await?;
            Ok::<_, String>(socket)
        }
    })
    .await;
    let open_secs = opening.elapsed().as_secs_f64();
    let mut errors = Errors::default();
    let mut holders = Vec::new();
    for outcome in opened {
        match outcome {
            Ok(mut socket) => {
                open.fetch_add(1, Ordering::Relaxed);
                let (open, mut stopped) = (open.clone(), stopped.clone());
                holders.push(tokio::spawn(async move {
                    loop {
                        let got = tokio::select! {
                            _ = stopped.changed() => break,
                            got = next_item(&mut socket) => got,
                        };
                        if let Got::Gone(why) = got {
                            open.fetch_sub(1, Ordering::Relaxed);
                            return Some(why);
                        }
                    }
                    close(socket).await;
                    None
                }));
            }
            Err(err) => errors.add(format!("open: {err}")),
        }
    }
    let opened = open.load(Ordering::Relaxed);
    println!(
        "idle: {opened} of {} sockets open and ready as {} users in {open_secs:.1} s \
         ({:.0}/s); errors: {}",
        args.sockets,
        args.users,
        opened as f64 / open_secs,
        errors.describe()
    );
    let holding = Instant::now();
    if args.pause_file.is_some() {
        checkpoint(args.pause_file.as_deref(), "open").await;
    } else {
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
    }
    let still = open.load(Ordering::Relaxed);
    println!(
        "idle: {still} of {opened} still open after {:.1} s",
        holding.elapsed().as_secs_f64()
    );
    let _ = stop.send(true);
    for holder in holders {
        if let Some(why) = holder.await.unwrap() {
            errors.add(format!("closed while idle: {why}"));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    checkpoint(args.pause_file.as_deref(), "closed").await;
    println!(
        "result idle sockets={} users={} opened={opened} still_open={still} open_secs={open_secs:.1} \
         errors={}",
        args.sockets,
        args.users,
        errors.total()
    );
    Ok(())
}

// ---- reconnect -------------------------------------------------------------------------------

/// How one reconnecting client did.
enum Caught {
    /// Caught up exactly, in this long.
    Up(Duration),
    /// Not: why, and how many of its missed messages it never got.
    Failed(String, u64),
}

/// Reconnects after `last` and checks that exactly `expected` (contents, in order) arrive as
/// `message.created` events `last + 1 ..`, then `ready` at their end.
async fn catch_up(
    server: &Endpoint,
    token: &str,
    last: i64,
    expected: &[String],
    wait: Duration,
    start: Instant,
) -> Caught {
    let outcome = tokio::time::timeout(wait, async {
        let mut socket = connect(server, token, Some(last)).await?;
        let (events, head) = until_ready(&mut socket).await?;
        let elapsed = start.elapsed();
        close(socket).await;
        Ok::<_, String>((events, head, elapsed))
    })
    .await;
    let missing = |got: &[Incoming]| {
        let got: HashSet<&str> = got.iter().filter_map(Incoming::content).collect();
        expected
            .iter()
            .filter(|c| !got.contains(c.as_str()))
            .count() as u64
    };
    let (events, head, elapsed) = match outcome {
        Err(_) => return Caught::Failed("not caught up in time".to_owned(), expected.len() as u64),
        Ok(Err(why)) => return Caught::Failed(why, expected.len() as u64),
        Ok(Ok(got)) => got,
    };
    let in_order = events
        .iter()
        .zip(last + 1..)
        .all(|(event, seq)| event.seq == Some(seq));
    if !in_order {
        return Caught::Failed(
            "events out of order or with gaps".to_owned(),
            missing(&events),
        );
    }
    let exact = events.len() == expected.len()
        && events.iter().zip(expected).all(|(event, content)| {
            event.kind == "message.created" && event.content() == Some(content.as_str())
        });
    if !exact {
        return Caught::Failed(
            "not exactly the missed messages".to_owned(),
            missing(&events),
        );
    }
    if head != last + expected.len() as i64 {
        return Caught::Failed("ready with a wrong head".to_owned(), 0);
    }
    Caught::Up(elapsed)
}

async fn reconnect(common: &Common, args: ReconnectArgs, limit: u64) -> Result<(), String> {
    check_room(args.clients, limit)?;
    let server = endpoint(&args.url)?;
    let api = Api::new(&server, common.concurrency);
    let users_n = args.users.unwrap_or(args.clients).min(args.clients);
    let concurrency = common.concurrency;

    let setup = Instant::now();
    let peer = register_all(&api, common, "p", 1).await?.remove(0);
    let users = register_all(&api, common, "c", users_n).await?;
    let conversations = run_all(users_n, concurrency, |u| {
        let (api, users, peer) = (&api, &users, &peer);
        async move {
            let body = json!({"peer_id": peer.id});
            api.open(&users[usize::try_from(u).unwrap()], &body).await
        }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(|err| format!("opening conversations: {err}"))?;
    println!(
        "reconnect: {} users and a peer registered, conversations opened in {:.1} s",
        users_n,
        setup.elapsed().as_secs_f64()
    );

    // Every client reads its stream from the start to `ready`.
    let first = Instant::now();
    let opened = run_all(args.clients, concurrency, |j| {
        let (server, users) = (&server, &users);
        async move {
            let who = &users[usize::try_from(j % users_n).unwrap()];
            let mut socket = connect(server, &who.token, Some(0)).await?;
            let (events, head) = until_ready(&mut socket).await?;
            let gapless = events
                .iter()
                .zip(1..)
                .all(|(event, seq)| event.seq == Some(seq));
            let last = events.last().and_then(|e| e.seq).unwrap_or(0);
            if !gapless || last != head {
                return Err(format!(
                    "first read: events 1..{last} not gapless up to head {head}"
                ));
            }
            Ok((socket, last))
        }
    })
    .await;
    let mut sockets = Vec::new();
    let mut lasts = Vec::new();
    for outcome in opened {
        let (socket, last) = outcome.map_err(|err| format!("first connection: {err}"))?;
        sockets.push(socket);
        lasts.push(last);
    }
    println!(
        "  {} clients read their streams to ready in {:.1} s",
        sockets.len(),
        first.elapsed().as_secs_f64()
    );
    // All disconnect.
    futures::stream::iter(sockets)
        .for_each_concurrent(concurrency * 4, close)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The peer sends while they are away: each user's messages in order, users in parallel.
    let sending = Instant::now();
    let sent = run_all(users_n, concurrency.min(32), |u| {
        let (api, peer, conversations) = (&api, &peer, &conversations);
        async move {
            let mut sent = Vec::new();
            let mut errors = Errors::default();
            for n in 0..args.missed {
                let content = format!("rc u={u} n={n}");
                let conversation = conversations[usize::try_from(u).unwrap()];
                match api.send(&peer.token, conversation, &content).await {
                    Ok(()) => sent.push(content),
                    Err(err) => errors.add(format!("send: {err}")),
                }
            }
            (sent, errors)
        }
    })
    .await;
    drop(api);
    let mut errors = Errors::default();
    let mut expected = Vec::new();
    for (contents, send_errors) in sent {
        expected.push(contents);
        errors.merge(send_errors);
    }
    let missed_sent: usize = expected.iter().map(Vec::len).sum();
    println!(
        "  the peer sent {missed_sent} of {} messages while they were away in {:.1} s",
        users_n * args.missed,
        sending.elapsed().as_secs_f64()
    );

    // Everyone reconnects at once: the tasks wait at a barrier, then each measures from the
    // moment it was released.
    let expected = Arc::new(expected);
    let barrier = Arc::new(Barrier::new(usize::try_from(args.clients).unwrap() + 1));
    let start = Arc::new(OnceLock::new());
    let wait = Duration::from_secs(args.timeout);
    let tasks: Vec<_> = (0..args.clients)
        .map(|j| {
            let u = usize::try_from(j % users_n).unwrap();
            let (server, token) = (server.clone(), users[u].token.clone());
            let (expected, barrier, start) = (expected.clone(), barrier.clone(), start.clone());
            let last = lasts[usize::try_from(j).unwrap()];
            tokio::spawn(async move {
                barrier.wait().await;
                let start = *start.get_or_init(Instant::now);
                catch_up(&server, &token, last, &expected[u], wait, start).await
            })
        })
        .collect();
    barrier.wait().await;
    let mut times = Vec::new();
    let mut lost = 0;
    for task in tasks {
        match task.await.unwrap() {
            Caught::Up(elapsed) => times.push(micros(elapsed)),
            Caught::Failed(why, missing) => {
                errors.add(why);
                lost += missing;
            }
        }
    }
    // Until the last client was ready (the tasks also closed their sockets since).
    let all_secs = times.iter().max().map_or(0.0, |&last| last as f64 / 1e6);
    let ok = times.len();
    let times = Summary::new(times);
    println!(
        "  {} clients reconnected at once: {ok} caught up exactly, {lost} events lost, errors: {}; \
         time to ready ms {}; the last ready after {all_secs:.2} s",
        args.clients,
        errors.describe(),
        times.describe()
    );
    println!(
        "result reconnect clients={} users={users_n} missed_sent={missed_sent} ok={ok} \
         lost={lost} errors={} {} all_secs={all_secs:.2}",
        args.clients,
        errors.total(),
        times.fields("catchup")
    );
    Ok(())
}
