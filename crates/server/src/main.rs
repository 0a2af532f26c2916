//! The `missive` binary: parse settings, set up logging, then serve, migrate or back up.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use missive::config::Settings;

#[derive(Parser)]
#[command(name = "missive", version, about = "Self-hostable messaging service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations, then exit.
    Migrate,
    /// Copy the SQLite database, consistently, to a new file while the server runs
    /// (PostgreSQL: use pg_dump). Restore by serving the copy as DATABASE_URL.
    Backup {
        /// The file to create.
        path: std::path::PathBuf,
    },
    /// Manage accounts: create, list, show, disable, enable, delete, reset-password.
    #[command(subcommand)]
    User(missive::commands::UserCommand),
    /// List or end a user's sessions.
    #[command(subcommand)]
    Session(missive::commands::SessionCommand),
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: .env: {err}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    // An administrator's command prints its answer on stdout: logs go to stderr, and only
    // errors unless MISSIVE_LOG asks for more.
    let admin = matches!(cli.command, Some(Command::User(_) | Command::Session(_)));
    let log_chosen = std::env::var_os("MISSIVE_LOG").is_some()
        || std::env::args().any(|arg| arg == "--log" || arg.starts_with("--log="));
    let filter = match admin && !log_chosen {
        true => "error",
        false => cli.settings.log.as_str(),
    };
    let to = match admin {
        true => missive::telemetry::Output::Stderr,
        false => missive::telemetry::Output::Stdout,
    };
    if let Err(err) = missive::telemetry::init(cli.settings.log_format, filter, to) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = match cli.command {
        Some(Command::Backup { .. } | Command::User(_) | Command::Session(_)) => {
            cli.settings.resolve_for_command()
        }
        _ => cli.settings.resolve(),
    };
    let config = config.map_err(|err| err.to_string())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            missive::connect(&config)
                .await
                .map_err(|err| err.to_string())?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::User(command) => missive::commands::user(config, command).await,
        Command::Session(command) => missive::commands::session(config, command).await,
        Command::Backup { path } => {
            let bytes = missive::backup(&config, &path).await?;
            println!("backed up to {} ({bytes} bytes)", path.display());
            Ok(())
        }
        Command::Serve => {
            let bind = config.bind;
            let app = missive::build(config)
                .await
                .map_err(|err| err.to_string())?;
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|err| format!("MISSIVE_BIND ({bind}): {err}"))?;
            tracing::info!(address = %bind, "listening");
            app.serve(listener, shutdown_signal())
                .await
                .map_err(|err| format!("server: {err}"))
        }
    }
}

/// Completes on Ctrl-C or SIGTERM, so orchestrators can stop an instance gracefully.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
