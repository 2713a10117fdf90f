//! Typed settings, checked at start-up. Secrets and URLs are `secrecy` types, hidden from
//! Debug output and logs.

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::{
    cli::{SecretArgs, ServeArgs, StorageArgs},
    db::{Backend, PgSettings, PoolSettings, SchemaPolicy},
    graphql::Bounds,
    mail::MailSettings,
    private_files,
    service::{AccountLinks, LoginThrottle, Policy, SessionLifetimes},
};

/// The shortest signing secret accepted: HS256 wants at least its own output size.
pub const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt-secret";
const SQLITE_FILE: &str = "customers.sqlite3";

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where /metrics is served instead of `bind`.
    pub metrics_bind: Option<SocketAddr>,
    pub workers: Option<usize>,
    pub storage: Storage,
    pub jwt_secret: SecretSlice<u8>,
    pub jwt_issuer: String,
    pub token_ttl: Duration,
    pub bcrypt_cost: u32,
    /// Password checks and hashes running or waiting at once, at most.
    pub max_password_jobs: usize,
    pub policy: Policy,
    pub http: HttpSettings,
    pub limits: Limits,
    /// Introspection, GraphiQL and field suggestions.
    pub introspection: bool,
    pub documents: DocumentSettings,
    pub live: LiveSettings,
    /// What start-up does about migrations that have not run.
    pub schema: SchemaPolicy,
    pub mail: MailSettings,
    pub housekeeping_interval: Duration,
}

/// Persisted documents.
#[derive(Debug, Clone, Default)]
pub struct DocumentSettings {
    /// The manifest of trusted documents.
    pub manifest: Option<PathBuf>,
    /// Whether only the manifest's documents run.
    pub trusted_only: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub cors_allowed_origins: Vec<String>,
    pub shutdown_timeout: Duration,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<IpNet>,
}

/// Every limit a request is held to, in one place (the README's Security section lists
/// them with their settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
    /// Depth, complexity and expanded size of a document.
    pub bounds: Bounds,
    /// 0: batched requests are refused.
    pub max_batch_size: usize,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub backend: Backend,
    pub pool: PoolSettings,
}

/// Live updates over WebSocket.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub auth_check: Duration,
    pub max_subscriptions_per_connection: usize,
    pub max_connections_per_client: usize,
    pub keepalive: Duration,
    pub init_timeout: Duration,
}

impl Settings {
    pub fn from_args(args: ServeArgs) -> anyhow::Result<Self> {
        let storage = Storage::from_args(&args.storage)?;
        let jwt_secret = load_secret(
            &args.secret,
            args.storage.database_url.is_some(),
            &args.storage.data_dir,
            true,
        )?;
        Ok(Self {
            bind: args.bind,
            metrics_bind: args.metrics_bind,
            workers: args.workers,
            storage,
            jwt_secret,
            jwt_issuer: args.jwt_issuer,
            token_ttl: args.token_ttl,
            bcrypt_cost: args.bcrypt_cost,
            max_password_jobs: args
                .max_password_jobs
                .map_or_else(|| 4 * cores(), |jobs| jobs as usize),
            policy: Policy {
                allow_signup: args.allow_signup,
                login_throttle: LoginThrottle {
                    max_failures_per_email: args.login_max_failures_per_email,
                    max_failures_per_client: args.login_max_failures_per_client,
                    window: args.login_failure_window,
                },
                lifetimes: SessionLifetimes {
                    access: args.token_ttl,
                    refresh: args.refresh_token_ttl,
                    password_reset: args.password_reset_ttl,
                    email_verification: args.email_verification_ttl,
                    refresh_race_window: args.refresh_race_window,
                },
                links: AccountLinks {
                    password_reset: link(args.password_reset_url, "PASSWORD_RESET_URL")?,
                    email_verification: link(
                        args.email_verification_url,
                        "EMAIL_VERIFICATION_URL",
                    )?,
                },
                admin_revocation_check: args.admin_revocation_check,
            },
            http: HttpSettings {
                cors_allowed_origins: cors_origins(args.cors_allowed_origins)?,
                shutdown_timeout: args.shutdown_timeout,
                trusted_proxies: args.trusted_proxies,
            },
            limits: Limits {
                max_body_bytes: args.max_body_bytes,
                body_read_timeout: args.body_read_timeout,
                request_timeout: args.request_timeout,
                bounds: Bounds {
                    max_depth: args.max_query_depth,
                    max_complexity: args.max_query_complexity,
                    max_nodes: args.max_query_nodes,
                    max_tokens: args.max_query_tokens,
                },
                max_batch_size: args.max_batch_size,
            },
            introspection: args.introspection,
            documents: DocumentSettings {
                trusted_only: args.persisted_only,
                manifest: match (args.persisted_documents, args.persisted_only) {
                    (None, true) => bail!("PERSISTED_ONLY needs PERSISTED_DOCUMENTS, the manifest"),
                    (manifest, _) => manifest,
                },
            },
            live: LiveSettings {
                auth_check: args.subscription_auth_check,
                max_subscriptions_per_connection: args.max_subscriptions_per_connection,
                max_connections_per_client: args.max_connections_per_client,
                keepalive: args.ws_keepalive,
                init_timeout: args.ws_init_timeout,
            },
            schema: if args.migrate_on_start {
                SchemaPolicy::Migrate
            } else {
                SchemaPolicy::RequireCurrent
            },
            mail: MailSettings {
                smtp_url: args.smtp_url,
                from: args.mail_from,
                outbox: args.storage.data_dir.join("outbox"),
                timeout: args.mail_timeout,
            },
            housekeeping_interval: args.housekeeping_interval,
        })
    }
}

/// A link template of the client app: it must have a place for the token.
fn link(template: String, setting: &str) -> anyhow::Result<String> {
    if !template.contains("{token}") {
        bail!("{setting} must contain {{token}}, where the token goes");
    }
    Ok(template)
}

/// The machine's cores, which several defaults scale with.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

impl Storage {
    pub fn from_args(args: &StorageArgs) -> anyhow::Result<Self> {
        let backend = match &args.database_url {
            Some(url) => {
                let text = url.expose_secret();
                if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                    bail!("DATABASE_URL must be a postgres:// or postgresql:// URL");
                }
                Backend::Postgres(PgSettings {
                    url: url.clone(),
                    listen_url: args.listen_database_url.clone(),
                    transaction_pooling: args.db_transaction_pooling,
                })
            }
            None => Backend::Sqlite {
                path: args.data_dir.join(SQLITE_FILE),
            },
        };
        Ok(Self {
            backend,
            pool: PoolSettings {
                max_size: args
                    .db_pool_size
                    .unwrap_or_else(|| u32::try_from(2 * cores()).unwrap_or(u32::MAX)),
                timeout: args.db_pool_timeout,
                connect_timeout: args.db_connect_timeout,
            },
        })
    }
}

/// Origins as browsers send them: scheme, host and optional port, nothing else.
fn cors_origins(origins: Vec<String>) -> anyhow::Result<Vec<String>> {
    origins
        .into_iter()
        .map(|origin| origin.trim().trim_end_matches('/').to_owned())
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '*']) => {
                    Ok(origin)
                }
                _ => bail!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin like https://app.example.com"
                ),
            }
        })
        .collect()
}

/// The signing secret: from JWT_SECRET, from JWT_SECRET_FILE, or (embedded SQLite only) the
/// one kept in the data folder, generated there on first start when `generate` is set.
pub fn load_secret(
    args: &SecretArgs, uses_postgres: bool, data_dir: &Path, generate: bool,
) -> anyhow::Result<SecretSlice<u8>> {
    let (secret, setting) = if let Some(secret) = &args.jwt_secret {
        (secret.expose_secret().as_bytes().to_vec(), "JWT_SECRET")
    } else if let Some(path) = &args.jwt_secret_file {
        (
            read_secret_file(path, "JWT_SECRET_FILE")?,
            "JWT_SECRET_FILE",
        )
    } else if uses_postgres {
        bail!("JWT_SECRET or JWT_SECRET_FILE is required with DATABASE_URL (PostgreSQL)");
    } else {
        let path = data_dir.join(SECRET_FILE);
        if !path.exists() {
            if !generate {
                bail!(
                    "no signing secret: set JWT_SECRET or JWT_SECRET_FILE, or start the server \
                     once so that it generates {}",
                    path.display()
                );
            }
            generate_secret_file(&path)?;
        }
        let setting = "the generated secret file";
        (read_secret_file(&path, setting)?, setting)
    };
    if secret.len() < MIN_SECRET_BYTES {
        bail!("{setting} is too short: at least {MIN_SECRET_BYTES} bytes are required");
    }
    Ok(SecretSlice::from(secret))
}

fn read_secret_file(path: &PathBuf, setting: &str) -> anyhow::Result<Vec<u8>> {
    private_files::check_secret_file(path, setting)?;
    let mut bytes =
        fs::read(path).with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

/// Writes 32 random bytes, hex-encoded, readable by the owner only.
fn generate_secret_file(path: &Path) -> anyhow::Result<()> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let secret = SecretString::from(hex::encode(random));
    if let Some(folder) = path.parent() {
        private_files::ensure_folder(folder)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.expose_secret().as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new token signing secret");
    Ok(())
}
