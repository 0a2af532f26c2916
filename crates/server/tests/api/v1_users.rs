//! `/v1/users`: the caller's own account (name and password), finding other users, and
//! public profiles that never show an e-mail address.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, keys, refused, status_is, strings};
use crate::v1_auth::{
    ME_KEYS, assert_token_ended, assert_token_works, tokens, v1_login, v1_register,
};

const NEW_PASSWORD: &str = "a-new-long-password";
const PUBLIC_KEYS: [&str; 3] = ["full_name", "id", "username"];

async fn patch_me(app: &TestApp, body: Value, token: &str) -> Reply {
    app.call(Method::PATCH, "/v1/users/me", Some(body), Some(token))
        .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/v1/users/me", Some(token)).await;
    status_is(app, &reply, StatusCode::OK);
    reply.body
}

async fn search(app: &TestApp, query: &str, token: &str) -> Reply {
    app.get(&format!("/v1/users?{query}"), Some(token)).await
}

/// The usernames a search finds, in the order it answers.
async fn found(app: &TestApp, query: &str, token: &str) -> Vec<String> {
    let reply = search(app, query, token).await;
    status_is(app, &reply, StatusCode::OK);
    strings(&reply.body, "username")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Asserts which password logs `login` in: `works` does, `fails` does not.
async fn assert_password(app: &TestApp, login: &str, works: &str, fails: &str) {
    status_is(app, &v1_login(app, login, works).await, StatusCode::OK);
    let refused_login = v1_login(app, login, fails).await;
    status_is(app, &refused_login, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_is_the_caller_with_their_email() {
    for app in apps().await {
        let (id, access, _) = v1_register(&app, "alice").await;
        v1_register(&app, "bob").await;

        let body = me(&app, &access).await;

        assert_eq!(keys(&body), ME_KEYS, "{}: {body}", app.label());
        assert_eq!(body["id"], id, "{}", app.label());
        assert_eq!(body["username"], "alice", "{}", app.label());
        assert_eq!(body["email"], "alice@example.com", "{}", app.label());
        assert!(
            !body.to_string().contains("password"),
            "{}: {body}",
            app.label()
        );
    }
}

#[tokio::test]
async fn patching_me_sets_clears_or_keeps_the_full_name() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;

        let set = patch_me(&app, json!({"full_name": "Alice L."}), &access).await;
        let kept = patch_me(&app, json!({}), &access).await;
        let after_keep = me(&app, &access).await;
        let cleared = patch_me(&app, json!({"full_name": null}), &access).await;

        status_is(&app, &set, StatusCode::OK);
        assert_eq!(set.body["full_name"], "Alice L.", "{}", app.label());
        status_is(&app, &kept, StatusCode::OK);
        assert_eq!(kept.body["full_name"], "Alice L.", "{}", app.label());
        assert_eq!(after_keep["full_name"], "Alice L.", "{}", app.label());
        status_is(&app, &cleared, StatusCode::OK);
        assert_eq!(cleared.body["full_name"], Value::Null, "{}", app.label());
        assert_eq!(
            me(&app, &access).await["full_name"],
            Value::Null,
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn a_full_name_over_200_characters_is_rejected_and_changes_nothing() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        patch_me(&app, json!({"full_name": "Alice"}), &access).await;

        let long = patch_me(&app, json!({"full_name": "é".repeat(201)}), &access).await;
        let longest = patch_me(&app, json!({"full_name": "é".repeat(200)}), &access).await;

        status_is(&app, &long, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(long.field_names(), ["full_name"], "{}", app.label());
        status_is(&app, &longest, StatusCode::OK);
        assert_eq!(
            longest.body["full_name"],
            "é".repeat(200),
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn changing_the_password_keeps_the_callers_session_and_ends_the_others() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let (_, other, other_refresh) = tokens(&v1_login(&app, "alice", PASSWORD).await);
        let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});

        let reply = patch_me(&app, body, &access).await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(keys(&reply.body), ME_KEYS, "{}", app.label());
        assert_token_works(&app, &access, "the caller's token").await;
        assert_token_ended(&app, &other, "another session's token").await;
        let spent = json!({"refresh_token": other_refresh});
        let refreshed = app.post("/v1/auth/refresh", spent, None).await;
        status_is(&app, &refreshed, StatusCode::UNAUTHORIZED);
        assert_password(&app, "alice", NEW_PASSWORD, PASSWORD).await;
    }
}

#[tokio::test]
async fn a_wrong_current_password_is_forbidden_and_changes_nothing() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let (_, other, _) = tokens(&v1_login(&app, "alice", PASSWORD).await);
        let body = json!({"current_password": "not-the-password", "new_password": NEW_PASSWORD});

        let reply = patch_me(&app, body, &access).await;

        refused(
            &app,
            &reply,
            StatusCode::FORBIDDEN,
            "Current password is incorrect",
        );
        assert_eq!(
            reply.code(),
            "current_password_incorrect",
            "{}",
            app.label()
        );
        assert_token_works(&app, &other, "another session's token").await;
        assert_password(&app, "alice", PASSWORD, NEW_PASSWORD).await;
    }
}

#[tokio::test]
async fn a_password_change_without_the_current_password_is_a_422() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;

        let reply = patch_me(&app, json!({"new_password": NEW_PASSWORD}), &access).await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.field_names(), ["current_password"], "{}", app.label());
        assert_password(&app, "alice", PASSWORD, NEW_PASSWORD).await;
    }
}

#[tokio::test]
async fn a_too_short_new_password_is_a_422_naming_new_password() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let body = json!({"current_password": PASSWORD, "new_password": "short"});

        let reply = patch_me(&app, body, &access).await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        assert_password(&app, "alice", PASSWORD, "short").await;
        // The request has no field called `password`: the error must name the one sent.
        assert_eq!(reply.field_names(), ["new_password"], "{}", app.label());
    }
}

#[tokio::test]
async fn a_rejected_update_changes_neither_the_password_nor_the_sessions() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let (_, other, _) = tokens(&v1_login(&app, "alice", PASSWORD).await);
        let body = json!({"full_name": "x".repeat(201), "current_password": PASSWORD,
            "new_password": NEW_PASSWORD});

        let reply = patch_me(&app, body, &access).await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        assert_token_works(&app, &other, "another session's token").await;
        assert_password(&app, "alice", PASSWORD, NEW_PASSWORD).await;
    }
}

#[tokio::test]
async fn search_finds_usernames_by_prefix_ignoring_case_and_never_shows_emails() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        for name in ["Alicia", "bob", "malik"] {
            v1_register(&app, name).await;
        }

        let reply = search(&app, "q=ALI", &access).await;

        status_is(&app, &reply, StatusCode::OK);
        let names = strings(&reply.body, "username");
        assert_eq!(
            names,
            ["alice", "Alicia"],
            "{}: {}",
            app.label(),
            reply.body
        );
        for user in reply.body.as_array().unwrap() {
            assert_eq!(keys(user), PUBLIC_KEYS, "{}: {user}", app.label());
        }
        assert_eq!(
            found(&app, "q=ali&limit=1", &access).await,
            ["alice"],
            "{}",
            app.label()
        );
        assert!(
            found(&app, "q=zed", &access).await.is_empty(),
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn search_treats_percent_and_underscore_literally() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "a_b").await;
        v1_register(&app, "axb").await;

        let underscore = found(&app, "q=a_", &access).await;
        let percent = found(&app, "q=%25", &access).await;
        let a_percent = found(&app, "q=a%25b", &access).await;

        assert_eq!(underscore, ["a_b"], "{}", app.label());
        assert!(percent.is_empty(), "{}: {percent:?}", app.label());
        assert!(a_percent.is_empty(), "{}: {a_percent:?}", app.label());
    }
}

#[tokio::test]
async fn search_needs_a_query_and_a_limit_of_1_to_50() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;

        for query in [
            "q=",
            "q=%20%20",
            "q=a&limit=0",
            "q=a&limit=51",
            "q=a&limit=x",
            "",
        ] {
            let reply = search(&app, query, &access).await;

            status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(!reply.field_names().is_empty(), "{} {query:?}", app.label());
        }
        assert_eq!(
            found(&app, "q=a&limit=50", &access).await,
            ["alice"],
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn a_user_profile_is_public_and_has_no_email() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let bob = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD,
            "full_name": "Bob Builder"});
        let (bob, _, _) = tokens(&app.post("/v1/auth/register", bob, None).await);

        let reply = app.get(&format!("/v1/users/{bob}"), Some(&access)).await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(
            keys(&reply.body),
            PUBLIC_KEYS,
            "{}: {}",
            app.label(),
            reply.body
        );
        assert_eq!(reply.body["id"], bob, "{}", app.label());
        assert_eq!(reply.body["username"], "bob", "{}", app.label());
        assert_eq!(reply.body["full_name"], "Bob Builder", "{}", app.label());
    }
}

#[tokio::test]
async fn an_unknown_or_non_numeric_user_id_is_not_found() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;

        for id in ["999999", "abc", "-1", "1.5", "99999999999999999999"] {
            let reply = app.get(&format!("/v1/users/{id}"), Some(&access)).await;

            refused(&app, &reply, StatusCode::NOT_FOUND, "User not found");
            assert_eq!(reply.code(), "user_not_found", "{} {id}", app.label());
        }
    }
}

#[tokio::test]
async fn every_v1_account_route_needs_a_token() {
    for app in apps().await {
        let (id, _, _) = v1_register(&app, "alice").await;
        let routes = [
            (Method::POST, "/v1/auth/logout".to_owned()),
            (Method::POST, "/v1/auth/logout-all".to_owned()),
            (Method::GET, "/v1/sessions".to_owned()),
            (Method::DELETE, "/v1/sessions/1".to_owned()),
            (Method::GET, "/v1/users/me".to_owned()),
            (Method::PATCH, "/v1/users/me".to_owned()),
            (Method::GET, "/v1/users?q=a".to_owned()),
            (Method::GET, format!("/v1/users/{id}")),
        ];

        for (method, path) in routes {
            let body = (method != Method::GET).then(|| json!({}));
            let reply = app.call(method.clone(), &path, body, None).await;

            refused(&app, &reply, StatusCode::UNAUTHORIZED, "Not authenticated");
            assert_eq!(
                reply.code(),
                "not_authenticated",
                "{} {method} {path}",
                app.label()
            );
        }
    }
}
