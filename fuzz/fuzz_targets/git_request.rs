//! The parts of a git request read before git runs: the Basic credentials, the
//! `Git-Protocol` header passed on to git, and the (possibly gzip) request body, which
//! never decodes to more than its cap.
#![no_main]

use std::io::Write;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use robot::access::caller::basic_password;
use robot::githttp::{MAX_DECODED, decode_body, decode_body_within, git_protocol};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let gzip = flags & 1 == 1;
    let text = String::from_utf8_lossy(rest);

    // Authorization: the header as sent, and Basic credentials built from the input.
    if let Some(p) = basic_password(&text) {
        assert!(text.starts_with("Basic ") || text.starts_with("basic "));
        assert!(p.len() <= text.len());
    }
    let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    assert_eq!(
        basic_password(&format!("Basic {b64}")).as_deref(),
        Some(pass)
    );

    // Git-Protocol: what is passed on is short, printable, and a valid environment value.
    if let Some(p) = git_protocol(Some(&text)) {
        assert!(p.len() < 256);
        assert!(p.bytes().all(|c| (0x20..0x7f).contains(&c)), "{p:?}");
        let _ = std::process::Command::new("true").env("GIT_PROTOCOL", p);
    }
    assert_eq!(git_protocol(None), None);

    // Bodies: as sent, within the real cap and within a small one.
    match decode_body(gzip, rest) {
        Ok(b) => {
            assert!(b.len() <= MAX_DECODED);
            if !gzip {
                assert_eq!(b, rest);
            }
        }
        Err(e) => assert!(gzip, "a plain body was refused: {e}"),
    }
    let cap = usize::from(flags >> 1) * 64;
    if let Ok(b) = decode_body_within(gzip, rest, cap) {
        assert!(
            b.len() <= cap,
            "{} bytes decoded, over the cap of {cap}",
            b.len()
        );
    }
    // A real gzip body decodes to exactly what was compressed, or is refused as too large.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(rest).unwrap();
    let gz = enc.finish().unwrap();
    match decode_body_within(true, &gz, cap) {
        Ok(b) => assert_eq!(b, rest),
        Err(e) => {
            assert!(
                rest.len() > cap,
                "{} bytes within the cap of {cap} refused: {e}",
                rest.len()
            );
            assert_eq!(e, "request too large");
        }
    }
});
