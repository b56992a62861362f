//! `keyceremony split`: the arguments as a [`SplitRequest`], the
//! [`SplitReport`] as text or JSON. The work is in [`crate::split`].

use serde_json::json;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bundle::Passphrase;
use crate::cli::SplitArgs;
use crate::commands::{Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::seal_target::{self, SealTargetRequest};
use crate::secret_file::{self, SecretSource};
use crate::shamir::SplitParams;
use crate::split::{self, KeySource, OutputKind, SplitReport, SplitRequest, Transport};

pub fn run(a: &SplitArgs, ctx: &Context, console: &mut dyn Console) -> Result<Outcome> {
    let params = SplitParams::new(a.threshold, a.shares)
        .map_err(|e| Error::Usage(format!("--threshold/--shares: {e}")))?;
    split::check_names(&a.label, &a.custodians, params.shares())?;
    if a.qr {
        crate::qr::check_threshold(params)?;
    }

    // Find every sealing key before touching the root key
    let targets = seal_target::resolve(
        &SealTargetRequest {
            serials: a.seal_to.clone(),
            recipients: a.seal_to_recipient.clone(),
            allow_same_token: a.allow_same_token,
        },
        params.shares(),
        ctx.inputs.test_tokens.as_deref(),
    )?;
    let sealed = targets.len();
    // Every passphrase asked and checked before the key exists
    let passphrases = shard_passphrases(a, params.shares(), sealed, console)?;
    let key = key_source(a)?;
    // Shares after the sealed ones: shard files, with QR outputs when asked
    // (only for shares not sealed to a token or under a passphrase: a sheet
    // is the share in the clear)
    let mut transports: Vec<Transport> = targets.into_iter().map(Transport::Sealed).collect();
    while transports.len() < params.shares() as usize {
        let id = transports.len() as u8 + 1;
        transports.push(match passphrases.iter().find(|(i, _)| *i == id) {
            Some((_, pass)) => Transport::Passphrase(pass.clone()),
            None if a.qr => Transport::QrSheet { shard_file: true },
            None => Transport::ShardFile,
        });
    }
    let request = SplitRequest {
        params,
        key,
        label: a.label.clone(),
        custodians: a.custodians.clone(),
        out: a.out.clone(),
        force: a.force,
        transports,
    };
    // Any secret (docs/secrets.md)
    let secret = match (&a.secret_file, a.secret_stdin) {
        (Some(p), _) => Some(SecretSource::File(p.clone())),
        (None, true) => Some(SecretSource::Stdin),
        (None, false) => None,
    };
    if let Some(secret) = secret {
        let (report, written) = secret_file::split_secret(request, secret)?;
        let mut out = render(&report, a.qr);
        out.text.insert(
            1,
            format!(
                "the key is a fresh data key; the secret ({} bytes) is encrypted under it in {} ({} bytes, SHA-256 {}, recorded in ceremony.json)",
                written.plaintext_size,
                written.path.display(),
                written.entry.size,
                written.entry.sha256.to_hex()
            ),
        );
        out.json["secret"] = json!({
            "path": written.path.display().to_string(),
            "sha256": written.entry.sha256.to_hex(),
            "size": written.entry.size,
            "plaintext_size": written.plaintext_size,
        });
        return Ok(out);
    }
    let report = split::split(request)?;
    Ok(render(&report, a.qr))
}

/// The passphrase of each share named by `--protect-with-passphrase`: from
/// its `--shard-passphrase-file N=FILE`, or asked twice on `console`; each
/// at least the minimum length unless `--allow-short-passphrase`.
fn shard_passphrases(
    a: &SplitArgs,
    shares: u8,
    sealed: usize,
    console: &mut dyn Console,
) -> Result<Vec<(u8, Arc<Passphrase>)>> {
    let mut files: Vec<(u8, PathBuf)> = Vec::new();
    for spec in &a.shard_passphrase_file {
        let (n, file) = spec.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--shard-passphrase-file {spec:?}: give N=FILE, the share id and the file"
            ))
        })?;
        let id: u8 = n.parse().map_err(|_| {
            Error::Usage(format!(
                "--shard-passphrase-file {spec:?}: {n:?} is not a share id"
            ))
        })?;
        if !a.protect_with_passphrase.contains(&id) {
            return Err(Error::Usage(format!(
                "--shard-passphrase-file {id}=...: share {id} is not named by --protect-with-passphrase {id}"
            )));
        }
        if files.iter().any(|(i, _)| *i == id) {
            return Err(Error::Usage(format!(
                "--shard-passphrase-file: share {id} is given twice"
            )));
        }
        files.push((id, PathBuf::from(file)));
    }
    let mut out: Vec<(u8, Arc<Passphrase>)> = Vec::new();
    for &id in &a.protect_with_passphrase {
        if id == 0 || id > shares {
            return Err(Error::Usage(format!(
                "--protect-with-passphrase {id}: shares are numbered 1 to {shares}"
            )));
        }
        if (id as usize) <= sealed {
            return Err(Error::Usage(format!(
                "--protect-with-passphrase {id}: share {id} is sealed to a token (--seal-to, --seal-to-recipient); a share takes one protection"
            )));
        }
        if out.iter().any(|(i, _)| *i == id) {
            return Err(Error::Usage(format!(
                "--protect-with-passphrase {id} is given twice"
            )));
        }
        let file = files
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, f)| f.as_path());
        let pass = new_shard_passphrase(id, file, a.allow_short_passphrase, console)?;
        out.push((id, Arc::new(pass)));
    }
    Ok(out)
}

/// One new shard passphrase, from `file` or asked twice, length-checked.
fn new_shard_passphrase(
    id: u8,
    file: Option<&Path>,
    allow_short: bool,
    console: &mut dyn Console,
) -> Result<Passphrase> {
    let pass = match file {
        Some(f) => Passphrase::from_file(f)?,
        None => crate::bundle::ask_new_passphrase_for(console, &format!("share {id}"))?,
    };
    crate::passphrase_shard::check_new(&pass, file, allow_short)?;
    Ok(pass)
}

fn key_source(a: &SplitArgs) -> Result<KeySource> {
    if a.generate || a.secret_file.is_some() || a.secret_stdin {
        return Ok(KeySource::Generate);
    }
    if let Some(path) = &a.key_file {
        return Ok(KeySource::KeyFile(path.clone()));
    }
    let threshold = a
        .spike_threshold
        .ok_or_else(|| Error::Usage("--from-spike needs --spike-threshold K".into()))?;
    Ok(KeySource::Spike {
        files: a.from_spike.clone(),
        threshold,
    })
}

fn render(report: &SplitReport, qr: bool) -> Outcome {
    let info = &report.info;
    let mut text = vec![
        format!(
            "split the key with fingerprint {} into {} shares, any {} recover it",
            info.fingerprint,
            info.params.shares(),
            info.params.threshold()
        ),
        format!(
            "ceremony {} \"{}\", created {}",
            info.ceremony_id, info.label, info.created
        ),
    ];
    let sealed: Vec<_> = report
        .shares
        .iter()
        .filter_map(|s| s.sealed_to.as_ref().map(|t| (s, t)))
        .collect();
    let files: Vec<String> = report
        .files()
        .map(|f| f.path.display().to_string())
        .collect();
    text.push(format!("wrote {}", files[0]));
    for share in &report.shares {
        for f in &share.outputs {
            // A sealed file names its token (TEST TOKEN in test mode)
            let sealed_to = match (&share.sealed_to, f.kind) {
                (Some(t), OutputKind::SealedShare) => format!(" (sealed to {})", t.label),
                (_, OutputKind::PassphraseShard) => " (under its passphrase: age scrypt)".into(),
                _ => String::new(),
            };
            text.push(format!("wrote {}{sealed_to}", f.path.display()));
        }
    }
    for (share, target) in &sealed {
        text.push(format!(
            "share {} is sealed to {} (shard-{}.age: only that token opens it)",
            share.id, target.label, share.id
        ));
    }
    text.push("every shard was read back from disk and checked".into());
    if qr {
        if let Some(v) = report.shares.iter().find_map(|s| s.qr_version) {
            text.push(format!(
                "every QR image was scanned back and matched its share (QR version {v}, level H)"
            ));
        }
    }
    let json = json!({
        "command": "split",
        "ceremony_id": info.ceremony_id.to_string(),
        "label": info.label,
        "threshold": info.params.threshold(),
        "shares": info.params.shares(),
        "key_fingerprint": info.fingerprint.to_string(),
        "commitments": info.commitments_hex(),
        "created": info.created,
        "files": files,
        "passphrase_protected": report
            .shares
            .iter()
            .filter(|s| s.output(OutputKind::PassphraseShard).is_some())
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        "sealed": sealed.iter().map(|(share, t)| json!({
            "share": share.id,
            "serial": t.serial,
            "recipient": t.recipient.to_string(),
            "test_token": t.test_token,
        })).collect::<Vec<_>>(),
    });
    Outcome::success(text, json)
}
