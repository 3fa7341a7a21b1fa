//! The import graph between the top-level modules of `src/` runs one way (issue 13):
//!
//!   config, cache, error, http → db → wiki → search → access → atproto, ops → service
//!     → web, api, mcp, oauth, githttp (the surfaces) → server → cli
//!
//! A `crate::x…` path written in module `y` is an edge y → x. This test reads the
//! sources, and fails naming the edges when one points up a layer, when one surface
//! imports another, or when the modules form a cycle. A new top-level module must be
//! given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. Modules of one layer may import each other unless they are surfaces.
const LAYERS: &[&[&str]] = &[
    &["config", "cache", "error", "http"],
    &["db"],
    &["wiki"],
    &["search"],
    &["access"],
    &["atproto", "ops"],
    &["service"],
    &["web", "api", "mcp", "oauth", "githttp"],
    &["server"],
    &["cli"],
];

/// The surfaces: thin adapters over the service layer, each on its own.
const SURFACES: &[&str] = &["web", "api", "mcp", "oauth", "githttp"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for the crate root and the binary).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Source without comments, so prose that names a module is not an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                return "";
            }
            // A trailing comment: the last " // " outside of a string is close enough
            // for this code base (URLs in strings have no space before their "//").
            match line.find(" // ") {
                Some(i) if !line[..i].contains('"') => &line[..i],
                _ => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules named by `crate::x` paths, grouped imports (`crate::{x, y::z}`) included.
fn imported_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        // `mycrate::x` or `$crate::x` is not this crate.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Every edge between top-level modules, with one file that makes it.
fn edges() -> BTreeMap<(String, String), PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(&file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).expect("read source"));
        for to in imported_modules(&code) {
            if to != from {
                edges.entry((from.clone(), to)).or_insert(file.clone());
            }
        }
    }
    edges
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn shown(file: &Path) -> String {
    file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn every_module_has_a_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let unplaced: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(f))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these top-level modules a layer in tests/layering.rs: {unplaced:?}"
    );
}

#[test]
fn imports_run_down_the_layers() {
    let mut wrong = Vec::new();
    for ((from, to), file) in edges() {
        let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
            continue; // a name that is not a module of ours (`crate::Result`, say)
        };
        if lt > lf {
            wrong.push(format!(
                "{from} → {to} points up a layer ({})",
                shown(&file)
            ));
        } else if SURFACES.contains(&from.as_str()) && SURFACES.contains(&to.as_str()) {
            wrong.push(format!("surface {from} → surface {to} ({})", shown(&file)));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let edges = edges();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search; a back edge closes a cycle, reported with its path.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(i) = path.iter().position(|n| *n == node) {
            let mut ring: Vec<&str> = path[i..].to_vec();
            ring.push(node);
            cycles.push(ring.join(" → "));
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, cycles);
        }
        path.pop();
        done.insert(node);
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    let detail: Vec<String> = cycles
        .iter()
        .map(|c| {
            let names: Vec<&str> = c.split(" → ").collect();
            let files: Vec<String> = names
                .windows(2)
                .filter_map(|w| edges.get(&(w[0].to_string(), w[1].to_string())))
                .map(|f| shown(f))
                .collect();
            format!("{c} (edges made in {})", files.join(", "))
        })
        .collect();
    assert!(detail.is_empty(), "import cycles:\n{}", detail.join("\n"));
}

/// The surfaces reach the wikis only through service operations: none runs the domain
/// core on the blocking pool itself (`….wikis.run(…)`), or calls `access::authorize` to
/// decide on its own. What they may still ask the core directly is not an operation (a
/// repository's path for `git upload-pack`). Nor does a surface query the database: the
/// management app, sign-in and status pages read through `service` too. The OAuth
/// authorization server is the exception by design: clients, codes and tokens are its own
/// protocol's records, kept in `db::oauth`, and no other surface shares its steps.
#[test]
fn surfaces_call_operations_not_the_core() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let Some(module) = module_of(&file) else {
            continue;
        };
        if !SURFACES.contains(&module.as_str()) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).expect("read source"));
        let squeezed: String = code.split_whitespace().collect();
        for (needle, what) in [
            (".wikis.run(", "runs the domain core itself"),
            ("access::authorize(", "decides access itself"),
            (".db.run(", "queries the database itself"),
        ] {
            if needle == ".db.run(" && module == "oauth" {
                continue;
            }
            if squeezed.contains(needle) {
                wrong.push(format!("{} {what} ({needle})", shown(&file)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "surfaces that bypass the operation layer:\n{}",
        wrong.join("\n")
    );
}

/// The reader itself: grouped imports and comments are read as the compiler would.
#[test]
fn the_reader_finds_imports_and_skips_prose() {
    let code = code_of(
        "use crate::{db::Db, wiki};\n// crate::web is prose\nlet x = crate::search::fts::sync(); // crate::api\n",
    );
    let found = imported_modules(&code);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["db", "search", "wiki"]
    );
}
