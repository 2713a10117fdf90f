//! PostgreSQL processes of a test's own: a pgbouncer in transaction mode in front of the test
//! server, and a throwaway cluster that a test may restart. Each needs its Debian package
//! (`pgbouncer`, `postgresql`); without it the test is skipped with a note, unless
//! REQUIRE_PGBOUNCER=1 or REQUIRE_POSTGRES=1 (as in CI) makes that a failure.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{postgres_address, TempDir};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PostgreSQL's tools refuse to run as root: as root, they run as `postgres`.
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A folder that the `postgres` user may write to.
fn shared_dir() -> TempDir {
    let dir = TempDir::new();
    let status = Command::new("chmod")
        .arg("0777")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// Skips the test (`None`) for a missing package, or fails it when it is required.
fn missing<T>(what: &str, required_by: &str) -> Option<T> {
    assert!(
        std::env::var(required_by).as_deref() != Ok("1"),
        "{required_by}=1 but {what} is missing"
    );
    eprintln!("skipped: {what} is missing");
    None
}

/// pgbouncer in transaction mode, in front of TEST_DATABASE_URL's server.
pub struct Pgbouncer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Pgbouncer {
    pub fn start() -> Option<Self> {
        let binary = Path::new("/usr/sbin/pgbouncer");
        if !binary.exists() {
            return missing(
                "/usr/sbin/pgbouncer (apt-get install pgbouncer)",
                "REQUIRE_PGBOUNCER",
            );
        }
        let dir = shared_dir();
        let port = free_port();
        let url = std::env::var("TEST_DATABASE_URL").unwrap();
        // The role and password of TEST_DATABASE_URL, for pgbouncer's own logins.
        let credentials = url.split("://").nth(1).unwrap().split('@').next().unwrap();
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let (host, server_port) = postgres_address()
            .rsplit_once(':')
            .map(|(h, p)| (h.to_owned(), p.to_owned()))
            .unwrap();
        std::fs::write(
            dir.path().join("users.txt"),
            format!("\"{user}\" \"{password}\"\n"),
        )
        .unwrap();
        let folder = dir.path().display();
        let config = format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {folder}/users.txt\npool_mode = transaction\n\
             max_client_conn = 200\ndefault_pool_size = 4\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {folder}/pgbouncer.log\npidfile = {folder}/pgbouncer.pid\n"
        );
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini, config).unwrap();
        let child = as_postgres(binary)
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        wait_for_port(port, "pgbouncer");
        Some(Self {
            child,
            port,
            _dir: dir,
        })
    }

    /// host:port to put in a URL instead of the server's.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL cluster of the test's own, on a free port, that the test may restart.
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: TempDir,
}

impl PgCluster {
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .max()
            });
        let Some(bin) = bin.filter(|bin| bin.join("initdb").exists()) else {
            return missing(
                "PostgreSQL's server binaries in /usr/lib/postgresql",
                "REQUIRE_POSTGRES",
            );
        };
        let dir = shared_dir();
        let data = dir.path().join("data");
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb");
        let cluster = Self {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        cluster.pg_ctl(&["start"]);
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: open connections are cut) and starts it again.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off",
            self.port
        );
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .args(action)
            .args(["-w", "-D"])
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.data.join("server.log"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action:?}");
        wait_for_port(self.port, "the PostgreSQL cluster");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
