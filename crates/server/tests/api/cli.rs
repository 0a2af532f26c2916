//! The `missive` binary as a user runs it: subcommands, zero-configuration start-up, and the
//! one-line errors that stop start-up on a bad setting.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_missive");

/// Runs the binary in `dir` with exactly `vars` as its environment (nothing leaks in from
/// the test runner's, such as a DATABASE_URL).
fn missive(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run the missive binary")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_and_help_describe_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let version = missive(dir.path(), &["--version"], &[]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("missive "));
    let help = missive(dir.path(), &["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for expected in [
        "serve",
        "migrate",
        "DATABASE_URL",
        "MISSIVE_BIND",
        "SECRET_KEY",
    ] {
        assert!(text.contains(expected), "--help lacks {expected}:\n{text}");
    }
}

#[test]
fn migrate_creates_the_database_and_a_private_key_file_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = missive(dir.path(), &["migrate"], &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(dir.path().join("missive.db").exists());
    let key = dir.path().join("missive.db.secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The key is kept: a second start reuses it rather than invalidating every token.
    let first = std::fs::read_to_string(&key).unwrap();
    assert!(missive(dir.path(), &["migrate"], &[]).status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), first);
}

#[test]
fn commands_run_where_there_is_no_database_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["user", "list"][..],
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "a@example.com",
        ],
        &["session", "list", "alice"],
        &["backup", "copy.db"],
    ] {
        let output = missive(dir.path(), args, &[]);
        assert!(!output.status.success(), "{args:?}");
        let err = stderr_of(&output);
        assert!(err.starts_with("error: no database at "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bad_settings_stop_start_up_with_a_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s".repeat(40);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("DATABASE_URL", "mysql://db/x")], "DATABASE_URL"),
        (
            &[("MISSIVE_MAX_MESSAGE_CHARS", "many")],
            "MISSIVE_MAX_MESSAGE_CHARS",
        ),
        (&[("MISSIVE_BIND", "not-an-address")], "MISSIVE_BIND"),
        (
            &[("ACCESS_TOKEN_EXPIRE_MINUTES", "-5")],
            "ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (&[("MISSIVE_CORS_ORIGINS", "nope")], "MISSIVE_CORS_ORIGINS"),
        (&[("SECRET_KEY", "too-short")], "SECRET_KEY"),
        (
            &[("DATABASE_URL", "postgres://u@127.0.0.1:1/db")],
            "SECRET_KEY",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db"),
                ("SECRET_KEY", &secret),
                ("MISSIVE_DB_CONNECT_TIMEOUT_SECS", "0"),
            ],
            "DATABASE_URL",
        ),
    ];
    for (vars, setting) in cases {
        let output = missive(dir.path(), &["migrate"], vars);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(
            stderr.contains(setting),
            "{vars:?}: error does not name {setting}:\n{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "a password leaked:\n{stderr}");
        assert!(!stderr.contains(&secret), "the secret leaked:\n{stderr}");
    }
}

#[test]
fn an_unreachable_database_is_retried_with_back_off_for_the_set_time() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s".repeat(40);
    let started = Instant::now();
    let output = missive(
        dir.path(),
        &["migrate"],
        &[
            ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db"),
            ("SECRET_KEY", &secret),
            ("MISSIVE_DB_CONNECT_TIMEOUT_SECS", "2"),
        ],
    );
    let took = started.elapsed();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.matches("database not reachable yet").count() >= 2,
        "attempts not logged:\n{log}"
    );
    assert!(!log.contains("hunter2"), "a password leaked:\n{log}");
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "kept trying for {took:?}");
}

/// The binary serving in its own directory, killed when dropped.
struct Served {
    child: std::process::Child,
    bind: String,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts `missive` with exactly `vars` (plus MISSIVE_BIND on a free port) and waits until
    /// it answers `/healthz`; panics with its log if it does not within 20 s.
    fn start(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        // The log goes to a file: a pipe nobody reads until the end fills up under load (64 KiB,
        // a few hundred request lines) and then blocks the server mid-request.
        let log = std::fs::File::create(dir.path().join("missive.log")).unwrap();
        let child = Command::new(BINARY)
            .current_dir(dir.path())
            .env_clear()
            .envs(vars.iter().copied())
            .env("MISSIVE_BIND", &bind)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut served = Self {
            child,
            bind,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !served.healthy() {
            if Instant::now() > deadline {
                let log = served.stop();
                panic!("no answer on {}; log:\n{log}", served.bind);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn healthy(&self) -> bool {
        std::net::TcpStream::connect(&self.bind).is_ok_and(|mut stream| {
            use std::io::{Read, Write};
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            reply.starts_with("HTTP/1.1 200") && reply.contains(r#"{"status":"ok"}"#)
        })
    }

    fn base(&self) -> String {
        format!("http://{}", self.bind)
    }

    /// Registers `username` on the Chat Service face; the body that logs them in.
    async fn chat_account(&self, client: &reqwest::Client, username: &str) -> serde_json::Value {
        let password = "correct-horse-battery";
        let account = serde_json::json!({
            "username": username, "email": format!("{username}@example.com"), "password": password
        });
        let registered = client
            .post(format!("{}/register", self.base()))
            .json(&account)
            .send()
            .await;
        assert_eq!(registered.unwrap().status(), 201);
        serde_json::json!({"username": username, "password": password})
    }

    /// The most memory the process has held resident so far, in MiB.
    fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024
    }

    /// Kills the process; its log.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(self.dir().join("missive.log")).unwrap_or_default()
    }
}

impl Served {
    /// Sends SIGTERM; the exit status, once the process has ended (within 20 s).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 20 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_with_no_configuration_answers_on_the_bound_address() {
    let mut served = Served::start(&[]);
    assert!(served.dir().join("missive.db").exists());
    let log = served.stop();
    assert_eq!(
        log.matches("sqlite://missive.db").count(),
        1,
        "the database is named once:\n{log}"
    );
    assert!(log.contains("rate limits and events: in-process"), "{log}");
    assert!(log.contains("SECRET_KEY is not set"), "{log}");
}

/// Each Argon2id hash works in ~19 MiB. A burst of logins must not leave one such block per
/// thread that ever hashed (the process once reached a gigabyte after 32 concurrent logins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_logins_keeps_memory_bounded() {
    let served = Served::start(&[("MISSIVE_RATE_LIMITS", "off")]);
    let (base, client) = (served.base(), reqwest::Client::new());
    let login = served.chat_account(&client, "burst").await;
    let logins = (0..128).map(|_| client.post(format!("{base}/login")).json(&login).send());
    for answer in futures::future::join_all(logins).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let peak = served.peak_rss_mib();
    assert!(peak < 200, "resident memory peaked at {peak} MiB");
}

/// SIGTERM while requests are in flight: each of them is answered, then the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_then_exits_cleanly() {
    let mut served = Served::start(&[("MISSIVE_RATE_LIMITS", "off")]);
    let (base, client) = (served.base(), reqwest::Client::new());
    // Logins each hash a password: a few dozen keep the server busy for a while.
    let login = served.chat_account(&client, "calm").await;
    let logins: Vec<_> = (0..64)
        .map(|_| tokio::spawn(client.post(format!("{base}/login")).json(&login).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = tokio::task::spawn_blocking(move || served.terminate())
        .await
        .unwrap();
    for login in logins {
        let answer = login
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        assert_eq!(answer.status(), 200);
    }
    assert!(status.success(), "exit status {status}");
}

/// Alice (registered on `/v1`) and her conversation with Bob on the server at `base`: her
/// access token and the conversation's messages URL.
async fn alice_and_bob(client: &reqwest::Client, base: &str) -> (String, String) {
    use serde_json::{Value, json};
    let register = |name: &str| {
        let body = json!({"username": name, "email": format!("{name}@example.com"),
            "password": "correct-horse-battery"});
        client
            .post(format!("{base}/v1/auth/register"))
            .json(&body)
            .send()
    };
    let alice: Value = register("alice").await.unwrap().json().await.unwrap();
    let bob: Value = register("bob").await.unwrap().json().await.unwrap();
    let token = alice["access_token"].as_str().unwrap().to_owned();
    let opened: Value = client
        .post(format!("{base}/v1/conversations"))
        .bearer_auth(&token)
        .json(&json!({"peer_id": bob["user"]["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = format!("/v1/conversations/{}/messages", opened["id"]);
    (token, messages)
}

/// What one send got: its status (`None`: no answer, the connection refused or closed), the
/// stored message's `seq`, and when.
type Answer = (Option<u16>, Option<i64>, Instant);

/// Sends into `messages` from `senders` tasks until `stop`; each answer's status and, for a
/// message stored, its `seq` and when it was acknowledged. A send that got no answer (the
/// connection refused or closed) has status `None`.
async fn send_until(
    client: &reqwest::Client,
    url: String,
    token: &str,
    senders: usize,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<Answer> {
    let tasks: Vec<_> = (0..senders)
        .map(|sender| {
            let (client, url, token, stop) =
                (client.clone(), url.clone(), token.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0.. {
                    if stop.is_cancelled() {
                        break;
                    }
                    let body = serde_json::json!({"content": format!("{sender}: {i}")});
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(reply) = sent else {
                        answers.push((None, None, Instant::now()));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let status = reply.status().as_u16();
                    let seq = match reply.json::<serde_json::Value>().await {
                        Ok(message) if status == 201 => message["seq"].as_i64(),
                        _ => None,
                    };
                    answers.push((Some(status), seq, Instant::now()));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.unwrap());
    }
    answers
}

/// A server with Alice sending to Bob from `senders` tasks until `stop` is cancelled; `load`
/// answers what `send_until` saw.
struct Loaded {
    served: Served,
    client: reqwest::Client,
    token: String,
    messages: String,
    stop: tokio_util::sync::CancellationToken,
    load: tokio::task::JoinHandle<Vec<Answer>>,
}

impl Loaded {
    async fn start(senders: usize) -> Self {
        let served = Served::start(&[("MISSIVE_RATE_LIMITS", "off")]);
        let client = reqwest::Client::new();
        let (token, messages) = alice_and_bob(&client, &served.base()).await;
        let stop = tokio_util::sync::CancellationToken::new();
        let (url, sending) = (format!("{}{messages}", served.base()), client.clone());
        let (as_alice, until) = (token.clone(), stop.clone());
        let load =
            tokio::spawn(async move { send_until(&sending, url, &as_alice, senders, until).await });
        Self {
            served,
            client,
            token,
            messages,
            stop,
            load,
        }
    }
}

/// Every `seq` of the conversation at `messages`, oldest first, as `token`'s user reads it.
async fn stored_seqs(
    client: &reqwest::Client,
    base: &str,
    messages: &str,
    token: &str,
) -> Vec<i64> {
    let mut seqs = Vec::new();
    loop {
        let after = seqs.last().copied().unwrap_or(0);
        let page: serde_json::Value = client
            .get(format!("{base}{messages}?after={after}&limit=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = page["messages"].as_array().unwrap().clone();
        if page.is_empty() {
            return seqs;
        }
        seqs.extend(page.iter().map(|m| m["seq"].as_i64().unwrap()));
    }
}

/// SIGTERM while messages are being sent: every request the server took is answered with a
/// success (none with a 5xx), `/readyz` would say 503, and after a restart every acknowledged
/// message is there, with gapless `seq`s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_no_5xx_and_loses_no_acknowledged_message() {
    let Loaded {
        mut served,
        client,
        token,
        messages,
        stop,
        load,
    } = Loaded::start(8).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = served.terminate();
        (status, served)
    });
    let (status, served) = status.await.unwrap();
    stop.cancel();
    let answers = load.await.unwrap();
    assert!(status.success(), "exit status {status}");
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| status.is_some_and(|s| s >= 500))
        .collect();
    assert!(failed.is_empty(), "answered with a 5xx: {failed:?}");
    let acknowledged: Vec<i64> = answers.iter().filter_map(|(_, seq, _)| *seq).collect();
    assert!(
        acknowledged.len() >= 10,
        "only {} sends went through",
        acknowledged.len()
    );

    // The same database, served again (its key file beside it, so the token still works).
    let url = format!("sqlite://{}", served.dir().join("missive.db").display());
    let again = Served::start(&[("DATABASE_URL", &url)]);
    let seqs = stored_seqs(&client, &again.base(), &messages, &token).await;
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gapless");
    for seq in &acknowledged {
        assert!(seqs.contains(seq), "acknowledged message {seq} was lost");
    }
}

/// `missive backup` while messages are being sent: the copy holds every message acknowledged
/// before it began, with gapless `seq`s, and serving the copy (the documented restore) gives
/// them back. It refuses to overwrite a file, and sends PostgreSQL users to `pg_dump`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_acknowledged_message() {
    let Loaded {
        served,
        client,
        token: _,
        messages,
        stop,
        load,
    } = Loaded::start(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let copy = tempfile::tempdir().unwrap();
    let target = copy.path().join("copy.db");
    let target_arg = target.to_str().unwrap().to_owned();
    let dir = served.dir().to_owned();
    let began = Instant::now();
    let output = tokio::task::spawn_blocking(move || missive(&dir, &["backup", &target_arg], &[]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let answers = load.await.unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("backed up to"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&target).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the copy holds password hashes");
    let acknowledged: Vec<(i64, Instant)> = answers
        .iter()
        .filter_map(|(_, seq, at)| seq.map(|seq| (seq, *at)))
        .collect();
    let before: Vec<i64> = acknowledged
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(seq, _)| *seq)
        .collect();
    assert!(
        before.len() >= 10,
        "the load sent only {} messages",
        before.len()
    );
    assert!(
        acknowledged.len() > before.len(),
        "no sends while backing up"
    );

    // Restore: serve the copy (a new key beside it: log in again).
    let url = format!("sqlite://{}", target.display());
    let restored = Served::start(&[("DATABASE_URL", &url), ("MISSIVE_RATE_LIMITS", "off")]);
    let login = serde_json::json!({"login": "alice", "password": "correct-horse-battery"});
    let session: serde_json::Value = client
        .post(format!("{}/v1/auth/login", restored.base()))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().unwrap();
    let seqs = stored_seqs(&client, &restored.base(), &messages, token).await;
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gapless");
    for seq in &before {
        assert!(
            seqs.contains(seq),
            "acknowledged message {seq} is not in the backup"
        );
    }

    // Never from a database that is not there (nor creating one); never over an existing
    // file; PostgreSQL has its own tools.
    let empty = tempfile::tempdir().unwrap();
    let nothing = missive(empty.path(), &["backup", "copy.db"], &[]);
    assert!(!nothing.status.success());
    assert!(
        stderr_of(&nothing).contains("no database"),
        "{}",
        stderr_of(&nothing)
    );
    assert!(!empty.path().join("missive.db").exists());
    let again = missive(served.dir(), &["backup", target.to_str().unwrap()], &[]);
    assert!(!again.status.success());
    assert!(
        stderr_of(&again).contains("already exists"),
        "{}",
        stderr_of(&again)
    );
    let secret = "s".repeat(40);
    let postgres = missive(
        served.dir(),
        &["backup", "x.db"],
        &[
            ("DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
            ("SECRET_KEY", &secret),
        ],
    );
    assert!(!postgres.status.success());
    assert!(
        stderr_of(&postgres).contains("pg_dump"),
        "{}",
        stderr_of(&postgres)
    );
}
