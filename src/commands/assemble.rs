//! `keyceremony assemble`: at least t good shards in, the key out only in
//! the form the user named, after it has been checked.

use serde_json::json;
use zeroize::Zeroizing;

use crate::atomic_file;
use crate::cli::AssembleArgs;
use crate::commands::{warn, Context, Outcome};
use crate::error::{Error, Result};
use crate::inputs;
use crate::recovery;
use crate::shamir::SplitParams;
use crate::spike;

pub fn run(a: &AssembleArgs, ctx: &Context) -> Result<Outcome> {
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
             go with --bundle-out FILE"
                .into(),
        ));
    }

    let (mut items, failures) = inputs::load_all(&a.paths, &ctx.inputs.with_unseal(&a.unseal));
    // --type reads one share typed from a sheet's fallback lines
    if a.typed {
        let shard = crate::qr::read_typed_share(std::io::stdin().lock(), &mut std::io::stderr())?;
        items.push(inputs::Loaded {
            source: "typed share".into(),
            item: inputs::Item::Shard(Box::new(shard)),
        });
    }
    let an = recovery::analyse(items, failures);
    if let Some(c) = &an.conflict {
        return Err(Error::Check(c.clone()));
    }
    if !an.foreign.is_empty() {
        let lines: Vec<String> = an
            .foreign
            .iter()
            .map(|r| format!("{}: {}", r.source, r.reason))
            .collect();
        return Err(Error::Check(format!(
            "shards of more than one ceremony were given; remove the ones that do not belong: {}",
            lines.join("; ")
        )));
    }
    let Some(reference) = an.reference.clone() else {
        let lines: Vec<String> = an
            .rejected
            .iter()
            .map(|r| format!("{}: {}", r.source, r.reason))
            .collect();
        return Err(Error::Check(format!(
            "no usable shard: {}",
            lines.join("; ")
        )));
    };
    if !an.can_assemble() {
        let mut msg = format!(
            "need {} good shards of ceremony {}, have {}",
            reference.params.threshold(),
            reference.ceremony_id,
            an.accepted.len()
        );
        for p in an.problems() {
            msg.push_str(&format!("\n  left out {p}"));
        }
        return Err(Error::Check(msg));
    }
    for p in an.problems() {
        warn(format!("left out {p}"));
    }
    let key = an.assemble().map_err(Error::Check)?;
    let used: Vec<String> = an.accepted.iter().map(|x| x.source.clone()).collect();
    let left_out = an.problems();

    let mut text = vec![format!(
        "reconstructed the key of ceremony {} \"{}\" from {} shards; it matches the commitments and the fingerprint {}",
        reference.ceremony_id,
        reference.label,
        used.len(),
        reference.fingerprint
    )];
    let mut json = json!({
        "command": "assemble",
        "ceremony_id": reference.ceremony_id.to_string(),
        "key_fingerprint": reference.fingerprint.to_string(),
        "used": used,
        "left_out": left_out,
    });
    let mut revealed = None;
    if a.reveal {
        let mut line = Zeroizing::new(key.to_hex().to_string());
        line.push('\n');
        revealed = Some(line);
        json["output"] = json!({ "kind": "reveal" });
    } else if let Some(path) = &a.key_out {
        let mut line = key.to_hex();
        line.push('\n');
        atomic_file::write_file(path, line.as_bytes(), a.force)?;
        text.push(format!(
            "wrote the key in the clear to {} (mode 0600)",
            path.display()
        ));
        json["output"] = json!({ "kind": "key-file", "path": path.display().to_string() });
    } else if let Some(dir) = &a.spike_out {
        let params = spike_params.expect("clap requires both SPIKE options");
        let written = spike::write_dir(&key, params, dir, a.force)?;
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        text.push(format!(
            "wrote {} SPIKE recovery shards (any {} restore) to {}",
            files.len(),
            params.threshold(),
            dir.display()
        ));
        json["output"] =
            json!({ "kind": "spike", "threshold": params.threshold(), "files": files });
    } else if let Some(out) = &a.bundle_out {
        // bundle (src/commands/bundle.rs)
        let meta =
            crate::bundle::BundleMeta::new(Some(reference.ceremony_id.clone()), &reference.label);
        let (lines, sealed) =
            crate::commands::bundle::seal_key(&key, &meta, &a.seal, out, a.force)?;
        text.extend(lines);
        let mut output = sealed["bundle"].clone();
        output["kind"] = json!("bundle");
        output["format"] = sealed["bundle"]["kind"].clone();
        json["output"] = output;
    } else {
        text.push("dry run: nothing written".into());
        json["output"] = json!({ "kind": "dry-run" });
    }
    Ok(Outcome {
        ok: true,
        text,
        json,
        revealed,
    })
}
