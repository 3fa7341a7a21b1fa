//! `git push`: the real `git receive-pack` receives the objects, and the wiki decides.
//!
//! git keeps a push's objects in quarantine (a directory of its own under `objects/`)
//! until its pre-receive hook agrees; our hook hands the ref updates to
//! [`Wikis::receive_push`] (see [`hook`]), which, under the wiki's write lock, checks them
//! against the same rules as every other write ([`rules`]) with the quarantine in view.
//! A refusal leaves nothing behind: git deletes the quarantine and the ref stays where
//! it was. An acceptance keeps the lock until git has moved the ref, then brings the
//! derived state (snapshot, search, semantic queue) to the new HEAD before other writers
//! go on, exactly as a save does. A web save racing the push waits for the lock and then
//! meets a HEAD it did not start from: a conflict, never an overwrite; a push racing a
//! save meets the same compare-and-swap in [`rules::check`].

pub mod hook;
pub mod rules;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use git2::Repository;

use super::Wikis;
use crate::config::Config;
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use rules::{Accepted, RefUpdate, Refusal};

/// A push that takes longer than this is cut off (its quarantine is then dropped).
pub const DEADLINE: Duration = Duration::from_secs(600);
/// Ref updates read from one push; git sends one per ref pushed.
const MAX_UPDATES: usize = 1000;

/// The largest push request accepted: a pack of the whole quota, and some.
pub fn max_request_bytes(cfg: &Config) -> u64 {
    cfg.limits.max_wiki_bytes + 16 * 1024 * 1024
}

/// The configuration `git receive-pack` runs with, for the advertisement and the push
/// alike: our hooks, objects checked as they arrive, deletions and force pushes refused
/// (the hook refuses them first, with a clearer message), no push options or atomic
/// pushes advertised, the input capped, and what is acknowledged made durable.
pub fn receive_pack_config(cfg: &Config) -> Vec<OsString> {
    let mut hooks = OsString::from("core.hooksPath=");
    hooks.push(cfg.hooks_dir());
    let mut args = vec![OsString::from("-c"), hooks];
    for c in [
        "receive.fsckObjects=true".to_string(),
        "receive.denyDeletes=true".into(),
        "receive.denyNonFastForwards=true".into(),
        "receive.advertisePushOptions=false".into(),
        "receive.advertiseAtomic=false".into(),
        format!("receive.maxInputSize={}", max_request_bytes(cfg)),
        "core.fsync=committed".into(),
    ] {
        args.push("-c".into());
        args.push(c.into());
    }
    args
}

/// The directory of one push: the request body as it arrived, and the hooks' pipes.
/// Removed when dropped.
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    /// Makes a fresh workspace under the data directory's `run/`.
    pub fn create(cfg: &Config) -> Result<Workspace> {
        let dir = cfg
            .run_dir()
            .join(format!("push-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        let ws = Workspace { dir };
        hook::make_fifo(&ws.dir.join(hook::UPDATES))?;
        hook::make_fifo(&ws.dir.join(hook::VERDICT))?;
        Ok(ws)
    }

    /// Where the transport writes the request body (git's commands and the pack).
    pub fn request_path(&self) -> PathBuf {
        self.dir.join("request")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the workspaces a crash left behind (at start-up, before any push).
pub fn clear_leftovers(cfg: &Config) {
    if let Ok(entries) = std::fs::read_dir(cfg.run_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("push-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes the quarantine directories (`objects/incoming-*`) of pushes a crash cut
/// short in the bare repository at `git_dir` (at start-up; git removes its own on exit).
pub fn remove_quarantines(git_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(git_dir.join("objects")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("incoming-") {
                tracing::warn!(dir = %e.path().display(), "removed a push's leftover quarantine");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// What a push did.
pub struct PushOutcome {
    /// git's answer (its report and the `remote:` lines), for the client as it is.
    pub response: Vec<u8>,
    /// The range `main` moved by, when the push was accepted and the ref moved.
    pub moved: Option<Accepted>,
    /// Why the wiki refused the push, when it did.
    pub refused: Option<Refusal>,
}

impl Wikis {
    /// Runs `git receive-pack` on the request in `ws` for `wiki`, deciding on its ref
    /// updates under the wiki's write lock (see the module comment). The caller has
    /// authorized the push and counted it as one write.
    pub fn receive_push(&self, wiki: &Wiki, ws: &Workspace) -> Result<PushOutcome> {
        let cfg = self.config();
        let repo_path = self.repo_path(&wiki.slug);
        let body = std::fs::File::open(ws.request_path())?;
        let mut child = Command::new("git")
            .env_clear()
            .envs(super::store::git_env(&cfg.data_dir))
            .env("ROBOT_PUSH_DIR", &ws.dir)
            .args(receive_pack_config(cfg))
            .arg("receive-pack")
            .arg("--stateless-rpc")
            .arg(&repo_path)
            .stdin(body)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so the hooks go with it when it is cut off.
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run git receive-pack: {e}"))?;
        let group = child.id() as i32;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let response = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let errors = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut v);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            v
        });
        // One thread waits for git and then wakes whatever waits on a hook; another cuts
        // git off at the deadline.
        let exited = Arc::new(AtomicBool::new(false));
        let (status_tx, status_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let waiter = {
            let (exited, dir) = (exited.clone(), ws.dir.clone());
            std::thread::spawn(move || {
                let status = child.wait().ok();
                exited.store(true, Ordering::Release);
                hook::wake(&dir);
                let _ = done_tx.send(());
                let _ = status_tx.send(status);
            })
        };
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(DEADLINE)
            {
                tracing::warn!("push exceeded its deadline; stopped");
                kill_group(group);
            }
        });

        let decided = self.decide_push(wiki, &repo_path, ws, &exited);
        let _ = waiter.join();
        let status = status_rx.recv().ok().flatten();
        // Hooks left waiting on a pipe (a push cut off) go with git's process group.
        kill_group(group);
        let response = response.join().unwrap_or_default();
        let errors = errors.join().unwrap_or_default();
        if !errors.is_empty() {
            tracing::info!(stderr = %String::from_utf8_lossy(&errors), "git receive-pack");
        }
        if status.is_none_or(|s| !s.success()) {
            tracing::warn!(?status, "git receive-pack did not succeed");
        }
        let (moved, refused) = decided?;
        Ok(PushOutcome {
            response,
            moved,
            refused,
        })
    }

    /// Reads what the pre-receive hook sends, decides under the write lock, and waits
    /// (still under it) for git to move the ref when the push is accepted.
    fn decide_push(
        &self,
        wiki: &Wiki,
        repo_path: &Path,
        ws: &Workspace,
        exited: &AtomicBool,
    ) -> Result<(Option<Accepted>, Option<Refusal>)> {
        let mut lines = BufReader::new(hook::open_updates(&ws.dir)?).lines();
        let mut quarantine = None;
        let mut updates = Vec::new();
        let mut malformed = false;
        loop {
            let line = match lines.next() {
                Some(l) => l?,
                None => return Ok((None, None)),
            };
            match line.as_str() {
                // git ended without asking: it refused the pack itself, or the
                // client went away. Its report says why.
                "exited" => return Ok((None, None)),
                "end" => break,
                l if l.starts_with("quarantine ") => {
                    quarantine = Some(PathBuf::from(&l["quarantine ".len()..]));
                }
                l if updates.len() < MAX_UPDATES => match RefUpdate::parse(l) {
                    Some(u) => updates.push(u),
                    None => malformed = true,
                },
                _ => malformed = true,
            }
        }
        // The hook waits for exactly one verdict, whatever happens here.
        let answered = std::cell::Cell::new(false);
        let verdict = |accepted: bool, lines: &[String]| {
            answered.set(true);
            hook::send_verdict(&ws.dir, accepted, lines, exited)
        };
        if malformed || updates.len() >= MAX_UPDATES {
            verdict(false, &["push fewer refs at once: main alone".into()])?;
            return Ok((
                None,
                Some(Refusal(vec!["malformed or too many ref updates".into()])),
            ));
        }
        let limits = self.config().limits.clone();
        let outcome = self.write(wiki, |repo, snap| {
            let checked = open_with_quarantine(repo_path, quarantine.as_deref())
                .and_then(|q| rules::check(&q, snap, &updates, &limits));
            match checked {
                Ok(Ok(accepted)) => {
                    verdict(
                        true,
                        &[format!(
                            "{} new commit{} on main",
                            accepted.commits,
                            if accepted.commits == 1 { "" } else { "s" }
                        )],
                    )?;
                    wait_for_ref(&mut lines)?;
                    let moved = super::store::head(repo)? == Some(accepted.new);
                    Ok((moved.then_some(accepted), None))
                }
                Ok(Err(refusal)) => {
                    verdict(false, &refusal.0)?;
                    Ok((None, Some(refusal)))
                }
                Err(e) => Err(e),
            }
        });
        if outcome.is_err() && !answered.get() {
            let _ = verdict(
                false,
                &["the server could not check this push; try again".into()],
            );
        }
        outcome
    }
}

/// Waits for the post-receive hook's `received` (or git's exit).
fn wait_for_ref(lines: &mut std::io::Lines<BufReader<std::fs::File>>) -> Result<()> {
    for line in lines {
        if matches!(line?.as_str(), "received" | "exited") {
            break;
        }
    }
    Ok(())
}

/// The wiki's repository with the push's quarantined objects in view (a handle of its
/// own: the pooled ones must not keep a path that is about to disappear).
fn open_with_quarantine(repo_path: &Path, quarantine: Option<&Path>) -> Result<Repository> {
    let repo = super::store::open(repo_path)?;
    match quarantine {
        Some(q) if !q.as_os_str().is_empty() => {
            repo.odb()?.add_disk_alternate(q.to_str().ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("quarantine path is not UTF-8"))
            })?)?;
        }
        _ => {}
    }
    Ok(repo)
}

fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// The ids as git prints them, for the audit log.
pub fn describe(a: &Accepted) -> String {
    format!(
        "{}..{}",
        a.old.map(|o| o.to_string()).unwrap_or_default(),
        a.new
    )
}
