-- Disabled and deleted accounts (postgres). Keep in step with ../sqlite/0005_accounts.sql.

-- A disabled account cannot log in and has no open session; an administrator may enable it
-- again. Microseconds since the epoch, like every time here.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- A deleted account stays as an anonymised row, so that what its user sent stays in the
-- conversations of everyone who received it (a row deleted outright would take those
-- messages with it, leaving gaps in others' histories). Its username and e-mail are replaced
-- by values registration cannot produce, its password hash by one that matches nothing.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- A direct conversation whose other member deleted their account takes no new messages;
-- its history stays with the member left.
ALTER TABLE conversations ADD COLUMN closed_at BIGINT;
