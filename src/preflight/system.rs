//! What preflight asks of the machine, behind one trait, so that tests feed
//! it a fake `/sys` and `/proc` (a folder) and made-up process facts, and
//! see every check pass, warn and fail.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Largest `/sys` or `/proc` file read (they are a few bytes to a few KiB).
const MAX_PROBE_FILE: u64 = 64 * 1024;
/// Most entries listed from one folder (network interfaces, rfkill devices).
const MAX_DIR_ENTRIES: usize = 256;

/// A resource limit; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// This binary, as the transcript records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryIdentity {
    pub version: String,
    /// Source commit the binary was built from.
    pub commit: String,
    /// The compiler that built it (`rustc --version`).
    pub rustc: String,
    pub path: String,
    pub sha256: String,
}

/// Everything preflight looks at.
pub trait System {
    /// A text file by its absolute path (`/proc/swaps`, `/sys/class/net/eth0/flags`).
    fn read_file(&self, path: &str) -> io::Result<String>;
    /// The names in a folder, sorted.
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>>;
    /// `prctl(PR_GET_DUMPABLE)`: 0 when the process cannot dump core or be attached to.
    fn dumpable(&self) -> io::Result<i32>;
    /// `RLIMIT_CORE`.
    fn core_limit(&self) -> io::Result<Limit>;
    /// `RLIMIT_MEMLOCK`.
    fn memlock_limit(&self) -> io::Result<Limit>;
    /// Locks and unlocks `len` bytes of fresh memory.
    fn try_mlock(&self, len: usize) -> io::Result<()>;
    /// Fills `buf` from the OS random source without blocking; `WouldBlock`
    /// when the kernel's pool is not initialised yet.
    fn random(&self, buf: &mut [u8]) -> io::Result<()>;
    /// The system clock.
    fn now(&self) -> time::OffsetDateTime;
    /// This binary's version and the SHA-256 of its file.
    fn binary(&self) -> io::Result<BinaryIdentity>;
}

/// A /proc or /sys file, through the one input reader (regular files only,
/// opened without blocking); the probes need only its first part.
fn read_small(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    crate::input_file::open_regular(path, "system file")
        .map_err(|e| match e {
            crate::Error::Io { source, .. } => source,
            // a probe tells a file that is not there from one it cannot read
            crate::Error::InputFile {
                source: crate::input_file::InputFileError::Missing { .. },
                ..
            } => io::Error::from(io::ErrorKind::NotFound),
            other => io::Error::other(other.to_string()),
        })?
        .take(MAX_PROBE_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn list_small(path: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)?.take(MAX_DIR_ENTRIES) {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// The version of this build, its source commit and toolchain, and the
/// SHA-256 of the running executable ([`crate::version::Identity`]).
pub fn binary_identity() -> io::Result<BinaryIdentity> {
    let id = crate::version::Identity::current().map_err(|e| e.source)?;
    Ok(BinaryIdentity {
        version: id.version.to_string(),
        commit: format!("{}{}", id.commit, if id.dirty { " (dirty)" } else { "" }),
        rustc: id.rustc.to_string(),
        path: id.binary_path.display().to_string(),
        sha256: id.binary_sha256,
    })
}

/// The machine this process runs on.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveSystem;

fn rlimit(resource: libc::__rlimit_resource_t) -> io::Result<Limit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let conv = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v);
    Ok(Limit {
        soft: conv(r.rlim_cur),
        hard: conv(r.rlim_max),
    })
}

impl System for LiveSystem {
    fn read_file(&self, path: &str) -> io::Result<String> {
        read_small(Path::new(path))
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        list_small(Path::new(path))
    }

    fn dumpable(&self) -> io::Result<i32> {
        // SAFETY: PR_GET_DUMPABLE takes no pointer arguments.
        let rc = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc)
    }

    fn core_limit(&self) -> io::Result<Limit> {
        rlimit(libc::RLIMIT_CORE)
    }

    fn memlock_limit(&self) -> io::Result<Limit> {
        rlimit(libc::RLIMIT_MEMLOCK)
    }

    fn try_mlock(&self, len: usize) -> io::Result<()> {
        let buf = vec![0u8; len];
        // SAFETY: the range is a live allocation we own; unlocked before it is freed.
        unsafe {
            if libc::mlock(buf.as_ptr() as *const libc::c_void, len) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::munlock(buf.as_ptr() as *const libc::c_void, len);
        }
        Ok(())
    }

    fn random(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            // SAFETY: writes at most the remaining length into our buffer.
            let n = unsafe {
                libc::getrandom(
                    buf[got..].as_mut_ptr() as *mut libc::c_void,
                    buf.len() - got,
                    libc::GRND_NONBLOCK,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            got += n as usize;
        }
        Ok(())
    }

    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    fn binary(&self) -> io::Result<BinaryIdentity> {
        binary_identity()
    }
}

/// A machine described by a folder (its `sys/` and `proc/` below `root`)
/// and given process facts: for tests, and for checking a saved snapshot.
pub struct RootedSystem {
    pub root: PathBuf,
    pub dumpable: i32,
    pub core: Limit,
    pub memlock: Limit,
    /// `Err(kind)` makes `try_mlock` fail that way.
    pub mlock: Result<(), io::ErrorKind>,
    /// The bytes the "random source" returns (repeated as needed), or an error.
    pub random: Result<Vec<u8>, io::ErrorKind>,
    pub now: time::OffsetDateTime,
    pub binary: Option<BinaryIdentity>,
}

impl RootedSystem {
    /// A clean air-gapped machine below `root` (written there: loopback
    /// only, no radios, no swap) with hardened process facts, a random
    /// source that passes its health tests, the clock at `now` and a made-up
    /// binary: every check passes. Tests change what they are about.
    pub fn air_gapped(root: &Path, now: time::OffsetDateTime) -> io::Result<RootedSystem> {
        let write = |rel: &str, text: &str| -> io::Result<()> {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("below root"))?;
            std::fs::write(p, text)
        };
        write("sys/class/net/lo/flags", "0x9\n")?;
        write("sys/class/net/lo/operstate", "unknown\n")?;
        write("sys/class/net/lo/type", "772\n")?;
        std::fs::create_dir_all(root.join("sys/class/rfkill"))?;
        write(
            "proc/swaps",
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        )?;
        write("proc/sys/kernel/core_pattern", "core\n")?;
        write("proc/sys/fs/suid_dumpable", "0\n")?;
        // 1024 bytes that pass both health tests: SHA-256 of 0, 1, 2, ...
        let random = (0u32..32)
            .flat_map(|i| {
                use sha2::Digest;
                sha2::Sha256::digest(i.to_be_bytes()).to_vec()
            })
            .collect();
        Ok(RootedSystem {
            root: root.to_path_buf(),
            dumpable: 0,
            core: Limit {
                soft: Some(0),
                hard: Some(0),
            },
            memlock: Limit {
                soft: Some(8 << 20),
                hard: Some(8 << 20),
            },
            mlock: Ok(()),
            random: Ok(random),
            now,
            binary: Some(BinaryIdentity {
                version: "0.1.0".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
                path: "/usr/bin/keyceremony".into(),
                sha256: "ab".repeat(32),
            }),
        })
    }

    fn under(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

impl System for RootedSystem {
    fn read_file(&self, path: &str) -> io::Result<String> {
        read_small(&self.under(path))
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        list_small(&self.under(path))
    }

    fn dumpable(&self) -> io::Result<i32> {
        Ok(self.dumpable)
    }

    fn core_limit(&self) -> io::Result<Limit> {
        Ok(self.core)
    }

    fn memlock_limit(&self) -> io::Result<Limit> {
        Ok(self.memlock)
    }

    fn try_mlock(&self, _len: usize) -> io::Result<()> {
        self.mlock.map_err(io::Error::from)
    }

    fn random(&self, buf: &mut [u8]) -> io::Result<()> {
        match &self.random {
            Ok(bytes) if !bytes.is_empty() => {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = bytes[i % bytes.len()];
                }
                Ok(())
            }
            Ok(_) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Err(kind) => Err(io::Error::from(*kind)),
        }
    }

    fn now(&self) -> time::OffsetDateTime {
        self.now
    }

    fn binary(&self) -> io::Result<BinaryIdentity> {
        self.binary
            .clone()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}
