//! Operating the service: the audit log, health facts, backups and restores, and the
//! janitor.

pub mod audit;
pub mod backup;
pub mod janitor;
pub mod metrics;

use std::path::Path;

/// Free bytes on the file system holding `path` (from `df`, which every Debian has).
pub fn disk_free_bytes(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}
