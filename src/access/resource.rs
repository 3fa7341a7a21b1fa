//! The OAuth protected resources of a wiki (RFC 8707/9728): its MCP endpoint and its
//! REST API. Which one a request is for is read from its path, once; an OAuth access
//! token is a credential only at the resource it was issued for, and its scopes say
//! whether it may write.

use rusqlite::Connection;

use super::Principal;
use super::session::hash_secret;
use crate::config::Config;
use crate::error::Result;

pub const SCOPE_READ: &str = "wiki:read";
pub const SCOPE_WRITE: &str = "wiki:write";

/// How OAuth access tokens begin (refresh tokens begin otherwise, and are never
/// credentials at a resource).
pub const ACCESS_TOKEN_PREFIX: &str = "rat_";

/// The wiki's MCP URL: the default resource when a client names none.
pub fn mcp_resource(cfg: &Config, slug: &str) -> String {
    format!("{}/mcp", cfg.wiki_url(slug))
}

/// The wiki's REST API, the other protected resource.
pub fn api_resource(cfg: &Config, slug: &str) -> String {
    format!("{}/api/v1", cfg.wiki_url(slug))
}

/// Resource URLs compare as URLs: scheme and host in any case (RFC 3986 §6.2.2.1), the
/// default port or none, and without a trailing slash (clients send `/mcp` and `/mcp/`).
pub fn same_resource(a: &str, b: &str) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(s: &str) -> String {
    let s = match url::Url::parse(s) {
        // The parser lowercases scheme and host and drops a default port.
        Ok(u) => u.to_string(),
        Err(_) => s.to_string(),
    };
    s.trim_end_matches('/').to_string()
}

/// The OAuth protected resource a request on a wiki host is for, from its path: the
/// wiki's `/mcp` (and `/mcp/`), its REST API (`/api/v1/…`), or none (the web UI, git,
/// the OAuth endpoints themselves). Paths the REST router does not own (`/api/v1` alone
/// is a wiki page) are none, so a token can never reach another router through them.
pub fn target_resource(cfg: &Config, slug: &str, path: &str) -> Option<String> {
    if path == "/mcp" || path == "/mcp/" {
        return Some(mcp_resource(cfg, slug));
    }
    if path.len() > "/api/v1/".len() && path.starts_with("/api/v1/") {
        return Some(api_resource(cfg, slug));
    }
    None
}

/// Where a wiki's repository is served over smart HTTP: `/repo.git/…`, and `/.git/…`
/// (Otterwiki's path).
pub const GIT_PREFIXES: [&str; 2] = ["/repo.git", "/.git"];

/// A request for git's smart HTTP endpoints, where git's Basic credentials count.
pub fn is_git_path(path: &str) -> bool {
    GIT_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The principal an OAuth access token stands for at `resource` (`None` when the token
/// is unknown, expired, not an access token, or issued for another resource), and whether
/// its grant's "last used" is a minute old or more (see `caller::LastUse`). Only reads.
pub fn principal_for_access_token(
    conn: &Connection,
    token: &str,
    resource: &str,
) -> Result<Option<(Principal, bool)>> {
    if !token.starts_with(ACCESS_TOKEN_PREFIX) {
        return Ok(None);
    }
    let now = crate::db::now();
    let Some(row) = crate::db::oauth::token(conn, &hash_secret(token))? else {
        return Ok(None);
    };
    if row.kind != "access"
        || row.expires_at <= now
        || !same_resource(&row.grant.resource, resource)
    {
        return Ok(None);
    }
    let stale = row.grant.last_used_at.is_none_or(|t| t < now - 60);
    let g = row.grant;
    Ok(Some((
        Principal::OAuth {
            can_write: g.scope.split_whitespace().any(|s| s == SCOPE_WRITE),
            did: g.user_did,
            handle: g.user_handle,
            wiki_id: g.wiki_id,
            client_name: g.client_name,
            grant_id: g.id,
            resource: g.resource,
        },
        stale,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_git_paths_are_read_from_the_path() {
        let cfg = Config::default();
        let mcp = target_resource(&cfg, "notes", "/mcp").unwrap();
        assert!(same_resource(&mcp, &format!("{mcp}/")));
        assert_eq!(target_resource(&cfg, "notes", "/mcp/"), Some(mcp));
        assert!(target_resource(&cfg, "notes", "/api/v1/pages").is_some());
        assert_eq!(target_resource(&cfg, "notes", "/api/v1"), None);
        assert_eq!(target_resource(&cfg, "notes", "/Home"), None);
        assert!(same_resource(
            "HTTPS://Notes.Example.ORG:443/mcp/",
            "https://notes.example.org/mcp"
        ));
        assert!(!same_resource(
            "https://notes.example.org/MCP",
            "https://notes.example.org/mcp"
        ));
        assert!(!same_resource(
            "https://notes.example.org:8443/mcp",
            "https://notes.example.org/mcp"
        ));
        assert!(is_git_path("/repo.git/info/refs"));
        assert!(is_git_path("/.git/git-upload-pack"));
        assert!(!is_git_path("/repo.gitx/info/refs"));
        assert!(!is_git_path("/repo.git"));
        assert!(!is_git_path("/Home"));
    }
}
