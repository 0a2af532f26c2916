-- Sessions with rotating refresh tokens, idempotent sends, and per-user hidden messages
-- (SQLite). Keep in step with ../postgres/0002_sessions_idempotency_read_state.sql.

-- A login. Access tokens name their session, so ending it ends them. A session also ends
-- at `expires_at`: with its access token for the compatibility faces' logins, after a
-- stretch without a refresh for /v1's.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Every refresh token a session was given, as a SHA-256 hash. A token is used once: the
-- rotated ones stay, so presenting one again is recognised as theft and ends the session.
CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- A send's Idempotency-Key, per user: the request it first came with (a fingerprint of
-- conversation and content) and the message that request stored.
CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    message_id   INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- Deleting a message (with its sender's account) removes its key through this index.
CREATE INDEX idempotency_keys_message ON idempotency_keys (message_id);

-- Messages a user deleted "for me" only.
CREATE TABLE hidden_messages (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX hidden_messages_message ON hidden_messages (message_id);
