//! The command line. Every flag can also be set by the environment variable named in
//! `--help`; flags win over the environment.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::SecretString;

#[derive(Parser)]
#[command(
    name = "customer-api",
    version,
    about = "GraphQL server for customer records"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: Box<ServeArgs>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date, then exit.
    Migrate(MigrateArgs),
    /// Print a signed admin token, or revoke every admin token issued until now.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL) that the server serves.
    Schema,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve /metrics on this address and port only, instead of on BIND, so that it need not
    /// be public.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub secret: SecretArgs,

    /// The `iss` claim of issued tokens; tokens with another issuer are refused.
    #[arg(long, env = "JWT_ISSUER", default_value = "customer-api")]
    pub jwt_issuer: String,

    /// How long a customer's access token is valid (e.g. 15m, 1h).
    #[arg(long, env = "TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,

    /// How long a refresh token is valid after the session's last refresh.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30d", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// A spent refresh token presented again within this long of its rotation lost a race
    /// with its own session (two tabs refreshing at once): refused, but the session lives on.
    /// Later, it is reuse, and ends the session.
    #[arg(long, env = "REFRESH_RACE_WINDOW", default_value = "5s", value_parser = humantime::parse_duration)]
    pub refresh_race_window: Duration,

    /// How long the link in a password-reset mail is valid.
    #[arg(long, env = "PASSWORD_RESET_TTL", default_value = "30m", value_parser = humantime::parse_duration)]
    pub password_reset_ttl: Duration,

    /// How long the link in a verification mail is valid.
    #[arg(long, env = "EMAIL_VERIFICATION_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub email_verification_ttl: Duration,

    /// The client app's page that resets a password; {token} is replaced by the token.
    #[arg(
        long,
        env = "PASSWORD_RESET_URL",
        default_value = "http://localhost:3000/reset-password?token={token}"
    )]
    pub password_reset_url: String,

    /// The client app's page that verifies an address; {token} is replaced by the token.
    #[arg(
        long,
        env = "EMAIL_VERIFICATION_URL",
        default_value = "http://localhost:3000/verify-email?token={token}"
    )]
    pub email_verification_url: String,

    /// SMTP server for mail (smtp://host:25, smtp://user:password@host:587?tls=required,
    /// smtps://host:465). Unset: mail is written as .eml files to the outbox in the data
    /// folder.
    #[arg(long, env = "SMTP_URL", value_parser = secret, hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// The sender of mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "customer-api <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// How long sending one mail may take.
    #[arg(long, env = "MAIL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub mail_timeout: Duration,

    /// How often expired sessions, tokens, attempts and idempotency keys are removed.
    #[arg(long, env = "HOUSEKEEPING_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub housekeeping_interval: Duration,

    /// How long a known admin-token revocation is trusted before the database is asked again:
    /// an admin token revoked elsewhere stops working here within this.
    #[arg(long, env = "ADMIN_REVOCATION_CHECK", default_value = "5s", value_parser = humantime::parse_duration)]
    pub admin_revocation_check: Duration,

    /// bcrypt cost for new password hashes (4 to 31; each step doubles the work).
    #[arg(long, env = "BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Most password checks and hashes running or waiting at once; more are refused at once
    /// with SERVICE_UNAVAILABLE [default: four per core]. Hashing (sign-ups, password
    /// changes) may take at most half of them, so logins keep room.
    #[arg(long, env = "MAX_PASSWORD_JOBS", value_parser = clap::value_parser!(u32).range(2..))]
    pub max_password_jobs: Option<u32>,

    /// Whether callers without an admin token may create customers (self sign-up).
    #[arg(long, env = "ALLOW_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_signup: bool,

    /// Failed logins allowed per email address within the login window.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_EMAIL", default_value_t = 5)]
    pub login_max_failures_per_email: u32,

    /// Failed logins allowed per client address within the login window.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_CLIENT", default_value_t = 100)]
    pub login_max_failures_per_client: u32,

    /// The sliding window in which failed logins are counted.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub login_failure_window: Duration,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Largest request body accepted, in bytes; a larger one gets HTTP 413 unparsed.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// How long a client may take to send a request body; a slower one gets HTTP 408 and is
    /// disconnected.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,

    /// How long a GraphQL request may run; past it, the client gets SERVICE_UNAVAILABLE.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Deepest field nesting a query may have.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 10)]
    pub max_query_depth: usize,

    /// Highest complexity a query may have (each field counts 1; logins count 25, password
    /// changes 10, as they run bcrypt).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 250)]
    pub max_query_complexity: usize,

    /// Most fields, fragment spreads, arguments and directives a document may hold once its
    /// fragments are expanded.
    #[arg(long, env = "MAX_QUERY_NODES", default_value_t = 1000)]
    pub max_query_nodes: usize,

    /// Most tokens (names, punctuation, values) a query's text may hold; checked before it
    /// is parsed.
    #[arg(long, env = "MAX_QUERY_TOKENS", default_value_t = 2000)]
    pub max_query_tokens: usize,

    /// Most operations in one batched request (a JSON array); 0 turns batching off.
    #[arg(long, env = "MAX_BATCH_SIZE", default_value_t = 0)]
    pub max_batch_size: usize,

    /// Serve schema introspection and GraphiQL; off also drops field suggestions from errors.
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// A manifest of trusted documents, by SHA-256 hash: Apollo's persisted query manifest or
    /// graphql-codegen's {"<hash>": "<document>"} map. Clients may send them by hash alone.
    #[arg(long, env = "PERSISTED_DOCUMENTS")]
    pub persisted_documents: Option<PathBuf>,

    /// Run only the documents of PERSISTED_DOCUMENTS, refusing any other unparsed: the mode
    /// for an API that only first-party apps call.
    #[arg(long, env = "PERSISTED_ONLY", default_value_t = false, action = clap::ArgAction::Set)]
    pub persisted_only: bool,

    /// Run pending database migrations at start; false refuses to start while any are
    /// pending (a deploy step runs `customer-api migrate`).
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// How often live subscriptions are checked against revocations (ended sessions,
    /// changed passwords, deleted customers, revoked admin tokens); a revoked subscriber is
    /// ended within this long.
    #[arg(long, env = "SUBSCRIPTION_AUTH_CHECK", default_value = "5s", value_parser = humantime::parse_duration)]
    pub subscription_auth_check: Duration,

    /// Most subscriptions one WebSocket connection may run at once.
    #[arg(long, env = "MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 20)]
    pub max_subscriptions_per_connection: usize,

    /// Most WebSocket connections one client network may hold open on an instance.
    #[arg(long, env = "MAX_CONNECTIONS_PER_CLIENT", default_value_t = 50)]
    pub max_connections_per_client: usize,

    /// How often the server pings an idle WebSocket; a connection silent for three times
    /// this long is closed.
    #[arg(long, env = "WS_KEEPALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub ws_keepalive: Duration,

    /// How long a new WebSocket may take to send connection_init (then 4408).
    #[arg(long, env = "WS_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ws_init_timeout: Duration,

    /// Browser origins allowed to call the API (comma-separated, e.g.
    /// https://app.example.com); none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// How long in-flight requests may take to finish after SIGTERM or SIGINT; then the
    /// process exits, even with work still running.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Reverse proxies whose X-Forwarded-For or Forwarded header is believed
    /// (comma-separated CIDRs, e.g. 10.0.0.0/8,fd00::/8); none by default.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = cidr)]
    pub trusted_proxies: Vec<IpNet>,
}

/// Where the data lives.
#[derive(Args)]
pub struct MigrateArgs {
    /// Change nothing: list the migrations that have not run, and exit with status 1 if any.
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct StorageArgs {
    /// PostgreSQL URL (postgres://user:password@host/db). Unset: an embedded SQLite file in
    /// the data folder.
    #[arg(long, env = "DATABASE_URL", value_parser = secret, hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// PostgreSQL URL for the one LISTEN connection of live updates, when DATABASE_URL goes
    /// through a pooler in transaction mode (which cannot keep one) [default: DATABASE_URL].
    #[arg(long, env = "LISTEN_DATABASE_URL", value_parser = secret, hide_env_values = true)]
    pub listen_database_url: Option<SecretString>,

    /// DATABASE_URL is a pooler in transaction mode (pgbouncer): keep no statement prepared,
    /// and run each unit of work in a transaction.
    #[arg(long, env = "DB_TRANSACTION_POOLING", default_value_t = false, action = clap::ArgAction::Set)]
    pub db_transaction_pooling: bool,

    /// Folder for the embedded SQLite database and the generated signing secret.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Most database connections held open [default: two per core, which measured best: more
    /// connections only queue more work on the database's and this server's cores].
    #[arg(long, env = "DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool_size: Option<u32>,

    /// How long a request waits for a database connection before SERVICE_UNAVAILABLE.
    #[arg(long, env = "DB_POOL_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_pool_timeout: Duration,

    /// How long start-up retries a database that cannot be reached before giving up.
    #[arg(long, env = "DB_CONNECT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub db_connect_timeout: Duration,
}

/// The token signing secret.
#[derive(Args)]
pub struct SecretArgs {
    /// HS256 signing secret, at least 32 bytes. Unset, with SQLite: generated on first start
    /// and kept in the data folder.
    #[arg(long, env = "JWT_SECRET", value_parser = secret, hide_env_values = true, conflicts_with = "jwt_secret_file")]
    pub jwt_secret: Option<SecretString>,

    /// A file holding the signing secret (trailing newline ignored).
    #[arg(long, env = "JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["admin", "revoke_admin"]))]
pub struct TokenArgs {
    /// Mint an admin token (the only kind this command makes).
    #[arg(long)]
    pub admin: bool,

    /// Revoke every admin token issued until now, on every instance (kept in the database).
    #[arg(long, conflicts_with = "admin")]
    pub revoke_admin: bool,

    /// How long the token is valid (e.g. 15m, 1h), at most --max-ttl.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// The longest --ttl accepted.
    #[arg(long, env = "ADMIN_TOKEN_MAX_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub max_ttl: Duration,

    /// The `iss` claim; must match the server's.
    #[arg(long, env = "JWT_ISSUER", default_value = "customer-api")]
    pub jwt_issuer: String,

    #[command(flatten)]
    pub secret: SecretArgs,

    /// Where the data lives: the revocation is written there, and the generated secret of
    /// the embedded database is read from the data folder.
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A CIDR, or a single address (as its /32 or /128).
fn cidr(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{raw:?} is not a CIDR like 10.0.0.0/8 or an address"))
}

fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw))
}
