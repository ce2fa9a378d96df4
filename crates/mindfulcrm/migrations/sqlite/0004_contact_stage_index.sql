-- Goals count a stage's contacts and how many were reached since a date: with the last
-- interaction time in the index that is an index-only scan. It also serves every lookup the
-- (user_id, stage) index did.
CREATE INDEX crm_contacts_user_stage_last ON crm_contacts (user_id, stage, last_interaction_at);
DROP INDEX crm_contacts_user_stage;
