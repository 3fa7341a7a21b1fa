//! Editing through the web UI: save, conflicts, create, rename with backlinks, delete,
//! revert, attachments, bad input and limits — each checked afterwards with `git`.

use crate::common::*;

const OWNER: &str = "did:plc:owner";

async fn setup() -> (TestServer, reqwest::Client) {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    (s, c)
}

/// Opens the editor and returns (csrf, base revision, content).
async fn open_editor(
    s: &TestServer,
    c: &reqwest::Client,
    page_url: &str,
) -> (String, String, String) {
    let r = c
        .get(format!("{}{page_url}/edit", s.wiki_url("notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let csrf = attr(&html, "data-csrf").unwrap();
    let base = input_value(&html, "base_revision").unwrap();
    let content = html
        .split("id=\"editor-text\"")
        .nth(1)
        .and_then(|t| t.split_once('>'))
        .map(|(_, t)| t.split("</textarea>").next().unwrap().to_string())
        .unwrap();
    (csrf, base, content)
}

async fn save(
    s: &TestServer,
    c: &reqwest::Client,
    page_url: &str,
    csrf: &str,
    base: &str,
    content: &str,
) -> reqwest::Response {
    c.post(format!("{}{page_url}/save", s.wiki_url("notes")))
        .form(&[
            ("csrf", csrf),
            ("base_revision", base),
            ("content", content),
            ("commit", "test edit"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn save_creates_one_commit_authored_by_the_user() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let before = commit_count(&repo);
    let (csrf, base, _) = open_editor(&s, &c, "/Home").await;
    let r = save(
        &s,
        &c,
        "/Home",
        &csrf,
        &base,
        "# Home\r\n\r\nNew text.   \r\n\r\n",
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/Home");
    assert_eq!(commit_count(&repo), before + 1);
    assert_eq!(
        show(&repo, "home.md"),
        "# Home\n\nNew text.\n",
        "CRLF normalised, one trailing newline"
    );
    let log = git(&repo, &["log", "-1", "--format=%an|%ae|%s"]);
    assert_eq!(log.trim(), "owner.test|did:plc:owner|test edit");
    // Saving identical content makes no commit.
    let (csrf, base, _) = open_editor(&s, &c, "/Home").await;
    save(&s, &c, "/Home", &csrf, &base, "# Home\n\nNew text.\n").await;
    assert_eq!(commit_count(&repo), before + 1);
    fsck(&repo);
}

#[tokio::test]
async fn a_stale_save_is_a_conflict_never_an_overwrite() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let (csrf, stale_base, _) = open_editor(&s, &c, "/Home").await;
    let r = save(
        &s,
        &c,
        "/Home",
        &csrf,
        &stale_base,
        "line one\nline two\nline three\n",
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, base2, _) = open_editor(&s, &c, "/Home").await;
    let r = save(
        &s,
        &c,
        "/Home",
        &csrf,
        &base2,
        "line one\nline two\nline three changed\n",
    )
    .await;
    assert_eq!(r.status(), 303);
    let count = commit_count(&repo);

    // Overlapping change from the first base: both versions shown, nothing written.
    let r = save(
        &s,
        &c,
        "/Home",
        &csrf,
        &stale_base,
        "completely different\n",
    )
    .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("class=\"conflict-version theirs\">line one\nline two\nline three changed"),
        "{html}"
    );
    assert!(html.contains("class=\"conflict-version yours\">completely different"));
    assert_eq!(commit_count(&repo), count);
    assert_eq!(
        show(&repo, "home.md"),
        "line one\nline two\nline three changed\n"
    );

    // A change that merges cleanly with the newer version: offered merged, still not saved.
    let r = save(
        &s,
        &c,
        "/Home",
        &csrf,
        &base2_parent(&repo),
        "LINE ONE\nline two\nline three\n",
    )
    .await;
    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("merged cleanly"), "{html}");
    assert!(
        html.contains(">LINE ONE\nline two\nline three changed\n</textarea>"),
        "{html}"
    );
    assert_eq!(commit_count(&repo), count, "a merge is offered, not saved");
    fsck(&repo);
}

/// The commit before HEAD (where the page read "line three").
fn base2_parent(repo: &std::path::Path) -> String {
    git(repo, &["rev-parse", "main~1"]).trim().to_string()
}

#[tokio::test]
async fn create_rename_with_backlinks_delete_and_revert() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    // Create goes through /-/create to the editor.
    let r = c
        .post(format!("{}/-/create", s.wiki_url("notes")))
        .form(&[("csrf", csrf.as_str()), ("pagename", "Projects/Alpha Plan")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/Projects/Alpha%20Plan/edit");
    let r = save(
        &s,
        &c,
        "/Projects/Alpha%20Plan",
        &csrf,
        "",
        "# Alpha Plan\n\nThe plan.\n",
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = save(&s, &c, "/Links", &csrf, "", "See [[Projects/Alpha Plan]], [[the plan|projects/alpha plan#Goals]] and [x](/Projects/Alpha%20Plan).\n\n`[[Projects/Alpha Plan]]` stays.\n").await;
    assert_eq!(r.status(), 303);
    // An attachment moves with its page.
    let part = reqwest::multipart::Part::bytes(b"PNGDATA".to_vec()).file_name("pic.png");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .part("file", part);
    let r = c
        .post(format!(
            "{}/Projects/Alpha%20Plan/attachments",
            s.wiki_url("notes")
        ))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(ls_files(&repo).contains(&"projects/alpha plan/pic.png".to_string()));

    // Backlinks panel.
    let html = c
        .get(format!("{}/Projects/Alpha%20Plan", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<a href=\"/Links\">Links</a>"),
        "backlinks panel lists Links"
    );

    let before = commit_count(&repo);
    let r = c
        .post(format!(
            "{}/Projects/Alpha%20Plan/rename",
            s.wiki_url("notes")
        ))
        .form(&[
            ("csrf", csrf.as_str()),
            ("new_pagename", "Archive/Alpha"),
            ("update_backlinks", "y"),
            ("message", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/Archive/Alpha");
    assert_eq!(commit_count(&repo), before + 1, "rename is one commit");
    let files = ls_files(&repo);
    assert!(files.contains(&"archive/alpha.md".to_string()));
    assert!(files.contains(&"archive/alpha/pic.png".to_string()));
    assert!(
        !files.iter().any(|f| f.starts_with("projects/")),
        "{files:?}"
    );
    assert_eq!(
        show(&repo, "links.md"),
        "See [[Archive/Alpha]], [[the plan|Archive/Alpha#Goals]] and [x](/Archive/Alpha).\n\n`[[Projects/Alpha Plan]]` stays.\n"
    );
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s"]).trim(),
        "Renamed Projects/Alpha Plan to Archive/Alpha."
    );
    // Renaming onto an existing page is refused.
    let r = c
        .post(format!("{}/Archive/Alpha/rename", s.wiki_url("notes")))
        .form(&[("csrf", csrf.as_str()), ("new_pagename", "Links")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // Delete, then revert the deletion.
    let r = c
        .post(format!("{}/Links/delete", s.wiki_url("notes")))
        .form(&[("csrf", csrf.as_str()), ("message", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(!ls_files(&repo).contains(&"links.md".to_string()));
    assert_eq!(
        c.get(format!("{}/Links", s.wiki_url("notes")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let deleted = git(&repo, &["rev-parse", "main"]).trim().to_string();
    let r = c
        .post(format!("{}/-/revert/{deleted}", s.wiki_url("notes")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(ls_files(&repo).contains(&"links.md".to_string()));
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s"]).trim(),
        format!("Reverted commit {}.", &deleted[..7])
    );
    // History, diff, blame, source, commit view, changelog and index all render.
    for path in [
        "/Links/history".to_string(),
        format!("/Links/diff/{}/{}", &deleted[..7], "HEAD"),
        "/Links/blame".into(),
        "/Links/source".into(),
        format!("/-/commit/{deleted}"),
        "/-/changelog".into(),
        "/-/index".into(),
        "/Links?raw".into(),
    ] {
        let r = c
            .get(format!("{}{path}", s.wiki_url("notes")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let raw = c
        .get(format!("{}/Links?raw", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.starts_with("See [[Archive/Alpha]]"));
    fsck(&repo);
}

#[tokio::test]
async fn attachments_upload_list_download_and_delete() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    let upload = |name: &str, data: Vec<u8>| {
        let part = reqwest::multipart::Part::bytes(data).file_name(name.to_string());
        reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("message", "")
            .part("file", part)
    };
    let r = c
        .post(format!("{}/Home/attachments", s.wiki_url("notes")))
        .multipart(upload("My Notes.txt", b"hello".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        ls_files(&repo).contains(&"home/My_Notes.txt".to_string()),
        "secure file name in the page's folder"
    );
    let html = c
        .get(format!("{}/Home/attachments", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("My_Notes.txt"));
    let r = c
        .get(format!("{}/Home/a/My_Notes.txt", s.wiki_url("notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    // HTML uploads are never served as HTML from the wiki's origin: outside the inline
    // allow-list a file is a download of bytes (hostile_requests.rs covers every type).
    c.post(format!("{}/Home/attachments", s.wiki_url("notes")))
        .multipart(upload("x.html", b"<script>alert(1)</script>".to_vec()))
        .send()
        .await
        .unwrap();
    let r = c
        .get(format!("{}/Home/a/x.html", s.wiki_url("notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let count = commit_count(&repo);
    let r = c
        .post(format!(
            "{}/Home/attachment/My_Notes.txt",
            s.wiki_url("notes")
        ))
        .form(&[("csrf", csrf.as_str()), ("action", "delete")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(commit_count(&repo), count + 1);
    assert!(!ls_files(&repo).contains(&"home/My_Notes.txt".to_string()));
    assert_eq!(
        c.get(format!("{}/Home/a/My_Notes.txt", s.wiki_url("notes")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    fsck(&repo);
}

#[tokio::test]
async fn bad_page_names_are_refused_and_nothing_is_written() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    let count = commit_count(&repo);
    // Raw requests: a URL library would normalise `%2E%2E` away before it reached us.
    let (cookie, raw_csrf) = s.session_for(OWNER);
    let body = form_body(&[
        ("csrf", &raw_csrf),
        ("base_revision", ""),
        ("content", "content\n"),
    ]);
    for bad in [
        "a/%2E%2E/b",
        "%2E%2E",
        "x%00y",
        "x%01y",
        "a/.git/config",
        ".GIT/x",
        &"x".repeat(300),
    ] {
        let (status, _) = s
            .raw(
                &s.wiki_host("notes"),
                "POST",
                &format!("/{bad}/save"),
                Some(&cookie),
                Some(&body),
            )
            .await;
        assert_eq!(status, 400, "{bad}");
    }
    for bad in ["../x", "/abs", "a\u{1}b", ".git", "?!#"] {
        let r = c
            .post(format!("{}/-/create", s.wiki_url("notes")))
            .form(&[("csrf", csrf.as_str()), ("pagename", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    assert_eq!(commit_count(&repo), count);
    assert!(
        !ls_files(&repo)
            .iter()
            .any(|f| f.contains("..") || f.contains(".git"))
    );
}

#[tokio::test]
async fn limits_are_enforced_with_clear_errors() {
    let s = TestServer::start_with(|cfg| {
        cfg.limits.max_pages = 6;
        cfg.limits.max_page_bytes = 2_000;
        cfg.limits.max_attachment_bytes = 4_000;
        cfg.limits.max_wiki_bytes = 40_000;
    })
    .await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("notes", OWNER, false);
    let c = s.client();
    s.login(&c, OWNER, Some("notes")).await;
    let repo = s.repo("notes");
    let csrf = s.csrf(&c, &format!("{}/", s.wiki_url("notes"))).await;
    let count = commit_count(&repo);
    // A declared body over the request limit is refused before it is read.
    let (cookie, raw_csrf) = s.session_for(OWNER);
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /Huge/save HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\ncsrf={raw_csrf}&content=",
        s.wiki_host("notes")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Page too large.
    let r = save(&s, &c, "/Big", &csrf, "", &"x".repeat(2_001)).await;
    assert_eq!(r.status(), 413);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Content too large (2002 bytes). Maximum size is 2000 bytes."),
        "the editor shows the error and keeps the text"
    );
    // Page count: the template has 5 pages; one more fits, the next does not.
    assert_eq!(
        save(&s, &c, "/Sixth", &csrf, "", "six\n").await.status(),
        303
    );
    let r = save(&s, &c, "/Seventh", &csrf, "", "seven\n").await;
    assert_eq!(r.status(), 413);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Page limit reached (6 pages)")
    );
    // Attachment too large, then quota.
    let big = reqwest::multipart::Part::bytes(vec![b'a'; 4_001]).file_name("big.bin");
    let r = c
        .post(format!("{}/Home/attachments", s.wiki_url("notes")))
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf", csrf.clone())
                .part("file", big),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let used: usize = ls_files(&repo).iter().map(|f| show(&repo, f).len()).sum();
    assert!(
        used < 40_000 - 4_000,
        "room for at least one upload: {used}"
    );
    let mut statuses = Vec::new();
    for i in 0..((40_000 - used) / 3_900 + 1) {
        let part =
            reqwest::multipart::Part::bytes(vec![b'a'; 3_900]).file_name(format!("f{i}.bin"));
        let r = c
            .post(format!("{}/Home/attachments", s.wiki_url("notes")))
            .multipart(
                reqwest::multipart::Form::new()
                    .text("csrf", csrf.clone())
                    .part("file", part),
            )
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        *statuses.last().unwrap(),
        413,
        "quota reached: {statuses:?}"
    );
    let size: usize = ls_files(&repo).iter().map(|f| show(&repo, f).len()).sum();
    assert!(size <= 40_000, "quota held: {size}");
    assert_eq!(
        commit_count(&repo),
        count + 1 + statuses.iter().filter(|s| **s == 303).count()
    );
    fsck(&repo);
}

#[tokio::test]
async fn live_preview_and_old_revisions() {
    let (s, c) = setup().await;
    let repo = s.repo("notes");
    let (csrf, base, _) = open_editor(&s, &c, "/Home").await;
    // Preview renders without saving, and needs the CSRF header.
    let count = commit_count(&repo);
    let r = c
        .post(format!("{}/Home/preview", s.wiki_url("notes")))
        .header("x-csrf-token", &csrf)
        .form(&[("content", "# Draft\n\n[[Agent Guide]] and [[Nowhere]] $x$")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.unwrap();
    let html = json["html"].as_str().unwrap();
    assert!(html.contains("<h1 id=\"draft\">"));
    assert!(html.contains("class=\"wikilink\" href=\"/Agent%20Guide\""));
    assert!(html.contains("class=\"wikilink missing\""));
    assert_eq!(json["needs_math"], true);
    let r = c
        .post(format!("{}/Home/preview", s.wiki_url("notes")))
        .form(&[("content", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    assert_eq!(commit_count(&repo), count);

    // The old version stays readable at its revision.
    let r = save(&s, &c, "/Home", &csrf, &base, "# Home\n\nThe new text.\n").await;
    assert_eq!(r.status(), 303);
    let old = c
        .get(format!(
            "{}/Home?revision={}",
            s.wiki_url("notes"),
            &base[..7]
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(old.contains("You are viewing revision"));
    assert!(!old.contains("The new text."));
    let new = c
        .get(format!("{}/Home", s.wiki_url("notes")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(new.contains("The new text."));
    let r = c
        .get(format!("{}/Home/view/{}", s.wiki_url("notes"), &base[..8]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/Home?revision=HEAD~1", s.wiki_url("notes")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "only hex revisions are accepted");
}

/// Issue 16: as Otterwiki, a public wiki tells crawlers where its pages are
/// (`robots.txt` with a sitemap of every page and the day it changed), and a private one
/// turns them away and has no sitemap, for anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_wikis_have_a_sitemap_and_private_ones_turn_crawlers_away() {
    let s = TestServer::start().await;
    s.add_user("did:plc:owner", "owner.test");
    s.create_wiki("open", "did:plc:owner", true);
    s.create_wiki("closed", "did:plc:owner", false);
    let c = s.client();
    let get = |url: String| {
        let c = c.clone();
        async move {
            let (status, ct, body) = fetch(&c, &url).await;
            (status, ct, String::from_utf8(body).unwrap())
        }
    };
    let open = s.wiki_url("open");
    let (st, ct, robots) = get(format!("{open}/robots.txt")).await;
    assert_eq!((st, ct.as_str()), (200, "text/plain; charset=utf-8"));
    assert!(
        robots.contains("Allow: /\n") && robots.contains("Disallow: /-/\n"),
        "{robots}"
    );
    assert!(
        robots.contains(&format!("Sitemap: {open}/sitemap.xml")),
        "{robots}"
    );
    let (st, ct, xml) = get(format!("{open}/sitemap.xml")).await;
    assert_eq!((st, ct.as_str()), (200, "application/xml; charset=utf-8"));
    assert!(
        xml.starts_with("<?xml")
            && xml.contains("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">")
    );
    assert!(xml.contains(&format!("<loc>{open}/Home</loc>")), "{xml}");
    assert!(
        xml.contains(&format!("<loc>{open}/Getting%20Started</loc>")),
        "{xml}"
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        xml.contains(&format!("<lastmod>{today}</lastmod>")),
        "{xml}"
    );
    assert_eq!(xml.matches("<url>").count(), 5, "the starter pages: {xml}");

    let closed = s.wiki_url("closed");
    let (st, _, robots) = get(format!("{closed}/robots.txt")).await;
    assert_eq!(st, 200);
    assert_eq!(robots, "User-agent: *\nDisallow: /\n");
    let (st, _, body) = get(format!("{closed}/sitemap.xml")).await;
    assert_eq!(st, 404, "{body}");
    // Not for the owner either: a sitemap is what anonymous crawlers may read.
    let (cookie, _) = s.session_for("did:plc:owner");
    let r = c
        .get(format!("{closed}/sitemap.xml"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn names_come_from_headings_and_folders_without_a_page_list_theirs() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("otter", OWNER, true);
    s.commit_outside(
        "otter",
        &[
            ("faq.md", "# FAQ\n\nQuestions.\n"),
            ("examples/attachmentlist.md", "# AttachmentList\n\nFiles.\n"),
            ("examples/deep/inner.md", "Not a heading.\n"),
            ("examples/other.md", "# Something else\n"),
        ],
    );
    let c = s.client();
    let base = s.wiki_url("otter");
    let get = |path: &str| {
        let (c, url) = (c.clone(), format!("{base}{path}"));
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // The index, the sidebar and the breadcrumbs write a page as its heading does.
    let (st, index) = get("/-/index").await;
    assert_eq!(st, 200);
    assert!(index.contains(">FAQ</a>"), "{index}");
    assert!(index.contains(">Examples/AttachmentList</a>"), "{index}");
    assert!(
        !index.contains("Attachmentlist") && !index.contains(">Faq<"),
        "{index}"
    );
    // A heading that is not the page's name leaves the name as the file gives it.
    assert!(index.contains(">Examples/Other</a>"), "{index}");
    let (st, page) = get("/examples/attachmentlist").await;
    assert_eq!(st, 200);
    assert!(page.contains("Examples › AttachmentList"), "{page}");
    assert!(
        page.contains("<a class=\"current\" href=\"/Examples/AttachmentList\">AttachmentList</a>"),
        "{page}"
    );
    // Folders in the sidebar are written as their pages write them, and are links.
    assert!(
        page.contains("<a href=\"/Examples\">Examples</a>"),
        "{page}"
    );
    // A folder without its own page is an index of the pages in it.
    let (st, folder) = get("/examples").await;
    assert_eq!(st, 200, "{folder}");
    assert!(
        folder.contains("<h1 class=\"page-title\">Examples</h1>"),
        "{folder}"
    );
    for (url, name) in [
        ("/Examples/AttachmentList", "AttachmentList"),
        ("/Examples/Deep/Inner", "Deep/Inner"),
        ("/Examples/Other", "Other"),
    ] {
        assert!(
            folder.contains(&format!("<a href=\"{url}\">{name}</a>")),
            "{name}: {folder}"
        );
    }
    let (st, _) = get("/examples/deep").await;
    assert_eq!(st, 200);
    let (st, _) = get("/nowhere").await;
    assert_eq!(st, 404);
    // The APIs name pages the same way.
    let api = c
        .get(format!("{base}/api/v1/pages"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        api.contains("\"FAQ\"") && api.contains("\"Examples/AttachmentList\""),
        "{api}"
    );
}

#[tokio::test]
async fn the_changelog_is_an_atom_and_an_rss_feed_for_those_who_may_read_it() {
    let s = TestServer::start().await;
    s.add_user(OWNER, "owner.test");
    s.create_wiki("open", OWNER, true);
    s.create_wiki("closed", OWNER, false);
    s.commit_outside("open", &[("news.md", "# News\n\n<b>&</b>\n")]);
    let c = s.client();
    let open = s.wiki_url("open");
    let r = c.get(format!("{open}/-/feed.atom")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let atom = r.text().await.unwrap();
    assert!(
        atom.starts_with("<?xml") && atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"),
        "{atom}"
    );
    // The newest commit first, with its author and the pages it changed.
    let first = &atom[atom.find("<entry>").unwrap()..];
    assert!(first.starts_with("<entry><title>import</title>"), "{atom}");
    assert!(
        first.contains("<author><name>Outsider</name></author>"),
        "{atom}"
    );
    assert!(first.contains("Changed: News."), "{atom}");
    assert!(
        atom.matches("<entry>").count() >= 2,
        "the starter commit too: {atom}"
    );
    let rss = c
        .get(format!("{open}/-/feed.rss"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rss.contains("<rss version=\"2.0\">") && rss.contains("<item><title>import</title>"),
        "{rss}"
    );
    assert!(
        rss.contains(&format!("<guid isPermaLink=\"true\">{open}/-/commit/")),
        "{rss}"
    );
    // Pages point readers at the feeds.
    let home = c
        .get(format!("{open}/Home"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("type=\"application/atom+xml\"") && home.contains("href=\"/-/feed.atom\"")
    );
    // A private wiki's feed is a read like any other: not for anonymous readers…
    let closed = s.wiki_url("closed");
    for feed in ["feed.atom", "feed.rss"] {
        let r = c.get(format!("{closed}/-/{feed}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{feed}");
        assert!(!r.text().await.unwrap().contains("<entry>"));
    }
    // …and for its owner, signed in.
    let (cookie, _) = s.session_for(OWNER);
    let r = c
        .get(format!("{closed}/-/feed.atom"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<entry>"));
}

#[tokio::test]
async fn drafts_are_kept_offered_restored_and_dropped_on_save() {
    let (s, c) = setup().await;
    let base = s.wiki_url("notes");
    let (csrf, revision, content) = open_editor(&s, &c, "/Home").await;
    let keep = |text: &str, rev: &str| {
        let (c, url) = (c.clone(), format!("{base}/-/drafts/save"));
        let pairs = [
            ("csrf", csrf.clone()),
            ("page", "Home".into()),
            ("content", text.into()),
            ("base_revision", rev.into()),
        ];
        async move {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&c, &url, &pairs).await.as_u16()
        }
    };
    assert_eq!(keep("# Home\n\nHalf a thought", &revision).await, 204);
    // Without the form's token nothing is kept.
    let refused = post_form(
        &c,
        &format!("{base}/-/drafts/save"),
        &[("page", "Home"), ("content", "x")],
    )
    .await;
    assert_eq!(refused, 403);
    // Reopening the editor offers the draft; the editor still holds the page.
    let edit = text_of(&c, &format!("{base}/Home/edit")).await;
    assert!(
        edit.contains("You have an unsaved draft of this page"),
        "{edit}"
    );
    assert!(
        edit.contains(&content.replace('\n', "&#10;")) || edit.contains("Welcome"),
        "{edit}"
    );
    // Restoring puts it in the editor, against the revision it was begun at.
    let restored = text_of(&c, &format!("{base}/Home/edit?draft=restore")).await;
    assert!(
        restored.contains("Half a thought") && restored.contains("The editor holds your draft"),
        "{restored}"
    );
    assert_eq!(
        input_value(&restored, "base_revision").as_deref(),
        Some(revision.as_str())
    );
    // Another person sees nothing of it.
    s.add_user("did:plc:other", "other.test");
    s.add_collaborator("notes", "did:plc:other", robot::access::Role::Editor);
    let other = s.client();
    s.login(&other, "did:plc:other", Some("notes")).await;
    let theirs = text_of(&other, &format!("{base}/Home/edit")).await;
    assert!(!theirs.contains("unsaved draft") && !theirs.contains("Half a thought"));
    // Saving the page drops the draft.
    let saved = post_form(
        &c,
        &format!("{base}/Home/save"),
        &[
            ("csrf", &csrf),
            ("base_revision", &revision),
            ("content", "# Home\n\nA whole thought.\n"),
        ],
    )
    .await;
    assert!(saved.is_success() || saved.is_redirection(), "{saved}");
    let edit = text_of(&c, &format!("{base}/Home/edit")).await;
    assert!(!edit.contains("unsaved draft"), "{edit}");
    // Discarding drops one too.
    let (_, revision, _) = open_editor(&s, &c, "/Home").await;
    assert_eq!(keep("# Home\n\nAnother", &revision).await, 204);
    let discarded = post_form(
        &c,
        &format!("{base}/-/drafts/discard"),
        &[("csrf", &csrf), ("page", "Home")],
    )
    .await;
    assert!(
        discarded.is_redirection() || discarded.is_success(),
        "{discarded}"
    );
    let edit = text_of(&c, &format!("{base}/Home/edit")).await;
    assert!(!edit.contains("unsaved draft"), "{edit}");
    // The repository holds only the saved page.
    assert!(show(&s.repo("notes"), "home.md").contains("A whole thought."));
}

/// The body of a GET.
async fn text_of(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

/// POSTs `pairs` as a form; the answer's status.
async fn post_form(c: &reqwest::Client, url: &str, pairs: &[(&str, &str)]) -> reqwest::StatusCode {
    c.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .unwrap()
        .status()
}
