//! Splitting a root key into shares and handing them out: a typed
//! [`SplitRequest`] in, a [`SplitReport`] out, every output read back and
//! checked before success is reported.
//!
//! [`split`] does the whole job as `keyceremony split` does it: every output
//! staged, then all of them moved into place together, read back, and
//! removed again if any check fails. A ceremony runner that hands shares
//! out one custodian at a time uses the pieces instead:
//!
//! 1. [`obtain_key`] (or a [`RootKey`] it already has), then [`split_key`]:
//!    the shares, in memory;
//! 2. [`write_record`]: the public `ceremony.json`;
//! 3. per custodian, [`write_share`], then the check-backs of
//!    [`crate::check_back`] on what was written;
//! 4. [`crate::check_back::reconstructs`]: the shares give back the key.

use std::path::{Path, PathBuf};

use rand_core::OsRng;

use crate::atomic_file::OutputBatch;
use crate::digest::Sha256Digest;
use crate::error::{Error, RequestError, Result};
use crate::input_file::read as read_bounded;
use crate::record::{self, CeremonyId, CeremonyInfo, CeremonyRecord, CustodianEntry};
use crate::seal::{SealError, SealedHeader};
use crate::seal_target::SealTarget;
use crate::secret::RootKey;
use crate::shamir::{self, ShamirError, SplitParams};
use crate::shard::{ShardError, ShardFile};
use crate::spike;

/// Largest key file read: 64 hex characters and a line ending fit many times over.
pub const MAX_KEY_FILE_LEN: u64 = 1024;

/// Where the root key comes from.
pub enum KeySource {
    /// A fresh key from the operating system's random source.
    Generate,
    /// A file of 64 hex characters, optionally one newline.
    KeyFile(PathBuf),
    /// SPIKE Nexus recovery shard files, assembled with SPIKE's threshold.
    Spike { files: Vec<PathBuf>, threshold: u16 },
    /// A key the caller already holds.
    Key(RootKey),
}

/// How one share leaves the ceremony.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `shard-<i>.json`.
    ShardFile,
    /// `shard-<i>.png`, `.svg` and the printable sheet `.html` (each image
    /// scanned back before it is written), and with `shard_file` also
    /// `shard-<i>.json`, as `split --qr` writes.
    QrSheet { shard_file: bool },
    /// `shard-<i>.age`: the shard file sealed to a token's key.
    Sealed(SealTarget),
    /// `shard-<i>.json.age`: the shard file under a passphrase (age scrypt),
    /// instead of `shard-<i>.json`; see [`crate::passphrase_shard`].
    Passphrase(std::sync::Arc<crate::bundle::Passphrase>),
}

/// What a split is asked to do.
pub struct SplitRequest {
    pub params: SplitParams,
    pub key: KeySource,
    pub label: String,
    /// Custodian names in share order (fewer than the shares is allowed).
    pub custodians: Vec<String>,
    /// Output folder: created if missing, must be empty unless `force`.
    pub out: PathBuf,
    pub force: bool,
    /// One per share, in share order.
    pub transports: Vec<Transport>,
}

/// What kind of file an output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    CeremonyRecord,
    ShardFile,
    SealedShare,
    /// `shard-<i>.json.age`.
    PassphraseShard,
    QrPng,
    QrSvg,
    QrSheet,
}

/// One file written, with the SHA-256 of what was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub path: PathBuf,
    pub kind: OutputKind,
    pub sha256: Sha256Digest,
}

/// How a share was handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    ShardFile,
    QrSheet,
    Sealed,
    Passphrase,
}

/// What was written for one share.
#[derive(Clone, Debug)]
pub struct ShareReport {
    pub id: u8,
    pub custodian: Option<String>,
    pub transport: TransportKind,
    /// Every file written for this share, in the order written.
    pub outputs: Vec<OutputFile>,
    /// For a sealed share: the token serial and slot (when named by serial)
    /// or the recipient.
    pub sealed_to: Option<SealTarget>,
    /// For a QR sheet: the QR version of its code (level H).
    pub qr_version: Option<i16>,
}

impl ShareReport {
    /// The output of `kind`, if this share has one.
    pub fn output(&self, kind: OutputKind) -> Option<&OutputFile> {
        self.outputs.iter().find(|o| o.kind == kind)
    }
}

/// What [`split`] did.
#[derive(Clone, Debug)]
pub struct SplitReport {
    /// Ceremony id, label, t and n, commitments, key fingerprint, time.
    pub info: CeremonyInfo,
    /// `ceremony.json`.
    pub record: OutputFile,
    pub shares: Vec<ShareReport>,
}

impl SplitReport {
    /// Every file written, in the order written (the record first).
    pub fn files(&self) -> impl Iterator<Item = &OutputFile> {
        std::iter::once(&self.record).chain(self.shares.iter().flat_map(|s| s.outputs.iter()))
    }
}

/// A split that does not check out (no single file to blame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitCheckError {
    #[error("internal check failed for share {id}: {problem}")]
    ShardDoesNotParse { id: u8, problem: ShardError },
    #[error("internal check failed for share {id}: it does not read back")]
    ShardDiffers { id: u8 },
    #[error("internal check failed for sealed share: {0}")]
    SealedHeader(SealError),
    #[error("internal check failed: the sealed share names another key")]
    SealedToOtherKey,
    #[error("the written shards do not reconstruct the key: {0}")]
    DoesNotReconstruct(ShamirError),
    #[error("the written shards reconstruct a different key; nothing is usable")]
    DifferentKey,
}

/// A key split into shares, in memory: the public ceremony facts and one
/// shard file per share. Holds the share values (zeroized on drop).
pub struct Shares {
    pub info: CeremonyInfo,
    pub record: CeremonyRecord,
    shards: Vec<ShardFile>,
}

impl Shares {
    /// Shares made elsewhere on one split (`extend`: new ids on an existing
    /// polynomial), to be written by [`stage_share`] like a split's.
    pub(crate) fn from_parts(
        info: CeremonyInfo,
        record: CeremonyRecord,
        shards: Vec<ShardFile>,
    ) -> Self {
        Shares {
            info,
            record,
            shards,
        }
    }

    /// The shards in share order (secret: each holds a share value).
    pub fn shards(&self) -> &[ShardFile] {
        &self.shards
    }

    /// Share `id` (1..=n).
    pub fn shard(&self, id: u8) -> Option<&ShardFile> {
        self.shards.iter().find(|s| s.share.id().get() == id)
    }
}

/// Checks the label and custodian names against the number of shares.
pub fn check_names(label: &str, custodians: &[String], shares: u8) -> Result<()> {
    record::check_new_name(label).map_err(RequestError::Label)?;
    if custodians.len() > shares as usize {
        return Err(RequestError::TooManyCustodians {
            given: custodians.len(),
            shares,
        }
        .into());
    }
    for name in custodians {
        record::check_new_name(name).map_err(|problem| RequestError::Custodian {
            name: name.clone(),
            problem,
        })?;
    }
    Ok(())
}

/// The root key from its source.
pub fn obtain_key(source: KeySource) -> Result<RootKey> {
    match source {
        KeySource::Generate => Ok(RootKey::generate()),
        KeySource::Key(key) => Ok(key),
        KeySource::KeyFile(path) => read_key_file(&path),
        KeySource::Spike { files, threshold } => {
            let mut shards = Vec::with_capacity(files.len());
            for p in files {
                let s = spike::read_file(&p)?;
                shards.push((p, s));
            }
            spike::assemble(&shards, threshold)
        }
    }
}

/// Reads a key file: 64 hex characters, optionally one newline.
pub fn read_key_file(path: &Path) -> Result<RootKey> {
    let bytes = read_bounded(path, MAX_KEY_FILE_LEN, "key file")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::input(path, "not text; a key file holds 64 hex characters"))?;
    RootKey::from_hex(text).map_err(|source| Error::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Splits `key` t-of-n with Feldman commitments under a new ceremony id.
pub fn split_key(
    key: &RootKey,
    params: SplitParams,
    label: &str,
    custodians: &[String],
) -> Result<Shares> {
    check_names(label, custodians, params.shares())?;
    let (shares, commitments) = shamir::split(key, params, OsRng);
    let info = CeremonyInfo {
        ceremony_id: CeremonyId::generate(),
        label: label.to_string(),
        params,
        fingerprint: commitments.fingerprint(),
        commitments,
        created: record::now_rfc3339(),
    };
    let custodian = |i: usize| custodians.get(i).cloned();
    let shards = shares
        .into_iter()
        .enumerate()
        .map(|(i, share)| ShardFile {
            info: info.clone(),
            share,
            custodian: custodian(i),
        })
        .collect();
    let record = CeremonyRecord {
        info: info.clone(),
        custodians: (0..params.shares() as usize)
            .map(|i| CustodianEntry {
                id: i as u8 + 1,
                name: custodian(i),
            })
            .collect(),
        // a ceremony run sets its transcript key here before writing the record
        ceremony_public_key: None,
        // split_secret sets it once secret.age is written
        secret: None,
        // reshare sets it: a plain split supersedes nothing (record v1)
        supersedes: None,
    };
    Ok(Shares {
        info,
        record,
        shards,
    })
}

/// The path of `ceremony.json` in `dir`.
pub fn record_path(dir: &Path) -> PathBuf {
    dir.join("ceremony.json")
}

/// The path of share `id`'s shard file in `dir`.
pub fn shard_path(dir: &Path, id: u8) -> PathBuf {
    dir.join(format!("shard-{id}.json"))
}

/// The path of share `id`'s sealed file in `dir`.
pub fn sealed_path(dir: &Path, id: u8) -> PathBuf {
    dir.join(format!("shard-{id}.age"))
}

/// Stages `ceremony.json` into `batch`.
pub fn stage_record(shares: &Shares, dir: &Path, batch: &mut OutputBatch) -> Result<OutputFile> {
    let path = record_path(dir);
    let json = shares.record.to_json();
    batch.add(&path, json.as_bytes())?;
    Ok(OutputFile {
        path,
        kind: OutputKind::CeremonyRecord,
        sha256: Sha256Digest::of(json.as_bytes()),
    })
}

/// Writes `ceremony.json` into `dir` (created if missing; must be empty
/// unless `force`), atomically.
pub fn write_record(shares: &Shares, dir: &Path, force: bool) -> Result<OutputFile> {
    let mut batch = OutputBatch::in_dir(dir, force)?;
    let out = stage_record(shares, dir, &mut batch)?;
    batch.commit()?;
    Ok(out)
}

/// Stages the outputs of the share at `index` (0-based, share order) for
/// `transport` into `batch`.
pub fn stage_share(
    shares: &Shares,
    index: usize,
    transport: &Transport,
    dir: &Path,
    batch: &mut OutputBatch,
) -> Result<ShareReport> {
    let shard = &shares.shards[index];
    let id = shard.share.id().get();
    let mut report = ShareReport {
        id,
        custodian: shard.custodian.clone(),
        transport: match transport {
            Transport::ShardFile => TransportKind::ShardFile,
            Transport::QrSheet { .. } => TransportKind::QrSheet,
            Transport::Sealed(_) => TransportKind::Sealed,
            Transport::Passphrase(_) => TransportKind::Passphrase,
        },
        outputs: Vec::new(),
        sealed_to: None,
        qr_version: None,
    };
    match transport {
        Transport::Sealed(target) => {
            serialise_checked(shard)?;
            let bytes = crate::seal::seal_shard(shard, &target.recipient)?;
            let header = SealedHeader::parse(&bytes).map_err(SplitCheckError::SealedHeader)?;
            if header.tag != target.recipient.tag() {
                return Err(SplitCheckError::SealedToOtherKey.into());
            }
            let path = sealed_path(dir, id);
            batch.add(&path, &bytes)?;
            report.outputs.push(OutputFile {
                path,
                kind: OutputKind::SealedShare,
                sha256: Sha256Digest::of(&bytes),
            });
            report.sealed_to = Some(target.clone());
        }
        Transport::Passphrase(pass) => {
            let text = serialise_checked(shard)?;
            let path = crate::passphrase_shard::path(dir, id);
            let bytes = crate::passphrase_shard::protect(text.as_bytes(), pass)?;
            // opened again with the passphrase before anything is written
            let back = crate::passphrase_shard::open(
                &path,
                &bytes,
                pass,
                &crate::progress::Progress::silent(),
            )?;
            if back.as_slice() != text.as_bytes() {
                return Err(SplitCheckError::ShardDiffers { id }.into());
            }
            batch.add(&path, &bytes)?;
            report.outputs.push(OutputFile {
                path,
                kind: OutputKind::PassphraseShard,
                sha256: Sha256Digest::of(&bytes),
            });
        }
        Transport::ShardFile | Transport::QrSheet { .. } => {
            if matches!(
                transport,
                Transport::ShardFile | Transport::QrSheet { shard_file: true }
            ) {
                let text = serialise_checked(shard)?;
                let path = shard_path(dir, id);
                batch.add(&path, text.as_bytes())?;
                report.outputs.push(OutputFile {
                    path,
                    kind: OutputKind::ShardFile,
                    sha256: Sha256Digest::of(text.as_bytes()),
                });
            }
            if let Transport::QrSheet { .. } = transport {
                // PNG, SVG and sheet, each image scanned back first
                // The sheet names the ceremony's public key when the runner has one
                let sheet = crate::qr::sheet::SheetOptions {
                    ceremony_public_key: shares.record.ceremony_public_key.clone(),
                };
                let qr = crate::qr::write_qr_outputs_with(shard, dir, batch, &sheet)?;
                let kinds = [OutputKind::QrPng, OutputKind::QrSvg, OutputKind::QrSheet];
                for ((path, digest), kind) in qr.files.into_iter().zip(kinds) {
                    report.outputs.push(OutputFile {
                        path,
                        kind,
                        sha256: Sha256Digest(digest),
                    });
                }
                report.qr_version = Some(qr.version);
            }
        }
    }
    Ok(report)
}

/// Writes the outputs of one share into `dir` (which exists), all of them
/// or none; an existing file is replaced only with `force`. Check them with
/// [`crate::check_back`] before the custodian leaves.
pub fn write_share(
    shares: &Shares,
    index: usize,
    transport: &Transport,
    dir: &Path,
    force: bool,
) -> Result<ShareReport> {
    let mut batch = OutputBatch::new(force);
    let report = stage_share(shares, index, transport, dir, &mut batch)?;
    batch.commit()?;
    Ok(report)
}

/// The shard file's text, after checking it parses back as the same share:
/// what goes to disk (or into a sealed file) must read back.
fn serialise_checked(shard: &ShardFile) -> Result<zeroize::Zeroizing<String>> {
    let id = shard.share.id().get();
    let text = shard.to_json();
    let again = ShardFile::parse(text.as_bytes())
        .map_err(|problem| SplitCheckError::ShardDoesNotParse { id, problem })?;
    if again.share != shard.share {
        return Err(SplitCheckError::ShardDiffers { id }.into());
    }
    Ok(text)
}

/// Splits the key as asked and writes every output into the folder: all of
/// them staged, moved into place together, read back from disk and checked
/// (alone, and together against the key); on any failure nothing is left.
pub fn split(request: SplitRequest) -> Result<SplitReport> {
    let params = request.params;
    check_names(&request.label, &request.custodians, params.shares())?;
    if request.transports.len() != params.shares() as usize {
        return Err(RequestError::TransportCount {
            given: request.transports.len(),
            shares: params.shares(),
        }
        .into());
    }
    let key = obtain_key(request.key)?;
    let shares = split_key(&key, params, &request.label, &request.custodians)?;
    let dir = &request.out;

    let mut batch = OutputBatch::in_dir(dir, request.force)?;
    let record = stage_record(&shares, dir, &mut batch)?;
    let mut reports = Vec::with_capacity(shares.shards.len());
    for (i, transport) in request.transports.iter().enumerate() {
        reports.push(stage_share(&shares, i, transport, dir, &mut batch)?);
    }
    let written = batch.commit()?;

    let checked = reports
        .iter()
        .try_for_each(|r| crate::check_back::share_outputs(r, &shares))
        .and_then(|_| crate::check_back::reconstructs(&shares, &key));
    if let Err(e) = checked {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(SplitReport {
        info: shares.info.clone(),
        record,
        shares: reports,
    })
}
