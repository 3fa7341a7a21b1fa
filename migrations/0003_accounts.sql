-- ATProto sign-in, per-wiki tokens, usernames and the audit log.

-- The username a person chose at signup; it is also the slug of their first wiki.
ALTER TABLE users ADD COLUMN username TEXT;
CREATE UNIQUE INDEX users_username ON users(username) WHERE username IS NOT NULL;

-- A sign-in between the push to the authorization server and its callback. Single use.
-- `secrets` (DPoP key, PKCE verifier, nonce) is encrypted with a key derived from the
-- server secret.
CREATE TABLE atproto_auth_requests (
    state        TEXT PRIMARY KEY,
    issuer       TEXT NOT NULL,
    server       TEXT NOT NULL,        -- the validated authorization server, JSON
    expected_did TEXT,
    handle       TEXT,
    secrets      BLOB NOT NULL,
    return_to    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- The ATProto tokens of a signed-in user, kept only to revoke them at logout.
CREATE TABLE atproto_sessions (
    did         TEXT PRIMARY KEY REFERENCES users(did) ON DELETE CASCADE,
    issuer      TEXT NOT NULL,
    server      TEXT NOT NULL,
    secrets     BLOB NOT NULL,         -- encrypted tokens and DPoP key
    created_at  INTEGER NOT NULL
);

-- One bearer token per wiki (Claude Code, git, REST). Only its SHA-256 is stored.
CREATE TABLE wiki_tokens (
    wiki_id     INTEGER PRIMARY KEY REFERENCES wikis(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT,                  -- a DID, or NULL for the system
    wiki_id     INTEGER,               -- kept after the wiki is deleted
    wiki_slug   TEXT,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    request_id  TEXT
);
CREATE INDEX audit_log_wiki ON audit_log(wiki_id, at);
CREATE INDEX audit_log_actor ON audit_log(actor, at);
