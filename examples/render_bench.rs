//! Render cost on adversarial pages: each hostile shape at 10 KB, 100 KB and 1 MB (the
//! page size limit), rendered by the same `wiki::markdown::render` every surface uses.
//! Prints the median of five runs for each, the growth from 100 KB to 1 MB (10× means
//! linear), and each 1 MB figure over ordinary prose's of the same size, measured in the
//! same run (the ratio holds on a noisy machine; the absolute figure does not). Run with
//! `bench/render.sh`.

use std::time::{Duration, Instant};

use robot::wiki::markdown::render;

// The server's allocator (src/main.rs), so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use robot::wiki::names::PageName;

/// Renders timed per case and size; the median is reported.
const RUNS: usize = 5;

/// Repeats `unit` until the text is at least `size` bytes.
fn fill(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len().max(1) + 1)
}

/// `(name, generator)`: each makes a page of about the given size.
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(&'static str, Box<dyn Fn(usize) -> String>)> {
    vec![
        ("deep quotes", Box::new(|n| ">".repeat(n))),
        (
            "deep quotes, lazy lines",
            Box::new(|n| format!("{}\n{}", ">".repeat(n / 4), fill("a\n", n * 3 / 4))),
        ),
        ("nested lists", Box::new(|n| fill("- ", n))),
        ("nested ordered lists", Box::new(|n| fill("1. ", n))),
        (
            "list staircase",
            Box::new(|n| {
                let mut s = String::new();
                let mut d = 0;
                while s.len() < n {
                    s.push_str(&" ".repeat(2 * d));
                    s.push_str("- x\n");
                    d = (d + 1) % 400;
                }
                s
            }),
        ),
        ("deep divs", Box::new(|n| fill("<div>", n))),
        (
            "open tags",
            Box::new(|n| format!("<div {}", fill("<a ", n))),
        ),
        (
            "many attributes",
            Box::new(|n| {
                let mut s = String::from("<span ");
                let mut i = 0;
                while s.len() < n {
                    s.push_str(&format!("a{i} "));
                    i += 1;
                }
                s + ">x</span>"
            }),
        ),
        (
            "unclosed formatting",
            Box::new(|n| {
                let mut s = String::new();
                let mut i = 0;
                while s.len() < n {
                    s.push_str(&format!("<b class=c{i}><i>x\n\n"));
                    i += 1;
                }
                s
            }),
        ),
        (
            "emphasis runs",
            Box::new(|n| fill("*a **a ***a _a __a ", n)),
        ),
        ("open emphasis", Box::new(|n| fill("*", n))),
        (
            "matched emphasis",
            Box::new(|n| format!("{}a{}", "*".repeat(n / 2), "*".repeat(n / 2))),
        ),
        (
            "nested images",
            Box::new(|n| format!("{}a{}", "![".repeat(n / 6), "](b)".repeat(n / 6))),
        ),
        (
            "nested strikethrough",
            Box::new(|n| format!("{}a{}", "~~".repeat(n / 4), "~~".repeat(n / 4))),
        ),
        (
            "nested marks",
            Box::new(|n| format!("{}a{}", "==".repeat(n / 4), "==".repeat(n / 4))),
        ),
        ("open marks", Box::new(|n| fill("==a ", n))),
        ("marks with equals", Box::new(|n| fill("==a=b== ", n))),
        (
            "nested brackets",
            Box::new(|n| format!("{}{}", "[".repeat(n / 2), "]".repeat(n / 2))),
        ),
        ("open links", Box::new(|n| fill("[a](", n))),
        ("open images", Box::new(|n| fill("![", n))),
        (
            "backtick runs",
            Box::new(|n| {
                let mut s = String::new();
                let mut k = 1;
                while s.len() < n {
                    s.push_str(&"`".repeat(k));
                    s.push(' ');
                    k += 1;
                }
                s
            }),
        ),
        (
            "wikilinks",
            Box::new(|n| {
                let mut s = String::new();
                let mut i = 0;
                while s.len() < n {
                    s.push_str(&format!("[[Page {i}]] "));
                    i += 1;
                }
                s
            }),
        ),
        (
            "footnotes",
            Box::new(|n| {
                let mut s = String::new();
                let mut i = 0;
                while s.len() < n {
                    s.push_str(&format!("x[^{i}] [^{i}]: note\n\n"));
                    i += 1;
                }
                s
            }),
        ),
        (
            "wide table",
            Box::new(|n| {
                let cols = (n / 8).min(20_000);
                let mut s = format!("{}|\n{}|\n", "|a".repeat(cols), "|-".repeat(cols));
                s.push_str(&fill("|x\n", n.saturating_sub(s.len())));
                s
            }),
        ),
        ("headings", Box::new(|n| fill("# same\n", n))),
        ("pipe lines", Box::new(|n| fill("|x\n", n))),
        ("link definitions", Box::new(|n| fill("[a]: /u\n[a]\n", n))),
        // Otterwiki's blocks (wiki::dialect): many small ones, and one never closed.
        (
            "fancy blocks",
            Box::new(|n| fill("::: info\n# t\nx\n:::\n", n)),
        ),
        ("open fancy blocks", Box::new(|n| fill("::: info\n", n))),
        (
            "spoilers and folds",
            Box::new(|n| fill(">! a\n\n>| # b\n>| c\n\n", n)),
        ),
        ("autolinks", Box::new(|n| fill("www.a", n))),
        ("emails", Box::new(|n| fill("a@", n))),
        ("open comments", Box::new(|n| fill("<!-- ", n))),
        ("dollars", Box::new(|n| fill("$a", n))),
        ("entities", Box::new(|n| fill("&amp;&#x41;", n))),
        (
            "code block",
            Box::new(|n| format!("```rust\n{}\n```\n", fill("fn f() { let x = \"a\"; }\n", n))),
        ),
        (
            "code blocks",
            Box::new(|n| {
                let block = format!(
                    "```rust\n{}```\n\n",
                    "fn f() { let x = \"a\"; }\n".repeat(40)
                );
                fill(&block, n)
            }),
        ),
        (
            "front matter alias bomb",
            Box::new(|n| {
                let mut s = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
                for i in 1..10 {
                    let refs = vec![format!("*a{}", i - 1); 9].join(", ");
                    s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
                }
                s.push_str("---\n");
                s.push_str(&fill("text ", n));
                s
            }),
        ),
        (
            "front matter nesting",
            Box::new(|n| format!("---\nk:\n  {}x\n---\nbody\n", fill("- ", n))),
        ),
        (
            "front matter flow nesting",
            Box::new(|n| format!("---\nk: {}\n---\nbody\n", "[".repeat(n))),
        ),
        (
            "ordinary prose",
            Box::new(|n| {
                fill(
                    "## Section\n\nSome *text* with a [[Link]] and `code`, a [link](http://x.org).\n\n- item\n- item\n\n",
                    n,
                )
            }),
        ),
    ]
}

/// The median of `runs` renders.
fn median(md: &str, runs: usize) -> Duration {
    let page = PageName::parse("Bench/Page").expect("a valid page name");
    let exists = |p: &str| p.len().is_multiple_of(2);
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = render(md, &page, &exists);
            std::hint::black_box(out.html.len());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Runs `f` on a thread with the stack tokio gives its blocking pool (2 MiB), where the
/// server renders.
fn on_pool_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn a render thread")
        .join()
        .expect("the render thread finished")
}

fn main() {
    let sizes = [10_000usize, 100_000, 1_000_000];
    let only: Option<String> = std::env::args().nth(1);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let all = cases();
    // Ordinary prose at 1 MB, the yardstick every case is divided by.
    let prose = {
        let (_, make) = all
            .iter()
            .find(|(name, _)| *name == "ordinary prose")
            .expect("an ordinary prose case");
        let md = make(1_000_000);
        on_pool_stack(move || median(&md, RUNS))
    };
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "case", "10 KB ms", "100 KB ms", "1 MB ms", "1M/100K", "/prose"
    );
    let mut overall = Duration::ZERO;
    let mut overall_case = "";
    for (name, make) in &all {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let times: Vec<Duration> = sizes
            .iter()
            .map(|&n| {
                let md = make(n);
                on_pool_stack(move || median(&md, RUNS))
            })
            .collect();
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>10.2} {:>7.1}x {:>7.2}x",
            name,
            ms(times[0]),
            ms(times[1]),
            ms(times[2]),
            times[2].as_secs_f64() / times[1].as_secs_f64().max(1e-9),
            times[2].as_secs_f64() / prose.as_secs_f64().max(1e-9),
        );
        if times[2] > overall {
            overall = times[2];
            overall_case = name;
        }
    }
    println!(
        "worst 1 MB render: {:.1} ms ({overall_case}), {:.2}x ordinary prose's {:.1} ms",
        ms(overall),
        overall.as_secs_f64() / prose.as_secs_f64().max(1e-9),
        ms(prose)
    );
}
