//! The one way every input file is read: bounded, regular files only, and
//! standard input (`-`) read at most once.
//!
//! A path is opened with `O_NONBLOCK`, so a FIFO cannot block in `open`,
//! then checked with `fstat` on the open descriptor (no race with a rename):
//! anything that is not a regular file (a folder, a FIFO, a device such as
//! `/dev/zero`, a socket) is refused before a byte is read. `/dev/stdin` is
//! whatever standard input is: a redirected regular file reads, a pipe is
//! refused with a pointer to `-`. A file is read once, through one
//! descriptor: callers that tell formats apart look at [`Opened::head`] and
//! then take the rest with [`Opened::read_all`], so a pipe is never opened
//! twice. Sizes are bounded by the caller's limit before and while reading,
//! and the bytes live in zeroizing memory that is never reallocated with a
//! copy left behind.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The path that means standard input.
pub const STDIN: &str = "-";

/// Set once standard input has been read (or handed out to be read).
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Why an input cannot be read as a file of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputFileError {
    #[error("cannot read: there is no such file; check its name and folder (a {what} was expected here)")]
    Missing { what: &'static str },
    #[error("is a folder, not a {what}; name the files in it")]
    Folder { what: &'static str },
    #[error("is a pipe (FIFO), not a regular file; to read standard input, give `-`")]
    Pipe,
    #[error("is a device, not a regular file (a {what} is a file)")]
    Device { what: &'static str },
    #[error("is a socket, not a regular file")]
    Socket,
    #[error("is {size} bytes, larger than any {what} ({} at most)", Size(*limit))]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("holds more than {}, more than any {what}", Size(*limit))]
    StdinTooLarge { what: &'static str, limit: u64 },
    #[error("standard input can be read only once; give `-` for one input only")]
    StdinAgain,
    #[error("standard input is a terminal; redirect or pipe the {what} into it")]
    StdinTerminal { what: &'static str },
}

/// A limit as people say it: "1 MiB", "64 KiB", "256 bytes".
struct Size(u64);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{} MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{} KiB", n >> 10),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// True when `path` is the `-` that means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Reads a whole input of at most `limit` bytes; `what` names the kind of
/// file in messages ("shard file", "SPIKE recovery shard", ...).
pub fn read(path: &Path, limit: u64, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    Opened::open(path, what)?.read_all(limit)
}

/// Opens a regular file for streaming (a large input read in pieces, such
/// as a bundle), refusing folders, FIFOs and devices without blocking.
pub fn open_regular(path: &Path, what: &'static str) -> Result<File> {
    let (file, _) = open_file(path, what)?;
    Ok(file)
}

/// An input opened once, with what has been read of it so far.
pub struct Opened {
    path: PathBuf,
    what: &'static str,
    reader: Box<dyn Read>,
    /// The file's size when it is a regular file.
    size: Option<u64>,
    buf: Zeroizing<Vec<u8>>,
    eof: bool,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// Opens `path` (or standard input for `-`) after checking its kind.
    pub fn open(path: &Path, what: &'static str) -> Result<Opened> {
        let (reader, size): (Box<dyn Read>, Option<u64>) = if is_stdin(path) {
            if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
                return Err(refused(path, InputFileError::StdinAgain));
            }
            if io::stdin().is_terminal() {
                return Err(refused(path, InputFileError::StdinTerminal { what }));
            }
            (Box::new(io::stdin()), None)
        } else {
            let (file, size) = open_file(path, what)?;
            (Box::new(file), Some(size))
        };
        Ok(Opened {
            path: path.to_path_buf(),
            what,
            reader,
            size,
            buf: Zeroizing::new(Vec::new()),
            eof: false,
        })
    }

    /// The first `n` bytes (fewer if the input is shorter), read once and
    /// kept for [`Opened::read_all`].
    pub fn head(&mut self, n: usize) -> Result<&[u8]> {
        self.fill(n)?;
        Ok(&self.buf[..self.buf.len().min(n)])
    }

    /// Everything, at most `limit` bytes; more is refused.
    pub fn read_all(mut self, limit: u64) -> Result<Zeroizing<Vec<u8>>> {
        if let Some(size) = self.size {
            if size > limit {
                return Err(refused(
                    &self.path,
                    InputFileError::TooLarge {
                        what: self.what,
                        size,
                        limit,
                    },
                ));
            }
        }
        let want = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
        self.fill(want)?;
        if self.buf.len() as u64 > limit {
            let e = match self.size {
                // the file grew while being read
                Some(_) => InputFileError::TooLarge {
                    what: self.what,
                    size: self.buf.len() as u64,
                    limit,
                },
                None => InputFileError::StdinTooLarge {
                    what: self.what,
                    limit,
                },
            };
            return Err(refused(&self.path, e));
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads until `want` bytes are buffered or the input ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        const CHUNK: usize = 64 * 1024;
        while !self.eof && self.buf.len() < want {
            let room = (want - self.buf.len()).min(CHUNK);
            let len = self.buf.len();
            if self.buf.capacity() < len + room {
                self.grow(len + room, want);
            }
            self.buf.resize(len + room, 0);
            let got = loop {
                match self.reader.read(&mut self.buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(len);
                        return Err(Error::io(&self.path, "cannot read", e));
                    }
                }
            };
            self.buf.truncate(len + got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// Moves the bytes into a larger zeroizing buffer, so no reallocation
    /// leaves a copy behind in freed memory.
    /// A regular file's size is known: room for all of it (and the one
    /// byte that shows it grew) at once.
    fn grow(&mut self, at_least: usize, want: usize) {
        let whole = self
            .size
            .and_then(|s| usize::try_from(s).ok())
            .map_or(0, |s| s.saturating_add(1).min(want));
        let cap = at_least
            .max(self.buf.capacity().saturating_mul(2).min(want))
            .max(whole);
        let mut bigger = Zeroizing::new(Vec::with_capacity(cap));
        bigger.extend_from_slice(&self.buf);
        self.buf = bigger;
    }
}

fn refused(path: &Path, source: InputFileError) -> Error {
    Error::InputFile {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens without blocking and checks the open descriptor's kind.
fn open_file(path: &Path, what: &'static str) -> Result<(File, u64)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                // what is not there (a dangling link too): say what to check
                return Error::InputFile {
                    path: path.to_path_buf(),
                    source: InputFileError::Missing { what },
                };
            }
            Error::io(path, "cannot open", e)
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?;
    let kind = meta.file_type();
    let problem = if kind.is_file() {
        return Ok((file, meta.len()));
    } else if kind.is_dir() {
        InputFileError::Folder { what }
    } else if kind.is_fifo() {
        InputFileError::Pipe
    } else if kind.is_socket() {
        InputFileError::Socket
    } else {
        InputFileError::Device { what }
    };
    Err(refused(path, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(r: Result<Zeroizing<Vec<u8>>>) -> InputFileError {
        match r {
            Err(Error::InputFile { source, .. }) => source,
            other => panic!("expected an input-file refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_regular_file_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read(&p, 5, "test file").unwrap().as_slice(), b"hello");
        assert_eq!(
            problem(read(&p, 4, "test file")),
            InputFileError::TooLarge {
                what: "test file",
                size: 5,
                limit: 4
            }
        );
    }

    #[test]
    fn head_then_rest_reads_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut o = Opened::open(&p, "test file").unwrap();
        assert_eq!(o.head(3).unwrap(), &data[..3]);
        assert_eq!(o.read_all(300_000).unwrap().as_slice(), data.as_slice());
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            problem(read(dir.path(), 10, "test file")),
            InputFileError::Folder { what: "test file" }
        );
        assert_eq!(
            problem(read(Path::new("/dev/zero"), 10, "test file")),
            InputFileError::Device { what: "test file" }
        );
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(problem(read(&fifo, 10, "test file")), InputFileError::Pipe);
    }
}
