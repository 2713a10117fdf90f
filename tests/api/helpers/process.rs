//! The binary as an operator runs it: commands, and servers in their own processes.

use std::{
    net::TcpListener,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

/// `customer-api`, without the settings of the environment the tests run in.
pub fn customer_api() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_customer-api"));
    for var in [
        "DATABASE_URL",
        "JWT_SECRET",
        "JWT_SECRET_FILE",
        "DATA_DIR",
        "BIND",
    ] {
        command.env_remove(var);
    }
    command
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("customer-api runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Kills the server when the test ends, however it ends.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Starts `customer-api serve` on a free port; returns it with its base URL once ready.
    pub async fn start(command: &mut Command) -> (Self, String) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Server(
            command
                .env("BIND", format!("127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let mut server = server;
        let client = awc::Client::default();
        for _ in 0..400 {
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("the server exited during start-up: {status}");
            }
            if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
                assert!(response.status().is_success(), "the database answers");
                return (server, base);
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not come up");
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit on its own, for at most `limit`.
    pub async fn exit_status(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "the server did not stop");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
