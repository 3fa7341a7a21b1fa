-- Personal tokens: a person's own credential for one wiki (git, /api/v1, /mcp), so that
-- what they write with it is theirs, not the shared wiki token's. The plaintext is shown
-- once; only its SHA-256 is kept. A token is never more than its owner's current role on
-- the wiki (read afresh on every use), so removing a collaborator disables their tokens.
CREATE TABLE personal_tokens (
    id           INTEGER PRIMARY KEY,
    wiki_id      INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    did          TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    can_write    INTEGER NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    -- NULL: does not expire.
    expires_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (did, wiki_id, name)
);
CREATE INDEX personal_tokens_by_wiki ON personal_tokens(wiki_id);
