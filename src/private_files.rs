//! Files that hold personal data or secrets are the owner's alone: the data folder is created
//! 0700, the files in it 0600, and a secret file that others may read is refused, as ssh
//! refuses such a key.

use std::{
    fs,
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::{bail, Context};

/// Bits that let the group or other users at a file.
const SHARED_BITS: u32 = 0o077;

/// Creates `folder` (and its parents) readable by the owner only; an existing folder that
/// others may enter is narrowed to the owner.
pub fn ensure_folder(folder: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .with_context(|| format!("cannot create the data folder {}", folder.display()))?;
    narrow(folder, 0o700)
}

/// Creates `path` empty, readable by the owner only, unless it exists; an existing file that
/// others may read is narrowed to the owner. SQLite gives its journal and WAL files the
/// permissions of the database file, so they follow.
pub fn ensure_file(path: &Path) -> anyhow::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => narrow(path, 0o600),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Refuses a secret file that the group or other users may read or write, naming `setting`.
pub fn check_secret_file(path: &Path, setting: &str) -> anyhow::Result<()> {
    let mode = fs::metadata(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?
        .mode();
    if mode & SHARED_BITS != 0 {
        bail!(
            "{setting}: {} may be read by other users (mode {:04o}); run chmod 600 on it",
            path.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

fn narrow(path: &Path, mode: u32) -> anyhow::Result<()> {
    let current = fs::metadata(path)?.permissions().mode();
    if current & SHARED_BITS != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} private", path.display()))?;
        tracing::warn!(path = %path.display(), "made private: other users could read it");
    }
    Ok(())
}
