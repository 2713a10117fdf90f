//! Typed settings, checked at start-up. Secrets and URLs are `secrecy` types, hidden from
//! Debug output and logs.

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::{
    cli::{SecretArgs, ServeArgs, StorageArgs},
    db::{Backend, PoolSettings},
    service::{LoginThrottle, Policy},
};

/// The shortest signing secret accepted: HS256 wants at least its own output size.
pub const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt-secret";
const SQLITE_FILE: &str = "customers.sqlite3";

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub workers: Option<usize>,
    pub storage: Storage,
    pub jwt_secret: SecretSlice<u8>,
    pub jwt_issuer: String,
    pub token_ttl: Duration,
    pub bcrypt_cost: u32,
    pub policy: Policy,
    pub http: HttpSettings,
    pub graphql: GraphqlSettings,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    pub shutdown_timeout: Duration,
}

/// Limits every GraphQL request is held to.
#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// 0: batched requests are refused.
    pub max_batch_size: usize,
    /// Introspection, GraphiQL and field suggestions.
    pub introspection: bool,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub backend: Backend,
    pub pool: PoolSettings,
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
            workers: args.workers,
            storage,
            jwt_secret,
            jwt_issuer: args.jwt_issuer,
            token_ttl: args.token_ttl,
            bcrypt_cost: args.bcrypt_cost,
            policy: Policy {
                allow_signup: args.allow_signup,
                login_throttle: LoginThrottle {
                    max_failures_per_email: args.login_max_failures_per_email,
                    max_failures_per_client: args.login_max_failures_per_client,
                    window: args.login_failure_window,
                },
            },
            http: HttpSettings {
                max_body_bytes: args.max_body_bytes,
                cors_allowed_origins: cors_origins(args.cors_allowed_origins)?,
                shutdown_timeout: args.shutdown_timeout,
            },
            graphql: GraphqlSettings {
                max_depth: args.max_query_depth,
                max_complexity: args.max_query_complexity,
                max_batch_size: args.max_batch_size,
                introspection: args.introspection,
            },
        })
    }
}

impl Storage {
    pub fn from_args(args: &StorageArgs) -> anyhow::Result<Self> {
        let backend = match &args.database_url {
            Some(url) => {
                let text = url.expose_secret();
                if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                    bail!("DATABASE_URL must be a postgres:// or postgresql:// URL");
                }
                Backend::Postgres { url: url.clone() }
            }
            None => Backend::Sqlite {
                path: args.data_dir.join(SQLITE_FILE),
            },
        };
        Ok(Self {
            backend,
            pool: PoolSettings {
                max_size: args.db_pool_size.unwrap_or_else(|| {
                    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                    u32::try_from(2 * cores).unwrap_or(u32::MAX)
                }),
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
    args: &SecretArgs,
    uses_postgres: bool,
    data_dir: &Path,
    generate: bool,
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
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the data folder {}", folder.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.expose_secret().as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new token signing secret");
    Ok(())
}
