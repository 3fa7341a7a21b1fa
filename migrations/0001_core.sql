-- Accounts, wikis, collaborators and browser sessions.

CREATE TABLE users (
    did          TEXT PRIMARY KEY,
    handle       TEXT NOT NULL,
    display_name TEXT,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_handle ON users(handle);

CREATE TABLE wikis (
    id            INTEGER PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    owner_did     TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    is_public     INTEGER NOT NULL DEFAULT 0,
    git_clone     INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);
CREATE INDEX wikis_owner ON wikis(owner_did);

CREATE TABLE collaborators (
    wiki_id    INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    did        TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, did)
);
CREATE INDEX collaborators_did ON collaborators(did);

-- One row per issued session cookie, so logout and account deletion can revoke a JWT
-- before it expires.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,      -- the JWT's jti
    did         TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_did ON sessions(did);

-- Single-use sign-in links (operator CLI) and cross-host session hand-offs. Only the
-- SHA-256 of the secret is stored.
CREATE TABLE login_links (
    token_hash  TEXT PRIMARY KEY,
    did         TEXT NOT NULL REFERENCES users(did) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
