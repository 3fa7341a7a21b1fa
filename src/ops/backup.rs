//! Backups that restore. `robot backup` writes, into a new directory under `--to`:
//! - `robot.db`, an online copy by SQLite's backup API (consistent, writers keep going);
//! - `wikis/{slug}.bundle`, a git bundle of every wiki the copied database names;
//! - `indexes/{slug}.vectors.db`, each wiki's semantic index (an online copy), with the
//!   commit it reflects and the model that made it, unless `--without-indexes`: a
//!   restored index of the same model is used at once, and only pages changed since its
//!   commit are embedded again (rebuilding one takes about 50 s per full wiki on two cores);
//! - `keys/` only with `--include-keys` (without them, restored sessions and tokens signed
//!   by the old keys stop working, which is the safer default for copies that travel);
//! - `MANIFEST.json`: every file with its size and SHA-256, and each wiki's HEAD.
//!
//! The directory is written as `….partial` and renamed when complete, so a backup that is
//! there is whole. Older backups beyond `--keep` are removed.
//!
//! `robot restore FROM` fills an empty data directory: it checks every checksum first,
//! then unbundles each repository and runs `git fsck` on it, and puts each semantic index
//! back beside its repository. The full-text index is not in a backup (it is rebuilt at
//! start, in seconds); nor is a semantic index left out by `--without-indexes`, which the
//! server rebuilds by embedding every page.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub robot_version: String,
    pub created_at: i64,
    pub files: Vec<FileEntry>,
    pub wikis: Vec<WikiEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WikiEntry {
    pub slug: String,
    pub head: Option<String>,
    /// The wiki's semantic index in the backup, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexEntry>,
}

/// A semantic index in a backup: what it reflects.
#[derive(Debug, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The commit every page up to which is embedded in it.
    pub commit: Option<String>,
    /// The model that made its vectors (`embed::fingerprint`).
    pub model: Option<String>,
}

pub struct BackupOptions {
    pub to: PathBuf,
    pub include_keys: bool,
    /// Leave the semantic indexes out (they are then rebuilt after a restore).
    pub without_indexes: bool,
    /// Backups to keep in `to` (the new one included).
    pub keep: usize,
}

fn sha256_file(p: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

fn git(args: &[&str], dir: Option<&Path>) -> anyhow::Result<String> {
    let mut cmd = Command::new("git");
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what:>10} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"
    )) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}

/// Takes a backup; returns its directory.
pub fn backup(cfg: &Config, opts: &BackupOptions) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&opts.to)
        .with_context(|| format!("cannot create {}", opts.to.display()))?;
    // git runs inside each repository: paths must not be relative.
    let to = std::path::absolute(&opts.to)?;
    let opts = &BackupOptions {
        to,
        include_keys: opts.include_keys,
        without_indexes: opts.without_indexes,
        keep: opts.keep,
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let name = format!("robot-backup-{stamp}");
    let partial = opts.to.join(format!("{name}.partial"));
    let done = opts.to.join(&name);
    if done.exists() {
        bail!("{} already exists", done.display());
    }
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(partial.join("wikis"))?;

    // 1. The database, online.
    let db_copy = partial.join("robot.db");
    copy_sqlite(&cfg.db_path(), &db_copy)?;

    // 2. The repositories the copied database knows.
    let slugs: Vec<String> = {
        let copy = rusqlite::Connection::open(&db_copy)?;
        let mut stmt = copy.prepare("SELECT slug FROM wikis ORDER BY slug")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?
    };
    let progress = bar(slugs.len() as u64, "wikis");
    let mut wikis = Vec::new();
    for slug in &slugs {
        progress.set_message(slug.clone());
        // Its semantic index, before the repository: the index may then be behind the
        // bundle's HEAD (the pages changed in between are embedded after a restore), never
        // ahead of it.
        let vectors = cfg.wikis_dir().join(slug).join("index").join("vectors.db");
        let index = if opts.without_indexes || !vectors.exists() {
            None
        } else {
            std::fs::create_dir_all(partial.join("indexes"))?;
            let copy = partial.join("indexes").join(format!("{slug}.vectors.db"));
            copy_sqlite(&vectors, &copy).with_context(|| format!("copying {slug}'s index"))?;
            let store = crate::search::vectors::Store::at(&copy);
            Some(IndexEntry {
                commit: store.indexed_commit()?,
                model: store.model()?,
            })
        };
        let repo = std::path::absolute(cfg.wikis_dir().join(slug).join("repo.git"))?;
        let has_commits = git(
            &["rev-parse", "--verify", "-q", "refs/heads/main"],
            Some(&repo),
        )
        .is_ok();
        let mut head = None;
        if has_commits {
            let bundle = partial.join("wikis").join(format!("{slug}.bundle"));
            // A ref moving under `git bundle` can make one attempt fail; try again.
            let mut attempt = 0;
            loop {
                match git(
                    &[
                        "bundle",
                        "create",
                        "-q",
                        &bundle.to_string_lossy(),
                        "refs/heads/main",
                    ],
                    Some(&repo),
                ) {
                    Ok(_) => break,
                    Err(e) if attempt < 5 => {
                        tracing::debug!(wiki = %slug, error = %e, "retrying the bundle");
                        attempt += 1;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(e) => return Err(e.context(format!("bundling {slug}"))),
                }
            }
            // The HEAD the bundle holds (writes may have moved the branch since).
            head = git(
                &[
                    "bundle",
                    "list-heads",
                    &bundle.to_string_lossy(),
                    "refs/heads/main",
                ],
                Some(&repo),
            )?
            .split_whitespace()
            .next()
            .map(String::from);
        }
        wikis.push(WikiEntry {
            slug: slug.clone(),
            head,
            index,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();

    // 3. Keys, only when asked.
    if opts.include_keys && cfg.keys_dir().exists() {
        std::fs::create_dir_all(partial.join("keys"))?;
        for e in std::fs::read_dir(cfg.keys_dir())? {
            let e = e?;
            if e.file_type()?.is_file() {
                let to = partial.join("keys").join(e.file_name());
                crate::access::session::write_private(&to, &std::fs::read(e.path())?)?;
            }
        }
    }

    // 4. The manifest, then the rename that makes the backup visible.
    let mut files = Vec::new();
    for f in walk(&partial)? {
        let rel = f.strip_prefix(&partial)?.to_string_lossy().into_owned();
        let (bytes, sha256) = sha256_file(&f)?;
        files.push(FileEntry {
            path: rel,
            bytes,
            sha256,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        format: 1,
        robot_version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::db::now(),
        files,
        wikis,
    };
    std::fs::write(
        partial.join("MANIFEST.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    std::fs::rename(&partial, &done)?;
    prune(&opts.to, opts.keep.max(1))?;
    Ok(done)
}

/// Copies the SQLite database `from` to `to` online, by SQLite's backup API: one
/// consistent read, while writers go on (in WAL).
fn copy_sqlite(from: &Path, to: &Path) -> anyhow::Result<()> {
    let src =
        rusqlite::Connection::open(from).with_context(|| format!("opening {}", from.display()))?;
    src.busy_timeout(std::time::Duration::from_secs(30))?;
    let mut dst = rusqlite::Connection::open(to)?;
    let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
    // All pages in one step: one consistent read transaction.
    loop {
        match b.step(-1)? {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => continue,
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    Ok(())
}

/// Removes the oldest backups in `dir` beyond `keep`.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("robot-backup-") && !n.ends_with(".partial"))
        })
        .collect();
    all.sort();
    while all.len() > keep {
        let old = all.remove(0);
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

/// Restores a backup into the configured (empty) data directory.
pub fn restore(cfg: &Config, from: &Path) -> anyhow::Result<Manifest> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join("MANIFEST.json"))
            .with_context(|| format!("{} has no MANIFEST.json", from.display()))?,
    )
    .context("MANIFEST.json is not valid")?;
    if cfg.data_dir.exists() && std::fs::read_dir(&cfg.data_dir)?.next().is_some() {
        bail!(
            "{} is not empty: restore only into an empty data directory",
            cfg.data_dir.display()
        );
    }
    // Every checksum first: nothing is written from a damaged backup.
    let check = bar(manifest.files.len() as u64, "checking");
    for f in &manifest.files {
        if f.path.contains("..") || f.path.starts_with('/') {
            bail!("MANIFEST.json names an unsafe path {:?}", f.path);
        }
        let (bytes, sha) =
            sha256_file(&from.join(&f.path)).with_context(|| format!("{} is missing", f.path))?;
        if bytes != f.bytes || sha != f.sha256 {
            bail!(
                "{} does not match its checksum: the backup is damaged",
                f.path
            );
        }
        check.inc(1);
    }
    check.finish_and_clear();

    std::fs::create_dir_all(cfg.wikis_dir())?;
    std::fs::copy(from.join("robot.db"), cfg.db_path())?;
    if from.join("keys").exists() {
        std::fs::create_dir_all(cfg.keys_dir())?;
        for e in std::fs::read_dir(from.join("keys"))? {
            let e = e?;
            let to = cfg.keys_dir().join(e.file_name());
            crate::access::session::write_private(&to, &std::fs::read(e.path())?)?;
        }
    }
    let progress = bar(manifest.wikis.len() as u64, "wikis");
    for w in &manifest.wikis {
        progress.set_message(w.slug.clone());
        let repo = cfg.wikis_dir().join(&w.slug).join("repo.git");
        std::fs::create_dir_all(&repo)?;
        git(
            &["init", "-q", "--bare", "--initial-branch=main"],
            Some(&repo),
        )?;
        if let Some(head) = &w.head {
            let bundle = from.join("wikis").join(format!("{}.bundle", w.slug));
            git(
                &["fetch", "-q", &bundle.to_string_lossy(), "refs/*:refs/*"],
                Some(&repo),
            )
            .with_context(|| format!("unbundling {}", w.slug))?;
            let restored = git(&["rev-parse", "refs/heads/main"], Some(&repo))?;
            if restored.trim() != head {
                bail!(
                    "{}: restored HEAD {} is not {head}",
                    w.slug,
                    restored.trim()
                );
            }
        }
        git(&["fsck", "--full", "--no-progress"], Some(&repo))
            .with_context(|| format!("git fsck {}", w.slug))?;
        if w.index.is_some() {
            let index = cfg.wikis_dir().join(&w.slug).join("index");
            std::fs::create_dir_all(&index)?;
            std::fs::copy(
                from.join("indexes").join(format!("{}.vectors.db", w.slug)),
                index.join("vectors.db"),
            )
            .with_context(|| format!("restoring {}'s index", w.slug))?;
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(manifest)
}
