-- Server-side drafts: what a person was typing in the editor, kept until they save the
-- page or discard it (Otterwiki's drafts). One per person and page.
CREATE TABLE drafts (
    wiki_id       INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    -- The page's file path, lower case (`folder/two words.md`).
    page          TEXT NOT NULL,
    did           TEXT NOT NULL,
    content       TEXT NOT NULL,
    -- The revision the editor was opened at: a restored draft saves against it, so a
    -- change made meanwhile is a conflict, never overwritten.
    base_revision TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, page, did)
);
