//! `keyceremony bundle create|inspect|verify|open`, and the `--bundle-out`
//! output of `assemble`. Thin: arguments in, [`crate::bundle`] does the work.

use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::{
    self, BundleMeta, Contents, Include, Kind, Options, Passphrase, Sealing, Unsealing,
};
use crate::cli::{BundleCommand, BundleUnsealArgs, SealArgs};
use crate::commands::{warn, Context, Outcome};
use crate::error::{Error, Result};
use crate::record::CeremonyId;
use crate::secret::RootKey;

pub fn run(cmd: &BundleCommand, _ctx: &Context) -> Result<Outcome> {
    match cmd {
        BundleCommand::Create(a) => {
            let text = bundle::read_small_file(&a.key_file, "key file")?;
            let text = std::str::from_utf8(&text).map_err(|_| {
                Error::input(&a.key_file, "is not text (64 hex characters expected)")
            })?;
            let key = RootKey::from_hex(text).map_err(|e| Error::input(&a.key_file, e))?;
            let ceremony_id = match &a.ceremony_id {
                None => None,
                Some(s) => Some(CeremonyId::parse(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "--ceremony-id {s:?} is not a ceremony id (KC-XXXX-XXXX-XXXX)"
                    ))
                })?),
            };
            let meta = BundleMeta::new(ceremony_id, &a.label);
            let (text, json) = seal_key(&key, &meta, &a.seal, &a.out, a.force)?;
            let mut json = json;
            json["command"] = json!("bundle create");
            Ok(Outcome::success(text, json))
        }
        BundleCommand::Inspect(a) => inspect(&a.file),
        BundleCommand::Verify(a) => {
            let unsealing = unsealing_for(&a.file, &a.unseal)?;
            let c = bundle::verify(&a.file, &unsealing, &Options::default())?;
            let (mut text, mut json) = describe_contents(&a.file, &c);
            text.insert(
                0,
                format!("{}: verified, everything checks out", a.file.display()),
            );
            json["command"] = json!("bundle verify");
            Ok(Outcome::success(text, json))
        }
        BundleCommand::Open(a) => {
            let unsealing = unsealing_for(&a.file, &a.unseal)?;
            let options = Options {
                force: a.force,
                progress: true,
            };
            let c = bundle::open(&a.file, &unsealing, &a.out, &options)?;
            let (mut text, mut json) = describe_contents(&a.file, &c);
            text.insert(
                0,
                format!(
                    "{}: verified, and wrote {} files into {} (mode 0600)",
                    a.file.display(),
                    c.written.len(),
                    a.out.display()
                ),
            );
            json["command"] = json!("bundle open");
            json["out"] = json!(a.out.display().to_string());
            json["written"] = json!(c
                .written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>());
            Ok(Outcome::success(text, json))
        }
    }
}

/// Whether any sealing option was given (they need a bundle to go with).
pub fn seal_args_given(seal: &SealArgs) -> bool {
    !seal.recipients.is_empty()
        || seal.recipients_file.is_some()
        || seal.nexus_backup
        || seal.passphrase_file.is_some()
        || !seal.includes.is_empty()
}

/// Turns the sealing options into a [`Sealing`]; exactly one way is needed.
pub fn sealing_from(seal: &SealArgs) -> Result<Sealing> {
    let ways = [
        !seal.recipients.is_empty(),
        seal.recipients_file.is_some(),
        seal.nexus_backup,
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if ways != 1 {
        return Err(Error::Usage(
            "say how to seal the bundle: --recipient age1... (repeatable), --recipients-file FILE, \
             or --nexus-backup (with --passphrase-file FILE, or a prompt), exactly one of them"
                .into(),
        ));
    }
    if seal.passphrase_file.is_some() && !seal.nexus_backup {
        return Err(Error::Usage(
            "--passphrase-file goes with --nexus-backup; age bundles are sealed to recipients"
                .into(),
        ));
    }
    if !seal.recipients.is_empty() {
        return Sealing::age_recipients(&seal.recipients);
    }
    if let Some(f) = &seal.recipients_file {
        return Sealing::age_recipients_file(f);
    }
    let pass = match &seal.passphrase_file {
        Some(f) => Passphrase::from_file(f)?,
        None => prompt_new_passphrase()?,
    };
    Ok(Sealing::NexusBackup(pass))
}

fn prompt(question: &str) -> Result<Passphrase> {
    let answer = rpassword::prompt_password(question).map_err(|e| {
        Error::Usage(format!(
            "cannot ask for the passphrase (no terminal? {e}); pass --passphrase-file FILE"
        ))
    })?;
    let answer = zeroize::Zeroizing::new(answer);
    Passphrase::new(answer.as_bytes().to_vec()).map_err(|e| Error::Usage(e.into()))
}

fn prompt_new_passphrase() -> Result<Passphrase> {
    let first = prompt("Passphrase for the Nexus backup: ")?;
    let second = prompt("The same passphrase again: ")?;
    if first.expose() != second.expose() {
        return Err(Error::Usage(
            "the two passphrases differ; nothing was written. Run the command again".into(),
        ));
    }
    Ok(first)
}

fn unsealing_for(file: &Path, u: &BundleUnsealArgs) -> Result<Unsealing> {
    if let Some(id) = &u.identity {
        return Unsealing::identity_file(id);
    }
    if let Some(f) = &u.passphrase_file {
        return Ok(Unsealing::Passphrase(Passphrase::from_file(f)?));
    }
    match bundle::detect(file)? {
        Kind::Age => Err(Error::Usage(format!(
            "{} is an age bundle: give the Nexus age identity with --identity FILE",
            file.display()
        ))),
        Kind::NexusBackup => Ok(Unsealing::Passphrase(prompt(
            "Passphrase of the Nexus backup: ",
        )?)),
    }
}

/// Seals `key` as the options say; shared by `bundle create` and `assemble --bundle-out`.
pub fn seal_key(
    key: &RootKey,
    meta: &BundleMeta,
    seal: &SealArgs,
    out: &Path,
    force: bool,
) -> Result<(Vec<String>, Value)> {
    let mut includes = Vec::new();
    for p in &seal.includes {
        includes.extend(Include::collect(p)?);
    }
    let sealing = sealing_from(seal)?;
    if let Sealing::NexusBackup(_) = sealing {
        let name = out.to_string_lossy();
        if !out.is_dir() && !name.ends_with(bundle::NEXUS_EXTENSION) {
            warn(format!(
                "{}: a Nexus backup is normally named *{}",
                out.display(),
                bundle::NEXUS_EXTENSION
            ));
        }
    }
    let options = Options {
        force,
        progress: true,
    };
    let made = bundle::create(key, meta, &includes, &sealing, out, &options)?;
    let sealed_to = match &sealing {
        Sealing::Age(r) => format!(
            "age, to {} recipient{}",
            r.len(),
            if r.len() == 1 { "" } else { "s" }
        ),
        Sealing::NexusBackup(_) => "Nexus backup (AES-256-GCM, Argon2id passphrase)".into(),
    };
    let text = vec![format!(
        "wrote {} ({}, {} bytes, {} files, key {})",
        made.path.display(),
        sealed_to,
        made.size,
        made.manifest.files.len() + 1,
        made.manifest.key_fingerprint
    )];
    let recipients: Vec<String> = match &sealing {
        Sealing::Age(r) => r.iter().map(|r| r.to_string()).collect(),
        Sealing::NexusBackup(_) => Vec::new(),
    };
    let json = json!({
        "bundle": {
            "path": made.path.display().to_string(),
            "kind": made.kind,
            "size": made.size,
            "recipients": recipients,
            "key_fingerprint": made.manifest.key_fingerprint.to_string(),
            "files": made.manifest.files.iter().map(|f| f.path.clone()).chain(std::iter::once(bundle::MANIFEST_PATH.to_string())).collect::<Vec<_>>(),
        }
    });
    Ok((text, json))
}

fn inspect(file: &Path) -> Result<Outcome> {
    let i = bundle::inspect(file)?;
    let mut text = vec![format!(
        "{}: {} bundle, {} bytes",
        file.display(),
        i.kind,
        i.size
    )];
    match i.kind {
        Kind::Age => {
            text.push(format!("  {} recipient stanza(s):", i.stanzas.len()));
            for s in &i.stanzas {
                let note = if s.kind.ends_with("-grease") {
                    "   (random filler age adds; ignored by readers)"
                } else {
                    ""
                };
                text.push(format!("    {} {}{note}", s.kind, s.args.join(" ")));
            }
        }
        Kind::NexusBackup => {
            if let Some(k) = &i.kdf {
                text.push(format!(
                    "  key derivation: Argon2id t={} m={} KiB p={} (fixed by the format)",
                    k.t, k.m_kib, k.p
                ));
                text.push(format!("  salt {}  nonce {}", k.salt, k.nonce));
            }
        }
    }
    text.push(format!("  encrypted payload {} bytes", i.payload_size));
    for n in &i.notes {
        text.push(format!("  note: {n}"));
    }
    let mut json = serde_json::to_value(&i).expect("serialisable");
    json["command"] = json!("bundle inspect");
    json["path"] = json!(file.display().to_string());
    Ok(Outcome::success(text, json))
}

fn describe_contents(file: &Path, c: &Contents) -> (Vec<String>, Value) {
    let mut text = Vec::new();
    match &c.manifest {
        Some(m) => {
            text.push(format!(
                "  {} bundle of ceremony {} \"{}\", created {}",
                c.kind,
                m.ceremony_id
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "(none)".into()),
                m.label,
                m.created
            ));
            text.push(format!(
                "  key fingerprint {} matches keys/root.key; every file matches its SHA-256",
                m.key_fingerprint
            ));
        }
        None => {
            warn(format!(
                "{}: no manifest.json: a plain Nexus backup, not made by keyceremony. Its \
                 passphrase and tag check out, but there are no file hashes or key fingerprint to check",
                file.display()
            ));
            if let Some(fp) = c.key_fingerprint {
                text.push(format!("  keys/root.key has fingerprint {fp}"));
            }
        }
    }
    text.push(format!("  {} files:", c.files.len()));
    for f in &c.files {
        text.push(format!("    {:>12}  {}", f.size, f.path));
    }
    let json = json!({
        "path": file.display().to_string(),
        "kind": c.kind,
        "manifest": c.manifest.is_some(),
        "ceremony_id": c.manifest.as_ref().and_then(|m| m.ceremony_id.as_ref()).map(|c| c.to_string()),
        "label": c.manifest.as_ref().map(|m| m.label.clone()),
        "created": c.manifest.as_ref().map(|m| m.created.clone()),
        "key_fingerprint": c.key_fingerprint.map(|f| f.to_string()),
        "files": c.files.iter().map(|f| json!({"path": f.path, "size": f.size})).collect::<Vec<_>>(),
    });
    (text, json)
}
