-- Group conversations (PostgreSQL). Keep in step with ../sqlite/0004_groups.sql.

-- A group's name (NULL for direct conversations).
ALTER TABLE conversations ADD COLUMN title TEXT;

-- 'owner', 'admin' or 'member'. Direct conversations' members are all 'member'.
ALTER TABLE conversation_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';

-- 'text' for what a member wrote; otherwise a notice the service wrote about a change to a
-- group (who joined, left, was removed, became admin, what it was renamed to), so that the
-- change has its place in the conversation's `seq` order. `subject_id` is the member a
-- notice is about; the notice's sender is whoever made the change.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE messages ADD COLUMN subject_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX messages_subject ON messages (subject_id) WHERE subject_id IS NOT NULL;
