-- pgbench script for bench/run.sh: the transaction missive runs for a send
-- (crates/store/src/messages.rs: NEXT_SEQ_BY_PAIR, INSERT_MESSAGE, then the members' events
-- as crates/store/src/events.rs appends them: heads locked in user order, bumped, one events
-- row each), as separate statements (missive sends it as one), on a copy of missive's
-- tables seeded as the benchmark seeds missive. Client c writes to the conversation of users
-- c+1 and c+2, as loadgen's worker c sends as user c to user c+1: one conversation per client.
-- missive binds the clock reading as a parameter; pgbench has no clock, so it is read in SQL.
\set low :client_id + 1
\set high :client_id + 2
BEGIN;
UPDATE conversations SET last_seq = last_seq + 1, last_message_at = CASE
    WHEN (extract(epoch FROM clock_timestamp()) * 1000000)::bigint > COALESCE(last_message_at, 0)
    THEN (extract(epoch FROM clock_timestamp()) * 1000000)::bigint ELSE last_message_at + 1 END
    WHERE direct_low = :low AND direct_high = :high
    RETURNING id AS conversation, last_seq AS seq, direct_low, direct_high, last_message_at AS at
\gset
INSERT INTO messages (conversation_id, seq, sender_id, content, created_at)
    VALUES (:conversation, :seq, :low, 'hello', :at) RETURNING id AS message
\gset
SELECT user_id FROM event_heads WHERE user_id IN (:low, :high) ORDER BY user_id FOR UPDATE;
UPDATE event_heads SET head = head + 1 WHERE user_id IN (:low, :high);
INSERT INTO events (user_id, seq, kind, conversation_id, message_id, created_at)
    SELECT user_id, head, 'message.created', :conversation, :message, :at
    FROM event_heads WHERE user_id IN (:low, :high);
COMMIT;
