//! The generated token key of a single-node install, kept in a file only its owner can read.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::secret::Secret;

/// Reads the key at `path`, or creates the file with a new key from `generate` (mode 0600).
/// Returns the key and whether it was created now. Two processes starting at once agree on one
/// key: only one can create the file, the other reads it.
pub fn load_or_create(
    path: &Path,
    generate: impl Fn() -> Secret,
) -> std::io::Result<(Secret, bool)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let secret = generate();
            file.write_all(secret.expose().as_bytes())?;
            file.sync_all()?;
            Ok((secret, true))
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            let mut key = String::new();
            OpenOptions::new()
                .read(true)
                .open(path)?
                .read_to_string(&mut key)?;
            let key = key.trim();
            if key.len() < 32 {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    "the file holds no valid key (at least 32 bytes); delete it to make a new one",
                ));
            }
            Ok((Secret::new(key), false))
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/missive.db.secret");
        let (first, created) = load_or_create(&path, || Secret::new("a".repeat(64))).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, created) = load_or_create(&path, || Secret::new("b".repeat(64))).unwrap();
        assert!(!created);
        assert_eq!(first, second);
    }

    #[test]
    fn a_truncated_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "short").unwrap();
        assert!(load_or_create(&path, || Secret::new("x".repeat(64))).is_err());
    }
}
