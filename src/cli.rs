//! The `robot` command: `serve` runs the server; the rest are operator tools that work on
//! the same data directory (safe while the server runs: SQLite is in WAL mode and git
//! writes go through the same compare-and-swap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::access::session::{hash_secret, random_token};
use crate::config::Config;
use crate::db::{sessions, users, wikis};
use crate::service::Services;
use crate::wiki::provision::CreateWiki;
use crate::wiki::store::Author;

/// robot: a self-hosted wiki platform. Each wiki is a git repository on its own subdomain,
/// readable and editable in the browser, over MCP and the REST API, and clonable with git.
#[derive(Debug, Parser)]
#[command(name = "robot", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./robot.toml when present). ROBOT_* variables override it.
    #[arg(long, global = true, env = "ROBOT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the data directory, database and keys on first start).
    Serve,
    /// Create the data directory, database and keys, then exit.
    Init,
    /// Create, list, import into and delete wikis.
    #[command(subcommand)]
    Wiki(WikiCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Operator tools.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Back up the database (online), every wiki's repository and semantic index, and a
    /// checksummed manifest.
    Backup {
        /// Where backups go (each in its own dated directory).
        #[arg(long, default_value = "backups")]
        to: PathBuf,
        /// Also copy the server's keys (sessions and tokens then stay valid after a restore).
        #[arg(long)]
        include_keys: bool,
        /// Leave out the semantic indexes (smaller; a restore then embeds every page again).
        #[arg(long)]
        without_indexes: bool,
        /// How many backups to keep in that directory.
        #[arg(long, default_value_t = 7)]
        keep: usize,
    },
    /// Restore a backup into an empty data directory, checking every checksum and
    /// `git fsck`-ing every repository. The full-text index is rebuilt when the server
    /// starts; restored semantic indexes are used, embedding only what changed since.
    Restore { from: PathBuf },
    /// Rebuild semantic-search indexes: re-embed every page of a wiki, or of all wikis.
    /// Safe while the server runs (both drain the same queue).
    Reindex(ReindexArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReindexArgs {
    /// The wiki to reindex.
    pub slug: Option<String>,
    /// Reindex every wiki.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum WikiCommand {
    /// Create a wiki owned by an existing user, filled with the starter pages.
    Create(CreateArgs),
    /// List all wikis.
    List,
    /// Delete a wiki and its repository (irreversible; take a backup first).
    Delete {
        slug: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Replace the wiki's access token (for Claude Code, git and the REST API) and print
    /// the new one. The old token stops working at once.
    Token { slug: String },
    /// Commit every file under DIR (Markdown pages and attachments) to a wiki in one commit.
    Import {
        slug: String,
        dir: PathBuf,
        /// Commit message.
        #[arg(long, default_value = "Import")]
        message: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subdomain and name of the wiki: 3–30 lowercase letters, digits and hyphens.
    pub slug: String,
    /// The owner, by handle (alice.bsky.social) or DID.
    #[arg(long)]
    pub owner: String,
    /// Display title (defaults to the slug).
    #[arg(long, default_value = "")]
    pub title: String,
    /// One-line description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Make the wiki publicly readable (wikis are private by default).
    #[arg(long)]
    pub public: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add (or update) a user by DID and handle.
    Add {
        #[arg(long)]
        did: String,
        #[arg(long)]
        handle: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List users.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print a single-use URL (valid 10 minutes) that signs a user in to the browser.
    LoginLink {
        /// The user's handle or DID.
        user: String,
        /// Where to land after signing in (a path on the root site).
        #[arg(long, default_value = "/")]
        return_to: String,
    },
    /// Seed an OAuth client's metadata document from a file, for a client whose
    /// `client_id` is an https URL this server cannot fetch (bot protection, a firewall).
    /// The copy is checked as a fetched one would be, and used whenever a fetch fails.
    ClientDocument {
        /// The client's `client_id`: the URL its document is published at.
        client_id: String,
        /// The document (JSON), as the client publishes it.
        file: PathBuf,
    },
}

/// `robot reindex`: queues every page of the chosen wikis and drains their queue here,
/// with a progress bar (rate and ETA), then prints a summary.
fn reindex(state: Services, args: ReindexArgs) -> anyhow::Result<()> {
    let sem = &state.semantic;
    if let Some(reason) = sem.off_reason() {
        anyhow::bail!("{reason}");
    }
    let conn = state.db.conn()?;
    let targets = match &args.slug {
        Some(slug) => {
            vec![wikis::by_slug(&conn, slug)?.ok_or_else(|| anyhow::anyhow!("no wiki {slug:?}"))?]
        }
        None => wikis::list(&conn)?,
    };
    drop(conn);
    let mut queued = 0;
    for w in &targets {
        queued += sem.request_reindex(w)?;
    }
    let bar = indicatif::ProgressBar::new(queued as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} pages  {per_sec}  ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let (mut pages, mut chunks, mut failed) = (0usize, 0usize, 0usize);
    for w in &targets {
        bar.set_prefix(w.slug.clone());
        loop {
            let r = sem.step(Some(w.id))?;
            if r.pages == 0 {
                break; // drained, or only pages backing off after a failure remain
            }
            pages += r.pages - r.failed;
            chunks += r.chunks;
            failed += r.failed;
            bar.inc(r.pages as u64);
        }
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "reindexed {pages} pages ({chunks} chunks) of {} wiki(s) in {secs:.1} s: {:.1} pages/s, {:.1} chunks/s",
        targets.len(),
        pages as f64 / secs,
        chunks as f64 / secs
    );
    if failed > 0 {
        anyhow::bail!(
            "{failed} page(s) failed and stay queued for retry: {}",
            sem.stats().last_error.unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs an operator command (everything but `serve`).
pub fn run_offline(cfg: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Reindex(args) => return reindex(Services::open(cfg)?, args),
        Command::Backup {
            to,
            include_keys,
            without_indexes,
            keep,
        } => {
            let dir = crate::ops::backup::backup(
                &cfg,
                &crate::ops::backup::BackupOptions {
                    to,
                    include_keys,
                    without_indexes,
                    keep,
                },
            )?;
            println!("backup written to {}", dir.display());
            return Ok(());
        }
        Command::Restore { from } => {
            let m = crate::ops::backup::restore(&cfg, &from)?;
            let indexed = m.wikis.iter().filter(|w| w.index.is_some()).count();
            println!(
                "restored {} wiki(s) from {} into {}, {indexed} with their semantic index; \
                 robot rebuilds the full-text index when it starts, and embeds only pages \
                 changed since each restored semantic index (all pages of a wiki without one)",
                m.wikis.len(),
                from.display(),
                cfg.data_dir.display()
            );
            return Ok(());
        }
        _ => {}
    }
    let state = Services::open_without_model(cfg)?;
    let conn = state.db.conn()?;
    match command {
        Command::Serve | Command::Reindex(_) | Command::Backup { .. } | Command::Restore { .. } => {
            unreachable!("handled above")
        }
        Command::Init => {
            println!("initialised {}", state.cfg.data_dir.display());
            println!("root site:  {}", state.cfg.root_url());
            println!("wikis at:   {}", state.cfg.wiki_url("{slug}"));
        }
        Command::User(UserCommand::Add { did, handle, name }) => {
            let u = users::upsert(&conn, &did, &handle, name.as_deref())?;
            println!("user {} ({})", u.handle, u.did);
        }
        Command::User(UserCommand::List) => {
            for u in users::list(&conn)? {
                println!("{}\t{}", u.did, u.handle);
            }
        }
        Command::Wiki(WikiCommand::Create(a)) => {
            let owner = users::find(&conn, &a.owner)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no user {:?}; add one with `robot user add --did DID --handle HANDLE`",
                    a.owner
                )
            })?;
            let wiki = state.wikis.create_wiki(&CreateWiki {
                slug: &a.slug,
                owner_did: &owner.did,
                title: &a.title,
                description: &a.description,
                is_public: a.public,
            })?;
            println!(
                "created {} at {}",
                wiki.slug,
                state.cfg.wiki_url(&wiki.slug)
            );
        }
        Command::Wiki(WikiCommand::List) => {
            for w in wikis::list(&conn)? {
                let visibility = if w.is_public { "public" } else { "private" };
                println!(
                    "{}\t{}\t{}\t{}",
                    w.slug,
                    visibility,
                    w.owner_did,
                    state.cfg.wiki_url(&w.slug)
                );
            }
        }
        Command::Wiki(WikiCommand::Delete { slug, yes }) => {
            let wiki =
                wikis::by_slug(&conn, &slug)?.ok_or_else(|| anyhow::anyhow!("no wiki {slug:?}"))?;
            if !yes {
                use std::io::{BufRead, Write};
                print!("Delete wiki {slug} and its whole history? Type the slug to confirm: ");
                std::io::stdout().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if line.trim() != slug {
                    anyhow::bail!("not confirmed; nothing deleted");
                }
            }
            state.wikis.delete_wiki(&wiki)?;
            println!("deleted {slug}");
        }
        Command::Wiki(WikiCommand::Token { slug }) => {
            let wiki =
                wikis::by_slug(&conn, &slug)?.ok_or_else(|| anyhow::anyhow!("no wiki {slug:?}"))?;
            let token = crate::access::tokens::regenerate(&conn, wiki.id)?;
            eprintln!("new access token for {slug} (shown once; the previous one is revoked):");
            println!("{token}");
        }
        Command::Wiki(WikiCommand::Import { slug, dir, message }) => {
            let wiki =
                wikis::by_slug(&conn, &slug)?.ok_or_else(|| anyhow::anyhow!("no wiki {slug:?}"))?;
            let owner = users::get(&conn, &wiki.owner_did)?;
            let author = owner
                .map(|u| Author {
                    name: u.handle,
                    email: u.did,
                })
                .unwrap_or_else(Author::robot);
            let (commit, pages) = state.wikis.import_dir(&wiki, &author, &dir, &message)?;
            println!(
                "imported {pages} pages into {slug} (commit {})",
                &commit[..7]
            );
        }
        Command::Admin(AdminCommand::LoginLink { user, return_to }) => {
            let u = users::find(&conn, &user)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "no user {user:?}; add one with `robot user add --did DID --handle HANDLE`"
                )
            })?;
            let token = random_token();
            sessions::create_link(&conn, &hash_secret(&token), &u.did, "login", 600)?;
            let mut url = format!("{}/auth/login-link?token={token}", state.cfg.root_url());
            if return_to != "/" {
                url.push_str(&format!(
                    "&return_to={}",
                    crate::http::urlencode(&return_to)
                ));
            }
            eprintln!(
                "single-use sign-in link for {} (valid 10 minutes):",
                u.handle
            );
            println!("{url}");
        }
        Command::Admin(AdminCommand::ClientDocument { client_id, file }) => {
            let body = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let client = crate::oauth::client_document::seed(&conn, &client_id, &body)?;
            println!(
                "stored the metadata document of {:?} ({}), redirecting to {}",
                client.client_name,
                client.client_id,
                client.redirect_uris.join(", ")
            );
        }
    }
    Ok(())
}
