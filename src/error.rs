//! One error type for the whole tool. Every message names the file (where
//! there is one), says what is wrong, and where it helps, what to do next.
//! No variant ever carries secret material.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Exit status for bad input, a failed check, or an operation that could not complete.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status for a command line that does not parse or does not make sense.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file (or other named input) is malformed, tampered with, or does not fit.
    #[error("{}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },

    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// An output would replace something that is already there.
    #[error("{}: already exists; pass --force to replace it", path.display())]
    Exists { path: PathBuf },

    /// A check over several inputs failed (no single file to blame, or all named in the text).
    #[error("{0}")]
    Check(String),

    /// The command line asks for something impossible or contradictory.
    #[error("{0}")]
    Usage(String),

    /// A ceremony plan was refused (file, line and column inside).
    #[error(transparent)]
    Plan(Box<crate::plan::PlanError>),

    /// A transcript failed verification (file and line inside).
    #[error(transparent)]
    Transcript(Box<crate::transcript::TranscriptError>),
}

impl Error {
    pub fn input(path: impl AsRef<Path>, problem: impl fmt::Display) -> Self {
        Error::Input {
            path: path.as_ref().to_path_buf(),
            problem: problem.to_string(),
        }
    }

    pub fn io(path: impl AsRef<Path>, action: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            action,
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
