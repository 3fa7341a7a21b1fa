//! Mermaid and math as a reader sees them: a page with five diagrams (one a flowchart
//! with subgraphs, one with a `\n` line break in a label) and formulas of every kind,
//! opened in headless Chromium (`tests/browser/diagrams.mjs`), must draw every diagram as
//! an SVG with content and typeset every formula. The screenshot is kept in
//! `target/test-artifacts/diagrams/`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

#[tokio::test]
async fn every_diagram_and_formula_of_a_page_is_drawn() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: run scripts/setup-atproto.sh"
    );
    let s = TestServer::start().await;
    s.add_user("did:plc:owner", "owner.test");
    s.create_wiki("drawn", "did:plc:owner", true);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("tests/fixtures/markdown/otterwiki_diagrams.md"))
        .unwrap();
    s.commit_outside("drawn", &[("diagrams.md", &page)]);
    let shots = root.join("target/test-artifacts/diagrams");
    let _ = std::fs::remove_dir_all(&shots);
    let url = format!("{}/Diagrams", s.wiki_url("drawn"));
    let out = tokio::task::spawn_blocking({
        let shots = shots.clone();
        move || {
            Command::new(node())
                .arg(root.join("tests/browser/diagrams.mjs"))
                .env("PAGE_URL", url)
                .env("SHOTS", &shots)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "not everything was drawn:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["diagrams"], 5, "{report}");
    // Inline, code span, display and the math block.
    assert_eq!(report["formulas"], 4, "{report}");
    assert!(shots.join("diagrams.png").exists());
}
