//! Node.js test scripts (a real browser, real client libraries) run against a test server.
//! They need their npm packages (`npm ci` in their folder) and, for the browser, Chromium:
//! without them a test is skipped with a note, unless REQUIRE_BROWSER=1 (as in CI) makes
//! that a failure.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The Chromium that playwright-core drives: Debian's package, or $CHROMIUM.
pub fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// The folder of a Node project of this repository (`web/graphiql`, `examples/web`), when
/// its packages are installed and Chromium is present.
pub fn node_project(relative: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let missing = if !dir.join("node_modules").is_dir() {
        Some(format!("{relative}/node_modules (run npm ci there)"))
    } else if !Path::new(&chromium()).exists() {
        Some(format!("{} (apt-get install chromium)", chromium()))
    } else {
        None
    };
    let Some(missing) = missing else {
        return Some(dir);
    };
    assert!(
        std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
        "REQUIRE_BROWSER=1 but {missing} is missing"
    );
    eprintln!("skipped: {missing} is missing");
    None
}

/// Runs `node <script>` in `dir` with `env`, off the async runtime, echoes its output (the
/// steps it passed and its screenshots) and fails the test unless it succeeds.
pub async fn run_node_script(dir: PathBuf, script: &str, env: Vec<(&'static str, String)>) {
    let script = script.to_owned();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .envs(env)
            .env("CHROMIUM", chromium())
            .output()
            .expect("node runs (Node 20 or later)")
    })
    .await
    .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the Node test failed: {}",
        output.status
    );
}

/// Where a browser test writes its screenshots: `target/browser-tests/<name>`.
pub fn screenshot_dir(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("browser-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir.to_string_lossy().into_owned()
}
