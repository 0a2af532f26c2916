//! The OpenAPI document tells the truth. Every route is called, for its successes and its main
//! errors, and every real response must have a status the document declares for that operation,
//! a body valid against the schema declared for that status (with `$ref`s resolved against the
//! document's components, and no property the schema does not name), and the headers declared
//! for an error. The ranges the document gives parameters are checked against the server too.

use std::collections::BTreeSet;
use std::sync::Mutex;

use missive_store::testing::TestDb;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, test_config};
use crate::platform::faulty_app;

/// The served document, and what the calls checked against it have covered.
struct Contract<'a> {
    app: &'a TestApp,
    doc: Value,
    /// `METHOD /template` of every operation that answered with a success.
    succeeded: Mutex<BTreeSet<String>>,
}

impl<'a> Contract<'a> {
    async fn of(app: &'a TestApp) -> Self {
        let doc = app.get("/openapi.json", None).await;
        assert_eq!(doc.status, StatusCode::OK);
        Self {
            app,
            doc: doc.body,
            succeeded: Mutex::new(BTreeSet::new()),
        }
    }

    /// Sends the request and checks the response against the document; panics on any
    /// difference. Returns the reply for the test to read ids from.
    async fn send(&self, request: RequestBuilder) -> Reply {
        let app = self.app;
        let request = request.build().expect("build the request");
        let method = request.method().clone();
        let path = request.url().path().to_owned();
        let template = self.template_of(&path);
        let operation = &self.doc["paths"][&template][method.as_str().to_lowercase()];
        let name = format!("{method} {template}");
        assert!(operation.is_object(), "{name} is not in the document");

        let response = app.client.execute(request).await.expect("send the request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("read the body");
        let text = String::from_utf8_lossy(&bytes);
        let context = format!("{}: {name} answered {status} {text}", app.label());

        let declared = &operation["responses"][status.as_str()];
        assert!(declared.is_object(), "{context}: status not documented");
        let declared = self.resolve(declared);
        match declared["content"]["application/json"].get("schema") {
            Some(schema) => {
                let content_type = headers.get("content-type").map(|v| v.as_bytes());
                assert!(
                    content_type.is_some_and(|v| v.starts_with(b"application/json")),
                    "{context}: not sent as JSON"
                );
                let body: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|err| panic!("{context}: not JSON: {err}"));
                self.validate(schema, &body, &context);
            }
            None => assert!(bytes.is_empty(), "{context}: documented without a body"),
        }
        // An error's declared headers (`Retry-After` on a 429) are what clients act on.
        if !status.is_success() {
            for header in declared["headers"].as_object().into_iter().flatten() {
                assert!(headers.contains_key(header.0), "{context}: no {}", header.0);
            }
        }
        if status.is_success() {
            self.succeeded.lock().unwrap().insert(name);
        }
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// The document's path template that `path` matches, literal segments winning over
    /// parameters (`/v1/users/me` before `/v1/users/{id}`).
    fn template_of(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object().expect("paths");
        let matching = paths.keys().filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment);
            fits.then(|| {
                (
                    parts.iter().filter(|p| !p.starts_with('{')).count(),
                    template,
                )
            })
        });
        let best = matching.max_by_key(|(literal, _)| *literal);
        best.map(|(_, template)| template.clone())
            .unwrap_or_else(|| panic!("{path} matches no path of the document"))
    }

    /// A response object, following a `$ref` to `components.responses`.
    fn resolve<'v>(&'v self, response: &'v Value) -> &'v Value {
        match response["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("a local $ref");
                self.doc.pointer(pointer).expect("the $ref resolves")
            }
            None => response,
        }
    }

    fn validate(&self, schema: &Value, body: &Value, context: &str) {
        // The schema is checked inside a document holding the components, so that its `$ref`s
        // (`#/components/schemas/...`) resolve as they do in the OpenAPI document.
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"].clone(),
            "allOf": [schema.clone()],
        });
        forbid_unnamed_properties(&mut root);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|err| panic!("{context}: the schema does not compile: {err}"));
        let problems: Vec<String> = validator
            .iter_errors(body)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(problems.is_empty(), "{context}: {problems:#?}");
    }

    /// Every operation of the document answered with a success at least once (but the
    /// streams, whose success never ends: `live.rs` follows them).
    fn assert_every_operation_succeeded(&self) {
        const STREAMS: [&str; 2] = ["GET /v1/events/stream", "GET /v1/events/ws"];
        let succeeded = self.succeeded.lock().unwrap();
        let paths = self.doc["paths"].as_object().expect("paths");
        for (template, item) in paths {
            for method in item.as_object().expect("a path item").keys() {
                let name = format!("{} {template}", method.to_uppercase());
                if STREAMS.contains(&name.as_str()) {
                    continue;
                }
                assert!(succeeded.contains(&name), "{name} was never called");
            }
        }
    }
}

/// Makes every object schema with named properties refuse others, so that a response with a
/// field the document does not declare fails (the served document leaves clients free to
/// ignore new fields; this test is stricter).
fn forbid_unnamed_properties(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if object.contains_key("properties") && !object.contains_key("additionalProperties") {
                object.insert("additionalProperties".into(), Value::Bool(false));
            }
            object.values_mut().for_each(forbid_unnamed_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unnamed_properties),
        _ => {}
    }
}

/// Requests, sent and checked.
impl Contract<'_> {
    /// A request with a JSON body; `token` may be empty.
    fn json(&self, method: Method, path: &str, body: Value, token: &str) -> RequestBuilder {
        self.request(method, path, token).json(&body)
    }

    fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        let request = self.app.client.request(method, self.app.url(path));
        if token.is_empty() {
            request
        } else {
            request.bearer_auth(token)
        }
    }

    /// A body sent as is, with the given content type.
    fn raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> RequestBuilder {
        let request = self.app.client.post(self.app.url(path));
        request.header("content-type", content_type).body(body)
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(self.request(Method::GET, path, token)).await
    }

    async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(self.request(Method::DELETE, path, token)).await
    }

    async fn post(&self, path: &str, body: Value, token: &str) -> Reply {
        self.send(self.json(Method::POST, path, body, token)).await
    }

    async fn patch(&self, path: &str, body: Value, token: &str) -> Reply {
        self.send(self.json(Method::PATCH, path, body, token)).await
    }

    async fn put(&self, path: &str, body: Value, token: &str) -> Reply {
        self.send(self.json(Method::PUT, path, body, token)).await
    }
}

#[tokio::test]
async fn every_route_answers_as_the_openapi_document_says() {
    for app in apps().await {
        let c = Contract::of(&app).await;
        for path in ["/health", "/healthz", "/readyz"] {
            c.get(path, "").await;
        }

        // /v1 accounts and sessions.
        let register = |name: &str| {
            let email = format!("{name}@example.com");
            json!({"username": name, "email": email, "password": PASSWORD, "full_name": null})
        };
        let alice = c.post("/v1/auth/register", register("alice"), "").await;
        let bob = c.post("/v1/auth/register", register("bob"), "").await;
        let alice_id = alice.body["user"]["id"].as_i64().unwrap();
        let bob_id = bob.body["user"]["id"].as_i64().unwrap();
        let a = alice.body["access_token"].as_str().unwrap().to_owned();
        let b = bob.body["access_token"].as_str().unwrap().to_owned();
        c.post("/v1/auth/register", register("alice"), "").await;
        c.post("/v1/auth/register", json!({"username": "x"}), "")
            .await;
        let broken = b"{\"username\":".to_vec();
        c.send(c.raw("/v1/auth/register", "application/json", broken))
            .await;
        c.send(c.raw("/v1/auth/register", "text/plain", b"{}".to_vec()))
            .await;
        let huge = vec![b' '; 70_000];
        c.send(c.raw("/v1/auth/register", "application/json", huge))
            .await;
        let login = json!({"login": "alice", "password": PASSWORD});
        let second = c.post("/v1/auth/login", login, "").await;
        let wrong = json!({"login": "alice@example.com", "password": "not-the-password"});
        c.post("/v1/auth/login", wrong, "").await;

        // A refresh token works once: a second use is refused (here its session has ended).
        let refresh = json!({"refresh_token": second.body["refresh_token"]});
        c.post("/v1/auth/refresh", refresh.clone(), "").await;
        let sessions = c.get("/v1/sessions", &a).await;
        let mut others = sessions.body.as_array().unwrap().iter();
        let other = others.find(|s| s["current"] == false).unwrap();
        let other = format!("/v1/sessions/{}", other["id"]);
        c.delete(&other, &a).await;
        c.delete(&other, &a).await;
        c.delete("/v1/sessions/%FF", &a).await;
        c.post("/v1/auth/refresh", refresh, "").await;

        // /v1 users.
        c.get("/v1/users/me", &a).await;
        c.get("/v1/users/me", "").await;
        c.get("/v1/users/me", "not-a-token").await;
        c.patch("/v1/users/me", json!({"full_name": "Alice L."}), &a)
            .await;
        let bad = json!({"current_password": "wrong-password", "new_password": "a-new-password"});
        c.patch("/v1/users/me", bad, &a).await;
        c.patch(
            "/v1/users/me",
            json!({"new_password": "a-new-password"}),
            &a,
        )
        .await;
        c.get("/v1/users?q=b", &a).await;
        c.get("/v1/users?q=%20", &a).await;
        c.get("/v1/users", &a).await;
        c.get(&format!("/v1/users/{bob_id}"), &a).await;
        c.get("/v1/users/999999", &a).await;

        // /v1 conversations; while empty, `last_message` is null.
        let open = json!({"peer_id": bob_id});
        let conversation = c.post("/v1/conversations", open.clone(), &a).await;
        let id = conversation.body["id"].as_i64().unwrap();
        c.post("/v1/conversations", open, &a).await;
        c.post("/v1/conversations", json!({"peer_id": 999_999}), &a)
            .await;
        c.post("/v1/conversations", json!({"peer_id": "bob"}), &a)
            .await;
        c.get("/v1/conversations", &a).await;
        c.get("/v1/conversations?cursor=nope", &a).await;
        c.get(&format!("/v1/conversations/{id}"), &a).await;
        c.get("/v1/conversations/999999", &a).await;

        // /v1 messages.
        let messages = format!("/v1/conversations/{id}/messages");
        let send = |content: &str, key: &str| {
            let request = c.json(Method::POST, &messages, json!({"content": content}), &a);
            c.send(request.header("Idempotency-Key", key))
        };
        let first = send("hello bob", "key-1").await.body["id"]
            .as_i64()
            .unwrap();
        let replayed = send("hello bob", "key-1").await;
        assert_eq!(replayed.headers["idempotent-replayed"], "true");
        send("something else", "key-1").await;
        send("", "key-2").await;
        let second = send("second", "key-3").await.body["id"].as_i64().unwrap();
        let bobs = c.post(&messages, json!({"content": "hi alice"}), &b).await;
        let bobs = bobs.body["id"].as_i64().unwrap();
        let nowhere = "/v1/conversations/999999";
        c.post(&format!("{nowhere}/messages"), json!({"content": "x"}), &a)
            .await;
        c.get(&messages, &a).await;
        c.get(&format!("{messages}?before=2&after=1"), &a).await;
        c.get(&format!("{nowhere}/messages"), &a).await;
        let read = format!("/v1/conversations/{id}/read");
        c.post(&read, json!({"seq": 1}), &b).await;
        c.post(&read, json!({"seq": -1}), &b).await;
        c.post(&format!("{nowhere}/read"), json!({"seq": 1}), &b)
            .await;

        let message = |id: i64| format!("/v1/messages/{id}");
        c.patch(&message(first), json!({"content": "hello, bob"}), &a)
            .await;
        c.patch(&message(first), json!({"content": "mine now"}), &b)
            .await;
        c.patch(&message(999_999), json!({"content": "x"}), &a)
            .await;
        c.get(&format!("{}/history", message(first)), &a).await;
        c.get("/v1/messages/999999/history", &a).await;
        c.delete(&format!("{}?for=me", message(bobs)), &a).await;
        c.delete(&format!("{}?for=them", message(bobs)), &a).await;
        c.delete(&message(bobs), &a).await;
        // A tombstone: `content` is null, on every route that shows it.
        c.delete(&message(second), &a).await;
        c.patch(&message(second), json!({"content": "back"}), &a)
            .await;
        c.get(&messages, &b).await;
        c.get(&format!("{}/history", message(second)), &b).await;
        c.get("/v1/conversations", &b).await;
        c.get(&format!("/v1/conversations/{id}"), &b).await;

        // /v1 groups: creating, members and roles, renaming, typing, and notices in history.
        let erin = c.post("/v1/auth/register", register("erin"), "").await;
        let erin_id = erin.body["user"]["id"].as_i64().unwrap();
        let e = erin.body["access_token"].as_str().unwrap().to_owned();
        let crew = json!({"kind": "group", "title": "Crew", "member_ids": [bob_id]});
        let group = c.post("/v1/conversations", crew, &a).await;
        let g = group.body["id"].as_i64().unwrap();
        c.post("/v1/conversations", json!({"kind": "group"}), &a)
            .await;
        c.post("/v1/conversations", json!({"kind": "club"}), &a)
            .await;
        let stranger = json!({"kind": "group", "title": "Nobody", "member_ids": [999_999]});
        c.post("/v1/conversations", stranger, &a).await;
        let members = format!("/v1/conversations/{g}/members");
        let member = |user: &str| format!("{members}/{user}");
        c.post(&members, json!({"user_id": erin_id}), &a).await;
        c.post(&members, json!({"user_id": erin_id}), &a).await;
        c.post(&members, json!({"user_id": 999_999}), &a).await;
        c.post(&members, json!({"user_id": alice_id}), &b).await;
        let direct_members = format!("/v1/conversations/{id}/members");
        c.post(&direct_members, json!({"user_id": erin_id}), &a)
            .await;
        c.post(&format!("{nowhere}/members"), json!({"user_id": 1}), &a)
            .await;
        c.get(&members, &a).await;
        c.get(&format!("{members}?limit=1"), &a).await;
        c.get(&format!("{members}?limit=0"), &a).await;
        c.get(&direct_members, &b).await;
        c.get(&format!("{nowhere}/members"), &a).await;
        c.patch(&member(&bob_id.to_string()), json!({"role": "admin"}), &a)
            .await;
        c.patch(&member(&bob_id.to_string()), json!({"role": "boss"}), &a)
            .await;
        c.patch(&member(&erin_id.to_string()), json!({"role": "admin"}), &b)
            .await;
        c.patch(&member("999999"), json!({"role": "admin"}), &a)
            .await;
        let direct_member = format!("{direct_members}/{bob_id}");
        c.patch(&direct_member, json!({"role": "admin"}), &a).await;
        let group_path = format!("/v1/conversations/{g}");
        c.patch(&group_path, json!({"title": "The crew"}), &a).await;
        c.patch(&group_path, json!({"title": " "}), &a).await;
        c.patch(&group_path, json!({"title": "Mine"}), &e).await;
        c.patch(
            &format!("/v1/conversations/{id}"),
            json!({"title": "x"}),
            &a,
        )
        .await;
        c.patch(nowhere, json!({"title": "x"}), &a).await;
        c.send(c.request(Method::POST, &format!("{group_path}/typing"), &b))
            .await;
        c.send(c.request(Method::POST, &format!("{nowhere}/typing"), &b))
            .await;
        let history = c.get(&format!("{group_path}/messages"), &a).await;
        let notice = history.body["messages"][0]["id"].as_i64().unwrap();
        c.patch(
            &format!("/v1/messages/{notice}"),
            json!({"content": "x"}),
            &a,
        )
        .await;
        c.delete(&format!("/v1/messages/{notice}"), &a).await;
        c.delete(&member(&erin_id.to_string()), &b).await;
        c.delete(&member(&alice_id.to_string()), &b).await;
        c.delete(&member("999999"), &a).await;
        c.delete(&member("me"), &b).await;
        c.delete(&direct_member, &a).await;
        c.get(&group_path, &a).await;
        c.get("/v1/conversations", &a).await;
        // Every event so far, the group's included.
        c.get("/v1/events?after=0&limit=1000", &a).await;
        c.get("/v1/events?after=0&limit=1000", &b).await;

        // The Message Service.
        let dave = json!({"email": "dave@example.com", "password": PASSWORD, "full_name": "D"});
        let d = c.post("/auth/register", dave.clone(), "").await;
        let d = d.body["access_token"].as_str().unwrap().to_owned();
        c.post("/auth/register", dave, "").await;
        c.post(
            "/auth/register",
            json!({"email": "nope", "password": "short"}),
            "",
        )
        .await;
        c.send(c.raw("/auth/register", "application/json", b"[1,".to_vec()))
            .await;
        let login = |password: &str| json!({"email": "dave@example.com", "password": password});
        c.post("/auth/login", login(PASSWORD), "").await;
        c.post("/auth/login", login("wrong-password"), "").await;
        c.get("/messages/", &d).await;
        let to = |recipient: String, content: &str| json!({"recipient_id": recipient, "content": content});
        c.post("/messages/", to(alice_id.to_string(), "hi alice"), &d)
            .await;
        c.post("/messages/", to("999999".into(), "hi"), &d).await;
        c.post("/messages/", to(alice_id.to_string(), ""), &d).await;
        c.post("/messages/", to(alice_id.to_string(), "hi"), "")
            .await;
        let listed = c.get("/messages/", &d).await;
        c.get("/messages/?limit=0", &d).await;
        let mine = format!("/messages/{}", listed.body[0]["id"].as_str().unwrap());
        c.put(&mine, json!({"content": "edited"}), &d).await;
        c.put(&mine, json!({"content": ""}), &d).await;
        c.put("/messages/abc", json!({"content": "edited"}), &d)
            .await;

        // The Chat Service.
        let carol =
            json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD});
        c.post("/register", carol.clone(), "").await;
        c.post("/register", carol, "").await;
        c.post(
            "/register",
            json!({"username": "c", "email": "c", "password": "p"}),
            "",
        )
        .await;
        let login = |password: &str| json!({"username": "carol", "password": password});
        let k = c.post("/login", login(PASSWORD), "").await;
        let k = k.body["access_token"].as_str().unwrap().to_owned();
        c.post("/login", login("wrong-password"), "").await;
        let to = |recipient: i64, content: String| json!({"recipient_id": recipient, "content": content});
        c.post("/send", to(alice_id, "hi".into()), &k).await;
        c.post("/send", to(999_999, "hi".into()), &k).await;
        c.post("/send", to(alice_id, "x".repeat(2001)), &k).await;
        c.get(&format!("/messages?peer_id={alice_id}"), &k).await;
        c.get(&format!("/messages?peer_id={alice_id}"), "").await;
        c.get("/messages", &k).await;

        // Live events: the long-poll, and the streams' refusals (`live.rs` follows them).
        c.get("/v1/events?after=0&limit=5", &a).await;
        c.get("/v1/events?after=999999", &a).await;
        c.get("/v1/events", &a).await;
        c.get("/v1/events?after=-1", &a).await;
        c.get("/v1/events?timeout=61", &a).await;
        c.get("/v1/events?limit=abc", &a).await;
        c.get("/v1/events/stream?after=-1", &a).await;
        c.get("/v1/events/ws", &a).await;
        c.get("/v1/events/ws?after=-1", &a).await;

        // The user's data, and deleting an account (dave's, from the Message Service).
        c.get("/v1/users/me/export", &a).await;
        let wrong = json!({"password": "wrong-password"});
        c.send(c.json(Method::DELETE, "/v1/users/me", wrong, &d))
            .await;
        let right = json!({"password": PASSWORD});
        c.send(c.json(Method::DELETE, "/v1/users/me", right, &d))
            .await;

        // Ending sessions last: their tokens stop working.
        c.send(c.request(Method::POST, "/v1/auth/logout", &b)).await;
        c.send(c.request(Method::POST, "/v1/auth/logout", &b)).await;
        c.send(c.request(Method::POST, "/v1/auth/logout-all", &a))
            .await;

        c.assert_every_operation_succeeded();
    }
}

#[tokio::test]
async fn rate_limited_and_unavailable_answers_are_documented() {
    let limited = TestApp::start(TestDb::sqlite().await, |db| missive::config::Config {
        rate_limits: missive::limits::Rules::default(),
        ..test_config(db)
    })
    .await;
    let c = Contract::of(&limited).await;
    let wrong = json!({"username": "nobody", "password": "wrong-password"});
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = c.post("/login", wrong.clone(), "").await.status;
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "face2.login allows 5 a minute"
    );

    for db in TestDb::all().await {
        let (app, store) = faulty_app(db).await;
        let c = Contract::of(&app).await;
        let (bob, token) = app.chat_user("bob").await;
        store.faults().set(missive_store::Fault::Down);
        for reply in [
            c.post(
                "/send",
                json!({"recipient_id": bob, "content": "hi"}),
                &token,
            )
            .await,
            c.post(
                "/v1/auth/login",
                json!({"login": "bob", "password": PASSWORD}),
                "",
            )
            .await,
            c.get("/readyz", "").await,
        ] {
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                app.label()
            );
        }
    }
}

/// The `name` parameter's schema in the document.
fn parameter<'a>(doc: &'a Value, method: &str, template: &str, name: &str) -> &'a Value {
    let parameters = doc["paths"][template][method]["parameters"].as_array();
    let found = parameters.into_iter().flatten().find(|p| p["name"] == name);
    &found.unwrap_or_else(|| panic!("{method} {template} has no {name}"))["schema"]
}

#[tokio::test]
async fn the_ranges_the_document_gives_are_the_ones_the_server_enforces() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;
    let c = Contract::of(&app).await;
    let (alice, a) = app.chat_user("alice").await;
    let (bob, b) = app.chat_user("bob").await;
    c.post("/send", json!({"recipient_id": bob, "content": "hi"}), &a)
        .await;
    let opened = c
        .post("/v1/conversations", json!({"peer_id": bob}), &a)
        .await;
    let conversation = opened.body["id"].as_i64().unwrap();

    // (template, the path up to the parameter, parameter): each bound the document gives must
    // be the last value the server accepts.
    let history = format!("/v1/conversations/{conversation}/messages?");
    let members = format!("/v1/conversations/{conversation}/members?");
    let chat = format!("/messages?peer_id={alice}&");
    for (template, prefix, name) in [
        ("/messages", chat.as_str(), "limit"),
        ("/messages", chat.as_str(), "offset"),
        ("/messages/", "/messages/?", "limit"),
        ("/messages/", "/messages/?", "offset"),
        ("/v1/conversations", "/v1/conversations?", "limit"),
        ("/v1/conversations/{id}/messages", history.as_str(), "limit"),
        (
            "/v1/conversations/{id}/messages",
            history.as_str(),
            "before",
        ),
        ("/v1/conversations/{id}/messages", history.as_str(), "after"),
        ("/v1/conversations/{id}/members", members.as_str(), "limit"),
        ("/v1/users", "/v1/users?q=a&", "limit"),
    ] {
        let schema = parameter(&c.doc, "get", template, name);
        let bounds = [("minimum", -1), ("maximum", 1)];
        let given: Vec<_> = bounds
            .iter()
            .filter_map(|(bound, step)| Some((schema[bound].as_i64()?, *step)))
            .collect();
        assert!(!given.is_empty(), "{template} {name} has no range");
        for (edge, step) in given {
            for (value, accepted) in [(edge, true), (edge + step, false)] {
                let path = format!("{prefix}{name}={value}");
                let reply = c.get(&path, &b).await;
                assert_eq!(
                    reply.status.is_success(),
                    accepted,
                    "{path}: {}",
                    reply.body
                );
            }
        }
    }

    let q = parameter(&c.doc, "get", "/v1/users", "q");
    let shortest = q["minLength"].as_u64().unwrap() as usize;
    let longest = q["maxLength"].as_u64().unwrap() as usize;
    for (length, accepted) in [(shortest, true), (longest, true), (longest + 1, false)] {
        let reply = c
            .get(&format!("/v1/users?q={}", "a".repeat(length)), &b)
            .await;
        assert_eq!(reply.status.is_success(), accepted, "q of {length}");
    }

    let scope = parameter(&c.doc, "delete", "/v1/messages/{id}", "for");
    assert_eq!(scope["enum"], json!(["me"]));
    let path = format!("/v1/conversations/{conversation}/messages");
    let message = c.post(&path, json!({"content": "hide me"}), &a).await;
    let id = message.body["id"].as_i64().unwrap();
    for (value, status) in [
        ("me", StatusCode::NO_CONTENT),
        ("you", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let reply = c
            .delete(&format!("/v1/messages/{id}?for={value}"), &b)
            .await;
        assert_eq!(reply.status, status, "for={value}");
    }

    // Below the documented minimum, an id names nothing.
    let id = parameter(&c.doc, "get", "/v1/users/{id}", "id");
    let below = id["minimum"].as_i64().unwrap() - 1;
    let reply = c.get(&format!("/v1/users/{below}"), &b).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
