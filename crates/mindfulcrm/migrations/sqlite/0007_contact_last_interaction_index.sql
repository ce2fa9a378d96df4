-- The dashboard's "due for a reconnect" reads contacts longest silent first and stops at a
-- dozen; in this order that is a short index walk instead of sorting every contact.
CREATE INDEX crm_contacts_user_last ON crm_contacts (user_id, last_interaction_at, id);
