//! `keyceremony split`: a root key in, a ceremony record and one shard per
//! custodian out, every one read back and checked before success is reported.

use std::path::{Path, PathBuf};

use rand_core::OsRng;
use serde_json::json;

use crate::atomic_file::OutputBatch;
use crate::cli::SplitArgs;
use crate::commands::{Context, Outcome};
use crate::error::{Error, Result};
use crate::inputs::read_bounded;
use crate::record::{self, CeremonyId, CeremonyInfo, CeremonyRecord, CustodianEntry};
use crate::secret::RootKey;
use crate::shamir::{self, SplitParams};
use crate::shard::ShardFile;
use crate::spike;

/// Largest key file read: 64 hex characters and a line ending fit many times over.
const MAX_KEY_FILE_LEN: u64 = 1024;

pub fn run(a: &SplitArgs, ctx: &Context) -> Result<Outcome> {
    let params = SplitParams::new(a.threshold, a.shares)
        .map_err(|e| Error::Usage(format!("--threshold/--shares: {e}")))?;
    record::check_name(&a.label).map_err(|e| Error::Usage(format!("--label: {e}")))?;
    if a.qr {
        crate::qr::check_threshold(params)?;
    }
    if a.custodians.len() > params.shares() as usize {
        return Err(Error::Usage(format!(
            "{} custodian names given for {} shares",
            a.custodians.len(),
            params.shares()
        )));
    }
    for name in &a.custodians {
        record::check_name(name).map_err(|e| Error::Usage(format!("--custodian {name:?}: {e}")))?;
    }

    // Find every sealing key before touching the root key
    let seal_targets = crate::commands::token::seal_targets(
        a,
        params.shares(),
        ctx.inputs.test_tokens.as_deref(),
    )?;

    let key = obtain_key(a)?;
    let (shares, commitments) = shamir::split(&key, params, OsRng);
    let info = CeremonyInfo {
        ceremony_id: CeremonyId::generate(),
        label: a.label.clone(),
        params,
        fingerprint: commitments.fingerprint(),
        commitments,
        created: record::now_rfc3339(),
    };
    let custodian = |i: usize| a.custodians.get(i).cloned();
    let shards: Vec<ShardFile> = shares
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
    };

    let mut batch = OutputBatch::in_dir(&a.out, a.force)?;
    batch.add(&a.out.join("ceremony.json"), record.to_json().as_bytes())?;
    let mut sealed = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        match seal_targets.get(i) {
            Some(target) => sealed.push((i, stage_sealed(shard, target, &a.out, &mut batch)?)),
            None => {
                stage_shard(shard, &a.out, &mut batch)?;
                // PNG, SVG and sheet, each image scanned back first
                // (only for shares not sealed to a token: a sheet is the share in the clear)
                if a.qr {
                    crate::qr::write_qr_outputs(shard, &a.out, &mut batch)?;
                }
            }
        }
    }
    let written = batch.commit()?;

    if let Err(e) = read_back(&a.out, &shards, &key, &sealed) {
        for p in &written {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }

    let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let mut text = vec![
        format!(
            "split the key with fingerprint {} into {} shares, any {} recover it",
            info.fingerprint,
            params.shares(),
            params.threshold()
        ),
        format!(
            "ceremony {} \"{}\", created {}",
            info.ceremony_id, info.label, info.created
        ),
    ];
    text.extend(files.iter().map(|f| {
        // A sealed file names its token (TEST TOKEN in test mode)
        let sealed_to = sealed.iter().find_map(|(i, _)| {
            f.ends_with(&format!("shard-{}.age", i + 1))
                .then(|| format!(" (sealed to {})", seal_targets[*i].label))
        });
        format!("wrote {f}{}", sealed_to.unwrap_or_default())
    }));
    for (i, _) in &sealed {
        text.push(format!(
            "share {} is sealed to {} (shard-{}.age: only that token opens it)",
            i + 1,
            seal_targets[*i].label,
            i + 1
        ));
    }
    text.push("every shard was read back from disk and checked".into());
    if a.qr {
        text.push(format!(
            "every QR image was scanned back and matched its share (QR version {}, level H)",
            crate::qr::qr_code(&shards[0])
                .map(|c| crate::qr::version_of(&c))
                .unwrap_or(0)
        ));
    }
    let json = json!({
        "command": "split",
        "ceremony_id": info.ceremony_id.to_string(),
        "label": info.label,
        "threshold": params.threshold(),
        "shares": params.shares(),
        "key_fingerprint": info.fingerprint.to_string(),
        "commitments": info.commitments_hex(),
        "created": info.created,
        "files": files,
        "sealed": sealed.iter().map(|(i, _)| json!({
            "share": i + 1,
            "serial": seal_targets[*i].serial,
            "recipient": seal_targets[*i].recipient.to_string(),
            "test_token": seal_targets[*i].test_token,
        })).collect::<Vec<_>>(),
    });
    Ok(Outcome::success(text, json))
}

fn obtain_key(a: &SplitArgs) -> Result<RootKey> {
    if a.generate {
        return Ok(RootKey::generate());
    }
    if let Some(path) = &a.key_file {
        let bytes = read_bounded(path, MAX_KEY_FILE_LEN, "key file")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::input(path, "not text; a key file holds 64 hex characters"))?;
        return RootKey::from_hex(text).map_err(|e| Error::input(path, e));
    }
    let k = a
        .spike_threshold
        .ok_or_else(|| Error::Usage("--from-spike needs --spike-threshold K".into()))?;
    let mut shards = Vec::with_capacity(a.from_spike.len());
    for p in &a.from_spike {
        shards.push((p.clone(), spike::read_file(p)?));
    }
    spike::assemble(&shards, k)
}

/// Stages the output for one share: its shard file.
fn stage_shard(shard: &ShardFile, dir: &Path, batch: &mut OutputBatch) -> Result<()> {
    let text = serialise_checked(shard)?;
    batch.add(&shard_path(dir, shard), text.as_bytes())
}

/// The shard file's text, after checking it parses back as the same share:
/// what goes to disk (or into a sealed file) must read back.
fn serialise_checked(shard: &ShardFile) -> Result<zeroize::Zeroizing<String>> {
    let text = shard.to_json();
    let again = ShardFile::parse(text.as_bytes()).map_err(|e| {
        Error::Check(format!(
            "internal check failed for share {}: {e}",
            shard.share.id()
        ))
    })?;
    if again.share != shard.share {
        return Err(Error::Check(format!(
            "internal check failed for share {}: it does not read back",
            shard.share.id()
        )));
    }
    Ok(text)
}

fn shard_path(dir: &Path, shard: &ShardFile) -> PathBuf {
    dir.join(format!("shard-{}.json", shard.share.id()))
}

// Sealed shares
fn sealed_path(dir: &Path, shard: &ShardFile) -> PathBuf {
    dir.join(format!("shard-{}.age", shard.share.id()))
}

/// Stages `shard-<i>.age`: the shard file, checked, sealed to the target's key.
fn stage_sealed(
    shard: &ShardFile,
    target: &crate::commands::token::SealTarget,
    dir: &Path,
    batch: &mut OutputBatch,
) -> Result<Vec<u8>> {
    serialise_checked(shard)?;
    let bytes = crate::seal::seal_shard(shard, &target.recipient)?;
    let header = crate::seal::SealedHeader::parse(&bytes)
        .map_err(|e| Error::Check(format!("internal check failed for sealed share: {e}")))?;
    if header.tag != target.recipient.tag() {
        return Err(Error::Check(
            "internal check failed: the sealed share names another key".into(),
        ));
    }
    batch.add(&sealed_path(dir, shard), &bytes)?;
    Ok(bytes)
}

/// A sealed share cannot be opened without its token; check instead that
/// the file on disk is byte for byte what was sealed, to the right key.
fn read_back_sealed(path: &Path, written: &[u8]) -> Result<()> {
    let bytes = read_bounded(path, crate::seal::MAX_SEALED_LEN as u64, "sealed share")?;
    if bytes.as_slice() != written {
        return Err(Error::input(
            path,
            "read-back after writing gave different bytes",
        ));
    }
    Ok(())
}

/// Reads every written shard back from disk, checks it alone, and checks
/// that the set reconstructs exactly the key that was split.
fn read_back(
    dir: &Path,
    shards: &[ShardFile],
    key: &RootKey,
    sealed: &[(usize, Vec<u8>)],
) -> Result<()> {
    let mut again = Vec::with_capacity(shards.len());
    for (i, s) in shards.iter().enumerate() {
        // Sealed shares are checked as files; their share was checked before sealing
        if let Some((_, bytes)) = sealed.iter().find(|(j, _)| *j == i) {
            read_back_sealed(&sealed_path(dir, s), bytes)?;
            again.push(s.share.clone());
            continue;
        }
        let path = shard_path(dir, s);
        let bytes = read_bounded(&path, crate::shard::MAX_JSON_LEN, "shard file")?;
        let parsed = ShardFile::parse(&bytes)
            .map_err(|e| Error::input(&path, format!("read-back after writing failed: {e}")))?;
        if parsed.share != s.share || parsed.info.ceremony_id != s.info.ceremony_id {
            return Err(Error::input(
                &path,
                "read-back after writing gave a different share",
            ));
        }
        again.push(parsed.share);
    }
    let got = shamir::combine_checked(&again, &shards[0].info.commitments).map_err(|e| {
        Error::Check(format!(
            "the written shards do not reconstruct the key: {e}"
        ))
    })?;
    if got != *key {
        return Err(Error::Check(
            "the written shards reconstruct a different key; nothing is usable".into(),
        ));
    }
    Ok(())
}
