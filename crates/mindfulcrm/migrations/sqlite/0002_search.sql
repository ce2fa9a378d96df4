-- Full-text search over contacts (names, company, title, notes, emails) and interaction text.
-- Triggers keep both indexes in step with their tables, whatever path writes the rows.

CREATE VIEW crm_contact_documents AS
SELECT c.id,
       c.display_name || ' ' || c.given_name || ' ' || c.family_name || ' ' || c.company || ' ' || c.title || ' ' || c.notes
       || ' ' || COALESCE((SELECT group_concat(e.email, ' ') FROM crm_contact_emails e WHERE e.contact_id = c.id), '') AS body
FROM crm_contacts c;

CREATE VIRTUAL TABLE crm_contact_fts USING fts5 (
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO crm_contact_fts (rowid, body) SELECT id, body FROM crm_contact_documents;

CREATE TRIGGER crm_contacts_fts_insert AFTER INSERT ON crm_contacts BEGIN
    INSERT INTO crm_contact_fts (rowid, body) SELECT id, body FROM crm_contact_documents WHERE id = new.id;
END;
CREATE TRIGGER crm_contacts_fts_update
AFTER UPDATE OF display_name, given_name, family_name, company, title, notes ON crm_contacts BEGIN
    DELETE FROM crm_contact_fts WHERE rowid = new.id;
    INSERT INTO crm_contact_fts (rowid, body) SELECT id, body FROM crm_contact_documents WHERE id = new.id;
END;
-- Cascaded email deletes run before this and find the contact gone, so nothing is re-added.
CREATE TRIGGER crm_contacts_fts_delete AFTER DELETE ON crm_contacts BEGIN
    DELETE FROM crm_contact_fts WHERE rowid = old.id;
END;
CREATE TRIGGER crm_contact_emails_fts_insert AFTER INSERT ON crm_contact_emails BEGIN
    DELETE FROM crm_contact_fts WHERE rowid = new.contact_id;
    INSERT INTO crm_contact_fts (rowid, body) SELECT id, body FROM crm_contact_documents WHERE id = new.contact_id;
END;
CREATE TRIGGER crm_contact_emails_fts_delete AFTER DELETE ON crm_contact_emails BEGIN
    DELETE FROM crm_contact_fts WHERE rowid = old.contact_id;
    INSERT INTO crm_contact_fts (rowid, body) SELECT id, body FROM crm_contact_documents WHERE id = old.contact_id;
END;

CREATE VIRTUAL TABLE crm_interaction_fts USING fts5 (
    subject,
    summary,
    content = 'crm_interactions',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO crm_interaction_fts (crm_interaction_fts) VALUES ('rebuild');

CREATE TRIGGER crm_interactions_fts_insert AFTER INSERT ON crm_interactions BEGIN
    INSERT INTO crm_interaction_fts (rowid, subject, summary) VALUES (new.id, new.subject, new.summary);
END;
CREATE TRIGGER crm_interactions_fts_delete AFTER DELETE ON crm_interactions BEGIN
    INSERT INTO crm_interaction_fts (crm_interaction_fts, rowid, subject, summary)
    VALUES ('delete', old.id, old.subject, old.summary);
END;
CREATE TRIGGER crm_interactions_fts_update AFTER UPDATE OF subject, summary ON crm_interactions BEGIN
    INSERT INTO crm_interaction_fts (crm_interaction_fts, rowid, subject, summary)
    VALUES ('delete', old.id, old.subject, old.summary);
    INSERT INTO crm_interaction_fts (rowid, subject, summary) VALUES (new.id, new.subject, new.summary);
END;
