-- A contact's photo (JPEG, PNG, GIF or WebP, at most 512 KiB), kept apart from the contact so
-- listing contacts never reads image bytes. crm_contacts.photo_at says whether there is one
-- and versions its URL.
ALTER TABLE crm_contacts ADD COLUMN photo_at BIGINT;

CREATE TABLE crm_contact_photos (
    contact_id   BIGINT NOT NULL PRIMARY KEY REFERENCES crm_contacts (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL
);
