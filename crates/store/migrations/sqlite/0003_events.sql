-- Live delivery (SQLite). Keep in step with ../postgres/0003_events.sql.

-- Each user's stream of events: `head` is the position of their newest event. A write takes
-- the next positions of every user it concerns in its own transaction, locking these rows
-- in ascending user id, so positions are gapless and rise in commit order.
CREATE TABLE event_heads (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    head    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO event_heads (user_id) SELECT id FROM users;

-- One row per event per user. An event names what changed, not a copy of it: it is read
-- with the message as it is now, so a deleted message's text is never replayed. No foreign
-- keys on the conversation or message: an event outlives them (as a gap would otherwise).
CREATE TABLE events (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    kind            TEXT   NOT NULL,
    conversation_id INTEGER NOT NULL,
    message_id      INTEGER,
    -- conversation.read: whose read position moved, and where to.
    actor_id        INTEGER,
    read_seq        INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX events_created ON events (created_at);
