//! A folder of a test's own, removed when the test ends. Written here rather than taken from
//! the tempfile crate: tempfile turns on rustix's default features, which made `cargo run`
//! after `cargo test` rebuild a large part of the tree (measured: 31 crates, 2 min 21 s).

use std::path::{Path, PathBuf};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "customer-api-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir(&path).expect("create a temporary folder");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
