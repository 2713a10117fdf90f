//! Parses the command line, starts logging, and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;
use customer_api::{
    auth::TokenKeys,
    cli::{Cli, Command, LogFormat},
    config::{self, Settings, Storage},
    db::{self, SchemaPolicy},
    graphql,
    startup::Application,
    telemetry,
};

/// mimalloc: the request path allocates a lot of small, short-lived objects, and glibc's
/// allocator took about a tenth of the server's CPU under load (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    let log_format = match &command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Pretty,
    };
    telemetry::init(log_format);
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let settings = Settings::from_args(*args)?;
            actix_web::rt::System::new().block_on(async {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await?;
                anyhow::Ok(())
            })
        }
        Command::Migrate(args) if args.check => {
            let storage = Storage::from_args(&args.storage)?;
            let pending = db::pending_migrations(&storage.backend, &storage.pool)?;
            for name in &pending {
                println!("pending: {name}");
            }
            anyhow::ensure!(
                pending.is_empty(),
                "{} migration(s) have not run",
                pending.len()
            );
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Migrate(args) => {
            let storage = Storage::from_args(&args.storage)?;
            db::open(&storage.backend, &storage.pool, SchemaPolicy::Migrate)?;
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Token(args) if args.revoke_admin => {
            let storage = Storage::from_args(&args.storage)?;
            let store = db::open(&storage.backend, &storage.pool, SchemaPolicy::Migrate)?;
            let now = chrono::Utc::now();
            store
                .revoke_admin_tokens(now)
                .map_err(|e| anyhow::anyhow!(e.describe()))?;
            // Tokens carry whole seconds: one minted in the second of the revocation would
            // count as issued before it. Return when the next second has begun.
            let next_second = 1_000_000_000 - u64::from(now.timestamp_subsec_nanos());
            std::thread::sleep(std::time::Duration::from_nanos(next_second));
            println!("admin tokens issued before {now} are revoked");
            Ok(())
        }
        Command::Token(args) => {
            anyhow::ensure!(
                args.ttl <= args.max_ttl,
                "--ttl {} is longer than ADMIN_TOKEN_MAX_TTL ({})",
                humantime::format_duration(args.ttl),
                humantime::format_duration(args.max_ttl)
            );
            let secret = config::load_secret(
                &args.secret,
                args.storage.database_url.is_some(),
                &args.storage.data_dir,
                false,
            )?;
            let keys = TokenKeys::new(&secret, &args.jwt_issuer, args.ttl);
            let issued = keys
                .issue_admin(args.ttl)
                .map_err(|e| anyhow::anyhow!(e.describe()))?;
            println!("{}", issued.token);
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
    }
}
