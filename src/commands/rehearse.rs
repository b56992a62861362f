//! `keyceremony ceremony rehearse DIR`: the [`RehearsalReport`] of
//! [`crate::rehearse`] as text or JSON.

use std::io::IsTerminal;

use serde_json::json;

use crate::cli::RehearseArgs;
use crate::commands::{with_unseal, Context, Outcome, PrintEvents};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::rehearse::{
    self, ids_text, RehearsalReport, RehearseRequest, ShareStatus, SubsetVerdict,
};

/// Most spoiled subsets listed one by one under a bad share (the rest counted).
const LISTED_SUBSETS: usize = 20;

pub fn run(a: &RehearseArgs, ctx: &Context, console: &mut dyn Console) -> Result<Outcome> {
    if !a.yes && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "ceremony rehearse asks before it opens the outputs: run it at a terminal, or pass --yes"
                .into(),
        ));
    }
    let request = RehearseRequest {
        dir: a.dir.clone(),
        yes: a.yes,
        inputs: with_unseal(&ctx.inputs, &a.unseal),
        lead: a.lead.clone(),
        witnesses: a.witnesses.clone(),
    };
    let report = rehearse::rehearse(&request, console, &mut PrintEvents)?;
    Ok(render(&report))
}

fn render(r: &RehearsalReport) -> Outcome {
    let info = &r.ceremony;
    let t = info.params.threshold();
    let n = info.params.shares();
    let mut text = vec![format!(
        "ceremony {} \"{}\": {t} of {n}, key fingerprint {}",
        info.ceremony_id, info.label, info.fingerprint
    )];
    if let Some(d) = &r.test_tokens {
        text.push(format!("test tokens from {} (TEST MODE)", d.display()));
    }
    let mut outputs_json = Vec::new();
    for o in &r.outputs {
        match &o.problem {
            None => {
                let opened = o
                    .sealed
                    .as_ref()
                    .map(|s| format!(" (sealed to {})", s.token))
                    .unwrap_or_default();
                text.push(format!("OK   {}{opened}: share {}", o.source, o.named_id));
            }
            Some(p) => text.push(format!("BAD  {}: {p}", o.source)),
        }
        outputs_json.push(json!({
            "source": o.source,
            "file": o.file.display().to_string(),
            "share": o.named_id,
            "sha256": o.sha256.map(|d| d.to_hex()),
            "sealed_to": o.sealed.as_ref().map(|s| s.token.clone()),
            "ok": o.problem.is_none(),
            "problem": o.problem.as_ref().map(|p| p.to_string()),
        }));
    }
    let mut shares_json = Vec::new();
    for s in &r.shares {
        let who = s
            .custodian
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let spoiled = r.spoiled_by(s.id);
        let status = match s.status {
            ShareStatus::Good => "good",
            ShareStatus::Bad => "bad",
            ShareStatus::Missing => "missing",
        };
        match s.status {
            ShareStatus::Good => text.push(format!(
                "share {}{who}: good ({} output{})",
                s.id,
                s.outputs.len(),
                if s.outputs.len() == 1 { "" } else { "s" }
            )),
            ShareStatus::Bad | ShareStatus::Missing => {
                text.push(format!(
                    "share {}{who}: {} ({}), spoils {} of {} subsets",
                    s.id,
                    status.to_uppercase(),
                    if s.outputs.is_empty() {
                        "no output of it in the folder".to_string()
                    } else {
                        format!("no usable output: {}", s.outputs.join(", "))
                    },
                    spoiled.len(),
                    r.subsets.len()
                ));
                for x in spoiled.iter().take(LISTED_SUBSETS) {
                    text.push(format!("  spoiled subset {}", ids_text(&x.ids)));
                }
                if spoiled.len() > LISTED_SUBSETS {
                    text.push(format!(
                        "  ... and {} more (all listed with --json)",
                        spoiled.len() - LISTED_SUBSETS
                    ));
                }
            }
        }
        shares_json.push(json!({
            "id": s.id,
            "custodian": s.custodian,
            "status": status,
            "outputs": s.outputs,
            "spoils": spoiled.iter().map(|x| x.ids.clone()).collect::<Vec<_>>(),
        }));
    }
    let mut subsets_json = Vec::new();
    for x in &r.subsets {
        let (verdict, detail) = match &x.verdict {
            SubsetVerdict::Reconstructed => ("reconstructed", json!(null)),
            SubsetVerdict::Failed(why) => {
                text.push(format!("subset {}: FAILED: {why}", ids_text(&x.ids)));
                ("failed", json!(why))
            }
            SubsetVerdict::Spoiled { by } => ("spoiled", json!(by)),
        };
        subsets_json.push(json!({"ids": x.ids, "verdict": verdict, "detail": detail}));
    }
    let reconstructed = r.reconstructed();
    text.push(format!(
        "subsets of {t}: {reconstructed} of {} reconstructed the key with the recorded fingerprint (checked and wiped; {:.1} ms)",
        r.subsets.len(),
        r.subsets_time.as_secs_f64() * 1000.0
    ));
    text.push(format!(
        "rehearsal record: {} ({} lines, signed)",
        r.record.path.display(),
        r.record.lines
    ));
    match &r.chained_to {
        Some(h) => text.push(format!(
            "  check it: keyceremony ceremony verify-transcript {} --chain-from {}",
            r.record.path.display(),
            h.to_hex()
        )),
        None => text.push(
            "  not chained: the folder has no transcript.jsonl (a split without a ceremony run)"
                .into(),
        ),
    }
    text.extend(super::ceremony::word_lines(
        "record final hash",
        &r.record.final_hash,
    ));
    text.push(if r.ok {
        format!(
            "REHEARSAL OK: every output opened, every one of the {} subsets recovers the key",
            r.subsets.len()
        )
    } else {
        "REHEARSAL FAILED: see the BAD lines above".to_string()
    });
    let json = json!({
        "ok": r.ok,
        "ceremony_id": info.ceremony_id.to_string(),
        "key_fingerprint": info.fingerprint.to_string(),
        "threshold": t,
        "shares": n,
        "outputs": outputs_json,
        "share_checks": shares_json,
        "subsets": subsets_json,
        "subsets_tried": r.subsets.len(),
        "subsets_reconstructed": reconstructed,
        "subsets_seconds": r.subsets_time.as_secs_f64(),
        "record": r.record.path.display().to_string(),
        "record_final_hash": r.record.final_hash.to_hex(),
        "chained_to": r.chained_to.map(|h| h.to_hex()),
    });
    let text = text
        .iter()
        .map(|l| super::ceremony::terminal_safe(l))
        .collect();
    Outcome {
        ok: r.ok,
        text,
        json,
        revealed: None,
    }
}
