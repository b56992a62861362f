//! Bundle operations as a caller asks for them: a [`SealRequest`] sealed
//! into a bundle, the passphrase asked on a [`Console`], the secret that
//! opens a bundle found, and verify/open with what is worth saying told as
//! [`Event`]s.

use std::path::{Path, PathBuf};

use super::{create, detect, open, verify, BundleMeta, Contents, Created, Include, Kind};
use super::{Options, Passphrase, Sealing, Unsealing, NEXUS_EXTENSION};
use crate::console::Console;
use crate::error::{Error, Question, RequestError, Result};
use crate::events::{Event, EventSink};
use crate::secret::RootKey;

/// A key to seal into a new bundle.
pub struct SealRequest {
    pub meta: BundleMeta,
    /// Files carried along, under their names.
    pub includes: Vec<Include>,
    pub sealing: Sealing,
    /// A file name, or an existing folder (default name inside).
    pub out: PathBuf,
    pub force: bool,
}

/// What [`seal_key`] wrote.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub created: Created,
    /// For an age bundle: its recipients (`age1...`).
    pub recipients: Vec<String>,
}

/// Seals `key` as the request says. A Nexus backup under an unusual name
/// is told as [`Event::UnusualBundleName`].
pub fn seal_key(key: &RootKey, request: SealRequest, events: &mut dyn EventSink) -> Result<Sealed> {
    if let Sealing::NexusBackup(_) = request.sealing {
        let name = request.out.to_string_lossy();
        if !request.out.is_dir() && !name.ends_with(NEXUS_EXTENSION) {
            events.emit(Event::UnusualBundleName {
                path: request.out.clone(),
            });
        }
    }
    let options = Options {
        force: request.force,
        progress: events.progress(),
    };
    let created = create(
        key,
        &request.meta,
        &request.includes,
        &request.sealing,
        &request.out,
        &options,
    )?;
    let recipients = match &request.sealing {
        Sealing::Age(r) => r.iter().map(|r| r.to_string()).collect(),
        Sealing::NexusBackup(_) => Vec::new(),
    };
    Ok(Sealed {
        created,
        recipients,
    })
}

/// Reads the key file of `bundle create`: 64 hex characters, optionally one newline.
pub fn read_key_file(path: &Path) -> Result<RootKey> {
    let text = super::read_small_file(path, "key file")?;
    let text = std::str::from_utf8(&text)
        .map_err(|_| Error::input(path, "is not text (64 hex characters expected)"))?;
    RootKey::from_hex(text).map_err(|source| Error::Key {
        path: path.to_path_buf(),
        source,
    })
}

fn ask(console: &mut dyn Console, question: &str) -> Result<Passphrase> {
    let answer = console
        .read_secret(question)
        .map_err(|source| Error::NoAnswer {
            path: None,
            question: Question::Passphrase,
            source,
        })?;
    Passphrase::new(answer.as_bytes().to_vec()).map_err(|e| RequestError::Passphrase(e).into())
}

/// Asks twice for the passphrase of a new Nexus backup; the two must match.
pub fn ask_new_passphrase(console: &mut dyn Console) -> Result<Passphrase> {
    ask_new_passphrase_for(console, "the Nexus backup")
}

/// Asks twice (without echo) for a new passphrase for `what` ("share 2");
/// the two must match.
pub fn ask_new_passphrase_for(console: &mut dyn Console, what: &str) -> Result<Passphrase> {
    let first = ask(console, &format!("Passphrase for {what}: "))?;
    let second = ask(console, "The same passphrase again: ")?;
    if first.expose() != second.expose() {
        return Err(RequestError::PassphrasesDiffer.into());
    }
    Ok(first)
}

/// Refuses a passphrase for a new Nexus backup shorter than
/// [`MIN_NEW_PASSPHRASE_CHARS`](super::MIN_NEW_PASSPHRASE_CHARS), unless
/// `allow_short` says it is meant. `file`: where it came from, if a file.
pub fn check_new_passphrase(
    pass: &Passphrase,
    file: Option<&Path>,
    allow_short: bool,
) -> Result<()> {
    check_passphrase_length(pass, file, allow_short, "a new Nexus backup")
}

/// Refuses a new passphrase (for `what`, e.g. "a passphrase-protected
/// shard") shorter than [`MIN_NEW_PASSPHRASE_CHARS`](super::MIN_NEW_PASSPHRASE_CHARS),
/// unless `allow_short`. The command line then offers a generated one.
pub fn check_passphrase_length(
    pass: &Passphrase,
    file: Option<&Path>,
    allow_short: bool,
    what: &'static str,
) -> Result<()> {
    let (chars, min) = (pass.chars(), super::MIN_NEW_PASSPHRASE_CHARS);
    if chars < min && !allow_short {
        return Err(RequestError::ShortPassphrase {
            file: file.map(Path::to_path_buf),
            chars,
            min,
            what,
        }
        .into());
    }
    Ok(())
}

/// What opens a bundle: age identity files (every identity in each is
/// tried), a passphrase file, or (for a Nexus backup, with neither) the
/// passphrase asked on `console`.
pub fn unsealing_for(
    file: &Path,
    identities: &[std::path::PathBuf],
    passphrase_file: Option<&Path>,
    console: &mut dyn Console,
) -> Result<Unsealing> {
    if !identities.is_empty() {
        return Unsealing::identity_files(identities);
    }
    if let Some(f) = passphrase_file {
        return Ok(Unsealing::Passphrase(Passphrase::from_file(f)?));
    }
    match detect(file)? {
        Kind::Age => Err(RequestError::AgeBundleNeedsIdentity(file.to_path_buf()).into()),
        Kind::NexusBackup => Ok(Unsealing::Passphrase(ask(
            console,
            "Passphrase of the Nexus backup: ",
        )?)),
    }
}

fn told(file: &Path, contents: &Contents, events: &mut dyn EventSink) {
    if contents.manifest.is_none() {
        events.emit(Event::NoManifest {
            path: file.to_path_buf(),
        });
    }
}

/// [`verify`]; a bundle without keyceremony's manifest is told as
/// [`Event::NoManifest`].
pub fn verify_bundle(
    file: &Path,
    unsealing: &Unsealing,
    options: &Options,
    events: &mut dyn EventSink,
) -> Result<Contents> {
    let options = Options {
        progress: events.progress(),
        ..options.clone()
    };
    let contents = verify(file, unsealing, &options)?;
    told(file, &contents, events);
    Ok(contents)
}

/// [`open`]; a bundle without keyceremony's manifest is told as
/// [`Event::NoManifest`].
pub fn open_bundle(
    file: &Path,
    unsealing: &Unsealing,
    out_dir: &Path,
    options: &Options,
    events: &mut dyn EventSink,
) -> Result<Contents> {
    let options = Options {
        progress: events.progress(),
        ..options.clone()
    };
    let contents = open(file, unsealing, out_dir, &options)?;
    told(file, &contents, events);
    Ok(contents)
}
