//! Markdown conformance: one fixture per dialect feature (`tests/fixtures/markdown/*.md`)
//! with the expected HTML beside it. `BLESS=1 cargo test markdown` rewrites the expected
//! files (review the diff before committing).

use std::path::Path;

use robot::wiki::markdown::render;
use robot::wiki::names::PageName;

#[test]
fn every_dialect_feature_renders_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/markdown");
    let page = PageName::parse("Test/Page").unwrap();
    let exists = |p: &str| p == "existing page.md";
    let mut failures = Vec::new();
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for md_path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        count += 1;
        let md = std::fs::read_to_string(md_path).unwrap();
        let html = render(&md, &page, &exists).html;
        let expected_path = md_path.with_extension("html");
        if std::env::var("BLESS").is_ok() {
            std::fs::write(&expected_path, &html).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        if html != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{html}",
                md_path.display()
            ));
        }
    }
    assert!(count >= 14, "fixtures found: {count}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn dialect_features_carry_their_markers() {
    // Independent of the golden files: the features a reader relies on are there.
    let page = PageName::parse("Test/Page").unwrap();
    let r = |md: &str| render(md, &page, &|p| p == "existing page.md");
    assert!(r("| a |\n|---|\n| 1 |\n").html.contains("<table>"));
    assert!(r("- [x] done\n").html.contains("type=\"checkbox\""));
    assert!(r("~~x~~").html.contains("<del>x</del>"));
    assert!(
        r("https://example.org")
            .html
            .contains("href=\"https://example.org\"")
    );
    assert!(r("x[^1]\n\n[^1]: y\n").html.contains("class=\"footnotes\""));
    assert!(r("[[Missing]]").html.contains("class=\"wikilink missing\""));
    assert!(
        r("[[Existing Page]]")
            .html
            .contains("class=\"wikilink\" href=\"/Existing%20Page\"")
    );
    assert!(r("> [!TIP]\n> t\n").html.contains("markdown-alert-tip"));
    assert!(r("```rust\nfn x() {}\n```").html.contains("hl-"));
    let m = r("$x$");
    assert!(m.needs_math && m.html.contains("data-math-style=\"inline\""));
    let d = r("```mermaid\ngraph TD;\n```");
    assert!(d.needs_mermaid && d.html.contains("<pre class=\"mermaid\">"));
    assert!(
        !r("plain").needs_math && !r("plain").needs_mermaid,
        "renderers load only when needed"
    );
    assert!(
        r("![a](./a.png)")
            .html
            .contains("src=\"/Test/Page/a/a.png\"")
    );
    let f = r("---\ncategory: x\n---\nbody");
    assert!(f.html.contains("<details class=\"frontmatter\""));
    assert_eq!(
        f.properties,
        vec![("category".to_string(), "x".to_string())]
    );
    let s = r("<script>x</script><a href=\"javascript:x\" onclick=\"y\">z</a>");
    assert!(
        !s.html.contains("<script")
            && !s.html.contains("javascript:")
            && !s.html.contains("onclick")
    );
}

/// The config formats wiki pages are full of are highlighted, not only programming
/// languages (syntect's own set has none of these; bat's grammars do).
#[test]
fn config_formats_are_highlighted() {
    let page = PageName::parse("Test/Page").unwrap();
    let r = |md: &str| render(md, &page, &|_| false);
    let blocks = [
        ("dockerfile", "FROM debian:13\nRUN apt-get update\n"),
        ("Dockerfile", "FROM debian:13\nCOPY . /app\n"),
        ("nginx", "server {\n    listen 80;\n    root /srv;\n}\n"),
        (
            "apache",
            "<VirtualHost *:80>\n  DocumentRoot /srv\n</VirtualHost>\n",
        ),
        ("ini", "[core]\nbare = true\n"),
        ("toml", "[server]\nport = 8080\n"),
        (
            "systemd",
            "[Unit]\nDescription=robot\n\n[Service]\nExecStart=/usr/bin/robot\n",
        ),
        ("yaml", "a: 1\nb: [x, y]\n"),
        ("diff", "-old\n+new\n"),
        ("shell", "echo $HOME | wc -c\n"),
        ("hcl", "resource \"a\" \"b\" {\n  x = 1\n}\n"),
    ];
    for (lang, code) in blocks {
        let html = r(&format!("```{lang}\n{code}```\n")).html;
        assert!(
            html.matches("class=\"hl-").count() > 2,
            "{lang} is highlighted: {html}"
        );
    }
    // An unknown language is shown as written, escaped.
    let plain = r("```nosuchlang\n<b>\n```\n").html;
    assert!(plain.contains("&lt;b&gt;") && !plain.contains("hl-"));
}
