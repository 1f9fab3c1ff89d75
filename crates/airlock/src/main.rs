//! `airlock`: the daemon and its command-line tools.

mod fsck;
mod gc;
mod logging;
mod page;
mod server;
mod settings;
mod sync;
mod yum;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use settings::{Overrides, Settings};
use std::path::PathBuf;

/// One artifact mirror for air-gapped networks.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without one, embedded defaults apply.
    #[arg(short, long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the server.
    Serve {
        /// Listen address, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// online or offline (overrides the config).
        #[arg(long, value_parser = parse_mode)]
        mode: Option<airlock_core::Mode>,
    },
    /// Loads artifacts from a directory into the store.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// YUM repositories.
    Yum {
        #[command(subcommand)]
        what: YumCommand,
    },
    /// Fetches artifacts from upstreams into the store, ahead of offline use.
    Sync {
        #[command(subcommand)]
        what: SyncCommand,
    },
    /// Checks the index and the blob store against each other.
    Fsck {
        /// Fix what is found: drop rows whose blobs are gone or corrupt, and delete
        /// blob files no row points at (older than an hour).
        #[arg(long)]
        repair: bool,
        /// Re-hash every blob (slow: reads everything).
        #[arg(long)]
        verify: bool,
    },
    /// Deletes the blobs that no protocol references any more (see `[gc]`).
    Gc {
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reads a password on standard input and prints its argon2 hash for `[[users]]`.
    HashPassword,
    /// Prints the effective configuration (defaults, file, environment and flags merged).
    Config,
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// A Go module cache: `$GOMODCACHE` or its `cache/download`, including `sumdb/`.
    /// Module files are verified against the checksum database's files imported
    /// (or already stored); those that cannot be are refused unless kept.
    Gomodcache {
        /// The directory.
        dir: PathBuf,
        /// Store module files that cannot be verified (no record, not cached),
        /// marked unverified, instead of refusing them. Mismatches are always refused.
        #[arg(long)]
        keep_unverified: bool,
    },
}

#[derive(Subcommand, Debug)]
enum YumCommand {
    /// Adds RPM files to a hosted repository (each stored under its file name)
    /// and publishes the repository.
    Add {
        /// The repository's name, as in `[[yum.repositories]]`.
        repo: String,
        /// The .rpm files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum SyncCommand {
    /// Images from the `[[oci.upstreams]]` registries, e.g. `docker.io/library/alpine:3.20`
    /// or `registry.k8s.io/pause@sha256:…`, with everything they reference.
    Oci {
        /// The images.
        images: Vec<String>,
        /// A file listing more images, one per line (`#` starts a comment).
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// Keep only these platforms of a multi-platform image (`linux/amd64`,
        /// `linux/arm64/v8`; repeatable). The index keeps its original bytes and digest.
        #[arg(long = "platform")]
        platforms: Vec<airlock_oci::sync::Platform>,
    },
    /// Python: the dependency closure of a requirements file, into a mirror index.
    Pypi {
        /// The mirror index, e.g. root/pypi.
        #[arg(long)]
        index: String,
        /// A requirements file (PEP 508 lines; options and hashes are ignored).
        #[arg(short = 'r', long = "requirement")]
        requirements: PathBuf,
        /// Wheel platform tags accepted besides `any` (repeatable); default: all.
        #[arg(long)]
        platform: Vec<String>,
        /// The target Python (e.g. 3.11): wheel tags, Requires-Python and markers.
        #[arg(long)]
        python_version: Option<String>,
        /// Projects taken as wheels only, comma-separated; `:all:` for every one.
        #[arg(long, value_delimiter = ',')]
        only_binary: Vec<String>,
    },
    /// A YUM mirror repository from its upstream: every metadata record and
    /// package, checked, into a new snapshot that clients see only once complete.
    Yum {
        /// The mirror's name, as in `[[yum.repositories]]`.
        repo: String,
    },
}

fn parse_mode(s: &str) -> Result<airlock_core::Mode, String> {
    match s {
        "online" => Ok(airlock_core::Mode::Online),
        "offline" => Ok(airlock_core::Mode::Offline),
        _ => Err("expected online or offline".into()),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: {}", logging::Chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        ..Overrides::default()
    };
    if let Command::Serve { listen, mode } = &cli.command {
        overrides.listen = listen.clone();
        overrides.mode = *mode;
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
    };
    match cli.command {
        Command::Serve { .. } => {
            let _log = logging::init(&settings.log);
            if !settings.ignored_env.is_empty() {
                tracing::warn!(
                    variables = %settings.ignored_env.join(","),
                    "ignoring AIRLOCK_ environment variables that name no setting"
                );
            }
            actix_web::rt::System::new().block_on(server::serve(settings))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Import {
            what:
                ImportCommand::Gomodcache {
                    dir,
                    keep_unverified,
                },
        } => {
            let _log = logging::init("warn");
            runtime()?.block_on(server::import_gomodcache(settings, &dir, keep_unverified))
        }
        Command::Yum {
            what: YumCommand::Add { repo, files },
        } => {
            // The publish's info line (packages, time) is the command's report too.
            let _log = logging::init("warn,airlock_yum::publish=info");
            runtime()?.block_on(yum::add(settings, &repo, &files))
        }
        Command::Sync {
            what:
                SyncCommand::Oci {
                    images,
                    file,
                    platforms,
                },
        } => {
            let _log = logging::init("warn");
            let images = sync::image_list(images, file.as_deref())?;
            runtime()?.block_on(sync::oci(settings, &images, &platforms))
        }
        Command::Fsck { repair, verify } => {
            let _log = logging::init("warn");
            runtime()?.block_on(fsck::run(settings, repair, verify))
        }
        Command::Gc { dry_run } => {
            let _log = logging::init("warn");
            runtime()?.block_on(gc::run(settings, dry_run))
        }
        Command::Sync {
            what:
                SyncCommand::Pypi {
                    index,
                    requirements,
                    platform,
                    python_version,
                    only_binary,
                },
        } => {
            let _log = logging::init("warn");
            let options = airlock_pypi::sync::SyncOptions {
                python_version,
                platforms: platform,
                only_binary,
            };
            runtime()?.block_on(sync::pypi(settings, &index, &requirements, options))
        }
        Command::Sync {
            what: SyncCommand::Yum { repo },
        } => {
            let _log = logging::init("warn");
            runtime()?.block_on(sync::yum(settings, &repo))
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "empty password");
            let hash =
                airlock_core::auth::hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{hash}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Config => {
            print!(
                "{}",
                toml::to_string(&settings).context("rendering the configuration")?
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
