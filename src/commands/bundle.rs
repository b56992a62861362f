//! `keyceremony bundle create|inspect|verify|open`, and the `--bundle-output`
//! output of `assemble`. A renderer: arguments in, [`crate::bundle`] does
//! the work, its reports out as text or JSON.

use crate::terminal::Shown;
use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::{
    self, BundleMeta, Contents, Include, Kind, Options, Passphrase, Sealed, Sealing, Unsealing,
};
use crate::cli::{BundleCommand, BundleUnsealArgs, SealArgs};
use crate::commands::{Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::record::CeremonyId;

pub fn run(
    cmd: &BundleCommand,
    _ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    match cmd {
        BundleCommand::Create(a) => {
            let key = bundle::read_key_file(&a.key_file)?;
            let ceremony_id = match &a.ceremony_id {
                None => None,
                Some(s) => Some(CeremonyId::parse(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "--ceremony-id {s:?} is not a ceremony id (KC-XXXX-XXXX-XXXX)"
                    ))
                })?),
            };
            let meta = BundleMeta::new(ceremony_id, &a.label);
            let mut includes = Vec::new();
            for p in &a.seal.includes {
                includes.extend(Include::collect(p)?);
            }
            let sealing = sealing_from(&a.seal, console)?;
            let sealed = bundle::seal_key(
                &key,
                bundle::SealRequest {
                    meta,
                    includes,
                    sealing,
                    out: a.out.clone(),
                    force: a.force,
                },
                events,
            )?;
            let (text, mut json) = describe_sealed(&sealed);
            json["command"] = json!("bundle create");
            Ok(Outcome::success(text, json))
        }
        BundleCommand::Inspect(a) => inspect(&a.file),
        BundleCommand::Verify(a) => {
            let unsealing = unsealing(&a.file, &a.unseal, console)?;
            let c = bundle::verify_bundle(&a.file, &unsealing, &Options::default(), events)?;
            let (mut text, mut json) = describe_contents(&a.file, &c);
            text.insert(
                0,
                format!("{}: verified, everything checks out", a.file.display()),
            );
            json["command"] = json!("bundle verify");
            Ok(Outcome::success(text, json))
        }
        BundleCommand::Open(a) => {
            let unsealing = unsealing(&a.file, &a.unseal, console)?;
            let options = Options {
                force: a.force,
                ..Options::default()
            };
            let c = bundle::open_bundle(&a.file, &unsealing, &a.out, &options, events)?;
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

/// What opens the bundle, from `--identity` / `--passphrase-file` or a prompt.
fn unsealing(file: &Path, u: &BundleUnsealArgs, console: &mut dyn Console) -> Result<Unsealing> {
    bundle::unsealing_for(file, &u.identities, u.passphrase_file.as_deref(), console)
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
/// Without a passphrase file, a Nexus backup's passphrase is asked twice.
pub fn sealing_from(seal: &SealArgs, console: &mut dyn Console) -> Result<Sealing> {
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
        None => bundle::ask_new_passphrase(console)?,
    };
    bundle::check_new_passphrase(
        &pass,
        seal.passphrase_file.as_deref(),
        seal.allow_short_passphrase,
    )?;
    Ok(Sealing::NexusBackup(pass))
}

/// What a new bundle is, for `bundle create` and `assemble --bundle-output`.
pub fn describe_sealed(sealed: &Sealed) -> (Vec<String>, Value) {
    let made = &sealed.created;
    let sealed_to = match made.kind {
        Kind::Age => format!(
            "age, to {} recipient{}",
            sealed.recipients.len(),
            if sealed.recipients.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
        Kind::NexusBackup => "Nexus backup (AES-256-GCM, Argon2id passphrase)".into(),
    };
    let text = vec![format!(
        "wrote {} ({}, {} bytes, {} files, key {})",
        made.path.display(),
        sealed_to,
        made.size,
        made.manifest.files.len() + 1,
        made.manifest.key_fingerprint
    )];
    let json = json!({
        "bundle": {
            "path": made.path.display().to_string(),
            "format": made.kind,
            "size": made.size,
            "recipients": sealed.recipients,
            "key_fingerprint": made.manifest.key_fingerprint.to_string(),
            "files": made.manifest.files.iter().map(|f| f.path.clone()).chain(std::iter::once(bundle::MANIFEST_PATH.to_string())).collect::<Vec<_>>(),
        }
    });
    (text, json)
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
                // stanza types and arguments are whatever the file says
                text.push(format!(
                    "    {} {}{note}",
                    Shown(&s.kind),
                    Shown(&s.args.join(" "))
                ));
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
    json["source"] = json!(file.display().to_string());
    // the bundle's type is `format` in every document (docs/json.md)
    if let Some(kind) = json.as_object_mut().and_then(|o| o.remove("kind")) {
        json["format"] = kind;
    }
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
                Shown(&m.label),
                Shown(&m.created)
            ));
            text.push(format!(
                "  key fingerprint {} matches keys/root.key; every file matches its SHA-256",
                m.key_fingerprint
            ));
        }
        None => {
            if let Some(fp) = c.key_fingerprint {
                text.push(format!("  keys/root.key has fingerprint {fp}"));
            }
        }
    }
    text.push(format!("  {} files:", c.files.len()));
    for f in &c.files {
        // entry names come from the archive: a newline or ESC is shown, not obeyed
        text.push(format!("    {:>12}  {}", f.size, Shown(&f.path)));
    }
    let json = json!({
        "source": file.display().to_string(),
        "format": c.kind,
        "manifest": c.manifest.is_some(),
        "ceremony_id": c.manifest.as_ref().and_then(|m| m.ceremony_id.as_ref()).map(|c| c.to_string()),
        "label": c.manifest.as_ref().map(|m| m.label.clone()),
        "created": c.manifest.as_ref().map(|m| m.created.clone()),
        "key_fingerprint": c.key_fingerprint.map(|f| f.to_string()),
        "files": c.files.iter().map(|f| json!({"path": f.path, "size": f.size})).collect::<Vec<_>>(),
    });
    (text, json)
}
