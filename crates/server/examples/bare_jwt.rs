//! The ceiling for cached reads in `bench/run.sh`: a bare axum server with one route,
//! `GET /messages`, that verifies an HS256 bearer token exactly as missive does (same
//! `jsonwebtoken` crate and backend, same required claims, issuer, audience and leeway) and
//! answers with a small JSON body. No database, cache, middleware or logging: what is left is
//! HTTP, the token check and JSON, the floor under missive's cached history read.
//!
//! Tokens missive issued with the same `SECRET_KEY` verify here, so the load generator can
//! replay the same requests. Listens on 127.0.0.1 only and exits by itself after
//! `--max-seconds`.
//!
//! ```text
//! SECRET_KEY=... cargo run --release -p missive --example bare_jwt -- --port 8097
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8097)]
    port: u16,
    /// The signing key (as missive's).
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    sid: i64,
    iat: i64,
}

struct Keys {
    decoding: DecodingKey,
    validation: Validation,
}

async fn messages(
    State(keys): State<Arc<Keys>>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let data = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    if data.claims.iat > chrono::Utc::now().timestamp() + 5 {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let user: i64 = data
        .claims
        .sub
        .parse()
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    Ok(Json(
        json!({"user_id": user, "session_id": data.claims.sid, "messages": []}),
    ))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub", "exp", "iat", "iss", "aud"]);
    validation.set_issuer(&["missive"]);
    validation.set_audience(&["missive"]);
    validation.leeway = 5;
    validation.validate_nbf = true;
    let keys = Arc::new(Keys {
        decoding: DecodingKey::from_secret(args.secret_key.as_bytes()),
        validation,
    });
    let app = Router::new()
        .route("/messages", get(messages))
        .with_state(keys);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .expect("the port is free");
    let limit = tokio::time::sleep(Duration::from_secs(args.max_seconds));
    axum::serve(listener, app)
        .with_graceful_shutdown(limit)
        .await
        .unwrap();
}
