//! The check on sign-in redirect targets (`return_to`): whatever it accepts is a path on
//! this host, and stays on this host however a browser resolves it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(accepted) = robot::web::redirect::safe_local_path(&text) else {
        return;
    };
    assert!(
        accepted.starts_with('/') && !accepted.starts_with("//"),
        "not exactly one leading slash: {accepted:?}"
    );
    assert!(
        !accepted.chars().any(|c| c.is_control()),
        "control character in {accepted:?}"
    );
    assert!(!accepted.contains('\\'), "backslash in {accepted:?}");
    let base = url::Url::parse("http://h.invalid/").unwrap();
    let joined = base
        .join(accepted)
        .unwrap_or_else(|e| panic!("{accepted:?} does not resolve: {e}"));
    assert_eq!(
        joined.host_str(),
        Some("h.invalid"),
        "{accepted:?} leaves the host: {joined}"
    );
    assert_eq!(
        joined.scheme(),
        "http",
        "{accepted:?} changes the scheme: {joined}"
    );
});
