//! The compatibility faces answer as the FastAPI services they replace did, where a client can
//! tell: 422 bodies a FastAPI client parses (asserted whole), malformed JSON as 422, a body
//! without `Content-Type` read as JSON, trailing slashes redirected, any CORS header allowed,
//! no rate limit the seeds did not have, e-mail domains lower-cased. `/v1` keeps its own ways.

use missive::limits::Rules;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode, redirect};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, status_is, test_config};

/// Asserts a 422 whose body is exactly FastAPI's list of `entries` (plus our `code`).
#[track_caller]
fn fastapi_422(app: &TestApp, reply: &Reply, entries: Value) {
    status_is(app, reply, StatusCode::UNPROCESSABLE_ENTITY);
    let expected = json!({"detail": entries, "code": "validation_failed"});
    assert_eq!(reply.body, expected, "{}", app.label());
}

fn too_short(field: &str, min: usize, plural: &str) -> Value {
    json!({"type": "string_too_short", "loc": ["body", field],
           "msg": format!("String should have at least {min} character{plural}"),
           "ctx": {"min_length": min}})
}

fn missing(loc: Value) -> Value {
    json!({"type": "missing", "loc": loc, "msg": "Field required"})
}

/// Sends `body` as it is, with `content_type` if any.
async fn raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    token: Option<&str>,
) -> Reply {
    let mut request = app.client.post(app.url(path)).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn an_empty_message_is_refused_in_fastapis_words_on_both_faces() {
    for app in apps().await {
        let (bob, token) = app.chat_user("bob").await;
        let body = json!({"recipient_id": bob, "content": ""});

        let chat = app.post("/send", body.clone(), Some(&token)).await;
        let message = app.post("/messages/", body, Some(&token)).await;

        for reply in [&chat, &message] {
            fastapi_422(&app, reply, json!([too_short("content", 1, "")]));
        }
        let long = json!({"recipient_id": bob, "content": "x".repeat(2001)});
        let long = app.post("/send", long, Some(&token)).await;
        let entry = json!({"type": "string_too_long", "loc": ["body", "content"],
            "msg": "String should have at most 2000 characters", "ctx": {"max_length": 2000}});
        fastapi_422(&app, &long, json!([entry]));
    }
}

#[tokio::test]
async fn registration_names_every_bad_field_and_never_echoes_the_password() {
    for app in apps().await {
        let body = json!({"username": "ab", "email": "erin", "password": "hunter2"});

        let chat = app.post("/register", body, None).await;
        let body = json!({"email": "erin@", "password": "hunter2"});
        let message = app.post("/auth/register", body, None).await;

        let no_at = "An email address must have an @-sign.";
        let email = |reason: &str| {
            json!({"type": "value_error", "loc": ["body", "email"],
                   "msg": format!("value is not a valid email address: {reason}"),
                   "ctx": {"reason": reason}})
        };
        let password = too_short("password", 8, "s");
        let entries = json!([too_short("username", 3, "s"), email(no_at), password]);
        fastapi_422(&app, &chat, entries);
        let nothing_after = "There must be something after the @-sign.";
        fastapi_422(&app, &message, json!([email(nothing_after), password]));
        for reply in [&chat, &message] {
            assert!(
                !reply.body.to_string().contains("hunter2"),
                "{}",
                app.label()
            );
        }
    }
}

#[tokio::test]
async fn missing_fields_and_wrong_types_are_named_by_location() {
    for app in apps().await {
        let (bob, token) = app.chat_user("bob").await;
        let token = Some(token.as_str());
        let string_type = |field: &str| {
            json!({"type": "string_type", "loc": ["body", field],
                   "msg": "Input should be a valid string"})
        };
        let int = |kind: &str, msg: &str| {
            json!({"type": kind, "loc": ["body", "recipient_id"],
                   "msg": format!("Input should be a valid integer{msg}")})
        };
        let cases = [
            (
                "/login",
                json!({"username": "bob"}),
                missing(json!(["body", "password"])),
            ),
            (
                "/auth/login",
                json!({"password": PASSWORD}),
                missing(json!(["body", "email"])),
            ),
            (
                "/send",
                json!({"recipient_id": bob, "content": 7}),
                string_type("content"),
            ),
            (
                "/messages/",
                json!({"recipient_id": true, "content": "hi"}),
                string_type("recipient_id"),
            ),
            (
                "/send",
                json!({"recipient_id": true, "content": "hi"}),
                int("int_type", ""),
            ),
            (
                "/send",
                json!({"recipient_id": 1.5, "content": "hi"}),
                int("int_from_float", ", got a number with a fractional part"),
            ),
            (
                "/send",
                json!({"recipient_id": "two", "content": "hi"}),
                int("int_parsing", ", unable to parse string as an integer"),
            ),
        ];

        for (path, body, entry) in cases {
            let reply = app.post(path, body, token).await;

            fastapi_422(&app, &reply, json!([entry]));
        }
    }
}

#[tokio::test]
async fn bad_query_parameters_are_named_with_pydantics_bounds() {
    for app in apps().await {
        let (bob, token) = app.chat_user("bob").await;
        let token = Some(token.as_str());
        let query = |name: &str, kind: &str, msg: &str, ctx: Value| {
            let mut entry = json!({"type": kind, "loc": ["query", name], "msg": msg});
            if !ctx.is_null() {
                entry["ctx"] = ctx;
            }
            json!([entry])
        };
        let not_int = "Input should be a valid integer, unable to parse string as an integer";
        let at_least = |n: i64| format!("Input should be greater than or equal to {n}");
        let cases = [
            (
                "/messages?limit=5".to_owned(),
                json!([missing(json!(["query", "peer_id"]))]),
            ),
            (
                format!("/messages?peer_id={bob}&limit=0"),
                query(
                    "limit",
                    "greater_than_equal",
                    &at_least(1),
                    json!({"ge": 1}),
                ),
            ),
            (
                format!("/messages?peer_id={bob}&limit=101"),
                query(
                    "limit",
                    "less_than_equal",
                    "Input should be less than or equal to 100",
                    json!({"le": 100}),
                ),
            ),
            (
                format!("/messages?peer_id={bob}&offset=-1"),
                query(
                    "offset",
                    "greater_than_equal",
                    &at_least(0),
                    json!({"ge": 0}),
                ),
            ),
            (
                "/messages?peer_id=abc".to_owned(),
                query("peer_id", "int_parsing", not_int, Value::Null),
            ),
            (
                "/messages/?limit=many".to_owned(),
                query("limit", "int_parsing", not_int, Value::Null),
            ),
        ];

        for (path, expected) in cases {
            let reply = app.get(&path, token).await;

            fastapi_422(&app, &reply, expected);
        }
    }
}

#[tokio::test]
async fn malformed_json_is_a_422_saying_where_as_fastapi_does() {
    for app in apps().await {
        let json = Some("application/json");

        let cut = raw(&app, "/register", json, r#"{"username":"#, None).await;
        let bare_key = raw(&app, "/auth/login", json, "{email: 1}", None).await;
        let extra = raw(&app, "/login", json, r#"{"username": "a"} x"#, None).await;

        let invalid = |at: usize, error: &str| {
            json!([{"type": "json_invalid", "loc": ["body", at], "msg": "JSON decode error",
                    "ctx": {"error": error}}])
        };
        fastapi_422(&app, &cut, invalid(12, "Expecting value"));
        let key = "Expecting property name enclosed in double quotes";
        fastapi_422(&app, &bare_key, invalid(1, key));
        fastapi_422(&app, &extra, invalid(18, "Extra data"));
    }
}

#[tokio::test]
async fn an_absent_or_non_object_body_is_refused_as_fastapi_does() {
    for app in apps().await {
        let empty = raw(&app, "/register", None, "", None).await;
        let list = raw(&app, "/auth/register", None, "[]", None).await;
        let form = raw(&app, "/login", Some("text/plain"), "username=bob", None).await;

        fastapi_422(&app, &empty, json!([missing(json!(["body"]))]));
        let not_object = json!([{"type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from"}]);
        fastapi_422(&app, &list, not_object.clone());
        fastapi_422(&app, &form, not_object);
    }
}

#[tokio::test]
async fn a_json_body_without_a_content_type_is_read_as_json_on_both_faces() {
    for app in apps().await {
        let chat =
            r#"{"username": "erin", "email": "erin@example.com", "password": "long-password"}"#;
        let message = r#"{"email": "jane@example.com", "password": "long-password"}"#;

        let registered = raw(&app, "/register", None, chat, None).await;
        let also = raw(&app, "/auth/register", None, message, None).await;
        let login = r#"{"username": "erin", "password": "long-password"}"#;
        let logged_in = raw(&app, "/login", None, login, None).await;

        status_is(&app, &registered, StatusCode::CREATED);
        status_is(&app, &also, StatusCode::OK);
        status_is(&app, &logged_in, StatusCode::OK);
    }
}

/// A client that shows redirects instead of following them.
fn not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_trailing_slash_redirects_to_the_face_route_keeping_the_query() {
    for app in apps().await {
        let client = not_following();
        let cases = [
            (Method::POST, "/send/", "/send"),
            (Method::POST, "/register/", "/register"),
            (Method::POST, "/login/?next=home", "/login?next=home"),
            (Method::POST, "/auth/login/", "/auth/login"),
            (Method::POST, "/auth/register/", "/auth/register"),
            (Method::PUT, "/messages/17/", "/messages/17"),
            (Method::GET, "/messages//?peer_id=1", "/messages?peer_id=1"),
            (Method::GET, "/healthz/", "/healthz"),
        ];

        for (method, path, location) in cases {
            let reply = client.request(method, app.url(path)).send().await.unwrap();

            let context = format!("{} {path}", app.label());
            assert_eq!(reply.status(), StatusCode::TEMPORARY_REDIRECT, "{context}");
            assert_eq!(reply.headers()["location"], location, "{context}");
        }
        for path in ["/v1/users/", "/nope/", "/send/x/"] {
            let reply = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(
                reply.status(),
                StatusCode::NOT_FOUND,
                "{} {path}",
                app.label()
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_follows_the_redirect_is_served_and_the_two_messages_routes_stay_apart() {
    for app in apps().await {
        let body = json!({"username": "erin", "email": "erin@example.com", "password": PASSWORD});

        let registered = app.post("/register/", body, None).await;
        let (bob, token) = app.chat_user("bob").await;
        let face_1_list = app.get("/messages/", Some(&token)).await;
        let face_2_history = app.get("/messages", Some(&token)).await;

        status_is(&app, &registered, StatusCode::CREATED);
        assert_eq!(face_1_list.detail(), "No messages found", "{}", app.label());
        fastapi_422(
            &app,
            &face_2_history,
            json!([missing(json!(["query", "peer_id"]))]),
        );
        let page = app
            .get(&format!("/messages/?peer_id={bob}"), Some(&token))
            .await;
        assert_eq!(page.detail(), "No messages found", "{}", app.label());
    }
}

#[tokio::test]
async fn cors_preflight_allows_whatever_headers_the_client_asks_for() {
    for app in apps().await {
        for path in ["/send", "/messages/", "/v1/users/me"] {
            let response = app
                .client
                .request(Method::OPTIONS, app.url(path))
                .header("origin", "https://chat.example.com")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "x-client-version, authorization",
                )
                .send()
                .await
                .unwrap();

            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            let allowed = &response.headers()["access-control-allow-headers"];
            assert_eq!(allowed, "x-client-version, authorization", "{path}");
        }
    }
}

/// An app on SQLite with the default rate limits, or those `spec` sets.
async fn limited(spec: Option<&str>) -> TestApp {
    let rules = spec.map_or_else(Rules::default, |spec| Rules::parse(spec).unwrap());
    TestApp::start(TestDb::sqlite().await, move |db| {
        let mut config = test_config(db);
        config.rate_limits = rules;
        config
    })
    .await
}

#[tokio::test]
async fn by_default_registering_is_limited_only_where_the_seeds_limited_it() {
    let app = limited(None).await;

    for n in 0..8 {
        let (username, email) = (format!("user{n}"), format!("user{n}@example.com"));
        let body = json!({"username": username, "email": email, "password": PASSWORD});
        status_is(
            &app,
            &app.post("/register", body, None).await,
            StatusCode::CREATED,
        );
        app.message_user(&format!("user{n}@mail.example.com")).await;
    }
    for n in 0..30 {
        let body = json!({"username": format!("team{n}"), "email": format!("team{n}@example.com"),
                          "password": PASSWORD});
        let reply = app.post("/v1/auth/register", body, None).await;
        status_is(&app, &reply, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn a_rule_the_seeds_did_not_have_can_be_turned_on_by_name() {
    let app = limited(Some("face2.register=on")).await;
    let register = |n: usize| {
        let email = format!("u{n}@example.com");
        app.post(
            "/register",
            json!({"username": format!("user{n}"), "email": email, "password": PASSWORD}),
            None,
        )
    };

    for n in 0..5 {
        status_is(&app, &register(n).await, StatusCode::CREATED);
    }
    let refused = register(5).await;

    status_is(&app, &refused, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.detail(), "Rate limit exceeded");
}

#[tokio::test]
async fn an_emails_domain_comes_back_lower_cased_on_every_face() {
    for app in apps().await {
        let at = app.label();
        let chat = json!({"username": "erin", "email": "Erin@EXAMPLE.COM", "password": PASSWORD});
        let v1 =
            json!({"username": "finn", "email": "Finn@Mail.Example.COM", "password": PASSWORD});

        let registered = app.post("/register", chat, None).await;
        let token = app.message_user("Jane.Doe@EXAMPLE.com").await;
        let v1 = app.post("/v1/auth/register", v1, None).await;
        let jane = app.get("/v1/users/me", Some(&token)).await;

        assert_eq!(registered.body["email"], "Erin@example.com", "{at}");
        assert_eq!(jane.body["email"], "Jane.Doe@example.com", "{at}");
        assert_eq!(v1.body["user"]["email"], "Finn@mail.example.com", "{at}");
        let login = json!({"email": "jane.doe@example.COM", "password": PASSWORD});
        status_is(
            &app,
            &app.post("/auth/login", login, None).await,
            StatusCode::OK,
        );
    }
}

#[tokio::test]
async fn v1_keeps_its_own_error_conventions() {
    for app in apps().await {
        let json = Some("application/json");

        let malformed = raw(&app, "/v1/auth/login", json, "{login: 1}", None).await;
        let untyped = raw(&app, "/v1/auth/login", None, r#"{"login": "a"}"#, None).await;
        let body = json!({"username": "ab", "email": "ab@example.com", "password": PASSWORD});
        let invalid = app.post("/v1/auth/register", body, None).await;
        let slash = app.get("/v1/users/me/", None).await;

        status_is(&app, &malformed, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.code(), "malformed_json", "{}", app.label());
        status_is(&app, &untyped, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        status_is(&app, &invalid, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.detail(), "username: must be 3 to 50 characters");
        let errors = json!([{"field": "username", "message": "must be 3 to 50 characters"}]);
        assert_eq!(invalid.body["errors"], errors, "{}", app.label());
        status_is(&app, &slash, StatusCode::NOT_FOUND);
    }
}
