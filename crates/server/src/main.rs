//! `keel`: one server for OpenAlert and MindfulCRM.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keel_platform::accounts::{self, NewAccount};
use keel_platform::config::{Backend, Config, Overrides};
use keel_platform::domain::OrgRole;
use tokio::sync::watch;

/// mimalloc instead of the system allocator: request handling allocates and frees many small
/// buffers across threads, where glibc's allocator spends a fifth of the CPU (see
/// docs/benchmarks.md, alert ingestion). Built without transparent huge pages (`no_thp`):
/// with them every touched 2 MiB of its arena was resident, 28 MiB of an idle server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "OpenAlert (incident response) and MindfulCRM (relationship CRM) in one server"
)]
struct Cli {
    /// Configuration file (TOML). Optional; `keel.toml` in the working directory is read if present.
    #[arg(long, global = true, env = "KEEL_CONFIG", default_value = "keel.toml")]
    config: PathBuf,
    /// Address to listen on [default: 127.0.0.1:8080; env: KEEL_LISTEN]
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Directory for the embedded database, key file and mail drop [default: ./data; env: KEEL_DATA_DIR]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy the embedded database to a file while the server runs (PostgreSQL: prints the pg_dump recipe).
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore the embedded database from a `keel backup` file into an empty data directory,
    /// check it and apply newer migrations (PostgreSQL: prints the pg_restore recipe).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Copy this embedded (SQLite) installation into a new, empty PostgreSQL database: every
    /// table, ids included, checked row counts, in one transaction. Stop keel first; then
    /// point KEEL_DATABASE_URL at the new database and keep the same secret key.
    MigrateTo {
        /// The PostgreSQL database to fill (postgres://user@host:5432/db).
        #[arg(long)]
        database_url: String,
    },
    /// Validate the configuration and print a summary.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask a running server whether it is ready (`/readyz`): exit 0 if so, 1 if not. For
    /// container and service-manager health checks.
    Healthcheck {
        /// The readiness address [default: /readyz on the configured listen address].
        #[arg(long)]
        url: Option<String>,
    },
    /// Benchmarks against a server started in this process on a fresh database.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// MindfulCRM tools.
    #[command(subcommand)]
    Crm(CrmCommand),
    /// OpenAlert tools.
    #[command(subcommand)]
    Openalert(OpenalertCommand),
}

#[derive(Subcommand)]
enum OpenalertCommand {
    /// Add generated teams, people, services, incidents and pages (for demos and benchmarks).
    Seed {
        #[arg(long, default_value_t = 10_000)]
        incidents: usize,
        #[arg(long, default_value_t = 3)]
        teams: usize,
        /// Spread the incidents over this many days up to now.
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum CrmCommand {
    /// Add generated contacts and interactions to a user's CRM (for demos and benchmarks).
    Seed {
        /// The user's email.
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 1_000)]
        contacts: usize,
        #[arg(long, default_value_t = 10_000)]
        interactions: usize,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// POST /v2/enqueue throughput and latency, mixing new and duplicate dedup keys.
    Ingest {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Share of events that repeat an earlier dedup key.
        #[arg(long, default_value_t = 0.5)]
        duplicates: f64,
        /// Runs, each on a fresh database.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// After each run, the same load on Prometheus Alertmanager's own intake (started from
        /// `prometheus-alertmanager` on PATH), and the throughput ratio.
        #[arg(long)]
        versus_alertmanager: bool,
    },
    /// Many incidents' first escalation steps falling due within seconds: how late each is
    /// taken, by one engine or several on the same database.
    Escalation {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        incidents: usize,
        /// Seconds over which the steps fall due.
        #[arg(long, default_value_t = 6)]
        spread_seconds: u64,
        /// Engines running at once on the same database, as separate nodes would.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
    /// A status page's public summary.json and HTML page under concurrent reads.
    Status {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 50)]
        components: usize,
        /// Days of status history behind each component.
        #[arg(long, default_value_t = 730)]
        days: usize,
        /// Requests per document.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// OpenAlert's Analytics page and API at a seeded incident history.
    Analytics {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 1_000_000)]
        incidents: usize,
        #[arg(long, default_value_t = 10)]
        teams: usize,
        #[arg(long, default_value_t = 730)]
        days: i64,
        /// Requests per measured endpoint.
        #[arg(long, default_value_t = 100)]
        requests: usize,
    },
    /// A mixed load (ingest, incident reads and acknowledgements, CRM reads and writes,
    /// WebSocket clients) for some minutes, printing throughput, p99 and memory each minute.
    Soak {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        #[arg(long, default_value_t = 20)]
        websockets: usize,
    },
    /// MindfulCRM page and API latency at a seeded size.
    Crm {
        /// PostgreSQL URL to measure instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        contacts: usize,
        #[arg(long, default_value_t = 1_000_000)]
        interactions: usize,
        /// Requests per measured endpoint.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the e-mail before @]
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the user an organisation admin.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password (read from standard input) and end their sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a personal API token for a user and print it (once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen.clone(),
        data_dir: cli.data_dir.clone(),
    };
    let (config, warnings) = match Config::load(Some(&cli.config), &overrides) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("keel: {err}");
            return ExitCode::from(2);
        }
    };
    keel_server::logging::init(config.log_json);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("keel: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keel: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

fn explain(err: keel_platform::AppError) -> anyhow::Error {
    match err {
        keel_platform::AppError::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Config(ConfigCommand::Check) => {
            print!("{}", config.describe());
            println!("configuration OK");
            Ok(())
        }
        Command::Backup { to } => backup(config, to).await,
        Command::Restore { from } => restore(config, from).await,
        Command::MigrateTo { database_url } => {
            let copied = keel_server::migrate_to::migrate_to(&config, &database_url).await?;
            for (table, rows) in &copied.tables {
                println!("{rows:>10}  {table}");
            }
            let rows: i64 = copied.tables.iter().map(|(_, n)| n).sum();
            println!(
                "copied {rows} rows in {} tables in {:.1} s; search indexes rebuilt by PostgreSQL",
                copied.tables.len(),
                copied.seconds
            );
            if !copied.left_behind.is_empty() {
                println!(
                    "SQLite's own tables, not needed there: {}",
                    copied.left_behind.join(", ")
                );
            }
            println!(
                "next: set KEEL_DATABASE_URL to the new database, keep the secret key (secret.key or \
                 KEEL_SECRET_KEY), and start keel"
            );
            Ok(())
        }
        Command::Healthcheck { url } => healthcheck(&config, url).await,
        Command::Bench(BenchCommand::Ingest {
            database_url,
            events,
            connections,
            duplicates,
            runs,
            versus_alertmanager,
        }) => {
            keel_server::bench::ingest(keel_server::bench::IngestBench {
                database_url,
                events,
                connections,
                runs,
                versus_alertmanager,
                duplicates,
            })
            .await
        }
        Command::Bench(BenchCommand::Escalation {
            database_url,
            incidents,
            spread_seconds,
            nodes,
        }) => {
            keel_server::bench::escalation(keel_server::bench::EscalationBench {
                database_url,
                incidents,
                spread_seconds,
                nodes,
            })
            .await
        }
        Command::Bench(BenchCommand::Status {
            database_url,
            components,
            days,
            requests,
            connections,
        }) => {
            keel_server::bench::status(keel_server::bench::StatusBench {
                database_url,
                components,
                days,
                requests,
                connections,
            })
            .await
        }
        Command::Bench(BenchCommand::Crm {
            database_url,
            contacts,
            interactions,
            requests,
        }) => {
            keel_server::bench::crm(keel_server::bench::CrmBench {
                database_url,
                contacts,
                interactions,
                requests,
            })
            .await
        }
        Command::Bench(BenchCommand::Analytics {
            database_url,
            incidents,
            teams,
            days,
            requests,
        }) => {
            keel_server::bench::analytics(keel_server::bench::AnalyticsBench {
                database_url,
                incidents,
                teams,
                days,
                requests,
            })
            .await
        }
        Command::Bench(BenchCommand::Soak {
            database_url,
            minutes,
            websockets,
        }) => {
            keel_server::bench::soak(keel_server::bench::SoakBench {
                database_url,
                minutes,
                websockets,
            })
            .await
        }
        Command::Serve => serve(config).await,
        command => {
            let platform = keel_server::platform(config, keel_server::system_clock()).await?;
            match command {
                Command::Migrate => println!("migrations applied"),
                Command::User(UserCommand::Create {
                    email, name, admin, ..
                }) => {
                    let password = read_password()?;
                    let name = name
                        .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
                    let role = if admin {
                        OrgRole::Admin
                    } else {
                        OrgRole::Member
                    };
                    let user = accounts::create_user_cli(
                        &platform,
                        NewAccount {
                            email: &email,
                            name: &name,
                            password: &password,
                        },
                        role,
                    )
                    .await
                    .map_err(explain)?;
                    println!(
                        "created {} user {} (id {})",
                        role.as_str(),
                        user.email,
                        user.id
                    );
                }
                Command::User(UserCommand::ResetPassword { email, .. }) => {
                    let password = read_password()?;
                    let user = accounts::set_password_cli(&platform, &email, &password)
                        .await
                        .map_err(explain)?;
                    println!("password set for {}; their sessions were ended", user.email);
                }
                Command::Token(TokenCommand::Create { user, name }) => {
                    let (token, secret) = accounts::create_token_cli(&platform, &user, &name)
                        .await
                        .map_err(explain)?;
                    eprintln!(
                        "token {} (id {}) created for {user}; it is shown only now:",
                        token.name, token.id
                    );
                    println!("{secret}");
                }
                Command::Crm(CrmCommand::Seed {
                    user,
                    contacts,
                    interactions,
                }) => {
                    let (account, _) = keel_platform::store::accounts::user_with_password(
                        platform.db.pool(),
                        &user.trim().to_lowercase(),
                    )
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no user with the email {user}"))?;
                    let started = std::time::Instant::now();
                    let done =
                        keel_mindfulcrm::seed::seed(&platform, account.id, contacts, interactions)
                            .await
                            .map_err(explain)?;
                    println!(
                        "seeded {} contacts and {} interactions for {user} in {:.1} s",
                        done.contacts,
                        done.interactions,
                        started.elapsed().as_secs_f64()
                    );
                }
                Command::Openalert(OpenalertCommand::Seed {
                    incidents,
                    teams,
                    days,
                }) => {
                    let started = std::time::Instant::now();
                    let plan = keel_openalert::seed::SeedPlan {
                        teams,
                        services_per_team: 8,
                        people_per_team: 6,
                        incidents,
                        days,
                    };
                    let done = keel_openalert::seed::seed(&platform, &plan)
                        .await
                        .map_err(explain)?;
                    println!(
                        "seeded {} incidents and {} pages for {} teams over {days} days in {:.1} s",
                        done.incidents,
                        done.pages,
                        done.teams.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
                Command::Serve
                | Command::Backup { .. }
                | Command::Restore { .. }
                | Command::MigrateTo { .. }
                | Command::Healthcheck { .. }
                | Command::Config(_)
                | Command::Bench(_) => {
                    unreachable!("handled above")
                }
            }
            platform.db.close().await;
            Ok(())
        }
    }
}

async fn restore(config: Config, from: PathBuf) -> anyhow::Result<()> {
    if config.backend == Backend::Postgres {
        println!(
            "keel on PostgreSQL is restored with PostgreSQL's own tools, into a new, empty database:"
        );
        println!(
            "  pg_restore --no-owner --exit-on-error --dbname=<new database URL> {}",
            from.display()
        );
        println!(
            "then point KEEL_DATABASE_URL at it; keel applies newer migrations when it starts."
        );
        return Ok(());
    }
    let target = keel_platform::db::sqlite_file_path(&config.database_url)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("the database URL names no SQLite file"))?;
    // Never over a database: it may be live, and it is the only copy of what came after.
    for path in [
        target.clone(),
        PathBuf::from(format!("{}-wal", target.display())),
    ] {
        if path.exists() {
            anyhow::bail!(
                "{} exists: stop keel and move the data directory's keel.db* files away first",
                path.display()
            );
        }
    }
    if !from.is_file() {
        anyhow::bail!("there is no backup file at {}", from.display());
    }
    // Check the copy before it goes anywhere: read-only, whole-file integrity, and keel's.
    // A plain read-only connection: the pool's set-up would switch the file to WAL mode.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&from)
        .read_only(true);
    let mut backup = sqlx::ConnectOptions::connect(&options).await?;
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut backup)
        .await?;
    let is_keel: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
    )
    .fetch_one(&mut backup)
    .await?;
    sqlx::Connection::close(backup).await?;
    if check != ["ok"] {
        anyhow::bail!("{} is damaged: {}", from.display(), check.join("; "));
    }
    if is_keel != 1 {
        anyhow::bail!("{} is not a keel database", from.display());
    }
    // Copy beside the target, then rename: a crash leaves no half-written keel.db.
    if let Some(dir) = target.parent() {
        keel_platform::files::create_private_dir(dir)?;
    }
    let partial = PathBuf::from(format!("{}.restoring", target.display()));
    let _ = std::fs::remove_file(&partial);
    keel_platform::files::create_private_file(&partial)?;
    let mut out = std::fs::OpenOptions::new().write(true).open(&partial)?;
    std::io::copy(&mut std::fs::File::open(&from)?, &mut out)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&partial, &target)?;
    // Migrate forward: a backup from an older keel gets this version's schema.
    let platform = keel_server::platform(config, keel_server::system_clock()).await?;
    platform.db.close().await;
    println!(
        "restored {} into {}; start keel with the secret key the backup was made with \
         (its secret.key file or KEEL_SECRET_KEY), or sealed credentials cannot be read",
        from.display(),
        target.display()
    );
    Ok(())
}

async fn healthcheck(config: &Config, url: Option<String>) -> anyhow::Result<()> {
    let url = url.unwrap_or_else(|| {
        let mut listen = config.listen;
        // A wildcard listen address is reached on loopback.
        if listen.ip().is_unspecified() {
            listen.set_ip(match listen {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{listen}/readyz")
    });
    keel_platform::crypto::install_tls_provider();
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    println!("{url}: ready");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (KEEL_LISTEN / --listen): {e}",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    let platform = keel_server::platform(config, keel_server::system_clock()).await?;
    if accounts::needs_setup(&platform).await.map_err(explain)? {
        tracing::warn!(
            "first run: open http://{address}/setup and enter setup token {} (or run `keel user create --admin`)",
            platform.setup_token()
        );
    }
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        let _ = stop.send(true);
    });
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "keel is listening on http://{address}"
    );
    println!("keel is listening on http://{address}");
    keel_server::serve(platform, listener, stopped).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn backup(config: Config, to: PathBuf) -> anyhow::Result<()> {
    if config.backend == Backend::Postgres {
        println!("keel on PostgreSQL is backed up with PostgreSQL's own tools, for example:");
        println!(
            "  pg_dump --format=custom --file={} \"$KEEL_DATABASE_URL\"",
            to.display()
        );
        println!("and restored into a new, empty database (then point keel at it) with:");
        println!(
            "  pg_restore --no-owner --exit-on-error --dbname=<new database URL> {}",
            to.display()
        );
        return Ok(());
    }
    if to.exists() {
        anyhow::bail!("{} already exists; choose a new file", to.display());
    }
    if let Some(path) = keel_platform::db::sqlite_file_path(&config.database_url)
        && !std::path::Path::new(&path).exists()
    {
        anyhow::bail!("there is no database at {path} to back up (check --data-dir)");
    }
    // Open the file as it is: a backup never migrates or otherwise changes the live database.
    let db = keel_platform::db::Db::connect(&config.database_url, config.backend, 1).await?;
    // VACUUM INTO fills an empty file: made here, it is private whatever the umask.
    keel_platform::files::create_private_file(&to)?;
    let target = to.to_string_lossy().replace('\'', "''");
    // VACUUM INTO writes a consistent snapshot while the server keeps running.
    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
        .execute(db.pool())
        .await?;
    db.close().await;
    println!("backup written to {}", to.display());
    Ok(())
}
