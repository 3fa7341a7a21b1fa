//! OAuth dynamic client registration bodies: any JSON, checked as `register` checks it.
//! What it accepts holds only https or loopback http redirects and a clean client name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use robot::oauth::register::validate;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(meta) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // The endpoint only passes objects on; anything else must not panic either.
    let Ok((client, echoed)) = validate(&meta) else {
        return;
    };
    assert!((1..=10).contains(&client.redirect_uris.len()));
    for u in &client.redirect_uris {
        assert!(u.len() <= 2000);
        let url = url::Url::parse(u).unwrap_or_else(|e| panic!("{u:?} accepted: {e}"));
        assert!(url.fragment().is_none(), "{u:?}");
        let loopback = url.scheme() == "http"
            && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        assert!(
            url.scheme() == "https" && url.host_str().is_some() || loopback,
            "{u:?} accepted"
        );
    }
    assert!(
        ["client_secret_basic", "client_secret_post", "none"]
            .contains(&client.auth_method.as_str())
    );
    let name = &client.client_name;
    assert!(!name.is_empty() && name.trim() == name, "{name:?}");
    assert!(
        name.chars().count() <= 120 && !name.chars().any(|c| c.is_control()),
        "{name:?}"
    );
    assert!(echoed.is_object());
    assert_eq!(echoed["client_name"], Value::from(name.as_str()));
    serde_json::to_vec(&echoed).unwrap();
});
