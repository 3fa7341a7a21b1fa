//! An in-memory picture of one wiki at one commit: its pages and their titles, every file's
//! size (for the quota), and the link graph (for backlinks, red links and orphans). Built
//! once per HEAD and advanced from the previous snapshot by reading only the files a new
//! commit changed, so a write costs the size of the write, not of the wiki.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use git2::{Oid, Repository};

use super::links;
use super::names::PageName;
use super::store;
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct PageEntry {
    /// The path as stored (`folder/two words.md`).
    pub path: String,
    pub name: PageName,
    /// Display title: the first heading when it matches the name, else the name's leaf.
    /// `name` is written with it (its last segment is the title).
    pub title: String,
    pub blob: Oid,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub head: Option<Oid>,
    /// Pages keyed by lowercased path, so lookups ignore case as Otterwiki's do.
    pub pages: BTreeMap<String, PageEntry>,
    /// Every file (pages and attachments): path → (blob, size).
    pub files: BTreeMap<String, (Oid, u64)>,
    pub total_bytes: u64,
    /// Page path → pages it links to (file paths, existing or not).
    pub links_out: HashMap<String, Vec<String>>,
    /// Page path → pages linking to it.
    pub links_in: HashMap<String, BTreeSet<String>>,
}

impl Snapshot {
    /// About how much memory the snapshot holds, for the `wikis` budget.
    pub fn heap_bytes(&self) -> usize {
        const SLOT: usize = 64;
        let pages: usize = self
            .pages
            .iter()
            .map(|(k, e)| k.len() + e.path.len() + e.name.as_str().len() + e.title.len() + 3 * SLOT)
            .sum();
        let files: usize = self.files.keys().map(|k| k.len() + SLOT).sum();
        let links_out: usize = self
            .links_out
            .iter()
            .map(|(k, v)| k.len() + SLOT + v.iter().map(|t| t.len() + 24).sum::<usize>())
            .sum();
        let links_in: usize = self
            .links_in
            .iter()
            .map(|(k, v)| k.len() + SLOT + v.iter().map(|t| t.len() + SLOT).sum::<usize>())
            .sum();
        pages + files + links_out + links_in
    }

    /// Builds the snapshot of `head` from scratch.
    pub fn build(repo: &Repository, head: Option<Oid>) -> Result<Snapshot> {
        let mut snap = Snapshot {
            head,
            ..Default::default()
        };
        let Some(h) = head else { return Ok(snap) };
        let files = store::list_files(repo, h)?;
        let mut page_sources = Vec::new();
        for (path, blob, size) in files {
            snap.total_bytes += size;
            snap.files.insert(path.clone(), (blob, size));
            if path.ends_with(".md") {
                let content = store::read_blob(repo, blob)?;
                page_sources.push((path, blob, size, content));
            }
        }
        for (path, blob, size, content) in &page_sources {
            snap.insert_page(path, *blob, *size, content);
        }
        for (path, _, _, content) in &page_sources {
            snap.set_links(path, &String::from_utf8_lossy(content));
        }
        Ok(snap)
    }

    /// The snapshot of `new_head`, computed from this one by reading only changed files.
    pub fn advance(&self, repo: &Repository, new_head: Option<Oid>) -> Result<Snapshot> {
        if self.head == new_head {
            return Ok(self.clone());
        }
        let (Some(_), Some(new)) = (self.head, new_head) else {
            return Snapshot::build(repo, new_head);
        };
        let changed = store::changed_paths(repo, self.head, Some(new))?;
        let mut snap = self.clone();
        snap.head = new_head;
        let tree = repo.find_commit(new)?.tree()?;
        let odb = repo.odb()?;
        let mut changed_pages = Vec::new();
        for path in changed {
            if let Some((_, size)) = snap.files.remove(&path) {
                snap.total_bytes -= size;
            }
            let lower = path.to_lowercase();
            if path.ends_with(".md") {
                snap.pages.remove(&lower);
                snap.clear_links(&lower);
            }
            let entry = match tree.get_path(std::path::Path::new(&path)) {
                Ok(e) if e.kind() == Some(git2::ObjectType::Blob) => Some(e.id()),
                _ => None,
            };
            if let Some(blob) = entry {
                let size = odb.read_header(blob)?.0 as u64;
                snap.total_bytes += size;
                snap.files.insert(path.clone(), (blob, size));
                if path.ends_with(".md") {
                    let content = store::read_blob(repo, blob)?;
                    snap.insert_page(&path, blob, size, &content);
                    changed_pages.push((path, content));
                }
            }
        }
        for (path, content) in changed_pages {
            snap.set_links(&path, &String::from_utf8_lossy(&content));
        }
        Ok(snap)
    }

    fn insert_page(&mut self, path: &str, blob: Oid, size: u64, content: &[u8]) {
        let name = PageName::from_path(path);
        let title = display_title(&name, content);
        let name = name.with_leaf(&title);
        self.pages.insert(
            path.to_lowercase(),
            PageEntry {
                path: path.to_string(),
                name,
                title,
                blob,
                size,
            },
        );
    }

    fn set_links(&mut self, path: &str, content: &str) {
        let lower = path.to_lowercase();
        let pages = &self.pages;
        let targets = links::outgoing(content, |p| pages.contains_key(p));
        for t in &targets {
            if *t != lower {
                self.links_in
                    .entry(t.clone())
                    .or_default()
                    .insert(lower.clone());
            }
        }
        self.links_out.insert(lower, targets);
    }

    fn clear_links(&mut self, lower: &str) {
        if let Some(old) = self.links_out.remove(lower) {
            for t in old {
                if let Some(set) = self.links_in.get_mut(&t) {
                    set.remove(lower);
                    if set.is_empty() {
                        self.links_in.remove(&t);
                    }
                }
            }
        }
    }

    pub fn page(&self, path: &str) -> Option<&PageEntry> {
        self.pages.get(&path.to_lowercase())
    }

    pub fn has_page(&self, path: &str) -> bool {
        self.pages.contains_key(&path.to_lowercase())
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Pages linking to `path`, as entries, sorted by name.
    pub fn backlinks(&self, path: &str) -> Vec<&PageEntry> {
        let mut v: Vec<&PageEntry> = self
            .links_in
            .get(&path.to_lowercase())
            .map(|s| s.iter().filter_map(|p| self.pages.get(p)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The names of the pages `path` links to (existing or not) and of those linking to it.
    pub fn link_names(&self, path: &str) -> (Vec<String>, Vec<String>) {
        let to = self
            .links_out
            .get(&path.to_lowercase())
            .map(|targets| {
                targets
                    .iter()
                    .map(|p| {
                        self.page(p)
                            .map(|e| e.name.to_string())
                            .unwrap_or_else(|| PageName::from_path(p).to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let from = self
            .backlinks(path)
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        (to, from)
    }

    /// The pages inside `folder`'s folder, at any depth, sorted by name: what a folder
    /// without a page of its own shows.
    pub fn pages_under(&self, folder: &PageName) -> Vec<&PageEntry> {
        let prefix = format!("{}/", folder.dir_path());
        let mut v: Vec<&PageEntry> = self
            .pages
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(_, e)| e)
            .collect();
        v.sort_by_key(|e| e.name.as_str().to_lowercase());
        v
    }

    /// The folder a page's attachments are in: beside its file as stored
    /// (`Folder/page.md` keeps them in `Folder/page/`), or, for a page not stored, where
    /// its file would be.
    pub fn attachment_dir(&self, page: &PageName) -> String {
        self.page(&page.file_path())
            .map(|e| e.path.trim_end_matches(".md").to_string())
            .unwrap_or_else(|| page.dir_path())
    }

    /// Files directly inside a page's folder that are not pages: its attachments.
    pub fn attachments(&self, page: &PageName) -> Vec<(String, Oid, u64)> {
        let prefix = format!("{}/", page.dir_path());
        self.files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/') && !p.ends_with(".md"))
            .map(|(p, (id, size))| (p[prefix.len()..].to_string(), *id, *size))
            .collect()
    }
}

/// Otterwiki's rule: the first heading in the first 512 bytes is the title if it matches
/// the file name ignoring case; otherwise the title-cased file name.
pub fn display_title(name: &PageName, content: &[u8]) -> String {
    let head = &content[..content.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let mut prev: Option<&str> = None;
    for line in text.lines() {
        let heading = if let Some(h) = line.strip_prefix('#') {
            Some(
                h.trim_start_matches('#')
                    .trim()
                    .trim_end_matches('#')
                    .trim(),
            )
        } else if !line.is_empty()
            && (line.chars().all(|c| c == '=') || line.chars().all(|c| c == '-'))
        {
            prev.map(str::trim).filter(|p| !p.is_empty())
        } else {
            None
        };
        if let Some(h) = heading {
            if h.eq_ignore_ascii_case(name.leaf()) || h.to_lowercase() == name.leaf().to_lowercase()
            {
                return h.to_string();
            }
            break;
        }
        prev = Some(line);
    }
    name.leaf().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiki::store::{Author, Change};

    #[test]
    fn advance_matches_a_fresh_build() {
        let dir = tempfile::tempdir().unwrap();
        let repo = store::init(&dir.path().join("r.git")).unwrap();
        let a = Author::robot();
        let w = |p: &str, s: &str| Change::Write {
            path: p.into(),
            content: s.as_bytes().to_vec(),
        };
        let c1 = store::commit(
            &repo,
            None,
            &[w("home.md", "# Home\n[[Other]]"), w("other.md", "x")],
            &a,
            "1",
        )
        .unwrap();
        let s1 = Snapshot::build(&repo, Some(c1)).unwrap();
        assert_eq!(s1.backlinks("other.md").len(), 1);
        let c2 = store::commit(
            &repo,
            Some(c1),
            &[
                w("home.md", "# Home\nno links"),
                w("other/pic.png", "PNG"),
                w("third.md", "[[Other]] [[Home]]"),
            ],
            &a,
            "2",
        )
        .unwrap();
        let advanced = s1.advance(&repo, Some(c2)).unwrap();
        let fresh = Snapshot::build(&repo, Some(c2)).unwrap();
        assert_eq!(advanced.total_bytes, fresh.total_bytes);
        assert_eq!(
            advanced.pages.keys().collect::<Vec<_>>(),
            fresh.pages.keys().collect::<Vec<_>>()
        );
        assert_eq!(advanced.links_in, fresh.links_in);
        assert_eq!(advanced.backlinks("other.md")[0].path, "third.md");
        let other = PageName::parse("Other").unwrap();
        assert_eq!(advanced.attachments(&other).len(), 1);
        assert_eq!(advanced.page("home.md").unwrap().title, "Home");
    }

    #[test]
    fn titles_follow_headings_only_when_they_match() {
        let n = PageName::parse("two words").unwrap();
        assert_eq!(display_title(&n, b"# Two Words\n"), "Two Words");
        assert_eq!(display_title(&n, b"Two WORDS\n===\n"), "Two WORDS");
        assert_eq!(display_title(&n, b"# Something else\n"), "two words");
    }
}
