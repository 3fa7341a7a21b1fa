-- The embedded OAuth 2.1 authorization server of each wiki (MCP clients such as
-- Claude.ai). Every secret is stored as its SHA-256: client secrets, codes, tokens.

-- Dynamically registered clients (RFC 7591). Registration is open, so unused ones are
-- swept: `last_used_at` is set when a client is first authorized.
CREATE TABLE oauth_clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   TEXT,                 -- NULL for public clients (auth method "none")
    auth_method   TEXT NOT NULL,        -- client_secret_basic | client_secret_post | none
    client_name   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,        -- JSON array
    metadata      TEXT NOT NULL,        -- what registration echoed back (JSON)
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

-- Single-use authorization codes (10 minutes), bound to everything the request named.
CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    wiki_id        INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    user_did       TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
);

-- One row per consent: a user let a client act on one wiki. Its tokens hang off it, and
-- revoking it (the app's "revoke", RFC 7009, refresh-token reuse) ends them all.
CREATE TABLE oauth_grants (
    id          INTEGER PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    wiki_id     INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    user_did    TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX oauth_grants_wiki ON oauth_grants(wiki_id);

CREATE TABLE oauth_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   INTEGER NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,           -- access | refresh
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER                  -- refresh tokens: when exchanged for a new pair
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens(grant_id);
