//! Memory bounded by configuration (issue 17): every cache lives under its `[cache]`
//! budget, eviction never changes an answer, `/metrics` shows each cache and the open
//! descriptors, and page views answer conditional requests.

use crate::common::*;

const OWNER: &str = "did:plc:owner";
const WIKIS: usize = 6;

/// Budgets so small that nearly every read misses: one open wiki at a time (a state and
/// its repository handle), a page or two of each other kind.
fn tiny(cfg: &mut robot::config::Config) {
    let c = &mut cfg.cache;
    let kib = |n: usize| robot::config::ByteSize(n * 1024);
    c.pages = kib(24);
    c.texts = kib(4);
    c.thumbnails = kib(0);
    c.wikis = kib(300);
    c.trees = kib(2);
    c.views = kib(40);
}

/// The pages of wiki `i`: links between them, a folder, an attachment, an embed that
/// reads the wiki, so every cache has something to hold.
fn pages(i: usize) -> Vec<(String, String)> {
    vec![
        (
            "home.md".into(),
            format!("# Wiki {i}\n\nSee [[Notes]] and [[Folder/Deep]].\n\n{{{{PageIndex}}}}\n"),
        ),
        (
            "notes.md".into(),
            format!(
                "# Notes\n\nBack [[Home]]. Missing [[Nowhere{i}]].\n\n```rust\nfn f() {{}}\n```\n"
            ),
        ),
        (
            "folder/deep.md".into(),
            format!("# Deep\n\n{}\n", "word ".repeat(300 + i)),
        ),
        ("notes/data.txt".into(), format!("data {i}")),
        (
            "notes/list.md".into(),
            "# List\n\n{{AttachmentList}}\n".into(),
        ),
    ]
}

const URLS: &[&str] = &[
    "/",
    "/Home",
    "/Notes",
    "/Folder/Deep",
    "/Folder",
    "/Notes/List",
    "/-/index",
    "/Nowhere",
];

/// Every page of every wiki, in `order`, as (url, status, body with the port taken out).
async fn read_all(s: &TestServer, order: &[(usize, &str)]) -> Vec<(String, u16, String)> {
    let c = s.client();
    let port = format!(":{}", s.addr.port());
    let mut out = Vec::new();
    for (i, path) in order {
        let url = format!("{}{path}", s.wiki_url(&format!("wiki{i}")));
        let (status, _, body) = fetch(&c, &url).await;
        let body = String::from_utf8_lossy(&body).replace(&port, ":PORT");
        out.push((format!("wiki{i}{path}"), status, body));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"))
}

#[tokio::test]
async fn eviction_never_changes_an_answer() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    for i in 0..WIKIS {
        s.create_wiki(&format!("wiki{i}"), OWNER, true);
        let files = pages(i);
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        s.commit_outside(&format!("wiki{i}"), &files);
    }
    let wiki_major: Vec<(usize, &str)> = (0..WIKIS)
        .flat_map(|i| URLS.iter().map(move |u| (i, *u)))
        .collect();
    let roomy = read_all(&s, &wiki_major).await;
    assert!(
        roomy.iter().any(|(_, status, _)| *status == 404),
        "the missing page is a 404"
    );
    assert!(roomy.iter().filter(|(_, status, _)| *status == 200).count() >= WIKIS * 6);

    // The same data directory, served with budgets that hold almost nothing.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, tiny).await;
    let page_major: Vec<(usize, &str)> = URLS
        .iter()
        .flat_map(|u| (0..WIKIS).rev().map(move |i| (i, *u)))
        .collect();
    for order in [&page_major, &wiki_major, &page_major] {
        let tight = read_all(&s, order).await;
        assert_eq!(tight.len(), roomy.len());
        for (a, b) in roomy.iter().zip(&tight) {
            assert_eq!(a, b, "{} differs through tiny caches", a.0);
        }
    }
    // A write while every state is being evicted is seen at once.
    let wiki = s
        .state
        .db
        .conn()
        .map(|c| robot::db::wikis::by_slug(&c, "wiki3").unwrap().unwrap())
        .unwrap();
    let author = robot::wiki::store::Author {
        name: "T".into(),
        email: "t@example.org".into(),
    };
    let name = robot::wiki::names::PageName::parse("Notes").unwrap();
    let base = s.state.wikis.read_page(&wiki, &name, None).unwrap().commit;
    s.state
        .wikis
        .save_page(
            &wiki,
            &author,
            &name,
            "# Notes\n\nchanged under pressure\n",
            Some(&base),
            "edit",
        )
        .unwrap();
    let _ = read_all(&s, &page_major).await;
    let (_, _, body) = fetch(&s.client(), &format!("{}/Notes", s.wiki_url("wiki3"))).await;
    assert!(String::from_utf8_lossy(&body).contains("changed under pressure"));

    let (_, _, m) = fetch(&s.client(), &format!("{}/metrics", s.root())).await;
    let m = String::from_utf8_lossy(&m);
    for cache in ["wikis", "pages", "texts", "trees", "views"] {
        assert!(
            metric(
                &m,
                &format!("robot_cache_evictions_total{{cache=\"{cache}\"}}")
            ) > 0.0,
            "{cache} evicted nothing: {m}"
        );
        assert!(
            metric(&m, &format!("robot_cache_bytes{{cache=\"{cache}\"}}"))
                <= metric(
                    &m,
                    &format!("robot_cache_budget_bytes{{cache=\"{cache}\"}}")
                ),
            "{cache} is over its budget"
        );
    }
}

#[tokio::test]
async fn metrics_show_every_cache_and_the_open_descriptors() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("seen", OWNER, true);
    let c = s.client();
    for _ in 0..2 {
        let (status, _, _) = fetch(&c, &format!("{}/Home", s.wiki_url("seen"))).await;
        assert_eq!(status, 200);
    }
    let (_, _, m) = fetch(&c, &format!("{}/metrics", s.root())).await;
    let m = String::from_utf8_lossy(&m);
    for cache in [
        "wikis",
        "pages",
        "texts",
        "thumbnails",
        "trees",
        "views",
        "vectors",
    ] {
        metric(
            &m,
            &format!("robot_cache_budget_bytes{{cache=\"{cache}\"}}"),
        );
        metric(&m, &format!("robot_cache_hits_total{{cache=\"{cache}\"}}"));
    }
    assert!(
        metric(&m, "robot_cache_hits_total{cache=\"views\"}") >= 1.0,
        "the second view is kept: {m}"
    );
    assert!(metric(&m, "robot_cache_entries{cache=\"wikis\"}") >= 1.0);
    assert!(metric(&m, "robot_open_fds") > 0.0);
    assert!(metric(&m, "robot_resident_bytes") > 0.0);
}

/// A page view carries an ETag; sending it back gets a 304 with no body. Anonymous
/// views of a public wiki may be kept by shared caches, a signed-in reader's only by the
/// browser; a commit changes the tag.
#[tokio::test]
async fn page_views_answer_conditional_requests() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("cond", OWNER, true);
    let c = s.client();
    let url = format!("{}/Home", s.wiki_url("cond"));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, no-cache");
    assert!(r.headers().contains_key("last-modified"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let again = c
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    s.commit_outside("cond", &[("home.md", "# Home\n\nnew words\n")]);
    let after = c
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "a commit makes it a new page");
    assert_ne!(after.headers()["etag"], etag.as_str());
    assert!(after.text().await.unwrap().contains("new words"));

    let signed_in = s.client();
    s.login(&signed_in, OWNER, Some("cond")).await;
    let mine = signed_in.get(&url).send().await.unwrap();
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.headers()["cache-control"], "private, no-cache");
    let tag = mine.headers()["etag"].to_str().unwrap().to_string();
    let body = mine.text().await.unwrap();
    assert!(
        body.contains("owner.test"),
        "the signed-in view is the owner's"
    );
    let mine_again = signed_in
        .get(&url)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(mine_again.status(), 304);
}

/// Assets are linked with the build's fingerprint, and such a URL may be kept for good.
#[tokio::test]
async fn static_assets_are_fingerprinted_and_immutable() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("fingerprint", OWNER, true);
    let c = s.client();
    let page = c
        .get(format!("{}/Home", s.wiki_url("fingerprint")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = page
        .split("href=\"")
        .find_map(|p| p.strip_prefix("/-/static/robot.css?v="))
        .and_then(|p| p.split('"').next())
        .unwrap_or_else(|| panic!("no fingerprinted stylesheet: {page}"))
        .to_string();
    assert!(page.contains(&format!("/-/static/robot.js?v={css}")));
    assert!(page.contains(&format!("data-asset-version=\"{css}\"")));
    let r = c
        .get(format!(
            "{}/-/static/robot.css?v={css}",
            s.wiki_url("fingerprint")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let stale = c
        .get(format!(
            "{}/-/static/robot.css?v=0ld",
            s.wiki_url("fingerprint")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.headers()["cache-control"], "public, max-age=300");
}
