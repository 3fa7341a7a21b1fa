-- Clients known by a Client ID Metadata Document: their client_id is the https URL of a
-- JSON document they publish. The row keeps the last good copy (metadata, redirect URIs,
-- name, method), used while it is fresh by its HTTP cache headers and, after that, when a
-- new fetch fails (some clients' documents sit behind bot protection that refuses
-- servers). Registered clients (RFC 7591) have NULL here.
ALTER TABLE oauth_clients ADD COLUMN document_fresh_until INTEGER;

-- The `jti` of every client assertion (private_key_jwt, RFC 7523) until it expires, so
-- an assertion is used once.
CREATE TABLE oauth_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
