//! `[cache]` in `robot.toml`: one memory budget per kind of cache, and the limits on what
//! libgit2 keeps open. The defaults fit a 1 GiB box with room for the embedding model;
//! every cache is least recently used out first, so a wiki nobody reads costs nothing.
//!
//! Sizes are written `"64 MiB"`, `"512 KiB"`, `"1 GiB"` or as a number of bytes.

use std::fmt;

use serde::Deserialize;

/// A size in bytes, read from `"64 MiB"` or `67108864`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

impl ByteSize {
    pub const fn mib(n: usize) -> ByteSize {
        ByteSize(n * MIB)
    }

    pub fn bytes(self) -> usize {
        self.0
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<ByteSize, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let (number, unit) = (s[..split].trim(), s[split..].trim());
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not a size such as \"64 MiB\""))?;
        let scale = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => 1024 * MIB,
            _ => return Err(format!("{s:?}: the unit must be B, KiB, MiB or GiB")),
        };
        Ok(ByteSize((value * scale as f64) as usize))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} KiB", self.0.div_ceil(KIB))
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(ByteSize(n as usize)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Memory budgets, one per kind of cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Rendered pages (HTML, contents, links), by page version.
    pub pages: ByteSize,
    /// Page texts as stored, by version.
    pub texts: ByteSize,
    /// Thumbnails of image attachments.
    pub thumbnails: ByteSize,
    /// Open wikis: each one's page list and links, who last changed each page, and its
    /// repository handles.
    pub wikis: ByteSize,
    /// Each wiki's page tree, as the sidebar shows it.
    pub trees: ByteSize,
    /// Whole page views as anonymous readers of public wikis get them.
    pub views: ByteSize,
    /// Semantic indexes held loaded (each wiki's vectors).
    pub vectors: ByteSize,
    /// Git pack files libgit2 keeps open across all wikis (each is one descriptor).
    pub open_packs: usize,
    /// Memory libgit2 may map of pack files across all wikis.
    pub mapped_packs: ByteSize,
    /// Parsed git objects libgit2 keeps across all wikis.
    pub git_objects: ByteSize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            pages: ByteSize::mib(48),
            texts: ByteSize::mib(24),
            thumbnails: ByteSize::mib(16),
            wikis: ByteSize::mib(48),
            trees: ByteSize::mib(8),
            views: ByteSize::mib(64),
            vectors: ByteSize::mib(96),
            open_packs: 128,
            mapped_packs: ByteSize::mib(64),
            git_objects: ByteSize::mib(16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_operators_write_them() {
        assert_eq!("64 MiB".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("512KiB".parse(), Ok(ByteSize(512 << 10)));
        assert_eq!("1.5 GiB".parse(), Ok(ByteSize(3 << 29)));
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("0".parse(), Ok(ByteSize(0)));
        assert!("64 MB/s".parse::<ByteSize>().is_err());
        assert!("lots".parse::<ByteSize>().is_err());
        let c: CacheConfig = toml::from_str("pages = \"1 MiB\"\nwikis = 2048").unwrap();
        assert_eq!((c.pages.bytes(), c.wikis.bytes()), (1 << 20, 2048));
        assert_eq!(c.texts, CacheConfig::default().texts);
        assert_eq!(ByteSize::mib(48).to_string(), "48 MiB");
    }
}
