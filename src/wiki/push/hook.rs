//! The hooks `git receive-pack` runs for a push, and how they reach the server.
//!
//! The hooks are two short shell scripts in the data directory (`hooks/`), given to git
//! with `core.hooksPath`. They talk with the server through two named pipes in the push's
//! own directory (`ROBOT_PUSH_DIR`), so the server needs no socket and the hooks no
//! program of ours:
//!
//! - `pre-receive` writes the quarantine path and git's `old new ref` lines, then `end`,
//!   to `updates`, and waits on `verdict`: the server's message lines, which git shows
//!   the pusher as `remote:` lines. It exits 0 (git then moves the ref) only if the
//!   server also left the file `accepted`.
//! - `post-receive` writes `received` to `updates`: the ref has moved, so the server can
//!   let other writers in (git may still be tidying up, `gc --auto`).
//!
//! The server also writes `exited` to `updates` when git exits, so it never waits on a
//! hook that will not run (the pack failed to unpack, the client went away).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The pre-receive hook. `ROBOT_PUSH_DIR` is set only by the server, for its own pushes.
const PRE_RECEIVE: &str = r#"#!/bin/sh
# Installed by robot: the ref updates of this push go to the robot server that runs it,
# with the pushed objects still in quarantine; its verdict comes back as remote: lines.
d="$ROBOT_PUSH_DIR"
if [ -z "$d" ] || [ ! -p "$d/updates" ]; then
    echo "robot: pushes are accepted only through the robot server" >&2
    exit 1
fi
{ printf 'quarantine %s\n' "$GIT_QUARANTINE_PATH"; cat; echo end; } > "$d/updates"
cat "$d/verdict" >&2
test -e "$d/accepted"
"#;

/// The post-receive hook: tells the server the ref moved.
const POST_RECEIVE: &str = r#"#!/bin/sh
# Installed by robot: tells the server running this push that the branch has moved.
d="$ROBOT_PUSH_DIR"
[ -n "$d" ] && [ -p "$d/updates" ] && echo received > "$d/updates"
exit 0
"#;

/// The named pipe the hooks write to, and the one the pre-receive hook reads from.
pub const UPDATES: &str = "updates";
pub const VERDICT: &str = "verdict";
/// Present when the server accepted the push.
pub const ACCEPTED: &str = "accepted";

/// Writes the hooks into `dir` (idempotent: rewritten only when they differ).
pub fn install(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in [("pre-receive", PRE_RECEIVE), ("post-receive", POST_RECEIVE)] {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, text)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    Ok(())
}

/// Makes a named pipe at `path` (readable and writable by us alone).
pub fn make_fifo(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens `updates` to read the hooks' lines. Read and write, so the open does not wait
/// for a writer and the pipe never reads as ended between two hooks' writes.
pub fn open_updates(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(UPDATES))
}

/// Hands the pre-receive hook its verdict: `accepted` first (when it is), then the
/// message lines on `verdict`, which the hook opens as soon as it has written its lines.
/// Gives up when `git_exited` is set: there is no hook left to tell.
pub fn send_verdict(
    dir: &Path,
    accepted: bool,
    lines: &[String],
    git_exited: &AtomicBool,
) -> io::Result<()> {
    if accepted {
        File::create(dir.join(ACCEPTED))?;
    }
    // Non-blocking, the open fails (ENXIO) until the hook has the pipe open to read.
    let mut pipe = loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.join(VERDICT))
        {
            Ok(p) => break p,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if git_exited.load(Ordering::Acquire) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    };
    let mut text = String::new();
    for l in lines {
        text.push_str("robot: ");
        text.push_str(l);
        text.push('\n');
    }
    // Far below the pipe's buffer, so the write completes at once. A hook that went away
    // is no error of ours: git reports the push as it ended.
    match pipe.write_all(text.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// After git exited: ends the server's wait for a hook that will not come.
pub fn wake(dir: &Path) {
    if let Ok(mut f) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join(UPDATES))
    {
        let _ = f.write_all(b"exited\n");
    }
}
