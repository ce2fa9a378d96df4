-- Retention walks the AI ledger and the photo finder's pictures by age.
CREATE INDEX crm_ai_ledger_created ON crm_ai_ledger (created_at);
CREATE INDEX crm_photo_candidates_created ON crm_photo_candidates (created_at);
