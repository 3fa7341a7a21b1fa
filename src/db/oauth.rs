//! Rows of the embedded OAuth authorization server: registered clients, codes, grants
//! (one per consent) and their tokens. Secrets arrive here already hashed; plaintext
//! codes and tokens never reach the database.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub auth_method: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    /// What the client said of itself: its registration as echoed, or its metadata
    /// document (`jwks`, `jwks_uri` for `private_key_jwt`).
    pub metadata: serde_json::Value,
    /// For a client known by its metadata document (its `client_id` is the document's
    /// URL): until when the stored copy is fresh. `None` for a registered client.
    pub document_fresh_until: Option<i64>,
}

pub fn insert_client(conn: &Connection, c: &Client, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_clients (client_id, secret_hash, auth_method, client_name, redirect_uris, metadata, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            c.client_id,
            c.secret_hash,
            c.auth_method,
            c.client_name,
            serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into()),
            c.metadata.to_string(),
            now
        ],
    )?;
    Ok(())
}

pub fn client(conn: &Connection, client_id: &str) -> Result<Option<Client>> {
    Ok(conn
        .query_row(
            "SELECT client_id, secret_hash, auth_method, client_name, redirect_uris, metadata, document_fresh_until
             FROM oauth_clients WHERE client_id = ?1",
            [client_id],
            |r| {
                let uris: String = r.get(4)?;
                let metadata: String = r.get(5)?;
                Ok(Client {
                    client_id: r.get(0)?,
                    secret_hash: r.get(1)?,
                    auth_method: r.get(2)?,
                    client_name: r.get(3)?,
                    redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
                    metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                    document_fresh_until: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Stores a client's metadata document as its last good copy, fresh until
/// `c.document_fresh_until`. An update in place, never a delete: the client's grants and
/// tokens hang off the row.
pub fn upsert_document_client(conn: &Connection, c: &Client, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_clients (client_id, secret_hash, auth_method, client_name, redirect_uris, metadata, created_at, document_fresh_until)
         VALUES (?1, NULL, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (client_id) DO UPDATE SET
             auth_method = excluded.auth_method, client_name = excluded.client_name,
             redirect_uris = excluded.redirect_uris, metadata = excluded.metadata,
             document_fresh_until = excluded.document_fresh_until",
        params![
            c.client_id,
            c.auth_method,
            c.client_name,
            serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into()),
            c.metadata.to_string(),
            now,
            c.document_fresh_until,
        ],
    )?;
    Ok(())
}

/// Records a client assertion's `jti`; `false` when this client already used it (a replay).
pub fn use_assertion(
    conn: &Connection,
    client_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO oauth_assertions (client_id, jti, expires_at) VALUES (?1, ?2, ?3)",
        params![client_id, jti, expires_at],
    )?;
    Ok(inserted == 1)
}

/// What a code is bound to.
#[derive(Debug, Clone)]
pub struct Code {
    pub client_id: String,
    pub wiki_id: i64,
    pub user_did: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub resource: String,
    pub expires_at: i64,
}

pub fn insert_code(conn: &Connection, code_hash: &str, c: &Code, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_codes (code_hash, client_id, wiki_id, user_did, redirect_uri, code_challenge, scope, resource, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![code_hash, c.client_id, c.wiki_id, c.user_did, c.redirect_uri, c.code_challenge, c.scope, c.resource, c.expires_at],
    )?;
    conn.execute(
        "UPDATE oauth_clients SET last_used_at = ?2 WHERE client_id = ?1",
        params![c.client_id, now],
    )?;
    Ok(())
}

/// Takes a code out (single use: a second redemption finds nothing).
pub fn take_code(conn: &Connection, code_hash: &str) -> Result<Option<Code>> {
    Ok(conn
        .query_row(
            "DELETE FROM oauth_codes WHERE code_hash = ?1
             RETURNING client_id, wiki_id, user_did, redirect_uri, code_challenge, scope, resource, expires_at",
            [code_hash],
            |r| {
                Ok(Code {
                    client_id: r.get(0)?,
                    wiki_id: r.get(1)?,
                    user_did: r.get(2)?,
                    redirect_uri: r.get(3)?,
                    code_challenge: r.get(4)?,
                    scope: r.get(5)?,
                    resource: r.get(6)?,
                    expires_at: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// A consent and what it allows.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub id: i64,
    pub client_id: String,
    pub client_name: String,
    pub wiki_id: i64,
    pub user_did: String,
    pub user_handle: String,
    pub scope: String,
    pub resource: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "g.id, g.client_id, c.client_name, g.wiki_id, g.user_did, u.handle, g.scope, g.resource, g.created_at, g.last_used_at";

fn grant_from(r: &rusqlite::Row) -> rusqlite::Result<Grant> {
    Ok(Grant {
        id: r.get(0)?,
        client_id: r.get(1)?,
        client_name: r.get(2)?,
        wiki_id: r.get(3)?,
        user_did: r.get(4)?,
        user_handle: r.get(5)?,
        scope: r.get(6)?,
        resource: r.get(7)?,
        created_at: r.get(8)?,
        last_used_at: r.get(9)?,
    })
}

pub fn insert_grant(conn: &Connection, code: &Code, now: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO oauth_grants (client_id, wiki_id, user_did, scope, resource, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![code.client_id, code.wiki_id, code.user_did, code.scope, code.resource, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn insert_token(
    conn: &Connection,
    token_hash: &str,
    grant_id: i64,
    kind: &str,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, grant_id, kind, expires_at],
    )?;
    Ok(())
}

/// A presented token: its grant (live, not revoked) and the token's own state.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub grant: Grant,
    pub kind: String,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
}

pub fn token(conn: &Connection, token_hash: &str) -> Result<Option<TokenRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS}, t.kind, t.expires_at, t.rotated_at
             FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id
             JOIN oauth_clients c ON c.client_id = g.client_id JOIN users u ON u.did = g.user_did
             WHERE t.token_hash = ?1 AND g.revoked_at IS NULL"
        ))?
        .query_row([token_hash], |r| {
            Ok(TokenRow {
                grant: grant_from(r)?,
                kind: r.get(10)?,
                expires_at: r.get(11)?,
                rotated_at: r.get(12)?,
            })
        })
        .optional()?)
}

/// Marks a refresh token exchanged (it stays valid for a short grace period).
pub fn mark_rotated(conn: &Connection, token_hash: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE oauth_tokens SET rotated_at = COALESCE(rotated_at, ?2) WHERE token_hash = ?1",
        params![token_hash, now],
    )?;
    Ok(())
}

pub fn touch_grant(conn: &Connection, grant_id: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE oauth_grants SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60)",
        params![grant_id, now],
    )?;
    Ok(())
}

/// Ends a consent and every token issued under it.
pub fn revoke_grant(conn: &Connection, grant_id: i64, now: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE oauth_grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![grant_id, now],
    )?;
    conn.execute("DELETE FROM oauth_tokens WHERE grant_id = ?1", [grant_id])?;
    Ok(n > 0)
}

/// The live consents on a wiki (the management app's "connected clients").
pub fn grants_for_wiki(conn: &Connection, wiki_id: i64) -> Result<Vec<Grant>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants g
         JOIN oauth_clients c ON c.client_id = g.client_id JOIN users u ON u.did = g.user_did
         WHERE g.wiki_id = ?1 AND g.revoked_at IS NULL ORDER BY g.created_at DESC"
    ))?;
    let rows = stmt
        .query_map([wiki_id], grant_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Registrations never used for an authorization are removed after a day.
pub const UNUSED_CLIENT_SECS: i64 = 24 * 3600;

/// Removes expired codes and tokens, revoked grants, and registrations never used within
/// `unused_client_secs`. Returns the rows removed.
pub fn sweep(conn: &Connection, now: i64, unused_client_secs: i64) -> Result<usize> {
    let mut n = conn.execute("DELETE FROM oauth_codes WHERE expires_at < ?1", [now])?;
    n += conn.execute("DELETE FROM oauth_assertions WHERE expires_at < ?1", [now])?;
    n += conn.execute("DELETE FROM oauth_tokens WHERE expires_at < ?1", [now])?;
    n += conn.execute(
        "DELETE FROM oauth_grants WHERE revoked_at IS NOT NULL
            OR NOT EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = oauth_grants.id)",
        [],
    )?;
    n += conn.execute(
        "DELETE FROM oauth_clients WHERE last_used_at IS NULL AND created_at < ?1",
        [now - unused_client_secs],
    )?;
    Ok(n)
}
