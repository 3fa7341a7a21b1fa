//! The operation layer's shared state: everything an operation needs — configuration,
//! database, the wikis (the domain core), keys, the write-rate limiter, the search
//! indexes and semantic search, metrics — opened once from the data directory and
//! handed to every surface. Surfaces call into it; it knows none of them.

pub mod attachments;
pub mod drafts;
pub mod git;
pub mod manage;
pub mod op;
pub mod pages;
pub mod reads;
pub mod search;
pub mod signin;
pub mod status;

use std::sync::Arc;

use crate::access::session::Keys;
use crate::access::{Action, Caller};
use crate::cache::Budgeted;
use crate::config::Config;
use crate::db::Db;
use crate::http::views::{View, ViewKey};
use crate::search::index::Indexes;
use crate::wiki::Wikis;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub cfg: Arc<Config>,
    pub db: Db,
    pub wikis: Wikis,
    /// The search indexes of every wiki, kept current commit by commit.
    pub indexes: Indexes,
    pub keys: Arc<Keys>,
    pub highlight_css: Arc<String>,
    pub atproto: Arc<crate::atproto::Atproto>,
    /// The one write rate limiter, shared by every transport.
    pub limiter: Arc<crate::access::ratelimit::RateLimiter>,
    /// Clones and pushes served at once (each is a `git upload-pack` or `receive-pack`).
    pub clones: Arc<tokio::sync::Semaphore>,
    /// Search by meaning (off, with its reason, when the model is not installed).
    pub semantic: crate::search::semantic::Semantic,
    /// Request counters and latency histograms for `/metrics`.
    pub metrics: Arc<crate::ops::metrics::Metrics>,
    /// Each wiki's page tree (the sidebar) as HTML, at the HEAD it was drawn at
    /// (`[cache] trees`).
    pub trees: Arc<Budgeted<i64, PageTree>>,
    /// Whole page views for anonymous readers of public wikis (`[cache] views`).
    pub views: Arc<Budgeted<ViewKey, Arc<View>>>,
}

/// A wiki's page tree as HTML, and the HEAD it shows.
pub type PageTree = (Option<git2::Oid>, Arc<String>);

impl Services {
    /// Opens the data directory: creates it, the database (migrated) and the keys, and
    /// loads the embedding model when installed.
    pub fn open(cfg: Config) -> anyhow::Result<Services> {
        Self::open_inner(cfg, true)
    }

    /// The same without loading the model (operator commands that do not embed).
    pub fn open_without_model(cfg: Config) -> anyhow::Result<Services> {
        Self::open_inner(cfg, false)
    }

    fn open_inner(cfg: Config, load_model: bool) -> anyhow::Result<Services> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data dir {}: {e}", cfg.data_dir.display())
        })?;
        std::fs::create_dir_all(cfg.wikis_dir())?;
        crate::wiki::push::hook::install(&cfg.hooks_dir())?;
        let db = Db::open(&cfg.db_path())?;
        // libgit2 re-hashes every object it reads by default; the repositories are ours
        // and `git fsck` (backups, tests) checks them, so skip that on the hot path.
        git2::opts::strict_hash_verification(false);
        let keys = Keys::load_or_create(&cfg.keys_dir())?;
        let atproto = crate::atproto::Atproto::new(&cfg, db.clone(), keys.derive("atproto-store"))?;
        let limiter = crate::access::ratelimit::RateLimiter::new(
            cfg.limits.writes_per_minute,
            cfg.limits.write_burst,
        );
        let cfg = Arc::new(cfg);
        let indexes = Indexes::new(&cfg, db.clone());
        let wikis = Wikis::new(cfg.clone(), db.clone(), Arc::new(indexes.clone()));
        Ok(Services {
            semantic: if load_model {
                crate::search::semantic::Semantic::load(wikis.clone(), indexes.clone())
            } else {
                crate::search::semantic::Semantic::new(
                    wikis.clone(),
                    indexes.clone(),
                    None,
                    Some("the model is not loaded by this command".into()),
                )
            },
            wikis,
            indexes,
            trees: Arc::new(Budgeted::new("trees", cfg.cache.trees.bytes())),
            views: Arc::new(Budgeted::new("views", cfg.cache.views.bytes())),
            cfg,
            db,
            keys: Arc::new(keys),
            highlight_css: Arc::new(crate::wiki::markdown::highlight_css()),
            atproto: Arc::new(atproto),
            limiter: Arc::new(limiter),
            clones: Arc::new(tokio::sync::Semaphore::new(8)),
            metrics: Arc::default(),
        })
    }
}

impl Services {
    /// The write-rate rule, one for every surface: a request that changes state (an
    /// unsafe method; every MCP call is a POST) for any action but reading counts once
    /// against the caller and their address. Surfaces call it after the action was
    /// authorized and before any work. Refused with 429 and the seconds to wait.
    pub fn count_write(&self, caller: &Caller, action: Action) -> crate::error::Result<()> {
        count_write(&self.limiter, caller, action)
    }
}

/// [`Services::count_write`], with the limiter alone (for the blocking pool).
fn count_write(
    limiter: &crate::access::ratelimit::RateLimiter,
    caller: &Caller,
    action: Action,
) -> crate::error::Result<()> {
    if action == Action::Read || !caller.unsafe_method {
        return Ok(());
    }
    let mut keys = vec![format!("ip:{}", caller.ip)];
    keys.extend(caller.principal.rate_key());
    limiter.check(&keys)
}
