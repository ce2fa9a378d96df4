-- Full-text search over contacts (names, company, title, notes, emails) and interaction text.
-- Punctuation becomes a word break before the text is parsed, so `ada@example.com` is the
-- words ada, example and com, as SQLite's FTS5 (unicode61) sees it.
-- Triggers keep the contact documents in step, whatever path writes the rows.

CREATE FUNCTION crm_search_vector(text TEXT) RETURNS TSVECTOR
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_tsvector('simple'::regconfig, regexp_replace(text, '[[:punct:]]+', ' ', 'g'));

CREATE TABLE crm_contact_search (
    contact_id BIGINT PRIMARY KEY REFERENCES crm_contacts (id) ON DELETE CASCADE,
    body       TSVECTOR NOT NULL
);
CREATE INDEX crm_contact_search_body ON crm_contact_search USING GIN (body);

CREATE FUNCTION crm_contact_search_refresh(contact BIGINT) RETURNS VOID
LANGUAGE sql AS $$
    INSERT INTO crm_contact_search (contact_id, body)
    SELECT c.id, crm_search_vector(
        c.display_name || ' ' || c.given_name || ' ' || c.family_name || ' ' || c.company || ' ' || c.title || ' ' || c.notes
        || ' ' || COALESCE((SELECT string_agg(e.email, ' ') FROM crm_contact_emails e WHERE e.contact_id = c.id), ''))
    FROM crm_contacts c WHERE c.id = contact
    ON CONFLICT (contact_id) DO UPDATE SET body = excluded.body
$$;

SELECT crm_contact_search_refresh(id) FROM crm_contacts;

CREATE FUNCTION crm_contacts_search_changed() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_contact_search_refresh(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER crm_contacts_search
AFTER INSERT OR UPDATE OF display_name, given_name, family_name, company, title, notes ON crm_contacts
FOR EACH ROW EXECUTE FUNCTION crm_contacts_search_changed();

CREATE FUNCTION crm_contact_emails_search_changed() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM crm_contact_search_refresh(OLD.contact_id);
    ELSE
        PERFORM crm_contact_search_refresh(NEW.contact_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER crm_contact_emails_search
AFTER INSERT OR DELETE ON crm_contact_emails
FOR EACH ROW EXECUTE FUNCTION crm_contact_emails_search_changed();

ALTER TABLE crm_interactions ADD COLUMN search TSVECTOR
    GENERATED ALWAYS AS (crm_search_vector(subject || ' ' || summary)) STORED;
CREATE INDEX crm_interactions_search ON crm_interactions USING GIN (search);
