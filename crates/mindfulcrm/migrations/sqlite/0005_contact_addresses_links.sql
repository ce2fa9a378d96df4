-- Postal addresses and profile links (social networks, other sites) of a contact, as JSON
-- arrays: they are only ever read and written with the whole contact.
ALTER TABLE crm_contacts ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE crm_contacts ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
