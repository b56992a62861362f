//! `keyceremony ceremony check-plan | verify-transcript | print-transcript`:
//! renders [`crate::plan`] and [`crate::transcript`].

use std::path::Path;

use serde_json::json;

use crate::cli::{CeremonyCommand, CheckPlanArgs, PrintTranscriptArgs, VerifyTranscriptArgs};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::plan::{BundlePlan, KeySource, Mode, Plan, Transport};
use crate::shard::{self, JsonDocument};
use crate::transcript::{self, Outcome as RunOutcome, VerifiedTranscript, VerifyOptions};

use super::{Context, Outcome};

pub fn run(
    cmd: &CeremonyCommand,
    ctx: &Context,
    console: &mut dyn crate::console::Console,
) -> Result<Outcome> {
    match cmd {
        CeremonyCommand::Run(a) => super::ceremony_run::run(a, ctx, console),
        CeremonyCommand::CheckPlan(a) => check_plan(a),
        CeremonyCommand::VerifyTranscript(a) => verify_transcript(a),
        CeremonyCommand::PrintTranscript(a) => print_transcript(a),
        CeremonyCommand::Rehearse(a) => super::rehearse::run(a, ctx, console),
    }
}

/// A line with control and invisible formatting characters shown escaped
/// (names and paths come from plans, transcripts and the console).
pub(super) fn terminal_safe(line: &str) -> String {
    crate::terminal::escape(line).into_owned()
}

/// The "handed out" and "not handed out" rows of an interrupted run.
pub(super) fn handout_rows(handed_out: &[String], not_handed_out: &[String]) -> [String; 2] {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join("; ")
        }
    };
    [
        format!("  {:<20} {}", "handed out", list(handed_out)),
        format!("  {:<20} {}", "not handed out", list(not_handed_out)),
    ]
}

/// Words in rows of eight, indented under a label.
pub(super) fn word_lines(label: &str, d: &Sha256Digest) -> Vec<String> {
    let words = d.to_words();
    let w: Vec<&str> = words.split(' ').collect();
    let mut out = vec![format!("  {label:<20} {}", d.to_hex())];
    for row in w.chunks(8) {
        out.push(format!("  {:<20} {}", "", row.join(" ")));
    }
    out
}

fn check_plan(a: &CheckPlanArgs) -> Result<Outcome> {
    let plan = Plan::load(&a.plan)?;
    let mut text = vec![format!("{}: OK", a.plan.display())];
    let row = |k: &str, v: String| format!("  {k:<20} {v}");
    text.push(row("label", plan.label.clone()));
    text.push(row(
        "mode",
        match plan.mode {
            Mode::Production => "production".into(),
            Mode::Rehearsal => "REHEARSAL (test tokens allowed; not a real ceremony)".into(),
        },
    ));
    text.push(row("lead", plan.lead.clone()));
    text.push(row(
        "threshold",
        format!(
            "any {} of {} shares recover the key",
            plan.params.threshold(),
            plan.params.shares()
        ),
    ));
    for c in &plan.custodians {
        let how = match &c.transport {
            Transport::File => "shard file".to_string(),
            Transport::Qr => "QR sheet".to_string(),
            Transport::Token { serial } => format!("sealed to YubiKey {serial}"),
            Transport::TestToken { serial } => format!("sealed to TEST TOKEN {serial}"),
            Transport::Recipient { recipient, serial } => match serial {
                Some(s) => format!("sealed to {recipient} (YubiKey {s})"),
                None => format!("sealed to {recipient}"),
            },
            Transport::Passphrase { passphrase_file } => match passphrase_file {
                Some(p) => format!(
                    "under a passphrase (age scrypt), from {}",
                    plan.resolve(p).display()
                ),
                None => "under a passphrase (age scrypt), typed by the custodian".to_string(),
            },
        };
        text.push(row(
            &format!("share {}", c.share_id),
            format!("{}: {how}", c.name),
        ));
    }
    text.push(row(
        "key",
        match &plan.key {
            KeySource::Generate => "generated from the OS random source".into(),
            KeySource::KeyFile(p) => format!("from the key file {}", plan.resolve(p).display()),
            KeySource::Spike { files, threshold } => format!(
                "from SPIKE recovery shards ({} listed, {threshold} needed)",
                files.len()
            ),
            KeySource::SecretFile(p) => format!(
                "a fresh data key; the secret {} is written under it as secret.age",
                plan.resolve(p).display()
            ),
            KeySource::FromShares => {
                "from the shares of an existing ceremony (keyceremony reshare --plan)".into()
            }
        },
    ));
    for b in &plan.bundles {
        text.push(row(
            "bundle",
            match b {
                BundlePlan::Age { recipients, .. } => {
                    format!("age, to {} recipient(s)", recipients.len())
                }
                BundlePlan::NexusBackup {
                    passphrase_file, ..
                } => match passphrase_file {
                    Some(p) => format!(
                        "Nexus backup, passphrase from {}",
                        plan.resolve(p).display()
                    ),
                    None => "Nexus backup, passphrase asked at the console".into(),
                },
            },
        ));
    }
    text.push(row(
        "witnesses",
        if plan.witnesses.is_empty() {
            "none".into()
        } else {
            plan.witnesses.join(", ")
        },
    ));
    for e in &plan.preflight_exceptions {
        text.push(row(
            "preflight allows",
            format!("{} to fail: {}", e.check, e.reason),
        ));
    }
    // files are often brought on a stick at the ceremony: said, not refused
    let mut files = Vec::new();
    for (what, path) in plan.referenced_files() {
        let present = path.is_file() || path.is_dir();
        text.push(row(
            what,
            format!(
                "{} ({})",
                path.display(),
                if present {
                    "present"
                } else {
                    "not found here: bring it to the ceremony"
                }
            ),
        ));
        files.push(json!({"for": what, "source": path.display().to_string(), "present": present}));
    }
    text.extend(word_lines("plan sha256", &plan.sha256));
    let mut json = plan.facts();
    json["files"] = json!(files);
    json["plan_words"] = json!(plan.sha256.to_words());
    Ok(Outcome::success(text, json))
}

fn load_record(path: &Path) -> Result<crate::record::CeremonyRecord> {
    let bytes = crate::input_file::read(path, shard::MAX_JSON_LEN, "ceremony record")?;
    match shard::parse_document(&bytes).map_err(|e| Error::input(path, e))? {
        JsonDocument::Record(r) => Ok(*r),
        JsonDocument::Shard(_) => Err(Error::input(
            path,
            "is a shard file, not the ceremony record (ceremony.json)",
        )),
    }
}

fn options(record: &Option<std::path::PathBuf>, chain_from: Option<&str>) -> Result<VerifyOptions> {
    let record = record.as_deref().map(load_record).transpose()?;
    let chain_from = chain_from
        .map(|h| {
            Sha256Digest::parse_hex(h).ok_or_else(|| {
                Error::Usage(format!(
                    "--chain-from {}: not 64 lowercase hex characters",
                    crate::terminal::escape(h)
                ))
            })
        })
        .transpose()?;
    Ok(VerifyOptions { record, chain_from })
}

fn summary(t: &VerifiedTranscript) -> (Vec<String>, serde_json::Value) {
    let mut text = vec![format!(
        "{}: OK, {} lines, chained and signed",
        t.path.display(),
        t.entries.len()
    )];
    let row = |k: &str, v: String| format!("  {k:<20} {v}");
    text.push(row("label", t.header.label.clone()));
    if t.header.mode == Mode::Rehearsal {
        text.push(row("mode", "REHEARSAL (not a real ceremony)".into()));
    } else {
        text.push(row("mode", "production".into()));
    }
    if !t.ceremony_ids.is_empty() {
        text.push(row("ceremony", t.ceremony_ids.join(", ")));
    }
    text.push(row(
        "started",
        t.entries
            .first()
            .map(|e| e.time.clone())
            .unwrap_or_default(),
    ));
    let outcome = match &t.outcome {
        RunOutcome::Completed => {
            text.push(row("outcome", "completed".into()));
            json!({"completed": true})
        }
        RunOutcome::Interrupted {
            reason,
            handed_out,
            not_handed_out,
        } => {
            text.push(row("outcome", format!("INTERRUPTED: {reason}")));
            text.extend(handout_rows(handed_out, not_handed_out));
            json!({"completed": false, "reason": reason, "handed_out": handed_out, "not_handed_out": not_handed_out})
        }
    };
    text.push(row(
        "ceremony key",
        format!("ed25519 {}", hex::encode(t.public_key)),
    ));
    if let Some(p) = &t.header.plan_sha256 {
        text.push(row("plan sha256", p.to_hex()));
    }
    if !t.chained_to.is_zero() {
        text.push(row("continues", t.chained_to.to_hex()));
    }
    text.extend(word_lines(
        &format!("final hash (line {})", t.final_seq),
        &t.final_hash,
    ));
    let json = json!({
        "source": t.path.display().to_string(),
        "lines": t.entries.len(),
        "label": t.header.label,
        "mode": t.header.mode.as_str(),
        "ceremony_ids": t.ceremony_ids,
        "ceremony_public_key": hex::encode(t.public_key),
        "plan_sha256": t.header.plan_sha256.map(|d| d.to_hex()),
        "chained_to": t.chained_to.to_hex(),
        "final_seq": t.final_seq,
        "final_hash": t.final_hash.to_hex(),
        "final_words": t.final_hash.to_words(),
        "outcome": outcome,
    });
    // every string above came from a verified transcript: canonical JSON, but
    // it may still hold terminal controls as \u escapes
    let text = text.iter().map(|l| terminal_safe(l)).collect();
    (text, json)
}

fn verify_transcript(a: &VerifyTranscriptArgs) -> Result<Outcome> {
    let opts = options(&a.record, a.chain_from.as_deref())?;
    let t = transcript::verify_file(&a.file, &opts)?;
    let (mut text, json) = summary(&t);
    if let Some(r) = &a.record {
        text.insert(
            1,
            format!(
                "  {:<20} {}: its ceremony key signed this transcript",
                "record",
                r.display()
            ),
        );
    }
    Ok(Outcome::success(text, json))
}

fn print_transcript(a: &PrintTranscriptArgs) -> Result<Outcome> {
    let opts = options(&a.record, None)?;
    let t = transcript::verify_file(&a.file, &opts)?;
    let html = transcript::render_html(&t)?;
    crate::atomic_file::write_file(&a.out, html.as_bytes(), a.force)?;
    let (mut text, mut json) = summary(&t);
    text.push(format!("wrote {}", a.out.display()));
    json["html"] = json!(a.out.display().to_string());
    Ok(Outcome::success(text, json))
}
