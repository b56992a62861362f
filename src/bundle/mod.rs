//! Encrypted bundles that carry the root key across the air gap to the Nexus.
//!
//! A bundle is a tar archive holding
//!
//! - `keys/root.key`: the root key as 64 lowercase hex characters and a newline;
//! - any files given as [`Include`]s, under their relative names
//!   (for example a Nexus keyring `data/keys/...`);
//! - `manifest.json` (last, so the bundle is written in one pass): format and
//!   version, ceremony id, label, key fingerprint, creation time, and every
//!   other file with its size and SHA-256 (see [`Manifest`]),
//!
//! sealed in one of two exact formats that existing tools read:
//!
//! - **age v1** ([`Kind::Age`]) to one or more X25519 recipients (`age1...`):
//!   the tar itself, streamed through age. `age -d -i identity FILE | tar -x`
//!   opens it.
//! - **Nexus backup** ([`Kind::NexusBackup`]): `salt(16) || nonce(12) ||
//!   AES-256-GCM(tar.gz) || tag(16)`, key = Argon2id(passphrase, salt, t=1,
//!   m=64 MiB, p=4, 32 bytes), extension `.tar.gz.enc`.
//!
//! Memory stays constant whatever the payload size. For the Nexus format the
//! tag is checked over the whole file before any plaintext is parsed, and
//! again (on the same bytes, read a second time) before anything is released:
//! no plaintext temporary file is needed.
//!
//! Reading refuses absolute paths, `..`, links, devices and every other
//! special entry, checks every file against the manifest and the key against
//! its fingerprint, and [`open`] releases the files into the output folder
//! only when all of that has passed; on any failure nothing is left there.
//!
//! # Example
//!
//! A Nexus written in Rust, importing a bundle sealed to its age identity:
//!
//! ```no_run
//! use keyceremony::bundle::{self, Options, Unsealing};
//! use std::path::Path;
//!
//! # fn main() -> keyceremony::Result<()> {
//! let identity = Unsealing::identity_file(Path::new("/etc/nexus/age.key"))?;
//! let bundle = Path::new("root-bundle.tar.age");
//! // Everything checked, nothing written: kind, manifest, files.
//! let contents = bundle::verify(bundle, &identity, &Options::default())?;
//! println!("key {:?}", contents.key_fingerprint);
//! // Or take the key into memory (zeroized on drop) ...
//! let (key, manifest) = bundle::read_root_key(bundle, &identity, &Options::default())?;
//! assert_eq!(Some(key.fingerprint()), manifest.map(|m| m.key_fingerprint));
//! // ... or write every file into a new folder, 0600, all or nothing.
//! bundle::open(bundle, &identity, Path::new("import"), &Options::default())?;
//! # Ok(()) }
//! ```
//!
//! And the ceremony side, sealing a key into a Nexus backup:
//!
//! ```no_run
//! use keyceremony::bundle::{self, BundleMeta, Options, Passphrase, Sealing};
//! use keyceremony::secret::RootKey;
//! use std::path::Path;
//!
//! # fn main() -> keyceremony::Result<()> {
//! let key = RootKey::generate();
//! let sealing = Sealing::NexusBackup(Passphrase::from_file(Path::new("pass.txt"))?);
//! let meta = BundleMeta::new(None, "prod root");
//! // A folder as destination gets nexus-backup-YYYY-MM-DD-HHMMSS.tar.gz.enc.
//! let made = bundle::create(&key, &meta, &[], &sealing, Path::new("out/"), &Options::default())?;
//! println!("wrote {}", made.path.display());
//! # Ok(()) }
//! ```

mod age_format;
mod content;
mod extract;
pub mod gcm;
mod gzip;
pub mod manifest;
mod nexus_format;
mod path_tree;
mod pipeline;
mod request;
pub mod tar;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::record::{check_new_name, now_rfc3339, CeremonyId};
use crate::secret::{KeyFingerprint, RootKey};

pub use age_format::{AgeStanza, MAX_AGE_HEADER_LEN};
pub use manifest::{FileRecord, Manifest, MANIFEST_PATH, ROOT_KEY_PATH};
pub use nexus_format::{
    ARGON2_M_KIB, ARGON2_P, ARGON2_T, GZIP_LEVEL, NEXUS_EXTENSION, NEXUS_HEADER_LEN, NEXUS_MIN_LEN,
};
pub use request::{
    ask_new_passphrase, ask_new_passphrase_for, check_new_passphrase, check_passphrase_length,
    open_bundle, read_key_file, seal_key, unsealing_for, verify_bundle, SealRequest, Sealed,
};

/// Largest passphrase, recipients or identity file read into memory.
pub const MAX_SMALL_FILE: u64 = 1024 * 1024;
/// Longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE_LEN: usize = 1024;

/// The two sealed formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// age v1 to X25519 recipients; content is a plain tar.
    Age,
    /// `[salt][nonce][AES-256-GCM(tar.gz)][tag]` with an Argon2id key.
    NexusBackup,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Age => "age",
            Kind::NexusBackup => "nexus-backup",
        })
    }
}

/// A passphrase, zeroized on drop. Its bytes go to Argon2 as they are.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub fn new(bytes: Vec<u8>) -> std::result::Result<Self, &'static str> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err("the passphrase is empty");
        }
        if bytes.len() > MAX_PASSPHRASE_LEN {
            return Err("the passphrase is longer than 1024 bytes");
        }
        Ok(Passphrase(bytes))
    }

    /// The file's contents without one trailing newline (`\n` or `\r\n`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut bytes = read_small_file(path, "passphrase file")?;
        let len = bytes.len();
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(len - 2);
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(len - 1);
        }
        Passphrase::new(std::mem::take(&mut *bytes)).map_err(|e| Error::input(path, e))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Its length in characters (bytes where it is not UTF-8).
    pub fn chars(&self) -> usize {
        std::str::from_utf8(&self.0).map_or(self.0.len(), |s| s.chars().count())
    }

    /// A fresh passphrase to offer: ten random words from the PGP word
    /// list (80 bits from the operating system), joined by dashes.
    pub fn generate() -> Zeroizing<String> {
        use rand_core::{OsRng, RngCore};
        let mut bytes = Zeroizing::new([0u8; 10]);
        OsRng.fill_bytes(bytes.as_mut());
        let words = crate::pgp_words::words(bytes.as_ref());
        Zeroizing::new(words.join("-").to_ascii_lowercase())
    }
}

/// The fewest characters a new Nexus backup's passphrase may have unless
/// the caller allows a shorter one explicitly. Argon2id slows each guess
/// down; it does not make a short passphrase hard to guess.
pub const MIN_NEW_PASSPHRASE_CHARS: usize = 12;

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

/// Reads a small file (at most [`MAX_SMALL_FILE`]) into zeroizing memory.
pub fn read_small_file(path: &Path, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    crate::input_file::read(path, MAX_SMALL_FILE, what)
}

/// How a new bundle is sealed.
pub enum Sealing {
    /// age v1 to these X25519 recipients (at least one).
    Age(Vec<age::x25519::Recipient>),
    /// The Nexus backup format under this passphrase.
    NexusBackup(Passphrase),
}

impl Sealing {
    pub fn kind(&self) -> Kind {
        match self {
            Sealing::Age(_) => Kind::Age,
            Sealing::NexusBackup(_) => Kind::NexusBackup,
        }
    }

    /// age recipients from `age1...` strings; `source` names where they came from.
    pub fn age_recipients(recipients: &[String]) -> Result<Self> {
        age_format::parse_recipients(recipients.iter().map(|s| s.as_str()), None).map(Sealing::Age)
    }

    /// age recipients from a file: one `age1...` per line, `#` comments.
    pub fn age_recipients_file(path: &Path) -> Result<Self> {
        age_format::recipients_file(path).map(Sealing::Age)
    }
}

/// The secret that opens a bundle.
pub enum Unsealing {
    /// age X25519 identities (`AGE-SECRET-KEY-1...`).
    Identities(Vec<age::x25519::Identity>),
    /// The passphrase of a Nexus backup.
    Passphrase(Passphrase),
}

impl Unsealing {
    /// Reads an age identity file: `AGE-SECRET-KEY-1...` lines, `#` comments.
    pub fn identity_file(path: &Path) -> Result<Self> {
        age_format::identity_file(path).map(Unsealing::Identities)
    }

    /// Every identity of several identity files (`-i` repeated, as in age).
    pub fn identity_files(paths: &[std::path::PathBuf]) -> Result<Self> {
        let mut all = Vec::new();
        for path in paths {
            all.extend(age_format::identity_file(path)?);
        }
        Ok(Unsealing::Identities(all))
    }
}

/// The public facts a bundle records about its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleMeta {
    pub ceremony_id: Option<CeremonyId>,
    pub label: String,
    /// RFC 3339 UTC.
    pub created: String,
}

impl BundleMeta {
    /// Metadata stamped with the current time.
    pub fn new(ceremony_id: Option<CeremonyId>, label: &str) -> Self {
        BundleMeta {
            ceremony_id,
            label: label.to_string(),
            created: now_rfc3339(),
        }
    }
}

/// A file to carry in the bundle, stored under `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    pub source: PathBuf,
    pub name: String,
}

impl Include {
    /// One `--include PATH`: a relative path to a file, or to a folder whose
    /// regular files are all taken (sorted). Stored under the path as given,
    /// cleaned of `./`. Links and special files are refused.
    pub fn collect(path: &Path) -> Result<Vec<Include>> {
        Include::collect_in(Path::new(""), path)
    }

    /// [`Include::collect`] for a `path` relative to `base` (a ceremony
    /// plan's folder), stored under `path` as given.
    pub fn collect_in(base: &Path, path: &Path) -> Result<Vec<Include>> {
        let text = path
            .to_str()
            .ok_or_else(|| Error::input(path, "an included path must be UTF-8"))?;
        let name = tar::clean_path(text.as_bytes()).map_err(|_| {
            Error::input(
                path,
                "an included path must be relative, inside the current folder (no '..'), \
                 since it is stored under that name; cd to the folder that holds it",
            )
        })?;
        let mut out = Vec::new();
        collect_into(&base.join(path), &name, &mut out)?;
        if let Some(clash) = out
            .iter()
            .find(|i| i.name == MANIFEST_PATH || i.name == ROOT_KEY_PATH)
        {
            return Err(Error::input(
                &clash.source,
                format!(
                    "the bundle writes {} itself; an included file cannot take that name",
                    clash.name
                ),
            ));
        }
        // With the key, a bundle lists at most MAX_FILES files.
        if out.len() >= manifest::MAX_FILES {
            return Err(Error::input(
                path,
                format!(
                    "holds {} files; a bundle holds at most {} besides the key",
                    out.len(),
                    manifest::MAX_FILES - 1
                ),
            ));
        }
        Ok(out)
    }
}

fn collect_into(path: &Path, name: &str, out: &mut Vec<Include>) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, "cannot read", e))?;
    let ft = meta.file_type();
    if ft.is_file() {
        out.push(Include {
            source: path.to_path_buf(),
            name: name.to_string(),
        });
    } else if ft.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(|e| Error::io(path, "cannot list", e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(path, "cannot list", e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let file_name = e.file_name();
            let Some(child) = file_name.to_str() else {
                return Err(Error::input(
                    e.path(),
                    "file names in a bundle must be UTF-8",
                ));
            };
            collect_into(&e.path(), &format!("{name}/{child}"), out)?;
        }
    } else if ft.is_symlink() {
        return Err(Error::input(
            path,
            "is a symbolic link; bundles carry only regular files (include the target instead)",
        ));
    } else {
        return Err(Error::input(
            path,
            "is not a regular file or folder; refused",
        ));
    }
    Ok(())
}

/// Switches that do not change the result.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Replace an existing output file, or write into a non-empty folder.
    pub force: bool,
    /// Where long steps report progress (silent by default); the request
    /// functions ([`seal_key`], [`verify_bundle`], [`open_bundle`]) use
    /// their event sink's instead.
    pub progress: crate::progress::Progress,
}

/// What [`create`] wrote.
#[derive(Clone, Debug)]
pub struct Created {
    pub path: PathBuf,
    pub kind: Kind,
    /// Size of the sealed file in bytes.
    pub size: u64,
    pub manifest: Manifest,
}

/// What a bundle holds, as [`verify`] and [`open`] found it.
#[derive(Clone, Debug)]
pub struct Contents {
    pub kind: Kind,
    /// `None` for a plain Nexus backup not made by keyceremony.
    pub manifest: Option<Manifest>,
    /// Every file in the archive (the manifest included), in archive order.
    pub files: Vec<FileRecord>,
    /// Fingerprint of `keys/root.key`, when the bundle holds one.
    pub key_fingerprint: Option<KeyFingerprint>,
    /// Where [`open`] put the files.
    pub written: Vec<PathBuf>,
}

/// What [`inspect`] can tell without a secret.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Inspection {
    pub kind: Kind,
    pub size: u64,
    /// age: the recipient stanzas of the header.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stanzas: Vec<AgeStanza>,
    /// Nexus backup: the KDF, salt and nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfInfo>,
    /// Bytes of the payload after the header (ciphertext and tags).
    pub payload_size: u64,
    /// Anything worth saying (for instance an unusual file name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct KdfInfo {
    pub algorithm: &'static str,
    pub t: u32,
    pub m_kib: u32,
    pub p: u32,
    pub salt: String,
    pub nonce: String,
}

/// The default file name for a bundle written into a folder, from the UTC time.
pub fn default_file_name(kind: Kind) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day]-[hour][minute][second]"
        ))
        .expect("UTC time formats");
    match kind {
        Kind::NexusBackup => format!("nexus-backup-{stamp}{NEXUS_EXTENSION}"),
        Kind::Age => format!("keyceremony-bundle-{stamp}.tar.age"),
    }
}

/// Seals `key`, the manifest and `includes` into a new bundle at `out`
/// (a file name, or an existing folder to get the default name). Atomic,
/// 0600; an existing file is replaced only with `force`. The key is never
/// written anywhere in the clear: it goes from memory through the cipher.
pub fn create(
    key: &RootKey,
    meta: &BundleMeta,
    includes: &[Include],
    sealing: &Sealing,
    out: &Path,
    options: &Options,
) -> Result<Created> {
    check_new_name(&meta.label).map_err(|e| Error::Usage(format!("label: {e}")))?;
    if includes.len() >= manifest::MAX_FILES {
        return Err(Error::Usage(format!(
            "{} files to include; a bundle holds at most {}",
            includes.len(),
            manifest::MAX_FILES - 1
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for inc in includes {
        if !seen.insert(inc.name.as_str()) {
            return Err(Error::Usage(format!(
                "{}: included twice (as {})",
                inc.source.display(),
                inc.name
            )));
        }
    }
    let path = if out.is_dir() {
        out.join(default_file_name(sealing.kind()))
    } else {
        out.to_path_buf()
    };
    if !options.force && path.symlink_metadata().is_ok() {
        return Err(Error::Exists { path });
    }
    let progress = &options.progress;
    let manifest = match sealing {
        Sealing::Age(recipients) => age_format::create(
            key,
            meta,
            includes,
            recipients,
            &path,
            options.force,
            progress,
        )?,
        Sealing::NexusBackup(pass) => {
            nexus_format::create(key, meta, includes, pass, &path, options.force, progress)?
        }
    };
    let size = fs::metadata(&path)
        .map_err(|e| Error::io(&path, "cannot read back", e))?
        .len();
    Ok(Created {
        path,
        kind: sealing.kind(),
        size,
        manifest,
    })
}

/// Which format a file is in, from its first bytes (a Nexus backup has no
/// magic number: anything that is not age is read as one).
pub fn detect(path: &Path) -> Result<Kind> {
    let mut f = crate::input_file::open_regular(path, "bundle")?;
    let mut head = Vec::new();
    (&mut f)
        .take(64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if head.starts_with(age_format::AGE_MAGIC) {
        return Ok(Kind::Age);
    }
    if head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(Error::input(
            path,
            "is an ASCII-armored age file; keyceremony reads binary age files \
             (run `age -d` yourself, or ask for the bundle without --armor)",
        ));
    }
    Ok(Kind::NexusBackup)
}

/// Describes a bundle without opening it: kind, size, recipients or KDF.
pub fn inspect(path: &Path) -> Result<Inspection> {
    match detect(path)? {
        Kind::Age => age_format::inspect(path),
        Kind::NexusBackup => nexus_format::inspect(path),
    }
}

fn read_with(
    path: &Path,
    unsealing: &Unsealing,
    sink: &mut dyn content::Sink,
    options: &Options,
) -> Result<content::Unpacked> {
    let progress = &options.progress;
    match (detect(path)?, unsealing) {
        (Kind::Age, Unsealing::Identities(ids)) => age_format::read(path, ids, sink, progress),
        (Kind::NexusBackup, Unsealing::Passphrase(p)) => {
            nexus_format::read(path, p, sink, progress)
        }
        (Kind::Age, Unsealing::Passphrase(_)) => Err(Error::input(
            path,
            "is an age bundle; open it with --identity (the Nexus age identity file), \
             not a passphrase",
        )),
        (Kind::NexusBackup, Unsealing::Identities(_)) => Err(Error::input(
            path,
            "is not an age file, so it is read as a Nexus backup, which opens with a \
             passphrase (--passphrase-file), not an age identity",
        )),
    }
}

/// Decrypts the whole bundle and checks everything (tag, every manifest
/// hash, the key fingerprint); writes nothing.
pub fn verify(path: &Path, unsealing: &Unsealing, options: &Options) -> Result<Contents> {
    let mut sink = content::NullSink;
    Ok(read_with(path, unsealing, &mut sink, options)?.contents)
}

/// The checks [`verify`] runs after decryption, on plaintext given in
/// memory: a tar for [`Kind::Age`], a gzip'd tar for [`Kind::NexusBackup`].
/// `path` only names the input in errors. The fuzz targets call this, since
/// no fuzzer gets past the AEAD to reach the archive parsers.
pub fn check_plaintext(kind: Kind, plain: &[u8], path: &Path) -> Result<Contents> {
    let mut sink = content::NullSink;
    let unpacked = match kind {
        Kind::Age => content::read_content(plain, kind, path, &mut sink, "age decryption")?.0,
        Kind::NexusBackup => nexus_format::unpack(plain, path, &mut sink)?,
    };
    Ok(unpacked.contents)
}

/// Like [`verify`], and hands back the root key (in locked, zeroizing memory).
pub fn read_root_key(
    path: &Path,
    unsealing: &Unsealing,
    options: &Options,
) -> Result<(RootKey, Option<Manifest>)> {
    let mut sink = content::NullSink;
    let unpacked = read_with(path, unsealing, &mut sink, options)?;
    let key = unpacked
        .root_key
        .ok_or_else(|| Error::input(path, format!("holds no {ROOT_KEY_PATH}")))?;
    Ok((key, unpacked.contents.manifest))
}

/// The Nexus import side: checks everything as [`verify`] does, and only
/// then moves every file into `out_dir` (created 0700 when missing; must be
/// empty unless `force`), each 0600. On any failure nothing is left there.
pub fn open(
    path: &Path,
    unsealing: &Unsealing,
    out_dir: &Path,
    options: &Options,
) -> Result<Contents> {
    let mut folder = extract::OutputFolder::new(out_dir, options.force)?;
    let unpacked = read_with(path, unsealing, &mut folder, options)?;
    let written = folder.commit()?;
    let mut contents = unpacked.contents;
    contents.written = written;
    Ok(contents)
}
