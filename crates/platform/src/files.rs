//! Files keel keeps on disk (the embedded database, the key file, the mail drop, backups)
//! hold sessions, reset links and everything else: the data directory is `0700` and every
//! file in it `0600`, whatever the umask.

use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// Creates `dir` (and missing parents) if needed; a directory created here is `0700`.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Creates an empty `0600` file at `path` unless something is there already. SQLite then
/// gives its `-wal` and `-shm` files the same mode, and `VACUUM INTO` writes into it.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a new `0600` file.
pub async fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(contents).await?;
    file.sync_all().await
}

/// Paths under `dir` (itself, its files and those one level down) that others may read.
pub fn readable_by_others(dir: &Path) -> Vec<String> {
    #[cfg(unix)]
    {
        fn open_to_others(path: &Path) -> bool {
            std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
        }
        let mut found = Vec::new();
        if open_to_others(dir) {
            found.push(dir.display().to_string());
        }
        let visit = |d: &Path, found: &mut Vec<String>| -> Vec<std::path::PathBuf> {
            let mut subdirs = Vec::new();
            for entry in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    subdirs.push(path.clone());
                }
                if open_to_others(&path) {
                    found.push(path.display().to_string());
                }
            }
            subdirs
        };
        for sub in visit(dir, &mut found) {
            visit(&sub, &mut found);
        }
        found
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Vec::new()
    }
}
