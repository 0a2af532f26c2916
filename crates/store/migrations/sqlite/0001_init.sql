-- Initial schema (SQLite). Keep in step with ../postgres/0001_init.sql: same tables, same
-- columns, same meaning. Times are unix microseconds (INTEGER), compared identically on both.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    full_name      TEXT,
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- A direct conversation stores its two members ordered (low <= high), so the unique index
-- makes "one conversation per unordered pair" hold even when both users open it at once.
CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL DEFAULT 'direct',
    direct_low      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    direct_high     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_message_at INTEGER
);
CREATE UNIQUE INDEX conversations_direct_pair ON conversations (direct_low, direct_high);

CREATE TABLE conversation_members (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_seq   INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    sender_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX messages_sender ON messages (sender_id);

-- Earlier versions of edited messages: each row is a version that an edit replaced.
CREATE TABLE message_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    content     TEXT    NOT NULL,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX message_versions_message ON message_versions (message_id, id);
