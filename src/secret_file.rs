//! Any secret (a KMS key file, an age identity, a PGP key...), protected
//! by a ceremony: a fresh data key is split as a root key is, and the
//! secret is written beside `ceremony.json` as `secret.age`, an age v1 file
//! to the X25519 recipient whose identity is the data key's 32 bytes. The
//! record holds the file's SHA-256 and size, which binds it to the ceremony.
//!
//! Once the data key is assembled, [`recover`] checks the file against the
//! record and decrypts it into a new file; `age -d -i` with
//! [`age_identity`] opens it as well. Both ways are streamed: memory use
//! does not grow with the secret's size.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::atomic_file::{OutputBatch, StagedFile};
use crate::digest::Sha256Digest;
use crate::error::{Error, RequestError, Result};
use crate::record::{CeremonyInfo, CeremonyRecord, SecretEntry};
use crate::secret::RootKey;
use crate::split::{self, KeySource, Shares, SplitReport, SplitRequest};

/// The name of the encrypted secret beside `ceremony.json`.
pub const SECRET_FILE_NAME: &str = "secret.age";

/// The path of the encrypted secret in `dir`.
pub fn secret_path(dir: &Path) -> PathBuf {
    dir.join(SECRET_FILE_NAME)
}

/// The age identity (`AGE-SECRET-KEY-1...`, upper case) whose 32 bytes are
/// the data key's. Secret: shown only when asked for by name.
pub fn age_identity(key: &RootKey) -> Zeroizing<String> {
    let hrp = bech32::Hrp::parse("age-secret-key-").expect("valid human-readable part");
    let lower = Zeroizing::new(
        bech32::encode::<bech32::Bech32>(hrp, key.expose_bytes())
            .expect("32 bytes fit a Bech32 string"),
    );
    Zeroizing::new(lower.to_ascii_uppercase())
}

fn x25519_identity(key: &RootKey) -> age::x25519::Identity {
    let text = age_identity(key);
    text.parse().expect("a Bech32 identity of 32 bytes parses")
}

/// The age recipient (`age1...`) the secret is encrypted to. Public.
pub fn age_recipient(key: &RootKey) -> age::x25519::Recipient {
    x25519_identity(key).to_public()
}

/// Why a secret file does not open or does not belong to the ceremony.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFileError {
    #[error(
        "the ceremony record holds no secret (split without --secret-file); nothing to write to --secret-output"
    )]
    NotInRecord,
    #[error("is {found} bytes, the record says {expected}: the file is truncated or not this ceremony's")]
    WrongSize { expected: u64, found: u64 },
    #[error("its SHA-256 does not match the record: the file was altered or belongs to another ceremony")]
    WrongHash,
    #[error("is not encrypted to this ceremony's data key: it is the secret of another ceremony")]
    OtherKey,
    #[error("is not an age file ({0})")]
    NotAge(String),
    #[error("does not decrypt: {0} (the file was altered or truncated)")]
    Damaged(String),
    #[error("the ceremony record is of ceremony {record}, the shards of {shards}")]
    RecordOfOtherCeremony { record: String, shards: String },
}

/// What was written for a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretReport {
    pub path: PathBuf,
    /// The entry recorded in `ceremony.json`: the encrypted file's SHA-256 and size.
    pub entry: SecretEntry,
    /// Bytes of the secret itself (the plaintext).
    pub plaintext_size: u64,
}

/// Counts and hashes what passes through to `inner`.
struct Hashing<W> {
    inner: W,
    hash: ring::digest::Context,
    size: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        }
    }

    fn finish(self) -> (W, SecretEntry) {
        let digest = self.hash.finish();
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest.as_ref());
        (
            self.inner,
            SecretEntry {
                sha256: Sha256Digest(sha256),
                size: self.size,
            },
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Encrypts everything `plaintext` gives (named `source` in messages) into
/// `out` (a staged file, put in place by the caller), streamed, to the data
/// key's recipient. Returns what the record must hold, and the plaintext size.
pub fn encrypt_into(
    key: &RootKey,
    plaintext: &mut dyn Read,
    source: &Path,
    out: &mut StagedFile,
) -> Result<(SecretEntry, u64)> {
    let target = out.target().to_path_buf();
    let recipient = age_recipient(key);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| Error::Sealing {
                source: Box::new(e),
            })?;
    let mut writer = encryptor
        .wrap_output(Hashing::new(out.writer()))
        .map_err(|e| Error::io(&target, "cannot write", e))?;
    let plaintext_size = copy_through(plaintext, &mut writer, &target, |e| {
        Error::io(source, "cannot read", e)
    })?;
    let hashing = writer
        .finish()
        .map_err(|e| Error::io(&target, "cannot write", e))?;
    let (_, entry) = hashing.finish();
    Ok((entry, plaintext_size))
}

/// Copies reader to writer through one zeroized buffer; a read error
/// becomes `read_error(e)`, a write error names `target`.
fn copy_through(
    from: &mut dyn Read,
    to: &mut dyn Write,
    target: &Path,
    read_error: impl Fn(io::Error) -> Error,
) -> Result<u64> {
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        to.write_all(&buf[..n])
            .map_err(|e| Error::io(target, "cannot write", e))?;
        total += n as u64;
    }
}

/// The ceremony record among `paths` (the first file that parses as one).
pub fn find_record(paths: &[PathBuf]) -> Option<(PathBuf, CeremonyRecord)> {
    paths.iter().find_map(|p| {
        if crate::input_file::is_stdin(p) {
            return None;
        }
        let bytes =
            crate::input_file::read(p, crate::shard::MAX_JSON_LEN, "ceremony record").ok()?;
        match crate::shard::parse_document(&bytes) {
            Ok(crate::shard::JsonDocument::Record(r)) => Some((p.clone(), *r)),
            _ => None,
        }
    })
}

/// What [`recover`] is asked to do.
pub struct RecoverRequest<'a> {
    /// The assembled data key and the ceremony its shards belong to.
    pub key: &'a RootKey,
    pub reference: &'a CeremonyInfo,
    /// The ceremony record (read by the caller) and its path.
    pub record: &'a CeremonyRecord,
    /// `secret.age`.
    pub secret: PathBuf,
    /// Where the secret goes, in the clear, mode 0600.
    pub out: PathBuf,
    pub force: bool,
}

/// Checks `secret.age` against the record, decrypts it with the data key
/// and writes the secret atomically (mode 0600): on any failure nothing is
/// left at `out`. The file is hashed as it is decrypted and the output put
/// in place only when the hash and size match the record.
pub fn recover(req: RecoverRequest<'_>) -> Result<SecretReport> {
    let Some(entry) = req.record.secret.clone() else {
        return Err(Error::input(
            &req.out,
            SecretFileError::NotInRecord.to_string(),
        ));
    };
    let rec = &req.record.info;
    if rec.ceremony_id != req.reference.ceremony_id || rec.fingerprint != req.reference.fingerprint
    {
        return Err(Error::input(
            "ceremony record",
            SecretFileError::RecordOfOtherCeremony {
                record: rec.ceremony_id.to_string(),
                shards: req.reference.ceremony_id.to_string(),
            },
        ));
    }
    if !req.force && req.out.symlink_metadata().is_ok() {
        return Err(Error::Exists { path: req.out });
    }
    let mut staged = StagedFile::new(&req.out)?;
    let target = req.out.clone();
    // the staged output is dropped (and scrubbed) on any error
    let plaintext_size = open_checked(req.key, &entry, &req.secret, staged.writer(), &target)?;
    staged.commit(req.force)?;
    Ok(SecretReport {
        path: req.out,
        entry,
        plaintext_size,
    })
}

/// Decrypts `path` with the data key into `to` (named `target`), checking
/// its size first and its SHA-256 once all of it is read: only when this
/// returns Ok is what was written the recorded secret.
pub fn open_checked(
    key: &RootKey,
    entry: &SecretEntry,
    path: &Path,
    to: &mut dyn Write,
    target: &Path,
) -> Result<u64> {
    let bad = |e: SecretFileError| Error::input(path, e);
    let file = crate::input_file::open_regular(path, "secret file")?;
    let found = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?
        .len();
    // The header first: another ceremony's file is told as such, whatever its size
    let mut hashing = Hashing::new(file.take(entry.size));
    let identity = x25519_identity(key);
    let decryptor = age::Decryptor::new_buffered(io::BufReader::new(&mut hashing))
        .map_err(|e| bad(SecretFileError::NotAge(e.to_string())))?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => bad(SecretFileError::OtherKey),
            other => bad(SecretFileError::Damaged(other.to_string())),
        })?;
    if found != entry.size {
        return Err(bad(SecretFileError::WrongSize {
            expected: entry.size,
            found,
        }));
    }
    // a read error is the age file's damage (a chunk that does not authenticate)
    let plaintext_size = copy_through(&mut reader, to, target, |e| {
        Error::input(path, SecretFileError::Damaged(e.to_string()))
    })?;
    drop(reader);
    // bytes after the age stream's end count too
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::io(path, "cannot read", e))?;
    let (_, seen) = hashing.finish();
    if seen != *entry {
        return Err(bad(SecretFileError::WrongHash));
    }
    Ok(plaintext_size)
}

/// Where the secret to split comes from.
pub enum SecretSource {
    File(PathBuf),
    Stdin,
}

/// Like [`crate::split::split`], for any secret: `request.key` must be
/// [`KeySource::Generate`] (the data key is always fresh). The secret is
/// encrypted into `secret.age`, its hash and size go into the record, and
/// everything is staged and put in place together; `secret.age` is then
/// decrypted back and checked against the record, the shards as `split`
/// checks them. On any failure nothing is left.
pub fn split_secret(
    request: SplitRequest,
    secret: SecretSource,
) -> Result<(SplitReport, SecretReport)> {
    let params = request.params;
    split::check_names(&request.label, &request.custodians, params.shares())?;
    if request.transports.len() != params.shares() as usize {
        return Err(RequestError::TransportCount {
            given: request.transports.len(),
            shares: params.shares(),
        }
        .into());
    }
    if !matches!(request.key, KeySource::Generate) {
        return Err(Error::Usage(
            "a secret is split under a fresh data key: --secret-file/--secret-stdin go without a key source".into(),
        ));
    }
    let (mut input, source): (Box<dyn Read>, PathBuf) = match secret {
        SecretSource::File(p) => (
            Box::new(crate::input_file::open_regular(&p, "secret file")?),
            p,
        ),
        SecretSource::Stdin => {
            use std::io::IsTerminal;
            // a secret is piped in, never typed: a terminal would wait unseen
            if io::stdin().is_terminal() {
                return Err(Error::InputFile {
                    path: PathBuf::from("-"),
                    source: crate::input_file::InputFileError::StdinTerminal { what: "secret" },
                });
            }
            (
                Box::new(io::stdin().lock()),
                PathBuf::from("standard input"),
            )
        }
    };
    let key = RootKey::generate();
    let mut shares = split::split_key(&key, params, &request.label, &request.custodians)?;
    let dir = &request.out;

    let mut batch = OutputBatch::in_dir(dir, request.force)?;
    let secret = stage_secret(&key, &mut input, &source, &mut shares, dir, &mut batch)?;
    let record = split::stage_record(&shares, dir, &mut batch)?;
    let mut reports = Vec::with_capacity(shares.shards().len());
    for (i, transport) in request.transports.iter().enumerate() {
        reports.push(split::stage_share(&shares, i, transport, dir, &mut batch)?);
    }
    let written = batch.commit()?;

    let checked = reports
        .iter()
        .try_for_each(|r| crate::check_back::share_outputs(r, &shares))
        .and_then(|_| crate::check_back::reconstructs(&shares, &key))
        .and_then(|_| check_written(&key, &secret));
    if let Err(e) = checked {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok((
        SplitReport {
            info: shares.info.clone(),
            record,
            shares: reports,
        },
        secret,
    ))
}

/// Encrypts what `input` gives (named `source`) into `secret.age` in `dir`,
/// staged into `batch`, and records its hash and size in `shares`' record
/// (stage the record after this).
fn stage_secret(
    key: &RootKey,
    input: &mut dyn Read,
    source: &Path,
    shares: &mut Shares,
    dir: &Path,
    batch: &mut OutputBatch,
) -> Result<SecretReport> {
    let path = secret_path(dir);
    let mut staged = batch.new_file(&path)?;
    let (entry, plaintext_size) = encrypt_into(key, input, source, &mut staged)?;
    batch.stage(staged)?;
    shares.record.secret = Some(entry.clone());
    Ok(SecretReport {
        path,
        entry,
        plaintext_size,
    })
}

/// Decrypts the written `secret.age` back with the data key and checks it
/// against the record's hash and size and the plaintext size.
fn check_written(key: &RootKey, secret: &SecretReport) -> Result<()> {
    let n = open_checked(
        key,
        &secret.entry,
        &secret.path,
        &mut io::sink(),
        Path::new("read-back"),
    )?;
    if n != secret.plaintext_size {
        return Err(Error::input(
            &secret.path,
            "read-back gave a secret of another size",
        ));
    }
    Ok(())
}

/// A ceremony run's `secret.age` and `ceremony.json`, written together into
/// `dir` (which exists; neither may be there yet): the secret in the file
/// `source` encrypted under the data key `key`, its entry set in `shares`'
/// record, then decrypted back and checked. On failure neither is left.
pub fn write_with_record(
    key: &RootKey,
    source: &Path,
    shares: &mut Shares,
    dir: &Path,
) -> Result<SecretReport> {
    let mut input = crate::input_file::open_regular(source, "secret file")?;
    let mut batch = OutputBatch::new(false);
    let secret = stage_secret(key, &mut input, source, shares, dir, &mut batch)?;
    split::stage_record(shares, dir, &mut batch)?;
    let written = batch.commit()?;
    if let Err(e) = check_written(key, &secret) {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn identity_is_the_keys_bytes() {
        let key = RootKey::from_hex(&"11".repeat(32)).unwrap();
        let id = x25519_identity(&key);
        // age's own encoding of the identity gives back the same text
        assert_eq!(id.to_string().expose_secret(), age_identity(&key).as_str());
        assert!(age_identity(&key).starts_with("AGE-SECRET-KEY-1"));
    }
}
