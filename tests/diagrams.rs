//! Mermaid and math as a reader sees them: a page with five diagrams (one a flowchart
//! with subgraphs, one with a `\n` line break in a label) and formulas of every kind,
//! opened in headless Chromium (`tests/browser/diagrams.mjs`), must draw every diagram as
//! an SVG with content and typeset every formula. The screenshot is kept in
//! `target/test-artifacts/diagrams/`. The starter template's Syntax page is drawn the same way
//! (`target/test-artifacts/syntax/`).

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

#[tokio::test]
async fn every_diagram_and_formula_of_a_page_is_drawn() {
    let s = TestServer::start().await;
    s.add_user("did:plc:owner", "owner.test");
    s.create_wiki("drawn", "did:plc:owner", true);
    let page =
        std::fs::read_to_string(repo_root().join("tests/fixtures/markdown/otterwiki_diagrams.md"))
            .unwrap();
    s.commit_outside("drawn", &[("diagrams.md", &page)]);
    let report = draw(format!("{}/Diagrams", s.wiki_url("drawn")), "diagrams").await;
    assert_eq!(report["diagrams"], 5, "{report}");
    // Inline, code span, display and the math block.
    assert_eq!(report["formulas"], 4, "{report}");
}

/// The Syntax help page every new wiki starts with shows each feature it describes
/// drawn, not as source: its two diagrams and its four formulas.
#[tokio::test]
async fn the_starter_syntax_page_is_drawn() {
    let s = TestServer::start().await;
    s.add_user("did:plc:owner", "owner.test");
    s.create_wiki("helped", "did:plc:owner", true);
    let report = draw(format!("{}/Syntax", s.wiki_url("helped")), "syntax").await;
    assert_eq!(report["diagrams"], 2, "{report}");
    assert_eq!(report["formulas"], 4, "{report}");
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Opens `url` in headless Chromium and waits until everything is drawn; the report is
/// the script's JSON line, the screenshot `target/test-artifacts/{name}/diagrams.png`.
async fn draw(url: String, name: &str) -> serde_json::Value {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: run scripts/setup-atproto.sh"
    );
    let shots = repo_root().join("target/test-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&shots);
    let out = tokio::task::spawn_blocking({
        let shots = shots.clone();
        move || {
            Command::new(node())
                .arg(repo_root().join("tests/browser/diagrams.mjs"))
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
    assert!(shots.join("diagrams.png").exists());
    serde_json::from_str(stdout.trim()).unwrap()
}
