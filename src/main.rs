//! The `robot` binary: parse the command line, load the configuration, set up logging,
//! then either serve or run an operator command. Errors become exit code 1 with a message.

use clap::Parser;
use robot::cli::{Cli, Command};
use robot::config::Config;

// A server allocates and frees many small buffers per request from several threads;
// mimalloc does that with less contention and less work than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (cfg, warnings) = Config::load(cli.config.as_deref())?;
    init_logging(&cfg, matches!(cli.command, Command::Serve));
    for w in warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        Command::Serve => {
            // Blocking work (git, SQLite, rendering) is CPU-bound on a small box: more
            // threads than this only queue inside the kernel instead of in tokio, and each
            // keeps its own allocator pages (unbounded, 64 connections over 10,000 wikis
            // took RSS from 234 to 408 MiB: bench/wikis.sh).
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .max_blocking_threads((8 * cores).max(16))
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(cfg.listen)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
                let state = robot::service::Services::open(cfg)?;
                tracing::info!(root = %state.cfg.root_url(), wikis = %state.cfg.wiki_url("{slug}"), data = %state.cfg.data_dir.display(), "robot starting");
                robot::server::serve(listener, state, robot::server::shutdown_signal()).await
            })
        }
        other => robot::cli::run_offline(cfg, other),
    }
}

fn init_logging(cfg: &Config, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&cfg.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Operator commands log to stderr so their stdout stays clean for scripts.
    if serving && cfg.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .init();
    } else if serving {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}
