-- GIN's fast update parks new entries in a pending list that every search reads in full,
-- and by default lets it grow to 4 MB before merging it into the index: searches slow from
-- ~1 ms to 10-20 ms until the next merge. A 64 kB list (the least allowed) keeps that read
-- short while inserts are still merged in sorted batches, which keeps the posting trees
-- compact (entry-by-entry inserts, fastupdate off, left them several times slower to read).
ALTER INDEX crm_contact_search_body SET (gin_pending_list_limit = 64);
ALTER INDEX crm_interactions_search SET (gin_pending_list_limit = 64);
SELECT gin_clean_pending_list('crm_contact_search_body');
SELECT gin_clean_pending_list('crm_interactions_search');
