//! Passphrase-protected shards: `shard-<i>.json.age`, the shard file's
//! exact bytes inside an ordinary age v1 file whose only recipient stanza
//! is age's own passphrase recipient, `scrypt`:
//!
//! ```text
//! age-encryption.org/v1
//! -> scrypt <salt: 16 bytes, base64 without padding> <log2 N, decimal>
//! <base64 of the 32-byte wrapped file key>
//! --- <header MAC>
//! <payload: the shard file's JSON, age's STREAM chunks>
//! ```
//!
//! Any age implementation opens it with the passphrase (`age -d`, rage),
//! with or without keyceremony: no format of ours stands between a
//! custodian and their share. age (the spec and every implementation) puts
//! no other stanza beside a scrypt one, not even grease; a file with more
//! than one stanza is refused.
//!
//! - Writing uses a fixed work factor [`WORK_FACTOR`] (log2 N = 18, age's
//!   reference value; scrypt r = 8, p = 1, so 256 MiB of memory).
//! - Reading refuses a work factor above [`MAX_WORK_FACTOR`] from the
//!   header alone, before any KDF work (a crafted log2 N = 40 would ask
//!   for 128 TiB); the age crate's own bound is set to the same value.
//! - The decrypted JSON stays in zeroizing memory; it is never written out.

use std::io::Read;
use std::path::{Path, PathBuf};

use age_core::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::bundle::Passphrase;
use crate::console::Console;
use crate::error::{Error, Question, Result};
use crate::events::EventSink;
use crate::progress::{Progress, Step};
use crate::seal::{self, SealError, AGE_MAGIC};
use crate::shard::ShardFile;

/// age's passphrase recipient type.
pub const STANZA_TAG: &str = "scrypt";
/// The scrypt work factor written (log2 N): age's reference value.
pub const WORK_FACTOR: u8 = 18;
/// The largest work factor read (log2 N): 1 GiB of memory and about four
/// times the time of [`WORK_FACTOR`], enough for files `age -p` wrote on a
/// faster machine (it aims at one second there).
pub const MAX_WORK_FACTOR: u8 = 20;
/// The fewest characters of a new shard passphrase unless the caller
/// allows a shorter one (the same rule as a new Nexus backup's).
pub const MIN_PASSPHRASE_CHARS: usize = crate::bundle::MIN_NEW_PASSPHRASE_CHARS;
/// Largest passphrase shard read: a shard file plus age's overhead.
pub const MAX_LEN: usize = seal::MAX_SEALED_LEN;
/// Salt length in the stanza.
const SALT_LEN: usize = 16;
/// The wrapped file key: 16 bytes and the 16-byte Poly1305 tag.
const WRAPPED_LEN: usize = 32;
/// What the file is called in messages.
const WHAT: &str = "passphrase-protected shard";

/// The path of share `id`'s passphrase-protected shard in `dir`.
pub fn path(dir: &Path, id: u8) -> PathBuf {
    dir.join(format!("shard-{id}.json.age"))
}

/// Why a passphrase-protected shard does not open. No variant holds secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseShardError {
    #[error(
        "file is {0} bytes, larger than any passphrase-protected shard ({MAX_LEN} bytes at most)"
    )]
    TooLarge(usize),
    #[error("the age header is malformed ({0}): the file is damaged or truncated")]
    BadHeader(String),
    #[error("this age file has {0} recipient stanzas; a passphrase-protected shard has exactly one (scrypt), as age requires")]
    StanzaCount(usize),
    #[error("the scrypt stanza is malformed ({0}): the file is damaged")]
    BadStanza(&'static str),
    #[error("the file asks for scrypt work factor 2^{found}; more than 2^{max} is refused before any work (it would take hours and gigabytes): the file was crafted or damaged, or made with an unusual `age -p` setting")]
    WorkFactor { found: u8, max: u8 },
    #[error(
        "the passphrase does not open this file: it is wrong, or the file's header was altered"
    )]
    WrongPassphrase,
    #[error("the age header's MAC does not match: the file was altered or damaged")]
    HeaderMac,
    #[error("the content fails its integrity check: the file was altered, damaged or truncated")]
    Payload,
    #[error("the passphrase is not UTF-8 text; age passphrases are text")]
    NotText,
    #[error("it opens, but holds no keyceremony shard file: {0}")]
    NotShard(String),
}

fn file_error(path: &Path, source: PassphraseShardError) -> Error {
    Error::PassphraseShard {
        path: path.to_path_buf(),
        source,
    }
}

/// What the header of a passphrase-protected shard says, parsed strictly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScryptHeader {
    /// log2 of scrypt's N.
    pub work_factor: u8,
}

impl ScryptHeader {
    /// Reads and checks the header: exactly one stanza, `scrypt`, a 16-byte
    /// salt, a canonical decimal work factor at most [`MAX_WORK_FACTOR`],
    /// a 32-byte body. Costs no KDF work.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, PassphraseShardError> {
        if bytes.len() > MAX_LEN {
            return Err(PassphraseShardError::TooLarge(bytes.len()));
        }
        let stanzas = seal::read_stanzas(bytes).map_err(|e| match e {
            SealError::StanzaCount(n) => PassphraseShardError::StanzaCount(n),
            SealError::BadHeader(why) => PassphraseShardError::BadHeader(why.to_string()),
            other => PassphraseShardError::BadHeader(other.to_string()),
        })?;
        let [stanza] = &stanzas[..] else {
            return Err(PassphraseShardError::StanzaCount(stanzas.len()));
        };
        if stanza.kind != STANZA_TAG {
            return Err(PassphraseShardError::BadStanza("its type is not scrypt"));
        }
        let [salt, log_n] = &stanza.args[..] else {
            return Err(PassphraseShardError::BadStanza(
                "it needs exactly two arguments (salt, work factor)",
            ));
        };
        seal::b64_exact::<SALT_LEN>(salt).ok_or(PassphraseShardError::BadStanza(
            "the salt is not 16 bytes of base64",
        ))?;
        let canonical = !log_n.is_empty()
            && log_n.len() <= 3
            && log_n.bytes().all(|b| b.is_ascii_digit())
            && !log_n.starts_with('0');
        let work_factor: u8 = log_n
            .parse()
            .ok()
            .filter(|n| canonical && (1..64).contains(n))
            .ok_or(PassphraseShardError::BadStanza(
                "the work factor is not a number from 1 to 63",
            ))?;
        if work_factor > MAX_WORK_FACTOR {
            return Err(PassphraseShardError::WorkFactor {
                found: work_factor,
                max: MAX_WORK_FACTOR,
            });
        }
        if stanza.body.len() != WRAPPED_LEN {
            return Err(PassphraseShardError::BadStanza("the body is not 32 bytes"));
        }
        Ok(ScryptHeader { work_factor })
    }
}

/// Whether `bytes` are an age file with a scrypt stanza (a passphrase-
/// protected shard, well formed or not), rather than a sealed share.
pub fn is_passphrase_file(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC)
        && seal::read_stanzas(bytes)
            .map(|s| s.iter().any(|s| s.kind == STANZA_TAG))
            .unwrap_or(false)
}

/// Checks a new shard passphrase: UTF-8 text (age passphrases are), and at
/// least [`MIN_PASSPHRASE_CHARS`] unless `allow_short`. `file`: where it
/// came from, named in the refusal.
pub fn check_new(pass: &Passphrase, file: Option<&Path>, allow_short: bool) -> Result<()> {
    if std::str::from_utf8(pass.expose()).is_err() {
        let problem = PassphraseShardError::NotText;
        return Err(match file {
            Some(f) => Error::input(f, problem),
            None => Error::Request(crate::error::RequestError::Passphrase(
                "the passphrase is not UTF-8 text; age passphrases are text",
            )),
        });
    }
    crate::bundle::check_passphrase_length(pass, file, allow_short, "a passphrase-protected shard")
}

fn secret_string(pass: &Passphrase) -> std::result::Result<SecretString, PassphraseShardError> {
    let text = std::str::from_utf8(pass.expose()).map_err(|_| PassphraseShardError::NotText)?;
    Ok(SecretString::from(text.to_string()))
}

/// Encrypts `plaintext` (a shard file's JSON) under `pass` with scrypt at
/// [`WORK_FACTOR`]: the bytes of `shard-<i>.json.age`.
pub fn protect(plaintext: &[u8], pass: &Passphrase) -> Result<Vec<u8>> {
    let secret = secret_string(pass).map_err(|e| Error::Usage(e.to_string()))?;
    let mut recipient = age::scrypt::Recipient::new(secret);
    recipient.set_work_factor(WORK_FACTOR);
    seal::seal_bytes(&recipient, plaintext)
}

/// Decrypts a passphrase-protected shard's bytes (read from `path`, named
/// in errors) with `pass`; the header is checked first, so an absurd work
/// factor costs nothing. The KDF is shown as a spinner on `progress`.
pub fn open(
    path: &Path,
    bytes: &[u8],
    pass: &Passphrase,
    progress: &Progress,
) -> Result<Zeroizing<Vec<u8>>> {
    ScryptHeader::parse(bytes).map_err(|e| file_error(path, e))?;
    let secret = secret_string(pass).map_err(|e| file_error(path, e))?;
    let mut identity = age::scrypt::Identity::new(secret);
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let decryptor =
        age::Decryptor::new_buffered(bytes).map_err(|e| file_error(path, decrypt_error(e)))?;
    let spinner = progress.spinner(Step::DerivingScryptKey);
    let opened = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity));
    spinner.finish_and_clear();
    let mut reader = opened.map_err(|e| file_error(path, decrypt_error(e)))?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(bytes.len()));
    reader
        .read_to_end(&mut plaintext)
        .map_err(|_| file_error(path, PassphraseShardError::Payload))?;
    Ok(plaintext)
}

fn decrypt_error(e: age::DecryptError) -> PassphraseShardError {
    use age::DecryptError as D;
    match e {
        D::DecryptionFailed | D::NoMatchingKeys => PassphraseShardError::WrongPassphrase,
        D::InvalidMac => PassphraseShardError::HeaderMac,
        D::ExcessiveWork { required, .. } => PassphraseShardError::WorkFactor {
            found: required,
            max: MAX_WORK_FACTOR,
        },
        D::Io(_) => PassphraseShardError::BadHeader("the file ends inside the header".into()),
        other => PassphraseShardError::BadHeader(other.to_string()),
    }
}

/// Opens a passphrase-protected shard into the shard file it holds.
pub fn open_shard(
    path: &Path,
    bytes: &[u8],
    pass: &Passphrase,
    progress: &Progress,
) -> Result<ShardFile> {
    let plaintext = open(path, bytes, pass, progress)?;
    ShardFile::parse(&plaintext)
        .map_err(|e| file_error(path, PassphraseShardError::NotShard(e.to_string())))
}

/// Where the passphrase of a passphrase-protected shard comes from when it
/// is read: a file (`--shard-passphrase-file`), or asked without echo with
/// `prompt` (the default names the file).
pub fn passphrase_for(
    path: &Path,
    file: Option<&Path>,
    prompt: Option<&str>,
    console: &mut dyn Console,
) -> Result<Passphrase> {
    if let Some(f) = file {
        return Passphrase::from_file(f);
    }
    let default = format!(
        "Passphrase for {} ({WHAT}): ",
        crate::terminal::Shown(&path.display().to_string())
    );
    let answer = console
        .read_secret(prompt.unwrap_or(&default))
        .map_err(|source| Error::NoAnswer {
            path: Some(path.to_path_buf()),
            question: Question::ShardPassphrase,
            source,
        })?;
    Passphrase::new(answer.as_bytes().to_vec()).map_err(|e| Error::input(path, e))
}

/// Reads one passphrase-protected shard given to `verify` or `assemble`:
/// the passphrase from `file` or asked on `console`, the KDF shown on
/// `events`' progress.
pub fn load(
    path: &Path,
    bytes: &[u8],
    file: Option<&Path>,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<ShardFile> {
    // an absurd or broken header is refused before anyone types anything
    ScryptHeader::parse(bytes).map_err(|e| file_error(path, e))?;
    let pass = passphrase_for(path, file, None, console)?;
    open_shard(path, bytes, &pass, &events.progress())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_with(stanzas: &str) -> Vec<u8> {
        format!("age-encryption.org/v1\n{stanzas}--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
            .into_bytes()
    }

    const BODY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const SALT: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn the_kdf_runs_under_a_spinner_and_opens_the_vector() {
        use crate::progress::{ProgressSink, StepProgress};
        use std::sync::{Arc, Mutex};
        #[derive(Default)]
        struct Seen(Mutex<Vec<(Step, Option<u64>, bool)>>);
        struct One(Arc<Seen>);
        impl StepProgress for One {
            fn advance(&self, _: u64) {}
            fn finish(&self) {
                self.0 .0.lock().unwrap().last_mut().unwrap().2 = true;
            }
        }
        struct Sink(Arc<Seen>);
        impl ProgressSink for Sink {
            fn begin(&self, step: Step, total: Option<u64>) -> Arc<dyn StepProgress> {
                self.0 .0.lock().unwrap().push((step, total, false));
                Arc::new(One(self.0.clone()))
            }
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/passphrase");
        let path = dir.join("shard-2.json.age");
        let bytes = std::fs::read(&path).unwrap();
        let pass = Passphrase::from_file(&dir.join("passphrase.txt")).unwrap();
        let seen = Arc::new(Seen::default());
        let progress = Progress::new(Arc::new(Sink(seen.clone())));
        let shard = open_shard(&path, &bytes, &pass, &progress).unwrap();
        assert_eq!(shard.share.id().get(), 2);
        assert_eq!(
            *seen.0.lock().unwrap(),
            [(Step::DerivingScryptKey, None, true)]
        );
        // a wrong passphrase: the spinner is taken away too
        let wrong = Passphrase::new(b"not the vector's passphrase".to_vec()).unwrap();
        let e = open_shard(&path, &bytes, &wrong, &progress).unwrap_err();
        assert!(matches!(
            e,
            Error::PassphraseShard {
                source: PassphraseShardError::WrongPassphrase,
                ..
            }
        ));
        assert!(seen.0.lock().unwrap().iter().all(|s| s.2));
    }

    #[test]
    fn header_rules() {
        let ok = header_with(&format!("-> scrypt {SALT} 18\n{BODY}\n"));
        assert_eq!(ScryptHeader::parse(&ok).unwrap().work_factor, 18);
        assert!(is_passphrase_file(&ok));
        let absurd = header_with(&format!("-> scrypt {SALT} 40\n{BODY}\n"));
        assert_eq!(
            ScryptHeader::parse(&absurd),
            Err(PassphraseShardError::WorkFactor {
                found: 40,
                max: MAX_WORK_FACTOR
            })
        );
        for bad in ["018", "0", "64", "", "1e1", "+18"] {
            let h = header_with(&format!("-> scrypt {SALT} {bad}\n{BODY}\n"));
            assert!(
                matches!(
                    ScryptHeader::parse(&h),
                    Err(PassphraseShardError::BadStanza(_))
                ),
                "{bad:?}"
            );
        }
        let two = header_with(&format!("-> scrypt {SALT} 18\n{BODY}\n-> x-grease\n\n"));
        assert_eq!(
            ScryptHeader::parse(&two),
            Err(PassphraseShardError::StanzaCount(2))
        );
        assert!(is_passphrase_file(&two));
        let piv = header_with(&format!("-> piv-p256 AAAAAA {BODY}\n{BODY}\n"));
        assert!(!is_passphrase_file(&piv));
    }
}
