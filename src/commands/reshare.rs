//! `keyceremony reshare`: the [`ReshareReport`] of [`crate::reshare`] as
//! text or JSON.

use serde_json::json;

use crate::cli::ReshareArgs;
use crate::commands::extend::passphrase_options;
use crate::commands::new_shares::{new_share_transports, new_shares_json, share_line, used_text};
use crate::commands::{with_unseal, Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::plan::Plan;
use crate::reshare::{self, ReshareReport, ReshareRequest};
use crate::seal_target::SealTargetRequest;
use crate::shamir::SplitParams;

pub fn run(
    a: &ReshareArgs,
    ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    let (params, label, custodians, transports, plan) = match &a.plan {
        Some(p) => {
            let plan = Plan::load(p)?;
            let (params, label, custodians, transports) =
                reshare::from_plan(&plan, ctx.inputs.test_tokens.as_deref(), console)?;
            (params, Some(label), custodians, transports, Some(plan))
        }
        None => {
            let (t, n) = (a.threshold.unwrap_or(0), a.shares.unwrap_or(0));
            let params =
                SplitParams::new(t, n).map_err(|e| Error::Usage(format!("-t {t} -n {n}: {e}")))?;
            let transports = new_share_transports(
                SealTargetRequest {
                    serials: a.seal_to.clone(),
                    recipients: a.seal_to_recipient.clone(),
                    allow_same_token: a.allow_same_token,
                },
                &passphrase_options(&a.new_passphrase),
                a.qr,
                1,
                params.shares(),
                ctx,
                console,
            )?;
            (
                params,
                a.label.clone(),
                a.custodians.clone(),
                transports,
                None,
            )
        }
    };
    let request = ReshareRequest {
        record: a.record.clone(),
        shards: a.paths.clone(),
        params,
        label,
        custodians,
        transports,
        out: a.out.clone(),
        transcript: a.transcript.clone(),
        inputs: with_unseal(&ctx.inputs, &a.unseal),
        plan,
    };
    let report = reshare::reshare(&request, console, events)?;
    Ok(render(&report))
}

fn render(r: &ReshareReport) -> Outcome {
    let (a, b) = (&r.previous, &r.info);
    let mut text = vec![
        format!(
            "new ceremony {} \"{}\": {} of {}, key fingerprint {} (unchanged)",
            b.ceremony_id,
            b.label,
            b.params.threshold(),
            b.params.shares(),
            b.fingerprint
        ),
        format!(
            "key reconstructed (never shown) from {}",
            used_text(&r.used)
        ),
    ];
    for s in &r.shares {
        text.push(share_line("share", s, "checked back"));
    }
    text.push(format!(
        "transcript segment: {} ({} lines, signed)",
        r.segment.path.display(),
        r.segment.lines
    ));
    text.push(format!(
        "record: {} (version 2): supersedes ceremony {} ({} of {}); its shares {} are RETIRED",
        r.record.path.display(),
        a.ceremony_id,
        a.params.threshold(),
        a.params.shares(),
        r.supersedes
            .retired_ids
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text.push(
        "  hand out the new shares, then collect and destroy the old ones; the old files were not touched"
            .into(),
    );
    let mut json = json!({
        "ceremony_id": b.ceremony_id.to_string(),
        "key_fingerprint": b.fingerprint.to_string(),
        "threshold": b.params.threshold(),
        "shares": b.params.shares(),
        "supersedes": {
            "ceremony_id": r.supersedes.ceremony_id.to_string(),
            "record_sha256": r.supersedes.record_sha256.to_hex(),
            "retired_ids": r.supersedes.retired_ids,
        },
        "record": r.record.path.display().to_string(),
        "record_sha256": r.record.sha256.to_hex(),
        "segment": r.segment.path.display().to_string(),
        "segment_final_hash": r.segment.final_hash.to_hex(),
        "chained_to": r.chained_to.map(|h| h.to_hex()),
    });
    for (k, v) in new_shares_json(&r.used, &r.shares) {
        json[k] = v;
    }
    let text = text
        .iter()
        .map(|l| super::ceremony::terminal_safe(l))
        .collect();
    Outcome::success(text, json)
}
