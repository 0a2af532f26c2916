//! Deleting one's account and exporting one's data through `/v1`, and what a deletion leaves
//! to everyone else.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use missive::config::{Config, Secret};
use missive_store::testing::TestDb;

use crate::helpers::{PASSWORD, Reply, TestApp, TestRedis, apps, status_is, test_config};
use crate::v1_auth::{assert_token_ended, assert_token_works, v1_login};
use crate::v1_conversations::{User, conversation, v1_user};
use crate::v1_messages::{refused_with, send};

async fn delete_me(app: &TestApp, who: &User, password: &str) -> Reply {
    let body = json!({"password": password});
    app.call(Method::DELETE, "/v1/users/me", Some(body), who.auth())
        .await
}

async fn say(app: &TestApp, who: &User, conversation: i64, text: &str) -> i64 {
    let reply = send(app, who, conversation, json!({"content": text}), None).await;
    status_is(app, &reply, StatusCode::CREATED);
    reply.body["id"].as_i64().unwrap()
}

async fn export(app: &TestApp, who: &User) -> (StatusCode, String, Option<Value>) {
    let response = app
        .client
        .get(app.url("/v1/users/me/export"))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let parsed = serde_json::from_str(&text).ok();
    (status, text, parsed)
}

/// The contents of a conversation's history as `who` reads it, oldest first.
async fn contents(app: &TestApp, who: &User, conversation: i64) -> Vec<String> {
    let path = format!("/v1/conversations/{conversation}/messages?limit=100");
    let reply = app.get(&path, who.auth()).await;
    status_is(app, &reply, StatusCode::OK);
    let messages = reply.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let texts = messages.iter().filter(|m| m["kind"] == "text");
    texts
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_wrong_password_deletes_nothing() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;

        let reply = delete_me(&app, &alice, "not-the-password").await;

        refused_with(
            &app,
            &reply,
            StatusCode::FORBIDDEN,
            "current_password_incorrect",
        );
        let me = app.get("/v1/users/me", alice.auth()).await;
        status_is(&app, &me, StatusCode::OK);
        let missing = app
            .call(
                Method::DELETE,
                "/v1/users/me",
                Some(json!({})),
                alice.auth(),
            )
            .await;
        status_is(&app, &missing, StatusCode::UNPROCESSABLE_ENTITY);
        status_is(
            &app,
            &v1_login(&app, "alice", PASSWORD).await,
            StatusCode::OK,
        );
    }
}

#[tokio::test]
async fn a_deleted_account_is_gone_but_what_it_sent_stays_with_its_peer() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let direct = conversation(&app, &alice, &bob).await;
        say(&app, &alice, direct, "from alice").await;
        say(&app, &bob, direct, "from bob").await;

        let reply = delete_me(&app, &alice, PASSWORD).await;

        status_is(&app, &reply, StatusCode::NO_CONTENT);
        assert_token_ended(&app, &alice.token, "after deletion").await;
        let login = v1_login(&app, "alice", PASSWORD).await;
        status_is(&app, &login, StatusCode::UNAUTHORIZED);
        let profile = app
            .get(&format!("/v1/users/{}", alice.id), bob.auth())
            .await;
        status_is(&app, &profile, StatusCode::NOT_FOUND);
        // Bob keeps the whole conversation, from a sender no one can be any more ...
        assert_eq!(
            contents(&app, &bob, direct).await,
            ["from alice", "from bob"]
        );
        let seen = app
            .get(&format!("/v1/conversations/{direct}"), bob.auth())
            .await;
        status_is(&app, &seen, StatusCode::OK);
        let tombstone = format!("deleted:{}", alice.id);
        assert_eq!(seen.body["peer"]["username"], tombstone, "{}", app.label());
        assert_eq!(seen.body["closed"], true, "{}", app.label());
        // ... which takes no new messages, and opens no new conversation.
        let closed = send(&app, &bob, direct, json!({"content": "hello?"}), None).await;
        refused_with(&app, &closed, StatusCode::CONFLICT, "conversation_closed");
        let carol = v1_user(&app, "carol").await;
        let open = app
            .post(
                "/v1/conversations",
                json!({"peer_id": alice.id}),
                carol.auth(),
            )
            .await;
        status_is(&app, &open, StatusCode::NOT_FOUND);
        // The name and address are free again.
        let again = v1_user(&app, "alice").await;
        assert_ne!(again.id, alice.id, "{}", app.label());
        let open_direct = conversation(&app, &bob, &carol).await;
        assert!(open_direct > 0);
        let untouched = app
            .get(&format!("/v1/conversations/{open_direct}"), bob.auth())
            .await;
        assert!(untouched.body.get("closed").is_none(), "{}", untouched.body);
    }
}

#[tokio::test]
async fn a_deleted_owner_hands_the_group_over_and_their_messages_stay() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let body = json!({"kind": "group", "title": "Crew", "member_ids": [bob.id]});
        let created = app.post("/v1/conversations", body, alice.auth()).await;
        status_is(&app, &created, StatusCode::CREATED);
        let group = created.body["id"].as_i64().unwrap();
        say(&app, &alice, group, "hello crew").await;

        status_is(
            &app,
            &delete_me(&app, &alice, PASSWORD).await,
            StatusCode::NO_CONTENT,
        );

        assert_eq!(contents(&app, &bob, group).await, ["hello crew"]);
        let seen = app
            .get(&format!("/v1/conversations/{group}"), bob.auth())
            .await;
        assert_eq!(seen.body["role"], "owner", "{}: {}", app.label(), seen.body);
        assert_eq!(seen.body["member_count"], 1, "{}", app.label());
        say(&app, &bob, group, "still here").await;
    }
}

#[tokio::test]
async fn the_export_holds_every_conversation_and_message_the_user_can_see() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let carol = v1_user(&app, "carol").await;
        let with_bob = conversation(&app, &alice, &bob).await;
        let with_carol = conversation(&app, &alice, &carol).await;
        // More than one page of messages (the export reads 500 at a time).
        for n in 0..520 {
            let who = if n % 2 == 0 { &alice } else { &bob };
            say(&app, who, with_bob, &format!("m{n}")).await;
        }
        let hidden = say(&app, &carol, with_carol, "hide me").await;
        say(
            &app,
            &carol,
            with_carol,
            "<script>alert(1)</script> \"quoted\"",
        )
        .await;
        let hide = format!("/v1/messages/{hidden}?for=me");
        let hid = app.call(Method::DELETE, &hide, None, alice.auth()).await;
        assert!(hid.status.is_success(), "{}: {}", app.label(), hid.body);
        let bobs_own = conversation(&app, &bob, &carol).await;
        say(&app, &bob, bobs_own, "not alice's business").await;

        let (status, text, parsed) = export(&app, &alice).await;

        assert_eq!(status, StatusCode::OK, "{}: {text}", app.label());
        let export = parsed.unwrap_or_else(|| panic!("{}: not JSON: {text}", app.label()));
        assert_eq!(export["user"]["username"], "alice");
        assert_eq!(export["user"]["email"], "alice@example.com");
        assert!(!text.contains("password"), "{}", app.label());
        let conversations = export["conversations"].as_array().unwrap();
        let ids: Vec<i64> = conversations
            .iter()
            .map(|c| c["conversation"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ids,
            [with_bob, with_carol],
            "{}: in the order they began",
            app.label()
        );
        let texts = |c: &Value| -> Vec<String> {
            let messages = c["messages"].as_array().unwrap();
            messages
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect()
        };
        let expected: Vec<String> = (0..520).map(|n| format!("m{n}")).collect();
        assert_eq!(texts(&conversations[0]), expected, "{}", app.label());
        let seqs: Vec<i64> = conversations[0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=520).collect::<Vec<_>>(), "{}", app.label());
        assert_eq!(
            texts(&conversations[1]),
            ["<script>alert(1)</script> \"quoted\""],
            "{}: hidden left out",
            app.label()
        );
        assert!(!text.contains("not alice's business"), "{}", app.label());
    }
}

#[tokio::test]
async fn deleting_and_exporting_need_a_token() {
    for app in apps().await {
        let anonymous = app
            .call(
                Method::DELETE,
                "/v1/users/me",
                Some(json!({"password": PASSWORD})),
                None,
            )
            .await;
        status_is(&app, &anonymous, StatusCode::UNAUTHORIZED);
        let export = app.get("/v1/users/me/export", None).await;
        status_is(&app, &export, StatusCode::UNAUTHORIZED);
    }
}

/// `missive user …` / `missive session …` against the database (and Redis, if any) of `app`.
struct Admin {
    vars: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Admin {
    fn for_app(app: &TestApp, redis: Option<&TestRedis>) -> Self {
        // No SECRET_KEY: the commands issue no tokens, so they need none, even on PostgreSQL.
        let mut vars = vec![("DATABASE_URL".to_owned(), app.db.url.clone())];
        if let Some(redis) = redis {
            vars.push(("REDIS_URL".to_owned(), redis.url.clone()));
            vars.push(("MISSIVE_REDIS_PREFIX".to_owned(), redis.prefix.clone()));
        }
        Self {
            vars,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs the command (with `stdin` on its standard input); status, stdout, stderr.
    async fn run(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_missive"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let stdin = stdin.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("run missive");
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.success(),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    /// Runs a command that must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, "").await;
        assert!(ok, "missive {args:?} failed: {err}");
        assert!(err.is_empty(), "missive {args:?} wrote to stderr: {err}");
        out
    }

    /// Runs a command that must fail with one line on stderr; that line.
    async fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, "").await;
        assert!(!ok, "missive {args:?} succeeded: {out}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
        err
    }
}

/// The apps the admin commands are tried against: each database with its cache off (so a
/// change the command makes is seen at once without a shared cache), and with Redis when
/// `TEST_REDIS_URL` is set, where the command's change must reach the app's Redis cache.
async fn admin_setups() -> Vec<(TestApp, Option<TestRedis>)> {
    let mut setups = Vec::new();
    for db in TestDb::all().await {
        let app = TestApp::start(db, |db| Config {
            cache: false,
            ..test_config(db)
        })
        .await;
        setups.push((app, None));
    }
    for db in TestDb::all().await {
        let Some(redis) = TestRedis::new() else { break };
        let app = TestApp::start(db, |db| Config {
            redis_url: Some(Secret::new(redis.url.clone())),
            redis_prefix: redis.prefix.clone(),
            ..test_config(db)
        })
        .await;
        setups.push((app, Some(redis)));
    }
    setups
}

#[tokio::test]
async fn the_admin_commands_manage_accounts_as_the_api_would() {
    for (app, redis) in admin_setups().await {
        let admin = Admin::for_app(&app, redis.as_ref());
        let label = format!(
            "{}{}",
            app.label(),
            if redis.is_some() { " + Redis" } else { "" }
        );
        let alice = v1_user(&app, "alice").await;

        // create: with a password on stdin, and with a generated one, printed once.
        let (ok, out, err) = admin
            .run(
                &[
                    "user",
                    "create",
                    "--username",
                    "bob",
                    "--email",
                    "bob@example.com",
                    "--password-stdin",
                ],
                "bobs-password-1\n",
            )
            .await;
        assert!(ok, "{label}: {err}");
        assert!(out.starts_with("created user bob ("), "{label}: {out}");
        status_is(
            &app,
            &v1_login(&app, "bob", "bobs-password-1").await,
            StatusCode::OK,
        );
        let created = admin
            .ok(&[
                "user",
                "create",
                "--username",
                "carol",
                "--email",
                "carol@example.com",
                "--json",
            ])
            .await;
        let carol: Value = serde_json::from_str(&created).unwrap();
        let generated = carol["password"].as_str().unwrap();
        assert_eq!(generated.len(), 20, "{label}");
        status_is(
            &app,
            &v1_login(&app, "carol", generated).await,
            StatusCode::OK,
        );
        let taken = admin
            .fails(&[
                "user",
                "create",
                "--username",
                "BOB",
                "--email",
                "x@example.com",
            ])
            .await;
        assert!(taken.contains("username already taken"), "{label}: {taken}");
        let bad = admin
            .fails(&[
                "user",
                "create",
                "--username",
                "no spaces",
                "--email",
                "nope",
            ])
            .await;
        assert!(
            bad.contains("--username") && bad.contains("--email"),
            "{label}: {bad}"
        );

        // list and show.
        let listed: Value =
            serde_json::from_str(&admin.ok(&["user", "list", "--json"]).await).unwrap();
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"], "{label}");
        let table = admin.ok(&["user", "list"]).await;
        assert_eq!(table.lines().count(), 4, "{label}: {table}");
        assert!(table.lines().next().unwrap().starts_with("ID"), "{label}");
        let id = alice.id.to_string();
        let shown: Value =
            serde_json::from_str(&admin.ok(&["user", "show", &id, "--json"]).await).unwrap();
        assert_eq!(shown["username"], "alice", "{label}");
        assert_eq!(shown["status"], "active", "{label}");
        assert!(shown.get("password_hash").is_none(), "{label}");
        let unknown = admin.fails(&["user", "show", "nobody"]).await;
        assert!(unknown.contains("no user \"nobody\""), "{label}: {unknown}");

        // disable: no login, and the open session ends at once (its cached check too);
        // enable undoes it.
        assert_token_works(&app, &alice.token, "before").await;
        admin.ok(&["user", "disable", "alice"]).await;
        assert_token_ended(&app, &alice.token, "disabled").await;
        let refused = v1_login(&app, "alice", PASSWORD).await;
        status_is(&app, &refused, StatusCode::UNAUTHORIZED);
        let shown: Value =
            serde_json::from_str(&admin.ok(&["user", "show", "alice", "--json"]).await).unwrap();
        assert_eq!(shown["status"], "disabled", "{label}");
        admin.ok(&["user", "enable", "alice"]).await;
        let login = v1_login(&app, "alice", PASSWORD).await;
        status_is(&app, &login, StatusCode::OK);
        let token = login.body["access_token"].as_str().unwrap().to_owned();

        // sessions: listed, one revoked, then all.
        let sessions: Value =
            serde_json::from_str(&admin.ok(&["session", "list", "alice", "--json"]).await).unwrap();
        let sessions = sessions.as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{label}: {sessions:?}");
        let session = sessions[0]["id"].to_string();
        let not_hers = admin.fails(&["session", "revoke", "bob", &session]).await;
        assert!(not_hers.contains("no open session"), "{label}: {not_hers}");
        assert_token_works(&app, &token, "before").await;
        admin.ok(&["session", "revoke", "alice", &session]).await;
        assert_token_ended(&app, &token, "revoked").await;

        // reset-password: the old one stops working, the new one works.
        let (ok, _, err) = admin
            .run(
                &["user", "reset-password", "alice", "--password-stdin"],
                "a-brand-new-password\n",
            )
            .await;
        assert!(ok, "{label}: {err}");
        status_is(
            &app,
            &v1_login(&app, "alice", PASSWORD).await,
            StatusCode::UNAUTHORIZED,
        );
        let login = v1_login(&app, "alice", "a-brand-new-password").await;
        status_is(&app, &login, StatusCode::OK);
        let token = login.body["access_token"].as_str().unwrap().to_owned();

        // A number that is one account's id and another's username names neither.
        let digits = format!("{:03}", alice.id);
        let (ok, _, err) = admin
            .run(
                &[
                    "user",
                    "create",
                    "--username",
                    &digits,
                    "--email",
                    "d@example.com",
                    "--password-stdin",
                ],
                "digits-password-1\n",
            )
            .await;
        assert!(ok, "{label}: {err}");
        let ambiguous = admin.fails(&["user", "delete", &digits, "--yes"]).await;
        assert!(ambiguous.contains("both a user id"), "{label}: {ambiguous}");
        let by_id = format!("id:{}", alice.id);
        let shown: Value =
            serde_json::from_str(&admin.ok(&["user", "show", &by_id, "--json"]).await).unwrap();
        assert_eq!(shown["username"], "alice", "{label}");

        // delete: only when confirmed; then as `DELETE /v1/users/me` does it.
        assert_token_works(&app, &token, "before").await;
        let unconfirmed = admin.fails(&["user", "delete", "alice"]).await;
        assert!(unconfirmed.contains("--yes"), "{label}: {unconfirmed}");
        admin.ok(&["user", "delete", "alice", "--yes"]).await;
        assert_token_ended(&app, &token, "deleted").await;
        let gone = admin.fails(&["user", "show", "alice"]).await;
        assert!(gone.contains("no user"), "{label}: {gone}");
        let listed: Value =
            serde_json::from_str(&admin.ok(&["user", "list", "--json"]).await).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 3, "{label}");
    }
}
