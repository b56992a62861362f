//! `keyceremony extend`: the [`ExtendReport`] of [`crate::extend`] as text
//! or JSON.

use serde_json::json;

use crate::cli::{ExtendArgs, NewPassphraseArgs};
use crate::commands::new_shares::{
    new_share_transports, new_shares_json, share_line, used_text, PassphraseOptions,
};
use crate::commands::{with_unseal, Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::extend::{self, ExtendReport, ExtendRequest};
use crate::seal_target::SealTargetRequest;

/// The passphrase options of `extend` and `reshare` for their new shares.
pub(super) fn passphrase_options(a: &NewPassphraseArgs) -> PassphraseOptions<'_> {
    PassphraseOptions {
        protect: &a.protect_with_passphrase,
        files: &a.new_shard_passphrase_file,
        file_option: "--new-shard-passphrase-file",
        allow_short: a.allow_short_passphrase,
    }
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
    // the new ids follow the record's n; read here only to number the
    // shares --protect-with-passphrase names (extend reads it again)
    let first_id = if a.new_passphrase.protect_with_passphrase.is_empty() {
        1
    } else {
        let (record, _) = crate::rehearse::load_record(&a.record)?;
        extend::extended_params(&record, a.add)?;
        record.info.params.shares() + 1
    };
    // every sealing key found and every passphrase asked before a share is read
    let transports = new_share_transports(
        SealTargetRequest {
            serials: a.seal_to.clone(),
            recipients: a.seal_to_recipient.clone(),
            allow_same_token: a.allow_same_token,
        },
        &passphrase_options(&a.new_passphrase),
        a.qr,
        first_id,
        a.add,
        ctx,
        console,
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
    text.push(format!("computed from {}", used_text(&r.used)));
    for s in &r.shares {
        text.push(share_line(
            "new share",
            s,
            "checked back against the commitments",
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
    let mut json = json!({
        "ceremony_id": info.ceremony_id.to_string(),
        "key_fingerprint": info.fingerprint.to_string(),
        "threshold": info.params.threshold(),
        "shares": info.params.shares(),
        "previous_shares": r.previous_shares,
        "record": r.record.path.display().to_string(),
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
