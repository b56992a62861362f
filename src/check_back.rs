//! Checking an output back after it is written, before anyone relies on it:
//! a shard file re-read and compared, a sealed file compared byte for byte
//! (or unsealed on its token), a QR image (the written one, or a scan or
//! photo of the printed sheet) decoded, and the shares together giving back
//! the key. Each returns a typed result or a typed [`Error`] naming the file.

use std::path::Path;

use crate::console::Console;
use crate::digest::Sha256Digest;
use crate::error::{Error, ReadBack, Result};
use crate::events::EventSink;
use crate::input_file::read as read_bounded;
use crate::seal::{SealedWith, Unsealer};
use crate::seal_target::SealTarget;
use crate::secret::RootKey;
use crate::shamir;
use crate::shard::ShardFile;
use crate::split::{OutputKind, ShareReport, Shares, SplitCheckError};

fn read_back(path: &Path, problem: ReadBack) -> Error {
    Error::ReadBack {
        path: path.to_path_buf(),
        problem,
    }
}

/// Re-reads a shard file and checks that it holds exactly `expected`.
pub fn shard_file(path: &Path, expected: &ShardFile) -> Result<()> {
    let bytes = read_bounded(path, crate::shard::MAX_JSON_LEN, "shard file")?;
    let parsed = ShardFile::parse(&bytes).map_err(|e| read_back(path, ReadBack::Unreadable(e)))?;
    if parsed.share != expected.share || parsed.info.ceremony_id != expected.info.ceremony_id {
        return Err(read_back(path, ReadBack::DifferentShare));
    }
    Ok(())
}

/// Checks that a written sealed share is byte for byte what was sealed
/// (its SHA-256). Needs no token; [`sealed_share`] proves the token opens it.
pub fn sealed_file(path: &Path, written: &Sha256Digest) -> Result<()> {
    let bytes = read_bounded(path, crate::seal::MAX_SEALED_LEN as u64, "sealed share")?;
    if Sha256Digest::of(&bytes) != *written {
        return Err(read_back(path, ReadBack::DifferentBytes));
    }
    Ok(())
}

/// What a QR image check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCheck {
    /// keyceremony codes read in the image (one of them is the share).
    pub codes: usize,
}

/// Decodes the QR image at `path` (PNG or JPEG: the written image, or a
/// scan or photo of the printed sheet) and checks that one of its codes is
/// the share `expected`.
pub fn qr_image(path: &Path, expected: &ShardFile) -> Result<QrCheck> {
    let found = crate::qr::shards_from_image(path)?;
    if !found.iter().any(|s| crate::qr::same_share(s, expected)) {
        return Err(read_back(path, ReadBack::QrNotFound));
    }
    Ok(QrCheck { codes: found.len() })
}

/// Opens the sealed share at `path` on its token (PIN on `console`, touch
/// announced on `events`) and checks that it holds `expected`; with a
/// `target` named by serial, also that the token that opened it is that
/// one. A wrong PIN, a blocked PIN, a token removed or a touch not given
/// come back as [`Error::Token`] with the [`crate::token::TokenError`].
pub fn sealed_share(
    path: &Path,
    expected: &ShardFile,
    target: Option<&SealTarget>,
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<SealedWith> {
    let bytes = read_bounded(path, crate::seal::MAX_SEALED_LEN as u64, "sealed share")?;
    let (shard, with) = unsealer.unseal_shard(path, &bytes, console, events)?;
    if shard.share != expected.share || shard.info.ceremony_id != expected.info.ceremony_id {
        return Err(read_back(path, ReadBack::DifferentShare));
    }
    if let Some(t) = target {
        if t.serial.is_some_and(|s| s != with.serial) {
            return Err(read_back(
                path,
                ReadBack::OtherToken {
                    expected: t.label.clone(),
                    opened_by: with.token.clone(),
                },
            ));
        }
    }
    Ok(with)
}

/// Opens the passphrase-protected shard at `path` with the passphrase from
/// `file`, or asked on `console` with `prompt` (without echo), and checks
/// that it holds `expected`. A wrong passphrase is
/// [`crate::passphrase_shard::PassphraseShardError::WrongPassphrase`].
pub fn passphrase_shard(
    path: &Path,
    expected: &ShardFile,
    file: Option<&Path>,
    prompt: &str,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<()> {
    use crate::passphrase_shard as ps;
    let bytes = read_bounded(path, ps::MAX_LEN as u64, "passphrase-protected shard")?;
    let pass = ps::passphrase_for(path, file, Some(prompt), console)?;
    let shard = ps::open_shard(path, &bytes, &pass, &events.progress())?;
    if shard.share != expected.share || shard.info.ceremony_id != expected.info.ceremony_id {
        return Err(read_back(path, ReadBack::DifferentShare));
    }
    Ok(())
}

/// The read-back `split` does for one share's outputs: its shard file
/// re-read, its sealed file compared, and, for a QR sheet written without a
/// shard file, its PNG decoded from disk.
pub fn share_outputs(report: &ShareReport, shares: &Shares) -> Result<()> {
    let expected = shares
        .shard(report.id)
        .expect("a share report belongs to its split");
    if let Some(sealed) = report
        .output(OutputKind::SealedShare)
        .or(report.output(OutputKind::PassphraseShard))
    {
        return sealed_file(&sealed.path, &sealed.sha256);
    }
    match report.output(OutputKind::ShardFile) {
        Some(f) => shard_file(&f.path, expected),
        None => match report.output(OutputKind::QrPng) {
            Some(png) => qr_image(&png.path, expected).map(|_| ()),
            None => Ok(()),
        },
    }
}

/// Checks that the shares reconstruct exactly `key`.
pub fn reconstructs(shares: &Shares, key: &RootKey) -> Result<()> {
    let all: Vec<shamir::Share> = shares.shards().iter().map(|s| s.share.clone()).collect();
    let got = shamir::combine_checked(&all, &shares.info.commitments)
        .map_err(SplitCheckError::DoesNotReconstruct)?;
    if got != *key {
        return Err(SplitCheckError::DifferentKey.into());
    }
    Ok(())
}
