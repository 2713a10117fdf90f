//! Parses the command line, starts logging, and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;
use customer_api::{
    auth::TokenKeys,
    cli::{Cli, Command, LogFormat},
    config::{self, Settings, Storage},
    db, graphql,
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
        Command::Migrate(args) => {
            let storage = Storage::from_args(&args)?;
            db::open(&storage.backend, &storage.pool)?;
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Token(args) => {
            let secret = config::load_secret(
                &args.secret,
                args.database_url.is_some(),
                &args.data_dir,
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
