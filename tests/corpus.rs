//! Every page of the 500-page benchmark corpus (`tests/fixtures/gen_corpus.py`, the same
//! generator the benchmarks use) renders without error through the real server.

use std::path::Path;
use std::process::Command;

use futures_util::StreamExt;

use crate::common::*;

#[tokio::test]
async fn every_corpus_page_renders() {
    // The corpus alone is 500 pages; the template adds five.
    let s = TestServer::start_with(|cfg| cfg.limits.max_pages = 1000).await;
    s.add_user("did:plc:owner", "owner.test");
    let wiki = s.create_wiki("corpus", "did:plc:owner", true);
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gen_corpus.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out.path())
        .args(["--pages", "500"])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let (_, pages) = s
        .state
        .wikis
        .import_dir(
            &wiki,
            &robot::wiki::store::Author::robot(),
            out.path(),
            "Import corpus",
        )
        .unwrap();
    assert_eq!(pages, 500);
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".md")
                .to_string()
        })
        .collect();
    names.sort();
    let c = s.client();
    let base = s.wiki_url("corpus");
    let results: Vec<(String, u16, bool)> = futures_util::stream::iter(names)
        .map(|n| {
            let c = c.clone();
            let url = format!(
                "{base}/{}",
                robot::wiki::names::url_path_encode(&robot::wiki::names::title_case(&n))
            );
            async move {
                let r = c.get(&url).send().await.unwrap();
                let status = r.status().as_u16();
                let body = r.text().await.unwrap();
                let ok = body.contains("<robot-page class=\"markdown\" role=\"article\">")
                    && body.contains("class=\"wikilink")
                    && dialect_left_over(&body).is_none();
                (url, status, ok)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let bad: Vec<_> = results
        .iter()
        .filter(|(_, st, ok)| *st != 200 || !ok)
        .collect();
    assert!(
        bad.is_empty(),
        "{} pages failed, e.g. {:?}",
        bad.len(),
        bad.first()
    );
    assert_eq!(results.len(), 500);
    // The starter template's help page uses every feature of the dialect (issue 16):
    // every one is drawn, none left as written.
    let syntax = c
        .get(format!("{base}/Syntax"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(dialect_left_over(&syntax), None, "{syntax}");
    for drawn in [
        "<mark>marked</mark>",
        "class=\"footnotes",
        "markdown-alert-note",
        "<details",
        "class=\"spoiler",
        "<pre class=\"mermaid\">",
        "data-math-style=\"display\"",
        "code linenos",
        "class=\"hl-",
        "class=\"infobox ",
        "class=\"figure-embedding\"",
        "class=\"datatable\"",
        "class=\"pageindex-embedding\"",
        "class=\"attachmentlist-embedding\"",
    ] {
        assert!(syntax.contains(drawn), "{drawn} on the Syntax page");
    }
    assert!(!syntax.contains("Unknown Embedding"));

    let (hits, total) =
        robot::search::fts::search_wiki(&s.state.wikis, &wiki, "retrieval", 10, 0).unwrap();
    assert!(total > 0 && !hits.is_empty());
    fsck(&s.repo("corpus"));
}

/// Otterwiki syntax a page shows as written where it should have been drawn: in the
/// page's prose (outside code, tags and the editor), `{{`, `:::`, `==` or `>!`.
fn dialect_left_over(page: &str) -> Option<String> {
    let article = page
        .split("<robot-page class=\"markdown\" role=\"article\">")
        .nth(1)?
        .split("</robot-page>")
        .next()?;
    let mut prose = String::new();
    let mut rest = article;
    while let Some(open) = rest.find(['<']) {
        prose.push_str(&rest[..open]);
        let tag = &rest[open..];
        let skip_to = ["<pre", "<code"]
            .into_iter()
            .find(|t| tag.starts_with(t))
            .map(|t| format!("</{}>", &t[1..]));
        let end = match skip_to {
            Some(close) => tag.find(&close).map(|e| e + close.len()),
            None => tag.find('>').map(|e| e + 1),
        };
        rest = &tag[end.unwrap_or(tag.len())..];
        prose.push(' ');
    }
    prose.push_str(rest);
    ["{{", ":::", "==", "&gt;!"]
        .into_iter()
        .find(|m| prose.contains(m))
        .map(|m| {
            let at = prose.find(m).unwrap();
            let from = prose.floor_char_boundary(at.saturating_sub(40));
            format!("{m}: …{}…", &prose[from..prose.ceil_char_boundary(at + 40)])
        })
}
