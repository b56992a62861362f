//! `keyceremony verify`: the [`VerifyReport`] of [`crate::verify`] as text
//! or JSON.

use serde_json::{json, Value};

use crate::cli::VerifyArgs;
use crate::commands::{with_unseal, Context, Outcome};
use crate::console::Console;
use crate::error::Result;
use crate::events::EventSink;
use crate::verify::{self, InputVerdict, SetVerdict, VerifyReport};

pub fn run(
    a: &VerifyArgs,
    ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    let mut unsealer = with_unseal(&ctx.inputs, &a.unseal).unsealer();
    let report = match &a.record {
        Some(r) => verify::verify_against_record(r, &a.paths, &mut unsealer, console, events)?,
        None => verify::verify(&a.paths, &mut unsealer, console, events),
    };
    Ok(render(&report))
}

fn render(report: &VerifyReport) -> Outcome {
    let mut text = Vec::new();
    let mut inputs_json = Vec::new();
    for verdict in &report.inputs {
        match verdict {
            InputVerdict::Bad(f) => {
                text.push(format!("BAD  {f}"));
                inputs_json.push(
                    json!({ "source": f.source, "ok": false, "error": f.reason.to_string() }),
                );
            }
            InputVerdict::Shard {
                source,
                facts,
                sealed,
            } => {
                let who = facts
                    .custodian
                    .as_deref()
                    .map(|c| format!(", custodian {c}"))
                    .unwrap_or_default();
                let sealed_to = sealed.as_ref().map(|s| s.token.clone());
                let opened = sealed_to
                    .as_ref()
                    .map(|t| format!(" (sealed to {t})"))
                    .unwrap_or_default();
                text.push(format!(
                    "OK   {source}{opened}: share {} of {} (any {} recover), ceremony {}, key fingerprint {}{who}",
                    facts.id, facts.shares, facts.threshold, facts.ceremony_id, facts.fingerprint
                ));
                inputs_json.push(json!({
                    "source": source, "ok": true, "kind": "shard",
                    "sealed_to": sealed_to,
                    "ceremony_id": facts.ceremony_id.to_string(),
                    "id": facts.id,
                    "threshold": facts.threshold,
                    "shares": facts.shares,
                    "key_fingerprint": facts.fingerprint.to_string(),
                    "custodian": facts.custodian,
                }));
            }
            InputVerdict::Record { source, info } => {
                text.push(format!(
                    "OK   {source}: ceremony record {} \"{}\", {} of {}, key fingerprint {}",
                    info.ceremony_id,
                    info.label,
                    info.params.threshold(),
                    info.params.shares(),
                    info.fingerprint
                ));
                inputs_json.push(json!({
                    "source": source, "ok": true, "kind": "record",
                    "ceremony_id": info.ceremony_id.to_string(),
                    "key_fingerprint": info.fingerprint.to_string(),
                }));
            }
        }
    }
    // the custodian's check: each good shard is of the record named
    let mut belongs_json = Vec::new();
    if let Some(given) = &report.record {
        let info = &given.record.info;
        for v in &report.inputs {
            let InputVerdict::Shard { source, facts, .. } = v else {
                continue;
            };
            let foreign = report.problems.iter().any(
                |p| matches!(p, crate::recovery::SetProblem::Rejected(r) if r.source == *source),
            );
            if foreign || facts.ceremony_id != info.ceremony_id {
                continue;
            }
            let who = given
                .custodian(facts.id)
                .map(|c| format!(", held by {c} per the record"))
                .unwrap_or_default();
            if facts.id > info.params.shares() {
                text.push(format!(
                    "OK   {source}: belongs to ceremony {} of the record {} (same polynomial), but share {} \
                     is not among the record's {} ids: it was added later (keyceremony extend); \
                     check it against the newer record",
                    info.ceremony_id,
                    given.path.display(),
                    facts.id,
                    info.params.shares()
                ));
                belongs_json.push(json!({"source": source, "id": facts.id, "custodian": null, "added_after_record": true}));
                continue;
            }
            text.push(format!(
                "OK   {source}: belongs to ceremony {} of the record {}: share {} of {}{who}",
                info.ceremony_id,
                given.path.display(),
                facts.id,
                info.params.shares()
            ));
            belongs_json.push(
                json!({"source": source, "id": facts.id, "custodian": given.custodian(facts.id)}),
            );
        }
    }
    // per-file failures were printed above; the set lines add the rest
    text.extend(report.set_problems().map(|p| format!("BAD  {p}")));
    let (set_text, set_json) = match &report.set {
        Some(set) => render_set(set),
        None => (Vec::new(), Value::Null),
    };
    text.extend(set_text);
    text.push(if report.ok {
        "verify: all good".to_string()
    } else {
        "verify: FAILED (see the BAD lines above)".to_string()
    });
    let json = json!({
        "command": "verify",
        "inputs": inputs_json,
        "set": set_json,
        "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "record": report.record.as_ref().map(|r| json!({
            "source": r.path.display().to_string(),
            "ceremony_id": r.record.info.ceremony_id.to_string(),
            "belong": belongs_json,
            "supersedes": r.record.supersedes.as_ref().map(|x| json!({
                "ceremony_id": x.ceremony_id.to_string(),
                "record_sha256": x.record_sha256.to_hex(),
                "retired_ids": x.retired_ids,
            })),
            "retired": retired_json(report),
        })),
    });
    Outcome {
        ok: report.ok,
        text,
        json,
        revealed: None,
    }
}

/// The shards the record given says are retired (it supersedes their ceremony).
fn retired_json(report: &VerifyReport) -> Vec<Value> {
    report
        .problems
        .iter()
        .filter_map(|p| match p {
            crate::recovery::SetProblem::Rejected(crate::recovery::Rejected {
                source,
                reason:
                    crate::recovery::Rejection::Retired {
                        ceremony_id,
                        id,
                        retired_by,
                    },
            }) => Some(json!({
                "source": source,
                "ceremony_id": ceremony_id.to_string(),
                "id": id,
                "retired_by": retired_by.to_string(),
            })),
            _ => None,
        })
        .collect()
}

/// The set-level verdict: consistent, and when t or more are present, the
/// reconstructed key matches the recorded fingerprint.
fn render_set(set: &SetVerdict) -> (Vec<String>, Value) {
    let reference = &set.reference;
    let t = reference.params.threshold() as usize;
    let ids = &set.good_ids;
    let mut text = Vec::new();
    match &set.reconstructed {
        Some(Ok(())) => text.push(format!(
            "set: ceremony {} \"{}\": {} good shares of {} present (ids {:?}), any {} recover; \
             they reconstruct the key with the recorded fingerprint {}",
            reference.ceremony_id,
            reference.label,
            ids.len(),
            reference.params.shares(),
            ids,
            t,
            reference.fingerprint
        )),
        Some(Err(e)) => text.push(format!("BAD  set: {e}")),
        None => {
            if set.given > 1 || ids.len() > 1 {
                text.push(format!(
                    "set: ceremony {}: {} good shares present, {} needed to reconstruct; not reconstructed",
                    reference.ceremony_id,
                    ids.len(),
                    t
                ));
            }
        }
    }
    let json = json!({
        "ceremony_id": reference.ceremony_id.to_string(),
        "label": reference.label,
        "threshold": t,
        "shares": reference.params.shares(),
        "key_fingerprint": reference.fingerprint.to_string(),
        "reference": if set.from_record { "record" } else { "shards" },
        "good_ids": ids,
        "reconstructed_matches_fingerprint": set.reconstructed.as_ref().map(|r| r.is_ok()),
    });
    (text, json)
}
