//! `accrue`: serve, migrate, manage admin keys and console operators, check the ledger.

mod config;

use accrue_core::template::UrlTemplate;
use accrue_server::connections::ConnectionLimits;
use accrue_server::outbound::email::Mailer;
use accrue_server::outbound::guard::Allowlist;
use accrue_server::outbound::worker::{DeliveryOptions, EmailChannel, PushChannel, SmsChannel, SMS_PLACEHOLDERS};
use accrue_server::ServerOptions;
use accrue_store::{KeyScope, Sealer, Store, StoreOptions};
use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, Flags};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "accrue",
    version,
    about = "Self-hosted bonus points, loyalty, referral and affiliate tracking server"
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (applies migrations first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the ledger's invariants; exits non-zero when one is broken.
    Check,
    /// Admin API keys.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The web console's operators.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Add an operator who signs in at /console. The password is read from the first line
    /// of standard input (or ACCRUE_OPERATOR_PASSWORD), never from the command line.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// admin, support or analyst.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Give an operator a new password, read as for `add`; their sessions end.
    Password {
        #[arg(long)]
        login: String,
    },
    /// Stop an operator from signing in; their sessions end. The last active admin stays.
    Disable {
        #[arg(long)]
        login: String,
    },
    /// Let a disabled operator sign in again.
    Enable {
        #[arg(long)]
        login: String,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin API key and print it (it is stored hashed and cannot be shown again).
    CreateKey {
        #[arg(long)]
        name: String,
        /// Limit the key to this program (its code).
        #[arg(long)]
        program: Option<String>,
        /// The key may only read.
        #[arg(long)]
        read_only: bool,
    },
}

/// The server allocates on every request from many threads at once; mimalloc's
/// per-thread heaps take less CPU for it than the system allocator's shared arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACCRUE_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A closed stderr (a log reader that died) must not bring the server down.
        .log_internal_errors(false)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.flags)?;
    // Only the server seals secrets; the other commands need no key file.
    let sealer = match cli.command {
        Command::Serve => sealer(&config)?,
        _ => Sealer::default(),
    };
    let options = StoreOptions {
        sealer,
        connections: config.database_connections,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&config.database_url, options).await?;
    let code = match cli.command {
        Command::Serve => serve(store.clone(), &config).await?,
        Command::Migrate => {
            println!("migrations applied to {}", redact(&config.database_url));
            ExitCode::SUCCESS
        }
        Command::Check => check(&store).await?,
        Command::Admin {
            command:
                AdminCommand::CreateKey {
                    name,
                    program,
                    read_only,
                },
        } => {
            let scope = KeyScope { program, read_only };
            let (key, secret) = store.create_scoped_admin_key(&name, scope).await?;
            eprintln!("created admin key {} ({}); it is shown only now:", key.name, key.prefix);
            println!("{secret}");
            ExitCode::SUCCESS
        }
        Command::Operator { command } => operator(&store, command).await?,
    };
    store.close().await;
    Ok(code)
}

async fn operator(store: &Store, command: OperatorCommand) -> anyhow::Result<ExitCode> {
    use accrue_server::service::operators;
    match command {
        OperatorCommand::Add { login, name, role } => {
            let operator = operators::create(store, &login, &name, &role, operator_password()?).await?;
            eprintln!("{} ({}) may sign in at /console", operator.login, operator.role);
        }
        OperatorCommand::Password { login } => {
            let operator = operators::set_password(store, &login, operator_password()?).await?;
            eprintln!("{} has a new password; their sessions have ended", operator.login);
        }
        OperatorCommand::Disable { login } => {
            let operator = operators::set_disabled(store, &login, true).await?;
            eprintln!("{} may no longer sign in", operator.login);
        }
        OperatorCommand::Enable { login } => {
            let operator = operators::set_disabled(store, &login, false).await?;
            eprintln!("{} may sign in again", operator.login);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An operator's password: `ACCRUE_OPERATOR_PASSWORD`, else the first line of standard
/// input — never the command line, which other users of the machine can read.
fn operator_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("ACCRUE_OPERATOR_PASSWORD") {
        return Ok(password);
    }
    eprintln!("password (one line):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn serve(store: Store, config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(secret) = store.bootstrap_admin_key().await? {
        println!("No admin key existed, so one was created. It is shown only this once:");
        println!("  {secret}");
        println!("Use it as: Authorization: Bearer {secret}");
    }
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, database = %redact(&config.database_url), "accrue is serving");
    let connections = ConnectionLimits {
        header_timeout: config.header_timeout,
        max_connections: config.max_connections.unwrap_or_else(default_max_connections),
        shutdown_timeout: config.shutdown_timeout,
    };
    tracing::info!(max_connections = connections.max_connections, "connection limit");
    let options = ServerOptions {
        connections,
        delivery: delivery(config)?,
        body_limit: config.body_limit,
        request_timeout: config.request_timeout,
        expiry_interval: config.expiry_interval,
        loymax_program: config.loymax_program.clone(),
    };
    accrue_server::serve(store, listener, options, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Raises the open-file limit to its hard maximum and keeps 256 descriptors of it for
/// the database, outbound requests and logs; the rest may be client connections.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    let files = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    };
    usize::try_from(files)
        .unwrap_or(usize::MAX)
        .saturating_sub(256)
        .clamp(16, 100_000)
}

/// The key that seals stored secrets: `ACCRUE_SECRET_KEY`, or the key file.
fn sealer(config: &Config) -> anyhow::Result<Sealer> {
    let sealer = match std::env::var("ACCRUE_SECRET_KEY") {
        Ok(key) => Sealer::from_base64(&key),
        Err(_) => Sealer::load_or_create(&config.secret_key_file),
    };
    sealer.map_err(|e| anyhow::anyhow!(e))
}

fn delivery(config: &Config) -> anyhow::Result<DeliveryOptions> {
    let email = match &config.smtp {
        Some(smtp) => EmailChannel::Smtp(Arc::new(Mailer::new(smtp).map_err(|e| anyhow::anyhow!("smtp: {e}"))?)),
        None => EmailChannel::Log,
    };
    let sms = match &config.sms_gateway {
        Some(template) => SmsChannel::Gateway(UrlTemplate::parse(template, SMS_PLACEHOLDERS).context("sms_gateway")?),
        None => SmsChannel::Log,
    };
    let push = match &config.push_gateway {
        Some(url) => PushChannel::Gateway(url.clone()),
        None => PushChannel::Log,
    };
    Ok(DeliveryOptions {
        enabled: config.delivery,
        schedule: config.retry_schedule.clone(),
        allow: Allowlist::parse(&config.outbound_allow).context("outbound_allow")?,
        lease: config.delivery_lease,
        email,
        sms,
        push,
        ..DeliveryOptions::default()
    })
}

async fn check(store: &Store) -> anyhow::Result<ExitCode> {
    let violations = store.check().await?;
    if violations.is_empty() {
        println!("ledger OK: every invariant holds");
        return Ok(ExitCode::SUCCESS);
    }
    println!("ledger BROKEN: {} invariant(s) do not hold", violations.len());
    for v in violations {
        println!("- {}", v.invariant);
        for example in v.examples {
            println!("    {example}");
        }
    }
    Ok(ExitCode::from(2))
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing requests in flight");
}

/// The URL without its password, for logs: `postgres://u:***@host/db`.
fn redact(url: &str) -> String {
    let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@')) else {
        return url.to_string();
    };
    match url.get(scheme + 3..at).and_then(|userinfo| userinfo.find(':')) {
        Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
        None => url.to_string(),
    }
}
