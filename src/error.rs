//! One error type for the whole tool. Every message names the file (where
//! there is one), says what is wrong, and where it helps, what to do next.
//! No variant ever carries secret material.
//!
//! The errors of the parts ([`TokenError`], [`SealError`], [`ShardError`],
//! [`SpikeError`], [`RecoveryError`], ...) travel inside [`Error`] as
//! themselves (`#[source]`), with the file they concern, so a caller can
//! `match` on them: a wrong PIN with its tries left, a blocked PIN, a token
//! pulled out, a touch not given. They become text only when printed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::qr::payload::PayloadError;
use crate::recovery::RecoveryError;
use crate::seal::{RecipientError, SealError};
use crate::secret::KeyError;
use crate::shard::ShardError;
use crate::spike::{SpikeError, SpikeSetError};
use crate::split::SplitCheckError;
use crate::token::TokenError;

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

    /// An input that is not a file of the kind asked for (a folder, a FIFO,
    /// a device, too large, standard input given twice).
    #[error("{}: {source}", path.display())]
    InputFile {
        path: PathBuf,
        #[source]
        source: crate::input_file::InputFileError,
    },

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

    /// A token refused or failed. `path` is the sealed share being opened,
    /// when there is one.
    #[error("{}", TokenMessage(path.as_deref(), source))]
    Token {
        path: Option<PathBuf>,
        #[source]
        source: TokenError,
    },

    /// A sealed share that cannot be opened for what is in the file.
    #[error("{}: {source}", path.display())]
    Sealed {
        path: PathBuf,
        #[source]
        source: SealError,
    },

    /// A passphrase-protected shard (`shard-<i>.json.age`) that does not open.
    #[error("{}: {source}", path.display())]
    PassphraseShard {
        path: PathBuf,
        #[source]
        source: crate::passphrase_shard::PassphraseShardError,
    },

    /// Sealing (age encryption into memory) failed.
    #[error("cannot seal: {source}")]
    Sealing {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A key file that does not hold a root key.
    #[error("{}: {source}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },

    /// A shard file or ceremony record that does not parse or check out.
    #[error("{}: {source}", path.display())]
    Shard {
        path: PathBuf,
        #[source]
        source: ShardError,
    },

    /// A keyceremony QR code that does not check out.
    #[error("{}: {source}", path.display())]
    QrPayload {
        path: PathBuf,
        #[source]
        source: PayloadError,
    },

    /// A SPIKE recovery shard file that does not parse.
    #[error("{}: {source}", path.display())]
    SpikeShard {
        path: PathBuf,
        #[source]
        source: SpikeError,
    },

    /// SPIKE shards that do not give a key together.
    #[error(transparent)]
    SpikeSet(#[from] SpikeSetError),

    /// Shards that do not give the key together.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),

    /// An output that does not read, decode or open back as what was written.
    #[error("{}: {problem}", path.display())]
    ReadBack { path: PathBuf, problem: ReadBack },

    /// A split that does not check out before or after writing (no file to blame).
    #[error(transparent)]
    SplitCheck(#[from] SplitCheckError),

    /// A question could not be asked (no terminal).
    #[error("{}{}", PathPrefix(path.as_deref()), NoAnswerMessage(*question, source))]
    NoAnswer {
        path: Option<PathBuf>,
        question: Question,
        #[source]
        source: io::Error,
    },

    /// A request (from the command line or a plan) that asks for something
    /// impossible or contradictory; worded for the command line.
    #[error(transparent)]
    Request(#[from] RequestError),

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

    /// A ceremony run refused before anything was written.
    #[error(transparent)]
    CeremonyRefused(#[from] crate::ceremony::RunRefused),
}

/// What an output check found when reading an output back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBack {
    /// The shard file no longer parses.
    Unreadable(ShardError),
    /// It parses, but holds another share or ceremony.
    DifferentShare,
    /// A sealed file is not byte for byte what was sealed.
    DifferentBytes,
    /// A rendered QR image did not scan back as its share (before writing).
    ScanBack(ScanBack),
    /// A QR image (the written one, or a scan or photo of the print) holds
    /// no code of this share.
    QrNotFound,
    /// The sealed share opened, on a token other than the one it was made for.
    OtherToken { expected: String, opened_by: String },
}

/// Why a rendered QR image failed its scan-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanBack {
    ImageUnreadable,
    NoCode,
    Differs,
}

impl fmt::Display for ReadBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadBack::Unreadable(e) => write!(f, "read-back after writing failed: {e}"),
            ReadBack::DifferentShare => f.write_str("read-back after writing gave a different share"),
            ReadBack::DifferentBytes => f.write_str("read-back after writing gave different bytes"),
            ReadBack::ScanBack(why) => write!(
                f,
                "scan-back check failed: {}; nothing was written",
                match why {
                    ScanBack::ImageUnreadable => "the rendered image could not be read again",
                    ScanBack::NoCode => "the code did not decode",
                    ScanBack::Differs => "the decoded code differs from the share",
                }
            ),
            ReadBack::QrNotFound => f.write_str(
                "check-back failed: no QR code in this image carries the share that was handed out",
            ),
            ReadBack::OtherToken { expected, opened_by } => write!(
                f,
                "check-back failed: the share was to be sealed to {expected}, but {opened_by} opened it"
            ),
        }
    }
}

/// A question that went unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// The PIN for a sealed share.
    Pin,
    /// A PIN or PUK for a token operation (`token init`, `token unblock`).
    TokenSecret(&'static str),
    /// A bundle passphrase.
    Passphrase,
    /// The passphrase of a passphrase-protected shard.
    ShardPassphrase,
}

struct NoAnswerMessage<'a>(Question, &'a io::Error);

impl fmt::Display for NoAnswerMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.1;
        match self.0 {
            Question::Pin => write!(
                f,
                "cannot read the PIN from the terminal ({e}); pass --pin-file FILE instead"
            ),
            Question::TokenSecret(what) => write!(
                f,
                "cannot read the {what} from the terminal ({e}); pass it in a file instead"
            ),
            Question::Passphrase => write!(
                f,
                "cannot ask for the passphrase (no terminal? {e}); pass --passphrase-file FILE"
            ),
            Question::ShardPassphrase => write!(
                f,
                "cannot ask for the shard's passphrase (no terminal? {e}); pass --shard-passphrase-file FILE"
            ),
        }
    }
}

struct PathPrefix<'a>(Option<&'a Path>);

impl fmt::Display for PathPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{}: ", p.display()),
            None => Ok(()),
        }
    }
}

struct TokenMessage<'a>(Option<&'a Path>, &'a TokenError);

impl fmt::Display for TokenMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(p), e) => write!(f, "{}: {e}", p.display()),
            // A test token's own state file is the file to blame.
            (None, e @ (TokenError::BadState { path, .. } | TokenError::Io { path, .. })) => {
                write!(f, "{}: {e}", path.display())
            }
            (None, e) => write!(f, "{e}"),
        }
    }
}

/// A request that cannot be carried out as asked. The messages name the
/// command-line options, since that is where most requests come from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("--label: {0}")]
    Label(String),
    #[error("--custodian {name:?}: {problem}")]
    Custodian { name: String, problem: String },
    #[error("{given} custodian names given for {shares} shares")]
    TooManyCustodians { given: usize, shares: u8 },
    #[error("{given} share transports given for {shares} shares")]
    TransportCount { given: usize, shares: u8 },
    #[error("{given} sealing targets (--seal-to, --seal-to-recipient) for {shares} shares")]
    TooManySealTargets { given: usize, shares: u8 },
    #[error("--seal-to-recipient: {0}")]
    Recipient(RecipientError),
    #[error("shares {first} and {second} would both be sealed to {target}: whoever holds that token would hold two shares. Pass --allow-same-token if that is intended")]
    SameToken {
        first: usize,
        second: usize,
        target: String,
    },
    #[error("{0}")]
    Passphrase(&'static str),
    #[error("the two passphrases differ; nothing was written. Run the command again")]
    PassphrasesDiffer,
    #[error("{}the passphrase has only {chars} characters; {what} needs at least {min}. Choose a longer one, or pass --allow-short-passphrase if this one is meant; nothing was written", PathPrefix(file.as_deref()))]
    ShortPassphrase {
        /// The passphrase file, when it came from one.
        file: Option<PathBuf>,
        chars: usize,
        min: usize,
        /// What it is for: "a new Nexus backup", "a passphrase-protected shard".
        what: &'static str,
    },
    #[error("{} is an age bundle: give the Nexus age identity with --identity FILE", .0.display())]
    AgeBundleNeedsIdentity(PathBuf),
}

impl From<TokenError> for Error {
    fn from(source: TokenError) -> Self {
        Error::Token { path: None, source }
    }
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
            // What was typed at a prompt, or the lack of a terminal to type
            // it on, is not the command line's fault: a failure, not usage.
            Error::Request(
                RequestError::Passphrase(_)
                | RequestError::PassphrasesDiffer
                | RequestError::ShortPassphrase { .. },
            ) => EXIT_FAILURE,
            Error::Usage(_) | Error::Request(_) => EXIT_USAGE,
            Error::SpikeSet(SpikeSetError::Threshold(_)) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// The file this error is about, when it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Input { path, .. }
            | Error::InputFile { path, .. }
            | Error::Io { path, .. }
            | Error::Exists { path }
            | Error::Sealed { path, .. }
            | Error::PassphraseShard { path, .. }
            | Error::Key { path, .. }
            | Error::Shard { path, .. }
            | Error::QrPayload { path, .. }
            | Error::SpikeShard { path, .. }
            | Error::ReadBack { path, .. } => Some(path),
            Error::Token { path, .. } | Error::NoAnswer { path, .. } => path.as_deref(),
            _ => None,
        }
    }

    /// The token error inside, if this is one.
    pub fn token_error(&self) -> Option<&TokenError> {
        match self {
            Error::Token { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The same error, about the file `path` (for errors that had none).
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            Error::Token { path: None, source } => Error::Token {
                path: Some(path.to_path_buf()),
                source,
            },
            Error::NoAnswer {
                path: None,
                question,
                source,
            } => Error::NoAnswer {
                path: Some(path.to_path_buf()),
                question,
                source,
            },
            other => other,
        }
    }

    /// The message without the file name it starts with (for lists that
    /// name the file themselves).
    pub fn problem(&self) -> String {
        match self {
            Error::Input { problem, .. } => problem.clone(),
            Error::InputFile { source, .. } => source.to_string(),
            Error::Io { action, source, .. } => format!("{action}: {source}"),
            Error::Token {
                path: Some(_),
                source,
            } => source.to_string(),
            Error::Sealed { source, .. } => source.to_string(),
            Error::PassphraseShard { source, .. } => source.to_string(),
            Error::Key { source, .. } => source.to_string(),
            Error::Shard { source, .. } => source.to_string(),
            Error::QrPayload { source, .. } => source.to_string(),
            Error::SpikeShard { source, .. } => source.to_string(),
            Error::ReadBack { problem, .. } => problem.to_string(),
            Error::NoAnswer {
                path: Some(_),
                question,
                source,
            } => NoAnswerMessage(*question, source).to_string(),
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_keep_their_type_and_file() {
        let e = Error::from(TokenError::WrongPin {
            token: "TEST TOKEN 1".into(),
            tries_left: 2,
        })
        .in_file(Path::new("shard-1.age"));
        assert!(matches!(
            e.token_error(),
            Some(TokenError::WrongPin { tries_left: 2, .. })
        ));
        assert_eq!(e.path(), Some(Path::new("shard-1.age")));
        assert!(e
            .to_string()
            .starts_with("shard-1.age: wrong PIN for TEST TOKEN 1: 2 tries left"));
        assert!(e.problem().starts_with("wrong PIN"));
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<TokenError>().is_some());
    }

    #[test]
    fn an_unanswered_question_is_a_failure_not_a_usage_error() {
        let e = Error::NoAnswer {
            path: None,
            question: Question::Pin,
            source: io::Error::other("no tty"),
        };
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        let e = e.in_file(Path::new("s.age"));
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert_eq!(
            e.to_string(),
            "s.age: cannot read the PIN from the terminal (no tty); pass --pin-file FILE instead"
        );
    }

    #[test]
    fn answers_typed_at_a_prompt_are_failures_and_options_are_usage() {
        let differ = Error::from(RequestError::PassphrasesDiffer);
        assert_eq!(differ.exit_code(), EXIT_FAILURE);
        let empty = Error::from(RequestError::Passphrase("the passphrase is empty"));
        assert_eq!(empty.exit_code(), EXIT_FAILURE);
        let label = Error::from(RequestError::Label("too long".into()));
        assert_eq!(label.exit_code(), EXIT_USAGE);
        assert_eq!(Error::Usage("x".into()).exit_code(), EXIT_USAGE);
    }
}
