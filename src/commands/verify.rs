//! `keyceremony verify`: every input alone, then the inputs as a set.

use serde_json::{json, Value};

use crate::cli::VerifyArgs;
use crate::commands::{Context, Outcome};
use crate::error::Result;
use crate::inputs::{self, Item};
use crate::recovery::{self, SetAnalysis};

pub fn run(a: &VerifyArgs, ctx: &Context) -> Result<Outcome> {
    let (items, failures) = inputs::load_all(&a.paths, &ctx.inputs.with_unseal(&a.unseal));
    let mut text = Vec::new();
    let mut inputs_json = Vec::new();
    for f in &failures {
        text.push(format!("BAD  {}: {}", f.source, f.reason));
        inputs_json.push(json!({ "source": f.source, "ok": false, "error": f.reason }));
    }
    for l in &items {
        match &l.item {
            Item::Shard(s) => {
                let who = s
                    .custodian
                    .as_deref()
                    .map(|c| format!(", custodian {c}"))
                    .unwrap_or_default();
                text.push(format!(
                    "OK   {}: share {} of {} (any {} recover), ceremony {}, key fingerprint {}{who}",
                    l.source,
                    s.share.id(),
                    s.info.params.shares(),
                    s.info.params.threshold(),
                    s.info.ceremony_id,
                    s.info.fingerprint
                ));
                inputs_json.push(json!({
                    "source": l.source, "ok": true, "kind": "shard",
                    "ceremony_id": s.info.ceremony_id.to_string(),
                    "id": s.share.id().get(),
                    "threshold": s.info.params.threshold(),
                    "shares": s.info.params.shares(),
                    "key_fingerprint": s.info.fingerprint.to_string(),
                    "custodian": s.custodian,
                }));
            }
            Item::Record(r) => {
                text.push(format!(
                    "OK   {}: ceremony record {} \"{}\", {} of {}, key fingerprint {}",
                    l.source,
                    r.info.ceremony_id,
                    r.info.label,
                    r.info.params.threshold(),
                    r.info.params.shares(),
                    r.info.fingerprint
                ));
                inputs_json.push(json!({
                    "source": l.source, "ok": true, "kind": "record",
                    "ceremony_id": r.info.ceremony_id.to_string(),
                    "key_fingerprint": r.info.fingerprint.to_string(),
                }));
            }
        }
    }

    let analysis = recovery::analyse(items, failures);
    let (set_ok, set_text, set_json) = judge_set(&analysis, a.paths.len());
    let mut problems = analysis.problems();
    // per-file failures were printed above; the set lines add the rest
    problems.retain(|p| {
        !text
            .iter()
            .any(|t| t.starts_with("BAD") && t.ends_with(p.as_str()))
    });
    text.extend(problems.iter().map(|p| format!("BAD  {p}")));
    text.extend(set_text);
    let ok = set_ok && analysis.problems().is_empty();
    text.push(if ok {
        "verify: all good".to_string()
    } else {
        "verify: FAILED (see the BAD lines above)".to_string()
    });
    let json = json!({
        "command": "verify",
        "inputs": inputs_json,
        "set": set_json,
        "problems": analysis.problems(),
    });
    Ok(Outcome {
        ok,
        text,
        json,
        revealed: None,
    })
}

/// The set-level verdict: consistent, and when t or more are present, the
/// reconstructed key matches the recorded fingerprint.
fn judge_set(an: &SetAnalysis, given: usize) -> (bool, Vec<String>, Value) {
    let Some(reference) = &an.reference else {
        return (false, vec![], Value::Null);
    };
    let t = reference.params.threshold() as usize;
    let ids: Vec<u8> = an
        .accepted
        .iter()
        .map(|a| a.shard.share.id().get())
        .collect();
    let mut text = Vec::new();
    let mut ok = true;
    let assembled = if an.can_assemble() {
        match an.assemble() {
            Ok(_key) => {
                text.push(format!(
                    "set: ceremony {} \"{}\": {} good shares of {} present (ids {:?}), any {} recover; \
                     they reconstruct the key with the recorded fingerprint {}",
                    reference.ceremony_id,
                    reference.label,
                    ids.len(),
                    reference.params.shares(),
                    ids,
                    t,
                    reference.fingerprint
                ));
                Some(true)
            }
            Err(e) => {
                ok = false;
                text.push(format!("BAD  set: {e}"));
                Some(false)
            }
        }
    } else {
        if given > 1 || ids.len() > 1 {
            text.push(format!(
                "set: ceremony {}: {} good shares present, {} needed to reconstruct; not reconstructed",
                reference.ceremony_id,
                ids.len(),
                t
            ));
        }
        None
    };
    let json = json!({
        "ceremony_id": reference.ceremony_id.to_string(),
        "label": reference.label,
        "threshold": t,
        "shares": reference.params.shares(),
        "key_fingerprint": reference.fingerprint.to_string(),
        "reference": if an.reference_from_record { "record" } else { "shards" },
        "good_ids": ids,
        "reconstructed_matches_fingerprint": assembled,
    });
    (ok, text, json)
}
