//! `keyceremony preflight`: renders [`crate::preflight::run_live`].

use crate::cli::PreflightArgs;
use crate::error::Result;
use crate::plan::{Mode, Plan};
use crate::preflight::{self, PreflightOptions, PreflightReport, Status};

use super::{Context, Outcome};

pub fn run(args: &PreflightArgs, ctx: &Context) -> Result<Outcome> {
    let mut opts = PreflightOptions {
        mode: if args.rehearsal {
            Mode::Rehearsal
        } else {
            Mode::Production
        },
        allow_network: args.allow_network,
        exceptions: Vec::new(),
        test_tokens: ctx.inputs.test_tokens.clone(),
    };
    if let Some(path) = &args.plan {
        let plan = Plan::load(path)?;
        opts.mode = plan.mode;
        opts.exceptions = plan.preflight_exceptions.clone();
    }
    let report = preflight::run_live(&opts);
    Ok(render(&report))
}

/// Text and JSON for a report; the ceremony runner shows the same lines.
pub fn render(report: &PreflightReport) -> Outcome {
    let mut text = vec![format!("preflight ({} mode)", report.mode)];
    for c in &report.checks {
        let tag = match c.status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        text.push(format!("{tag}  {:<12} {}", c.id.as_str(), c.summary));
        if let Some(reason) = &c.allowed_by_plan {
            text.push(format!("      allowed by the plan: {reason}"));
        }
        for e in &c.evidence {
            text.push(format!("      - {e}"));
        }
    }
    let warnings = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    let blocking = report.blocking();
    if blocking.is_empty() {
        let allowed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.id.as_str())
            .collect();
        let mut line = format!("result: OK ({warnings} warning(s))");
        if !allowed.is_empty() {
            line.push_str(&format!(
                "; failed but allowed by the plan: {}",
                allowed.join(", ")
            ));
        }
        text.push(line);
    } else {
        let names: Vec<&str> = blocking.iter().map(|c| c.id.as_str()).collect();
        text.push(format!(
            "result: FAILED: {} (fix them, or, in production, allow them by name in the plan's [preflight] with a reason)",
            names.join(", ")
        ));
    }
    Outcome {
        ok: report.passed(),
        text,
        json: report.facts(),
        revealed: None,
    }
}
