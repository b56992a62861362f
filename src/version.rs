//! What exactly is running: version, source commit, compiler and the SHA-256
//! of the binary itself, so that a preflight, a transcript or an operator can
//! record it and compare it with the published release (`docs/install.md`).
//!
//! The commit and compiler are fixed at build time by `build.rs` (no build
//! time or path, so the build stays reproducible); the binary's hash is
//! computed when asked, from `/proc/self/exe`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The crate version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source commit (40 hex digits), or `unknown` for a build outside git
/// without `SOURCE_COMMIT`.
pub const COMMIT: &str = env!("KEYCEREMONY_COMMIT");
/// True when tracked sources differed from [`COMMIT`] at build time.
pub const COMMIT_DIRTY: bool = const_str_eq(env!("KEYCEREMONY_COMMIT_DIRTY"), "true");
/// `rustc --version` of the compiler that built this binary.
pub const RUSTC: &str = env!("KEYCEREMONY_RUSTC");
/// The target triple, e.g. `x86_64-unknown-linux-gnu`.
pub const TARGET: &str = env!("KEYCEREMONY_TARGET");

/// `keyceremony -V`: the version and the commit.
pub const SHORT_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KEYCEREMONY_COMMIT_LABEL"),
    ")"
);

/// `keyceremony --version`: everything known at build time, one fact a line.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("KEYCEREMONY_COMMIT_LABEL"),
    "\nrustc: ",
    env!("KEYCEREMONY_RUSTC"),
    "\ntarget: ",
    env!("KEYCEREMONY_TARGET"),
    "\n(`keyceremony version` also prints the SHA-256 of this binary)"
);

/// Where the running binary is read from for its hash.
pub const SELF_EXE: &str = "/proc/self/exe";

/// The identity of the running build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub version: &'static str,
    pub commit: &'static str,
    /// Built from a tree with changes to tracked build inputs not in `commit`.
    pub dirty: bool,
    pub rustc: &'static str,
    pub target: &'static str,
    /// Lowercase hex SHA-256 of the binary file.
    pub binary_sha256: String,
    /// The file that was hashed (resolved `/proc/self/exe`).
    pub binary_path: PathBuf,
}

/// Why the running binary could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read the running binary to hash it: {source}", path.display())]
pub struct HashError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Identity {
    /// The running process: build facts plus the hash of `/proc/self/exe`.
    pub fn current() -> Result<Identity, HashError> {
        let exe = Path::new(SELF_EXE);
        let binary_sha256 = sha256_file(exe).map_err(|source| HashError {
            path: exe.to_path_buf(),
            source,
        })?;
        // The path is for the reader only; the hash is of what runs, even if
        // the file was replaced since.
        let binary_path = std::fs::read_link(exe).unwrap_or_else(|_| exe.to_path_buf());
        Ok(Identity {
            version: VERSION,
            commit: COMMIT,
            dirty: COMMIT_DIRTY,
            rustc: RUSTC,
            target: TARGET,
            binary_sha256,
            binary_path,
        })
    }
}

/// SHA-256 of a file, streamed, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hash_is_plain_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256_file(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Longer than one read buffer.
        let big = vec![7u8; (1 << 16) * 3 + 5];
        std::fs::write(&file, &big).unwrap();
        assert_eq!(
            sha256_file(&file).unwrap(),
            hex::encode(Sha256::digest(&big))
        );
    }

    #[test]
    fn identity_hashes_the_running_executable() {
        let id = Identity::current().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(id.binary_sha256, sha256_file(&exe).unwrap());
        assert_eq!(id.version, env!("CARGO_PKG_VERSION"));
        assert!(id.rustc.starts_with("rustc "), "{}", id.rustc);
        assert!(COMMIT == "unknown" || COMMIT.len() == 40, "{COMMIT}");
        assert!(SHORT_VERSION.starts_with(VERSION));
        assert!(LONG_VERSION.contains(RUSTC));
    }

    #[test]
    fn an_unreadable_binary_is_an_error_naming_the_file() {
        let path = Path::new("/nonexistent/keyceremony");
        let source = sha256_file(path).unwrap_err();
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        let e = HashError {
            path: path.to_path_buf(),
            source,
        };
        assert!(e
            .to_string()
            .starts_with("/nonexistent/keyceremony: cannot read the running binary"));
    }
}
