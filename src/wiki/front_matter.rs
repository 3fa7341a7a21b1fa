//! YAML front matter (`---` … `---` at the very start of a page), read within bounds.
//!
//! Any writer can put anything here, so the reader is built for hostile input: it walks
//! the YAML parser's events itself (no recursive loader, no recursive drop or display of an
//! unbounded tree) and stops at the first limit it meets — the front matter's size, its
//! nesting depth, and a budget on the size of the values it builds, which aliases count
//! against by what they expand to (an alias bomb of a few hundred bytes would otherwise
//! grow to gigabytes). A front matter that breaks a limit is dropped, and the page says so;
//! the body still renders.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// The largest front matter read, in bytes.
pub const MAX_BYTES: usize = 64 * 1024;
/// The deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 16;
/// What the values may weigh once aliases are expanded: one unit a node plus its text's
/// bytes. Honest front matter weighs a few hundred units.
pub const MAX_WEIGHT: usize = 256 * 1024;

/// One property: a key and its value, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: Value,
}

/// A property's value: text, or a list of texts (nested structure is flattened to text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

impl Value {
    /// The value as one line (a list joined with ", ").
    pub fn display(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::List(items) => items.join(", "),
        }
    }
}

/// What the start of a page holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontMatter {
    /// No front matter (or YAML that does not parse to a mapping: then it is Markdown).
    None,
    /// The properties, in document order.
    Read(Vec<Property>),
    /// Front matter that breaks a limit: dropped, with the reason to show.
    Refused(String),
}

impl FrontMatter {
    pub fn properties(&self) -> &[Property] {
        match self {
            FrontMatter::Read(p) => p,
            _ => &[],
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties()
            .iter()
            .find(|p| p.key == key)
            .map(|p| &p.value)
    }

    /// The notice to show with the page, if the front matter was dropped.
    pub fn notice(&self) -> Option<String> {
        match self {
            FrontMatter::Refused(why) => Some(format!(
                "The front matter of this page was not read: {why}. The rest of the page is shown."
            )),
            _ => None,
        }
    }
}

/// Splits front matter from the body. The body is the whole page when there is none.
pub fn split(md: &str) -> (FrontMatter, &str) {
    let Some(rest) = md
        .strip_prefix("---\n")
        .or_else(|| md.strip_prefix("---\r\n"))
    else {
        return (FrontMatter::None, md);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t == "..." {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return match read(yaml) {
                Ok(Some(props)) => (FrontMatter::Read(props), body),
                // Not a mapping, or not YAML: the `---` lines are Markdown.
                Ok(None) => (FrontMatter::None, md),
                Err(Limit(why)) => (FrontMatter::Refused(why), body),
            };
        }
        offset += line.len();
    }
    (FrontMatter::None, md)
}

/// The page's body without its front matter.
pub fn body(md: &str) -> &str {
    split(md).1
}

/// A limit was reached; the text says which.
struct Limit(String);

/// A node of the bounded tree built from the parser's events.
#[derive(Clone)]
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// One line of text. Recursion is bounded by [`MAX_DEPTH`].
    fn display(&self) -> String {
        match self {
            Node::Scalar(s) => s.clone(),
            Node::Seq(items) => items
                .iter()
                .map(Node::display)
                .collect::<Vec<_>>()
                .join(", "),
            Node::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", k.display(), v.display()))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// An open sequence or mapping, with its anchor and its weight so far.
struct Open {
    anchor: usize,
    weight: usize,
    kind: OpenKind,
}

enum OpenKind {
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Reads the YAML between the delimiters: `Ok(None)` when it is not a mapping or not YAML.
fn read(yaml: &str) -> Result<Option<Vec<Property>>, Limit> {
    if yaml.len() > MAX_BYTES {
        return Err(Limit(format!("it is larger than {} KiB", MAX_BYTES / 1024)));
    }
    let mut parser = Parser::new_from_str(yaml);
    let mut stack: Vec<Open> = Vec::new();
    // Anchored nodes with their weight, for aliases (anchor ids are small integers).
    let mut anchors: std::collections::HashMap<usize, (Node, usize)> = Default::default();
    let mut total = 0usize;
    let mut root: Option<Node> = None;
    loop {
        let event = match parser.next_token() {
            Ok((ev, _)) => ev,
            Err(_) => return Ok(None),
        };
        // A finished node and its weight, to attach to its parent.
        let (node, weight, anchor) = match event {
            Event::StreamEnd | Event::DocumentEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart => continue,
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Limit(format!("it nests deeper than {MAX_DEPTH} levels")));
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    OpenKind::Seq(Vec::new())
                } else {
                    OpenKind::Map(Vec::new(), None)
                };
                stack.push(Open {
                    anchor,
                    weight: 1,
                    kind,
                });
                total += 1;
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = stack.pop() else {
                    return Ok(None);
                };
                let node = match open.kind {
                    OpenKind::Seq(items) => Node::Seq(items),
                    OpenKind::Map(pairs, _) => Node::Map(pairs),
                };
                (node, open.weight, open.anchor)
            }
            Event::Scalar(text, style, anchor, _) => {
                let text = match style {
                    TScalarStyle::Plain => plain_scalar(text),
                    _ => text,
                };
                let weight = 1 + text.len();
                total += weight;
                (Node::Scalar(text), weight, anchor)
            }
            Event::Alias(id) => {
                let Some((node, weight)) = anchors.get(&id) else {
                    return Ok(None);
                };
                total += weight;
                if total > MAX_WEIGHT {
                    return Err(Limit("its aliases expand too far".into()));
                }
                (node.clone(), *weight, 0)
            }
        };
        if total > MAX_WEIGHT {
            return Err(Limit(format!(
                "its values are larger than {} KiB",
                MAX_WEIGHT / 1024
            )));
        }
        if anchor > 0 {
            anchors.insert(anchor, (node.clone(), weight));
        }
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(parent) => {
                parent.weight += weight;
                match &mut parent.kind {
                    OpenKind::Seq(items) => items.push(node),
                    OpenKind::Map(pairs, key) => match key.take() {
                        None => *key = Some(node),
                        Some(k) => pairs.push((k, node)),
                    },
                }
            }
        }
    }
    Ok(match root {
        Some(Node::Map(pairs)) => Some(
            pairs
                .into_iter()
                .map(|(k, v)| Property {
                    key: k.display(),
                    value: match v {
                        Node::Seq(items) => Value::List(items.iter().map(Node::display).collect()),
                        other => Value::Text(other.display()),
                    },
                })
                .collect(),
        ),
        // An empty front matter block is an empty mapping.
        None => Some(Vec::new()),
        Some(_) => None,
    })
}

/// A plain scalar as YAML's core schema reads it: `~` and `null` are empty, numbers and
/// booleans keep their usual spelling.
fn plain_scalar(text: String) -> String {
    use yaml_rust2::Yaml;
    match Yaml::from_str(&text) {
        Yaml::Null => String::new(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(md: &str) -> Vec<(String, String)> {
        split(md)
            .0
            .properties()
            .iter()
            .map(|p| (p.key.clone(), p.value.display()))
            .collect()
    }

    #[test]
    fn reads_a_mapping_in_order() {
        let md = "---\ntitle: Hello\ntags: [a, b]\ncount: 0x10\nnone: ~\nnested: {x: 1, y: [2, 3]}\n---\nBody\n";
        assert_eq!(
            props(md),
            vec![
                ("title".into(), "Hello".into()),
                ("tags".into(), "a, b".into()),
                ("count".into(), "16".into()),
                ("none".into(), "".into()),
                ("nested".into(), "x: 1; y: 2, 3".into()),
            ]
        );
        assert_eq!(body(md), "Body\n");
        assert_eq!(
            split(md).0.get("tags"),
            Some(&Value::List(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn not_a_mapping_or_not_yaml_is_markdown() {
        for md in [
            "---\n- a\n- b\n---\nx",
            "---\n[unclosed\n---\nx",
            "---\nno end",
        ] {
            assert_eq!(split(md), (FrontMatter::None, md), "{md:?}");
        }
        assert_eq!(split("---\n---\nBody").0, FrontMatter::Read(vec![]));
    }

    #[test]
    fn aliases_resolve_within_the_budget() {
        let md = "---\nbase: &b [x, y]\ncopy: *b\n---\n";
        assert_eq!(props(md)[1], ("copy".into(), "x, y".into()));
    }

    /// Issue 12: a 443-byte alias bomb grew to gigabytes.
    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut md = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            md.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        md.push_str("---\nBody\n");
        let (fm, body) = split(&md);
        assert!(
            matches!(&fm, FrontMatter::Refused(why) if why.contains("alias")),
            "{fm:?}"
        );
        assert_eq!(body, "Body\n");
        assert!(fm.notice().unwrap().contains("not read"));
    }

    /// Issue 12: ten thousand nested block sequences overflowed the stack.
    #[test]
    fn deep_nesting_is_refused() {
        let md = format!("---\nk:\n  {}x\n---\nBody\n", "- ".repeat(10_000));
        let (fm, body) = split(&md);
        assert!(
            matches!(&fm, FrontMatter::Refused(why) if why.contains("deeper")),
            "{fm:?}"
        );
        assert_eq!(body, "Body\n");
        let flow = format!(
            "---\nk: {}x{}\n---\n",
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        assert!(matches!(
            split(&flow).0,
            FrontMatter::Refused(_) | FrontMatter::None
        ));
    }

    #[test]
    fn size_limits_hold() {
        let big = format!("---\nk: {}\n---\nBody", "x".repeat(MAX_BYTES + 1));
        assert!(matches!(split(&big).0, FrontMatter::Refused(_)));
        let unclosed = format!("---\n{}", "k: v\n".repeat(MAX_BYTES));
        assert_eq!(split(&unclosed).0, FrontMatter::None);
        // Each alias copies 60 KB of text: the budget stops it.
        let copies = format!(
            "---\na: &a {}\nb: [{}]\n---\n",
            "y".repeat(60_000),
            vec!["*a"; 100].join(", ")
        );
        assert!(matches!(split(&copies).0, FrontMatter::Refused(_)));
    }
}
