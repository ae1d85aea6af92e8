//! `mamori`: the one binary. Thin by design: parses flags, then calls a service crate (offline
//! and `--data-dir` modes), the HTTP API (client mode) or the server.
//!
//! Exit codes: 0 success, 1 something was found or rejected, 2 usage or input error,
//! 3 runtime failure (server unreachable, store error).

mod bench;
mod client;
mod guard;
mod import;
mod inspect;
mod lookup;
mod org;
mod output;
mod trails;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mamori",
    version,
    about = "Self-hosted audit trail, threat detection and vulnerability inspection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How the CLI reaches a server: flags, then MAMORI_* environment, then the profile.
#[derive(Args, Clone, Debug, Default)]
pub struct Remote {
    /// Server URL, e.g. http://127.0.0.1:7878 [env: MAMORI_ENDPOINT]
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
    /// API key [env: MAMORI_KEY]
    #[arg(long, global = true, hide_env_values = true)]
    pub key: Option<String>,
    /// Profile in ~/.config/mamori/config.toml [env: MAMORI_PROFILE; default: default]
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Act on this member account (management account admin keys only)
    #[arg(long, global = true)]
    pub account: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API and background workers, on the embedded store
    Serve(ServeArgs),
    /// Organizations: accounts and API keys
    Org {
        #[command(subcommand)]
        command: org::OrgCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// The audit trail: import, look up, channels
    Trail {
        #[command(subcommand)]
        command: TrailCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Threat detection: hunt through log files offline
    Guard {
        #[command(subcommand)]
        command: guard::GuardCommand,
    },
    /// Vulnerability inspection: scan targets offline, manage the advisory database
    Inspect {
        #[command(subcommand)]
        command: inspect::InspectCommand,
    },
    /// Benchmarks on generated data (figures for the closing notes)
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7878]
    #[arg(long)]
    listen: Option<String>,
    /// Data directory [default: ./mamori-data]
    #[arg(long, env = "MAMORI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (flags override it)
    #[arg(long, env = "MAMORI_CONFIG")]
    config: Option<PathBuf>,
    /// On first start, write the admin key to this file (mode 0600) instead of printing it
    #[arg(long)]
    bootstrap_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TrailCommand {
    /// Import CloudTrail log files (.json, .json.gz, AWSLogs/ trees) into the event history
    Import(import::ImportArgs),
    /// Look up events, newest first (CloudTrail's lookup attributes, AND-ed)
    Lookup(lookup::LookupArgs),
    /// Channels for application events (like CloudTrail Lake's PutAuditEvents)
    Channels {
        #[command(subcommand)]
        command: org::ChannelCommand,
    },
    #[command(flatten)]
    Trails(trails::TrailsCommand),
}

pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<mamori_core::Config> {
    Ok(match path {
        Some(p) => mamori_core::Config::load(p)?,
        None => mamori_core::Config::default(),
    })
}

/// An error with the exit code it deserves.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Exit(2, msg.into()).into()
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    private_files();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAMORI_LOG")
                .unwrap_or_else(|_| "warn,mamori=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_broken_pipe();
    }
    // Blocking work (SQLite, parsing) runs on tokio's blocking threads: a bound keeps a burst of
    // requests from becoming hundreds of threads, each with its stack and allocator caches.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map(|x| x.0).unwrap_or(3);
            eprintln!("error: {}", output::sanitize(&format!("{e:#}")));
            ExitCode::from(code)
        }
    }
}

/// glibc gives each allocating thread its own arena (up to 8 per core) and does not reuse one
/// arena's free memory in another; and it raises its mmap threshold up to 32 MiB, so the large
/// buffers of ingest (decompressed files, request bodies) end up fragmenting the heap. Measured on
/// a 1 GB import: defaults peaked at ~360 MB RSS; 8 arenas with buffers of 1 MiB and more mmapped
/// (and so returned on free) peak at ~200 MB, at full speed (fewer arenas cost 5–20 % in lock
/// contention).
#[allow(unsafe_code)] // one libc call, its SAFETY comment below
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 8);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// The server's memory after a burst: glibc keeps freed memory in its arenas (a burst of
/// ingest leaves hundreds of MB resident though nothing holds them); every 10 s
/// `malloc_trim` gives the free pages back to the system. It takes a few milliseconds, on its
/// own thread.
#[allow(unsafe_code)] // one libc call, its SAFETY comment below
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(10));
                // SAFETY: malloc_trim only releases free memory; safe from any thread.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::warn!(error = %e, "cannot start the malloc-trim thread"));
}

/// `mamori trail lookup … | head`: when the reader goes away, end quietly as `cat` does
/// (the default action of SIGPIPE) instead of panicking in `println!`. Not for `serve`, whose
/// sockets report a closed peer as an error to handle.
#[allow(unsafe_code)] // one libc call, its SAFETY comment below
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Files mamori creates — databases, key files, delivered logs, findings — are readable by
/// their owner only, whatever umask the process was started with (it often runs as root).
#[allow(unsafe_code)] // one libc call, its SAFETY comment below
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(a) => {
            let mut config = load_config(a.config.as_deref())?;
            if let Some(l) = a.listen {
                config.listen = l;
            }
            if let Some(d) = a.data_dir {
                config.data_dir = d;
            }
            return_freed_memory();
            mamori_server::serve(mamori_server::ServeOptions {
                config,
                bootstrap_key_file: a.bootstrap_key_file,
            })
            .await?;
            Ok(0)
        }
        Command::Org { command, remote } => org::run(command, &remote).await,
        Command::Trail { command, remote } => match command {
            TrailCommand::Import(a) => import::run(a, &remote).await,
            TrailCommand::Lookup(a) => lookup::run(a, &remote).await,
            TrailCommand::Channels { command } => org::run_channels(command, &remote).await,
            TrailCommand::Trails(c) => trails::run(c, &remote).await,
        },
        Command::Inspect { command } => inspect::run(command).await,
        Command::Guard { command } => guard::run_remote(command).await,
        Command::Bench { command } => bench::run(command).await,
    }
}

/// The README's commands are this binary's commands: every `mamori …` line in its shell blocks
/// parses with this build's arguments, so the README cannot drift from the binary again.
#[cfg(test)]
mod readme {
    use clap::Parser;

    /// Splits a shell line into words: quotes group, `#` outside quotes starts a comment, and a
    /// pipe or redirection ends the command.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        let mut started = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    started = true;
                }
                (None, '#') if !started => break,
                (None, '|' | '>' | '<') => break,
                (None, c) if c.is_whitespace() => {
                    if started {
                        out.push(std::mem::take(&mut cur));
                        started = false;
                    }
                }
                (None, c) => {
                    cur.push(c);
                    started = true;
                }
            }
        }
        if started {
            out.push(cur);
        }
        out
    }

    #[test]
    fn every_readme_command_parses() {
        let readme = include_str!("../../../README.md");
        let mut in_shell = false;
        let mut checked = 0;
        for (n, line) in readme.lines().enumerate() {
            let t = line.trim();
            if t.starts_with("```") {
                in_shell = t == "```sh" || t == "```bash" || t == "```console";
                continue;
            }
            if !in_shell {
                continue;
            }
            // The command after a pipe is a command too (`… | mamori guard hunt -`).
            let cmd = match t.find("| mamori ") {
                Some(i) => &t[i + 2..],
                None if t.starts_with("mamori ") => t,
                None => continue,
            };
            let args = words(cmd);
            if let Err(e) = super::Cli::try_parse_from(&args) {
                panic!("README.md line {}: `{cmd}` does not parse:\n{e}", n + 1);
            }
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} README commands found");
    }

    /// The README's server configuration is one this build reads (unknown keys are refused).
    #[test]
    fn the_readme_configuration_parses() {
        let readme = include_str!("../../../README.md");
        let mut blocks = readme.split("```toml\n").skip(1);
        let server = blocks
            .find_map(|b| {
                let block = b.split("```").next()?;
                block.contains("[trail]").then_some(block)
            })
            .expect("a ```toml block with [trail] in the README");
        let c: mamori_core::Config = toml::from_str(server).unwrap();
        assert!(!c.server.s3_destinations.is_empty());
    }

    #[test]
    fn words_split_as_a_shell_does() {
        assert_eq!(
            words(r#"mamori a --b "c d" 'e#f' # comment"#),
            ["mamori", "a", "--b", "c d", "e#f"]
        );
        assert_eq!(words("mamori x > out.json"), ["mamori", "x"]);
    }
}
