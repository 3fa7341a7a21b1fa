//! Every page of the 500-page benchmark corpus (`tests/fixtures/gen_corpus.py`, the same
//! generator the benchmarks use) renders without error through the real server.

use std::path::Path;
use std::process::Command;

use futures_util::StreamExt;

use crate::common::*;

#[tokio::test]
async fn every_corpus_page_renders() {
    // The corpus alone is 500 pages; the template adds four.
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
                    && body.contains("class=\"wikilink");
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
    let (hits, total) =
        robot::search::fts::search_wiki(&s.state.wikis, &wiki, "retrieval", 10, 0).unwrap();
    assert!(total > 0 && !hits.is_empty());
    fsck(&s.repo("corpus"));
}
