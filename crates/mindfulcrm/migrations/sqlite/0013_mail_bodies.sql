-- MindfulCRM: a mail account may keep the text of its messages (off unless the user turns it
-- on; otherwise only a short snippet is kept).

ALTER TABLE crm_mail_accounts ADD COLUMN keep_bodies INTEGER NOT NULL DEFAULT 0 CHECK (keep_bodies IN (0, 1));
-- The message's plain text, cut to a limit; NULL when the account keeps no bodies.
ALTER TABLE crm_mail_messages ADD COLUMN body TEXT;
