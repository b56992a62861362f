//! How the new shares of `split`, `extend` and `reshare -t/-n` are handed
//! out: sealed to the tokens and recipients named, under the passphrases of
//! `--protect-with-passphrase`, the rest shard files (with QR sheets when
//! asked). Every sealing key is found and every passphrase asked and checked
//! here, before the key exists or any share is read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::bundle::Passphrase;
use crate::commands::Context;
use crate::console::Console;
use crate::error::{Error, Result};
use crate::seal_target::{self, SealTargetRequest};
use crate::split::{OutputKind, ShareReport, Transport};

/// The passphrase options of one command, as typed.
pub(super) struct PassphraseOptions<'a> {
    /// `--protect-with-passphrase N` (share ids, repeat).
    pub protect: &'a [u8],
    /// The `N=FILE` values of `file_option`.
    pub files: &'a [String],
    /// The option that names the new shares' passphrase files, for
    /// messages: `--new-shard-passphrase-file` (split also takes its first
    /// spelling, `--shard-passphrase-file N=FILE`, as an alias).
    pub file_option: &'static str,
    /// `--allow-short-passphrase`.
    pub allow_short: bool,
}

/// The transports of the `count` new shares with ids `first_id..`: the
/// first ones sealed to the tokens and recipients of `seal`, then per share
/// its passphrase if `pass` names it, else a shard file (and, with `qr`, a
/// QR sheet).
pub(super) fn new_share_transports(
    seal: SealTargetRequest,
    pass: &PassphraseOptions,
    qr: bool,
    first_id: u8,
    count: u8,
    ctx: &Context,
    console: &mut dyn Console,
) -> Result<Vec<Transport>> {
    let targets = seal_target::resolve(&seal, count, ctx.inputs.test_tokens.as_deref())?;
    let sealed = targets.len();
    let passphrases = shard_passphrases(pass, first_id, count, sealed, console)?;
    let mut transports: Vec<Transport> = targets.into_iter().map(Transport::Sealed).collect();
    while transports.len() < count as usize {
        let id = first_id + transports.len() as u8;
        transports.push(match passphrases.iter().find(|(i, _)| *i == id) {
            Some((_, pass)) => Transport::Passphrase(pass.clone()),
            None if qr => Transport::QrSheet { shard_file: true },
            None => Transport::ShardFile,
        });
    }
    Ok(transports)
}

/// The passphrase of each share named by `--protect-with-passphrase`: from
/// its `N=FILE`, or asked twice on `console`; each at least the minimum
/// length unless `--allow-short-passphrase`. The `count` new shares have ids
/// `first_id..`, the first `sealed` of them sealed.
fn shard_passphrases(
    a: &PassphraseOptions,
    first_id: u8,
    count: u8,
    sealed: usize,
    console: &mut dyn Console,
) -> Result<Vec<(u8, Arc<Passphrase>)>> {
    let option = a.file_option;
    let mut files: Vec<(u8, PathBuf)> = Vec::new();
    for spec in a.files {
        let (n, file) = spec.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "{option} {spec:?}: give N=FILE, the share id and the file"
            ))
        })?;
        let id: u8 = n
            .parse()
            .map_err(|_| Error::Usage(format!("{option} {spec:?}: {n:?} is not a share id")))?;
        if !a.protect.contains(&id) {
            return Err(Error::Usage(format!(
                "{option} {id}=...: share {id} is not named by --protect-with-passphrase {id}"
            )));
        }
        if files.iter().any(|(i, _)| *i == id) {
            return Err(Error::Usage(format!("{option}: share {id} is given twice")));
        }
        files.push((id, PathBuf::from(file)));
    }
    let last_id = first_id as u16 + count as u16 - 1;
    let mut out: Vec<(u8, Arc<Passphrase>)> = Vec::new();
    for &id in a.protect {
        if id < first_id || id as u16 > last_id {
            let which = if first_id == 1 { "" } else { "new " };
            return Err(Error::Usage(format!(
                "--protect-with-passphrase {id}: the {which}shares are numbered {first_id} to {last_id}"
            )));
        }
        if ((id - first_id) as usize) < sealed {
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
        let pass = new_shard_passphrase(id, file, a.allow_short, console)?;
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

/// The shares a key was reconstructed from, for a line of text:
/// `share 1 (a/shard-1.json), share 3 (a/shard-3.png)`.
pub(super) fn used_text(used: &[(String, u8)]) -> String {
    used.iter()
        .map(|(s, id)| format!("share {id} ({s})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One new share's line: `{what} ID (CUSTODIAN): FILES[, sealed to T]; {checked}`.
pub(super) fn share_line(what: &str, s: &ShareReport, checked: &str) -> String {
    let who = s
        .custodian
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let files: Vec<String> = s
        .outputs
        .iter()
        .map(|o| o.path.display().to_string())
        .collect();
    let sealed = s
        .sealed_to
        .as_ref()
        .map(|t| format!(", sealed to {}", t.label))
        .unwrap_or_default();
    format!(
        "{what} {}{who}: {}{sealed}; {checked}",
        s.id,
        files.join(", ")
    )
}

/// The JSON keys `used`, `new_shares` and `passphrase_protected` of
/// `extend` and `reshare` (docs/json.md).
pub(super) fn new_shares_json(
    used: &[(String, u8)],
    shares: &[ShareReport],
) -> [(&'static str, Value); 3] {
    [
        (
            "used",
            used.iter()
                .map(|(s, id)| json!({"source": s, "id": id}))
                .collect(),
        ),
        (
            "new_shares",
            shares
                .iter()
                .map(|s| json!({
                    "id": s.id,
                    "custodian": s.custodian,
                    "files": s.outputs.iter().map(|o| json!({"path": o.path.display().to_string(), "sha256": o.sha256.to_hex()})).collect::<Vec<_>>(),
                }))
                .collect(),
        ),
        (
            "passphrase_protected",
            shares
                .iter()
                .filter(|s| s.output(OutputKind::PassphraseShard).is_some())
                .map(|s| json!(s.id))
                .collect(),
        ),
    ]
}
