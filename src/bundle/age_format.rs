//! age v1 bundles: the tar streamed through the `age` crate to X25519
//! recipients, and read back from a header whose size is bounded first.

use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::x25519;
use zeroize::Zeroizing;

use super::content::{self, Sink, Unpacked, CHUNK};
use super::pipeline;
use super::{read_small_file, BundleMeta, Include, Inspection, Kind, Manifest};
use crate::atomic_file::StagedFile;
use crate::error::{Error, Result};
use crate::progress::{Progress, Step};
use crate::secret::RootKey;

pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
/// Largest age header read (recipient stanzas and MAC); a real one is a few hundred bytes per recipient.
pub const MAX_AGE_HEADER_LEN: usize = 1024 * 1024;
/// Most recipients accepted.
const MAX_RECIPIENTS: usize = 1000;

/// One recipient stanza of an age header: its type and arguments. X25519
/// stanzas carry an ephemeral share only; the recipient is not visible.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AgeStanza {
    pub kind: String,
    pub args: Vec<String>,
}

pub fn parse_recipients<'a>(
    items: impl Iterator<Item = &'a str>,
    file: Option<&Path>,
) -> Result<Vec<x25519::Recipient>> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        let r = x25519::Recipient::from_str(item).map_err(|_| {
            let what = if item.starts_with("ssh-") {
                "is an SSH key; keyceremony seals only to age X25519 recipients (age1...)"
                    .to_string()
            } else if item.starts_with("age1") && item.contains("1yubikey") {
                "is a plugin recipient; keyceremony seals only to age X25519 recipients".to_string()
            } else {
                "is not an age X25519 recipient (age1... in lowercase, 62 characters)".to_string()
            };
            match file {
                Some(f) => Error::input(f, format!("line {}: {what}", i + 1)),
                // the value may be a secret pasted in the wrong place: never echoed whole
                None => Error::Usage(format!(
                    "--recipient #{} ({}) {what}",
                    i + 1,
                    crate::terminal::glimpse(item)
                )),
            }
        })?;
        out.push(r);
    }
    if out.is_empty() {
        let msg = "no age recipient given; name at least one (age1...)";
        return Err(match file {
            Some(f) => Error::input(f, msg),
            None => Error::Usage(msg.into()),
        });
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(Error::Usage(format!(
            "more than {MAX_RECIPIENTS} recipients"
        )));
    }
    Ok(out)
}

pub fn recipients_file(path: &Path) -> Result<Vec<x25519::Recipient>> {
    let bytes = read_small_file(path, "recipients file")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::input(path, "is not UTF-8 text"))?;
    // Keep line numbers right: blank and comment lines count as lines.
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut r = parse_recipients(std::iter::once(line), Some(path)).map_err(|_| {
            Error::input(
                path,
                format!(
                    "line {}: is not an age X25519 recipient (age1...); only those are accepted",
                    i + 1
                ),
            )
        })?;
        out.append(&mut r);
    }
    if out.is_empty() {
        return Err(Error::input(path, "holds no age recipient (age1...)"));
    }
    Ok(out)
}

pub fn identity_file(path: &Path) -> Result<Vec<x25519::Identity>> {
    let bytes = read_small_file(path, "identity file")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::input(path, "is not UTF-8 text"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = Zeroizing::new(line.to_string());
        match x25519::Identity::from_str(&line) {
            Ok(id) => out.push(id),
            Err(_) => {
                let hint = if line.starts_with("AGE-PLUGIN-") {
                    "is a plugin identity; keyceremony opens bundles with X25519 identities only"
                } else {
                    "is not an age identity (AGE-SECRET-KEY-1...)"
                };
                return Err(Error::input(path, format!("line {}: {hint}", i + 1)));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::input(
            path,
            "holds no age identity (AGE-SECRET-KEY-1...)",
        ));
    }
    Ok(out)
}

/// Writes an age bundle at `path` (staged, then renamed).
pub fn create(
    key: &RootKey,
    meta: &BundleMeta,
    includes: &[Include],
    recipients: &[x25519::Recipient],
    path: &Path,
    force: bool,
    progress: &Progress,
) -> Result<Manifest> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::Usage(format!("cannot seal to these recipients: {e}")))?;
    let mut staged = StagedFile::new(path)?;
    let manifest = {
        let out = BufWriter::with_capacity(CHUNK, staged.writer());
        let sealed = encryptor
            .wrap_output(out)
            .map_err(|e| Error::io(path, "cannot write", e))?;
        // Hashing here, encryption on the other core.
        let (manifest, sealed) = pipeline::write_pipeline(
            sealed,
            |w| content::write_content(w, key, meta, includes, path, progress).map(|(_, m)| m),
            |e| content::error_from_writer(path, e),
        )?;
        let mut out = sealed
            .finish()
            .map_err(|e| Error::io(path, "cannot write", e))?;
        out.flush()
            .map_err(|e| Error::io(path, "cannot write", e))?;
        manifest
    };
    staged.commit(force)?;
    Ok(manifest)
}

/// Reads the header (up to and including the MAC line) with a size bound.
fn read_header(path: &Path, input: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut header = Vec::new();
    loop {
        let start = header.len();
        let room = (MAX_AGE_HEADER_LEN + 1 - start) as u64;
        let n = input
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut header)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if header.len() > MAX_AGE_HEADER_LEN {
            return Err(Error::input(
                path,
                "the age header is larger than 1 MiB; refused (damaged, hostile, or not a bundle)",
            ));
        }
        if n == 0 || !header.ends_with(b"\n") {
            return Err(Error::input(
                path,
                "the file ends inside the age header (truncated)",
            ));
        }
        if start == 0 && header != AGE_MAGIC {
            return Err(Error::input(path, "is not an age v1 file"));
        }
        if header[start..].starts_with(b"---") {
            return Ok(header);
        }
    }
}

fn stanzas(header: &[u8]) -> Vec<AgeStanza> {
    String::from_utf8_lossy(header)
        .lines()
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| {
            let mut parts = l.split(' ').map(str::to_string);
            AgeStanza {
                kind: parts.next().unwrap_or_default(),
                args: parts.collect(),
            }
        })
        .collect()
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let file = fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?
        .len();
    let mut input = BufReader::new(file);
    let header = read_header(path, &mut input)?;
    let stanzas = stanzas(&header);
    if stanzas.is_empty() {
        return Err(Error::input(path, "the age header has no recipient stanza"));
    }
    let payload_size = size.saturating_sub(header.len() as u64);
    let mut notes = Vec::new();
    if stanzas.iter().any(|s| s.kind == "X25519") {
        notes.push(
            "X25519 stanzas do not reveal which recipient they are for; \
             `bundle verify --identity` tells whether an identity opens it"
                .to_string(),
        );
    }
    Ok(Inspection {
        kind: Kind::Age,
        size,
        stanzas,
        kdf: None,
        payload_size,
        notes,
    })
}

fn describe(e: age::DecryptError) -> String {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys => "none of the given identities opens this bundle: it was sealed to \
                              other recipients (wrong identity file?)"
            .into(),
        D::InvalidHeader => "the age header is malformed (damaged or altered)".into(),
        D::InvalidMac => "the age header was altered (its MAC does not match)".into(),
        D::KeyDecryptionFailed => "a recipient stanza does not decrypt (damaged or altered)".into(),
        D::DecryptionFailed => "the payload does not decrypt (damaged or altered)".into(),
        D::UnknownFormat => "an age format newer than v1; not readable here".into(),
        D::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the file ends too early (truncated)".into()
        }
        other => other.to_string(),
    }
}

pub fn read(
    path: &Path,
    identities: &[x25519::Identity],
    sink: &mut dyn Sink,
    progress: &Progress,
) -> Result<Unpacked> {
    let file = fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?
        .len();
    let bar = progress.bytes(Step::Opening, size);
    let mut input = BufReader::with_capacity(CHUNK, bar.wrap_read(file));
    let header = read_header(path, &mut input)?;
    let decryptor = age::Decryptor::new_buffered(Cursor::new(header).chain(input))
        .map_err(|e| Error::input(path, format!("{}; nothing was written", describe(e))))?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| Error::input(path, format!("{}; nothing was written", describe(e))))?;
    // Decryption on another core; unpacking and hashing here.
    let unpacked = pipeline::read_pipeline(
        reader,
        |_| Ok(()),
        |plain| {
            content::read_content(plain, Kind::Age, path, sink, "age decryption").map(|(u, _)| u)
        },
    )?;
    bar.finish_and_clear();
    Ok(unpacked)
}
