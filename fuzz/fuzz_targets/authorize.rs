//! The /authorize request: any query string, parsed as axum's `Query` does, then the
//! checks that need no database (response type, PKCE, resource), redirect URI matching
//! against registered ones, and scope granting. The consent form's parser (`parse_form`)
//! must read the same bytes the same way.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use robot::oauth::authorize::check_params;
use robot::oauth::{
    MAX_REDIRECT_URI, SCOPE_READ, SCOPE_WRITE, grant_scopes, redirect_matches, redirect_uri_problem,
};

/// This wiki's resources: its /mcp URL (the default) and its /api/v1 URL.
const OURS: [&str; 2] = ["https://w.example.org/mcp", "https://w.example.org/api/v1"];

fuzz_target!(|data: &[u8]| {
    let Ok(q) = serde_urlencoded::from_bytes::<BTreeMap<String, String>>(data) else {
        return;
    };
    let form = robot::http::parse_form(data);
    assert_eq!(form, q, "parse_form and Query disagree");

    if let Ok((challenge, resource)) = check_params(&q, &OURS.map(String::from)) {
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert!((43..=128).contains(&challenge.len()), "{challenge:?}");
        assert_eq!(q.get("code_challenge"), Some(&challenge));
        assert!(OURS.contains(&resource.as_str()), "{resource:?}");
        if q.get("resource").is_none_or(String::is_empty) {
            assert_eq!(resource, OURS[0]);
        }
    }

    let registered = [
        "http://127.0.0.1/callback".to_string(),
        "http://localhost:8080/cb?x=1".to_string(),
        "https://claude.ai/api/mcp/auth_callback".to_string(),
    ];
    if let Some(given) = q.get("redirect_uri")
        && redirect_uri_problem(given).is_none()
    {
        // Fit for a Location header as it is, and what the problem check says it is.
        assert!(given.len() <= MAX_REDIRECT_URI);
        assert!(http::HeaderValue::from_str(given).is_ok(), "{given:?}");
        let g = url::Url::parse(given).unwrap();
        assert!(g.fragment().is_none(), "{given:?}");
        let loopback = g.scheme() == "http"
            && matches!(g.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        assert!(
            g.scheme() == "https" && g.host_str().is_some() || loopback,
            "{given:?}"
        );
    }
    if let Some(given) = q.get("redirect_uri")
        && redirect_matches(&registered, given)
        && !registered.contains(given)
    {
        // Only loopback URLs match loosely, and then only on another port.
        let g = url::Url::parse(given).unwrap();
        assert_eq!(g.scheme(), "http", "{given:?}");
        assert!(
            registered.iter().any(|r| {
                let r = url::Url::parse(r).unwrap();
                r.host_str() == g.host_str() && r.path() == g.path() && r.query() == g.query()
            }),
            "{given:?} matched no registered redirect"
        );
    }

    let scope = q.get("scope").map(String::as_str).unwrap_or("");
    let both = format!("{SCOPE_READ} {SCOPE_WRITE}");
    assert_eq!(grant_scopes(scope, false), SCOPE_READ);
    let granted = grant_scopes(scope, true);
    assert!(granted == SCOPE_READ || granted == both, "{granted:?}");
});
