//! `keyceremony assemble`: [`crate::assemble`] with the output the user
//! named, rendered as text or JSON.

use serde_json::json;

use crate::assemble::{self, Delivered, KeyOutput};
use crate::bundle::Include;
use crate::cli::AssembleArgs;
use crate::commands::{with_unseal, Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::secret_file;
use crate::shamir::SplitParams;

pub fn run(
    a: &AssembleArgs,
    ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    let spike_params = match (a.spike_threshold, a.spike_shares) {
        (Some(k), Some(m)) => Some(
            SplitParams::new(k, m)
                .map_err(|e| Error::Usage(format!("--spike-threshold/--spike-shares: {e}")))?,
        ),
        _ => None,
    };

    // bundle (src/commands/bundle.rs)
    if a.bundle_out.is_none() && crate::commands::bundle::seal_args_given(&a.seal) {
        return Err(Error::Usage(
            "--recipient, --recipients-file, --nexus-backup, --passphrase-file and --include \
             go with --bundle-output FILE"
                .into(),
        ));
    }

    let mut unsealer = with_unseal(&ctx.inputs, &a.unseal).unsealer();
    let assembled = assemble::assemble(&a.paths, a.typed, &mut unsealer, console, events)?;
    let report = &assembled.report;
    let reference = &report.reference;

    // Any secret (docs/secrets.md)
    if a.reveal_age_identity {
        let mut line = secret_file::age_identity(&assembled.key);
        line.push('\n');
        return Ok(Outcome {
            ok: true,
            text: vec![format!(
                "reconstructed the data key of ceremony {} \"{}\" from {} shards; it matches the commitments and the fingerprint {}",
                reference.ceremony_id,
                reference.label,
                report.used.len(),
                reference.fingerprint
            )],
            json: json!({
                "command": "assemble",
                "ceremony_id": reference.ceremony_id.to_string(),
                "key_fingerprint": reference.fingerprint.to_string(),
                "used": report.used,
                "output": { "kind": "reveal-age-identity" },
            }),
            revealed: Some(line),
        });
    }
    if let Some(out) = &a.secret_out {
        let Some((record_path, record)) = secret_file::find_record(&a.paths) else {
            return Err(Error::Usage(
                "--secret-output needs the ceremony record (ceremony.json) among the PATHs".into(),
            ));
        };
        let secret = a.secret_in.clone().unwrap_or_else(|| {
            secret_file::secret_path(record_path.parent().unwrap_or(std::path::Path::new(".")))
        });
        let written = secret_file::recover(secret_file::RecoverRequest {
            key: &assembled.key,
            reference,
            record: &record,
            secret: secret.clone(),
            out: out.clone(),
            force: a.force,
        })?;
        let text = vec![
            format!(
                "reconstructed the data key of ceremony {} \"{}\" from {} shards; it matches the commitments and the fingerprint {}",
                reference.ceremony_id,
                reference.label,
                report.used.len(),
                reference.fingerprint
            ),
            format!(
                "{} matches the record (SHA-256 {}, {} bytes); wrote the secret ({} bytes) in the clear to {} (mode 0600)",
                secret.display(),
                written.entry.sha256.to_hex(),
                written.entry.size,
                written.plaintext_size,
                written.path.display()
            ),
        ];
        let json = json!({
            "command": "assemble",
            "ceremony_id": reference.ceremony_id.to_string(),
            "key_fingerprint": reference.fingerprint.to_string(),
            "used": report.used,
            "left_out": report.left_out.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "output": {
                "kind": "secret",
                "path": written.path.display().to_string(),
                "source": secret.display().to_string(),
                "sha256": written.entry.sha256.to_hex(),
                "size": written.plaintext_size,
            },
        });
        return Ok(Outcome::success(text, json));
    }

    let output = if a.reveal {
        KeyOutput::Reveal
    } else if let Some(path) = &a.key_out {
        KeyOutput::KeyFile {
            path: path.clone(),
            force: a.force,
        }
    } else if let Some(dir) = &a.spike_out {
        KeyOutput::Spike {
            dir: dir.clone(),
            params: spike_params.expect("clap requires both SPIKE options"),
            force: a.force,
        }
    } else if let Some(out) = &a.bundle_out {
        // bundle (src/commands/bundle.rs)
        let mut includes = Vec::new();
        for p in &a.seal.includes {
            includes.extend(Include::collect(p)?);
        }
        KeyOutput::Bundle {
            includes,
            sealing: crate::commands::bundle::sealing_from(&a.seal, console)?,
            out: out.clone(),
            force: a.force,
        }
    } else {
        KeyOutput::DryRun
    };
    let delivered = assemble::deliver(&assembled.key, reference, output, events)?;

    let mut text = vec![format!(
        "reconstructed the key of ceremony {} \"{}\" from {} shards; it matches the commitments and the fingerprint {}",
        reference.ceremony_id,
        reference.label,
        report.used.len(),
        reference.fingerprint
    )];
    let mut json = json!({
        "command": "assemble",
        "ceremony_id": reference.ceremony_id.to_string(),
        "key_fingerprint": reference.fingerprint.to_string(),
        "used": report.used,
        "left_out": report.left_out.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    });
    let mut revealed = None;
    match delivered {
        Delivered::Revealed(line) => {
            revealed = Some(line);
            json["output"] = json!({ "kind": "reveal" });
        }
        Delivered::KeyFile(path) => {
            text.push(format!(
                "wrote the key in the clear to {} (mode 0600)",
                path.display()
            ));
            json["output"] = json!({ "kind": "key-file", "path": path.display().to_string() });
        }
        Delivered::Spike { params, files } => {
            let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
            text.push(format!(
                "wrote {} SPIKE recovery shards (any {} restore) to {}",
                files.len(),
                params.threshold(),
                a.spike_out.as_ref().expect("a SPIKE folder").display()
            ));
            json["output"] =
                json!({ "kind": "spike", "threshold": params.threshold(), "files": files });
        }
        Delivered::Bundle(sealed) => {
            let (lines, made) = crate::commands::bundle::describe_sealed(&sealed);
            text.extend(lines);
            let mut output = made["bundle"].clone();
            output["kind"] = json!("bundle");
            json["output"] = output;
        }
        Delivered::DryRun => {
            text.push("dry run: nothing written".into());
            json["output"] = json!({ "kind": "dry-run" });
        }
    }
    Ok(Outcome {
        ok: true,
        text,
        json,
        revealed,
    })
}
