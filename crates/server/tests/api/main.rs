//! In-process HTTP tests: each test starts the real app on port 0 over a fresh database,
//! on SQLite always and on PostgreSQL too when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod cache;
mod cache_shared;
mod cache_tokens;
mod cancellation;
mod chat_service;
mod cli;
mod connections;
mod cross_face;
mod fastapi_faces;
mod groups;
mod hostile_input;
mod live;
mod many_instances;
mod message_service;
mod metrics;
mod openapi;
mod outage;
mod platform;
mod proxy;
mod rate_limits;
mod use_cases;
mod v1_auth;
mod v1_conversations;
mod v1_delivery;
mod v1_messages;
mod v1_users;
