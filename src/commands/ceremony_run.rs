//! `keyceremony ceremony run PLAN`: renders [`crate::ceremony::run`]. The
//! steps and their facts go to standard output as they happen (standard
//! error with `--json`), events to standard error; the summary last.

use std::io::IsTerminal;

use serde_json::json;

use crate::ceremony::{self, CeremonyReport, Narrator, RunOptions, RunOutcome, Said, StopFlag};
use crate::cli::RunArgs;
use crate::console::Console;
use crate::error::{Error, Result};
use crate::plan::{Mode, Plan};

use super::ceremony::terminal_safe;
use super::{Context, Outcome};

/// Prints what the runner says, as it says it.
struct Printer {
    json: bool,
}

impl Printer {
    fn out(&self, line: &str) {
        let line = terminal_safe(line);
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

impl Narrator for Printer {
    fn say(&mut self, said: Said) {
        match said {
            Said::Step { number, title } => {
                self.out("");
                self.out(&format!("== Step {number}: {title}"));
            }
            Said::Line(l) => self.out(&format!("   {l}")),
            Said::Preflight(report) => {
                for l in super::preflight::render(&report).text {
                    self.out(&format!("   {l}"));
                }
            }
            Said::Event(e) => eprintln!("   {}", terminal_safe(&e.to_string())),
            Said::Warning(w) => eprintln!("   warning: {}", terminal_safe(&w)),
        }
    }
}

pub fn run(args: &RunArgs, ctx: &Context, console: &mut dyn Console) -> Result<Outcome> {
    let plan = Plan::load(&args.plan)?;
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "ceremony run asks the lead to confirm every step: run it at a terminal, or pass --yes (recorded in the transcript)".into(),
        ));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ceremony::default_out(&plan));
    let stop = StopFlag::default();
    let options = RunOptions {
        yes: args.yes,
        test_tokens: ctx.inputs.test_tokens.clone(),
        pin_file: args.unseal.pin_file.clone(),
        last_pin_try: args.unseal.last_pin_try,
        allow_network: args.allow_network,
        stop: stop.clone(),
        ..RunOptions::new(out.clone())
    };
    ceremony::check_can_run(&plan, &options)?;
    stop.install()?;
    let mut printer = Printer { json: ctx.json };
    printer.out(&format!(
        "keyceremony ceremony run {} into {}{}",
        plan.path.display(),
        out.display(),
        if plan.mode == Mode::Rehearsal {
            " (REHEARSAL)"
        } else {
            ""
        }
    ));
    printer.out("Ctrl-C stops the ceremony at the next safe point (the transcript says what was handed out); a second Ctrl-C stops it at once and leaves the transcript unsigned.");
    let report = ceremony::run(&plan, options, console, &mut printer)?;
    Ok(render(&report))
}

fn render(r: &CeremonyReport) -> Outcome {
    let mut text = vec![String::new()];
    let row = |k: &str, v: String| format!("  {k:<20} {v}");
    let outcome_json = match &r.outcome {
        RunOutcome::Completed => {
            text.push(format!(
                "ceremony completed{}",
                if r.mode == Mode::Rehearsal {
                    " (REHEARSAL: not a real ceremony)"
                } else {
                    ""
                }
            ));
            json!({"completed": true})
        }
        RunOutcome::Interrupted {
            stop,
            handed_out,
            not_handed_out,
            scrubbed,
        } => {
            text.push(format!("ceremony INTERRUPTED: {stop}"));
            text.extend(super::ceremony::handout_rows(handed_out, not_handed_out));
            json!({
                "completed": false,
                "reason": stop.to_string(),
                "handed_out": handed_out,
                "not_handed_out": not_handed_out,
                "scrubbed": scrubbed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            })
        }
    };
    text.push(row("outputs", r.out.display().to_string()));
    if let Some(info) = &r.info {
        text.push(row("ceremony", info.ceremony_id.to_string()));
        text.push(row("key fingerprint", info.fingerprint.to_string()));
    }
    text.push(row(
        "transcript",
        format!(
            "{} ({} lines, signed)",
            r.transcript.path.display(),
            r.transcript.lines
        ),
    ));
    if let Some(rec) = &r.record {
        text.push(row("record", rec.path.display().to_string()));
    }
    match (&r.printable, &r.printable_error) {
        (Some(p), _) => text.push(row(
            "printable",
            format!("{} (print it, sign it)", p.display()),
        )),
        (None, Some(e)) => text.push(row("printable", format!("NOT WRITTEN: {e}"))),
        (None, None) => {}
    }
    for s in &r.shares {
        text.push(row(&format!("share {}", s.report.id), s.describe()));
    }
    for b in &r.bundles {
        text.push(row(
            "bundle",
            format!("{} ({})", b.path.display(), b.verified),
        ));
    }
    if let Some(d) = &r.test_tokens {
        text.push(row("test tokens", d.display().to_string()));
    }
    text.push(row(
        "ceremony key",
        format!("ed25519 {}", hex::encode(r.transcript.public_key)),
    ));
    text.extend(super::ceremony::word_lines(
        &format!("final hash (line {})", r.transcript.final_seq),
        &r.transcript.final_hash,
    ));
    text.push(
        "  Witnesses: write the final hash's words down and sign the printed transcript.".into(),
    );
    let json = json!({
        "out": r.out.display().to_string(),
        "mode": r.mode.as_str(),
        "label": r.label,
        "plan_sha256": r.plan_sha256.to_hex(),
        "ceremony_id": r.info.as_ref().map(|i| i.ceremony_id.to_string()),
        "key_fingerprint": r.info.as_ref().map(|i| i.fingerprint.to_string()),
        "transcript": r.transcript.path.display().to_string(),
        "record": r.record.as_ref().map(|x| x.path.display().to_string()),
        "printable": r.printable.as_ref().map(|p| p.display().to_string()),
        "test_tokens": r.test_tokens.as_ref().map(|p| p.display().to_string()),
        "ceremony_public_key": hex::encode(r.transcript.public_key),
        "final_hash": r.transcript.final_hash.to_hex(),
        "final_words": r.transcript.final_hash.to_words(),
        "shares": r.shares.iter().map(|s| json!({
            "share": s.report.id,
            "custodian": s.custodian,
            "transport": s.transport,
            "files": s.report.outputs.iter().map(|o| json!({
                "path": o.path.display().to_string(),
                "sha256": o.sha256.to_hex(),
            })).collect::<Vec<_>>(),
            "receipt_confirmed_by": s.receipt_confirmed_by,
        })).collect::<Vec<_>>(),
        "bundles": r.bundles.iter().map(|b| json!({
            "path": b.path.display().to_string(),
            "format": b.kind.to_string(),
            "sha256": b.sha256.to_hex(),
            "decrypted": b.decrypted,
        })).collect::<Vec<_>>(),
        "outcome": outcome_json,
    });
    let text = text.iter().map(|l| terminal_safe(l)).collect();
    Outcome {
        ok: r.completed(),
        text,
        json,
        revealed: None,
    }
}
