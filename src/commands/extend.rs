//! `keyceremony extend`: the [`ExtendReport`] of [`crate::extend`] as text
//! or JSON.

use serde_json::json;

use crate::cli::ExtendArgs;
use crate::commands::{with_unseal, Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::extend::{self, ExtendReport, ExtendRequest};
use crate::seal_target::{self, SealTargetRequest};
use crate::split::Transport;

/// The transports of `count` new shares (`extend`, `reshare`): sealed to
/// the tokens and recipients named (each found now, before any share is
/// read), the rest shard files, with `qr` also QR sheets.
pub(super) fn new_share_transports(
    seal: SealTargetRequest,
    qr: bool,
    count: u8,
    ctx: &Context,
) -> Result<Vec<Transport>> {
    let targets = seal_target::resolve(&seal, count, ctx.inputs.test_tokens.as_deref())?;
    let mut transports: Vec<Transport> = targets.into_iter().map(Transport::Sealed).collect();
    while transports.len() < count as usize {
        transports.push(if qr {
            Transport::QrSheet { shard_file: true }
        } else {
            Transport::ShardFile
        });
    }
    Ok(transports)
}

pub fn run(
    a: &ExtendArgs,
    ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    if a.add == 0 {
        return Err(Error::Usage("--add: at least one share".into()));
    }
    // every sealing key found before a share is read
    let transports = new_share_transports(
        SealTargetRequest {
            serials: a.seal_to.clone(),
            recipients: a.seal_to_recipient.clone(),
            allow_same_token: a.allow_same_token,
        },
        a.qr,
        a.add,
        ctx,
    )?;
    let request = ExtendRequest {
        record: a.record.clone(),
        shards: a.paths.clone(),
        add: a.add,
        custodians: a.custodians.clone(),
        transports,
        out: a.out.clone(),
        transcript: a.transcript.clone(),
        inputs: with_unseal(&ctx.inputs, &a.unseal),
    };
    let report = extend::extend(&request, console, events)?;
    Ok(render(&report))
}

fn render(r: &ExtendReport) -> Outcome {
    let info = &r.info;
    let mut text = vec![format!(
        "ceremony {} \"{}\": {} of {} shares now (was {}), key fingerprint {} unchanged",
        info.ceremony_id,
        info.label,
        info.params.threshold(),
        info.params.shares(),
        r.previous_shares,
        info.fingerprint
    )];
    text.push(format!(
        "computed from {}",
        r.used
            .iter()
            .map(|(s, id)| format!("share {id} ({s})"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for s in &r.shares {
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
        text.push(format!(
            "new share {}{who}: {}{sealed}; checked back against the commitments",
            s.id,
            files.join(", ")
        ));
    }
    text.push(format!(
        "record: {} (ids 1..{}; the old record is unchanged)",
        r.record.path.display(),
        info.params.shares()
    ));
    text.push(format!(
        "transcript segment: {} ({} lines, signed)",
        r.segment.path.display(),
        r.segment.lines
    ));
    if let Some(h) = &r.chained_to {
        text.push(format!(
            "  check it: keyceremony ceremony verify-transcript {} --chain-from {}",
            r.segment.path.display(),
            h.to_hex()
        ));
    }
    let json = json!({
        "ceremony_id": info.ceremony_id.to_string(),
        "key_fingerprint": info.fingerprint.to_string(),
        "threshold": info.params.threshold(),
        "shares": info.params.shares(),
        "previous_shares": r.previous_shares,
        "used": r.used.iter().map(|(s, id)| json!({"source": s, "id": id})).collect::<Vec<_>>(),
        "new_shares": r.shares.iter().map(|s| json!({
            "id": s.id,
            "custodian": s.custodian,
            "files": s.outputs.iter().map(|o| json!({"path": o.path.display().to_string(), "sha256": o.sha256.to_hex()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "record": r.record.path.display().to_string(),
        "segment": r.segment.path.display().to_string(),
        "segment_final_hash": r.segment.final_hash.to_hex(),
        "chained_to": r.chained_to.map(|h| h.to_hex()),
    });
    let text = text
        .iter()
        .map(|l| super::ceremony::terminal_safe(l))
        .collect();
    Outcome::success(text, json)
}
