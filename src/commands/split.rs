//! `keyceremony split`: the arguments as a [`SplitRequest`], the
//! [`SplitReport`] as text or JSON. The work is in [`crate::split`].

use serde_json::json;

use crate::cli::SplitArgs;
use crate::commands::new_shares::{new_share_transports, PassphraseOptions};
use crate::commands::{Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::seal_target::SealTargetRequest;
use crate::secret_file::{self, SecretSource};
use crate::shamir::SplitParams;
use crate::split::{self, KeySource, OutputKind, SplitReport, SplitRequest};

pub fn run(a: &SplitArgs, ctx: &Context, console: &mut dyn Console) -> Result<Outcome> {
    let params = SplitParams::new(a.threshold, a.shares)
        .map_err(|e| Error::Usage(format!("--threshold/--shares: {e}")))?;
    split::check_names(&a.label, &a.custodians, params.shares())?;
    if a.qr {
        crate::qr::check_threshold(params)?;
    }

    // Every sealing key found and every passphrase asked and checked before
    // the key exists. Shares after the sealed ones: passphrase shards as
    // named, else shard files, with QR outputs when asked (only for shares
    // not sealed to a token or under a passphrase: a sheet is the share in
    // the clear)
    let transports = new_share_transports(
        SealTargetRequest {
            serials: a.seal_to.clone(),
            recipients: a.seal_to_recipient.clone(),
            allow_same_token: a.allow_same_token,
        },
        &PassphraseOptions {
            protect: &a.protect_with_passphrase,
            files: &a.shard_passphrase_file,
            file_option: "--new-shard-passphrase-file",
            allow_short: a.allow_short_passphrase,
        },
        a.qr,
        1,
        params.shares(),
        ctx,
        console,
    )?;
    let key = key_source(a)?;
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
