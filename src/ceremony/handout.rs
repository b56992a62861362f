//! The `share` step, one custodian at a time: their output written, checked
//! back before anyone moves on, and their receipt confirmed.
//!
//! | transport | check-back |
//! |---|---|
//! | `file` | `shard-<i>.json` re-read and compared with the share |
//! | `qr` | the written `shard-<i>.png` decoded; then, when the lead gives one, a scan or photo of the printed sheet |
//! | `token`, `test-token` | `shard-<i>.age` compared byte for byte, then unsealed on the custodian's token with their PIN and touch, and the token's serial checked |
//! | `recipient` | byte for byte; unsealed as above when the plan names the token's serial |
//! | `passphrase` | `shard-<i>.json.age` compared byte for byte, then opened with the passphrase: typed again by the custodian, or read from the plan's `passphrase_file` |
//!
//! A token that fails (wrong PIN, pulled out, no touch) or a scan that does
//! not decode may be retried when the lead says so (never with `--yes`);
//! otherwise the run stops, and this share's files are scrubbed.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{file_name, Relay, Runner, Said, Stop};
use crate::check_back;
use crate::digest::Sha256Digest;
use crate::error::Error;
use crate::plan::Transport as PlanTransport;
use crate::seal::{SealedWith, Unsealer};
use crate::seal_target::SealTarget;
use crate::split::{self, OutputKind, ShareReport, Shares, Transport};
use crate::token::{PinSource, TokenError};

const STEP: &str = "share";
/// Longest scan path read at the console.
const MAX_SCAN_PATH: usize = 4096;
/// Check-back attempts per share when the lead asks to retry.
const MAX_ATTEMPTS: usize = 3;

/// One way a share's output was proven.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckBack {
    /// The shard file re-read: it holds exactly the share.
    ShardFileReread,
    /// The written PNG decoded: one of its codes is the share.
    QrImageDecoded,
    /// A scan or photo of the printed sheet decoded.
    QrScanDecoded { scan: PathBuf, sha256: Sha256Digest },
    /// The lead gave no scan of the printed sheet.
    NoScanGiven,
    /// The sealed file is byte for byte what was sealed.
    SealedFileCompared,
    /// Unsealed on the custodian's token with PIN and touch.
    Unsealed(SealedWith),
    /// A `recipient` share with no token named: not unsealed.
    NotUnsealedNoToken,
    /// A passphrase shard opened with the passphrase typed again by the
    /// custodian (`from_file`: read from the plan's passphrase file instead).
    PassphraseOpened { from_file: bool },
}

impl CheckBack {
    fn facts(&self) -> Value {
        match self {
            CheckBack::ShardFileReread => json!({"check": "shard file re-read and verified"}),
            CheckBack::QrImageDecoded => json!({"check": "written QR image decoded"}),
            CheckBack::QrScanDecoded { scan, sha256 } => json!({
                "check": "scan of the printed sheet decoded",
                "scan": scan.display().to_string(),
                "scan_sha256": sha256.to_hex(),
            }),
            CheckBack::NoScanGiven => json!({"check": "no scan of the printed sheet given"}),
            CheckBack::SealedFileCompared => {
                json!({"check": "sealed file compared byte for byte"})
            }
            CheckBack::Unsealed(w) => json!({
                "check": "unsealed on the custodian's token with PIN and touch",
                "token": w.token,
                "serial": w.serial,
                "slot": w.slot.to_string(),
                "test_token": w.test_token,
            }),
            CheckBack::NotUnsealedNoToken => json!({
                "check": "not unsealed: the plan names no token serial for this recipient",
            }),
            CheckBack::PassphraseOpened { from_file: false } => json!({
                "check": "opened with the passphrase typed again by the custodian",
            }),
            CheckBack::PassphraseOpened { from_file: true } => json!({
                "check": "opened with the passphrase from the plan's passphrase file",
            }),
        }
    }
}

/// A share handed out: what was written, how it was proven, who took it.
#[derive(Clone, Debug)]
pub struct ShareHandout {
    pub report: ShareReport,
    pub custodian: String,
    /// The plan's transport kind (`file`, `qr`, `token`, `test-token`, `recipient`).
    pub transport: &'static str,
    pub checks: Vec<CheckBack>,
    /// The custodian's name, or `--yes`.
    pub receipt_confirmed_by: String,
}

impl ShareHandout {
    /// "share 1 (Alice): shard-1.json", as the transcript lists it.
    pub fn describe(&self) -> String {
        let files: Vec<String> = self
            .report
            .outputs
            .iter()
            .map(|o| file_name(&o.path))
            .collect();
        format!(
            "share {} ({}): {}",
            self.report.id,
            self.custodian,
            files.join(", ")
        )
    }
}

/// True when `path` is one of share `id`'s outputs (`shard-<id>.*`).
pub(super) fn belongs_to(path: &Path, id: u8) -> bool {
    let name = file_name(path);
    name.strip_prefix(&format!("shard-{id}."))
        .is_some_and(|rest| !rest.contains('.') || rest == "json.age")
}

impl Runner<'_> {
    pub(super) fn step_share(&mut self, shares: &Shares, index: usize) -> Result<(), Stop> {
        let plan = self.plan;
        let c = &plan.custodians[index];
        self.begin(
            STEP,
            &format!(
                "share {} of {}: {} ({})",
                c.share_id,
                plan.custodians.len(),
                c.name,
                c.transport.kind()
            ),
        )?;
        let transport = match (&c.transport, &self.targets.get(index)) {
            (PlanTransport::File, _) => Transport::ShardFile,
            (PlanTransport::Qr, _) => Transport::QrSheet { shard_file: false },
            (PlanTransport::Passphrase { passphrase_file }, _) => {
                let file = passphrase_file.as_ref().map(|p| plan.resolve(p));
                Transport::Passphrase(std::sync::Arc::new(self.new_passphrase(
                    c.share_id,
                    &c.name,
                    file.as_deref(),
                )?))
            }
            (_, Some(Some(t))) => Transport::Sealed(t.clone()),
            (_, _) => {
                return Err(Stop::Failed {
                    step: STEP.into(),
                    error: Error::Check(format!(
                        "share {}: no seal target was resolved (internal error)",
                        c.share_id
                    )),
                })
            }
        };
        let out = self.opts.out.clone();
        let report = split::write_share(shares, index, &transport, &out, false)
            .map_err(Runner::failed(STEP))?;
        self.pending
            .extend(report.outputs.iter().map(|o| o.path.clone()));
        for o in &report.outputs {
            self.line(format!(
                "wrote {} (SHA-256 {})",
                file_name(&o.path),
                o.sha256.to_hex()
            ));
        }
        if let Some(v) = report.qr_version {
            self.line(format!("QR version {v}, error correction H"));
        }
        let expected = shares
            .shard(report.id)
            .expect("the share just written belongs to the split");

        let mut heard = Vec::new();
        let mut checks = Vec::new();
        match &transport {
            Transport::ShardFile => {
                let f = report
                    .output(OutputKind::ShardFile)
                    .expect("a shard file was written");
                check_back::shard_file(&f.path, expected).map_err(Runner::failed(STEP))?;
                checks.push(CheckBack::ShardFileReread);
                self.line(format!("{}: re-read and verified", file_name(&f.path)));
            }
            Transport::QrSheet { .. } => {
                let png = report.output(OutputKind::QrPng).expect("a PNG was written");
                check_back::qr_image(&png.path, expected).map_err(Runner::failed(STEP))?;
                checks.push(CheckBack::QrImageDecoded);
                self.line(format!(
                    "{}: decoded from the written image",
                    file_name(&png.path)
                ));
                checks.push(self.scan_check(expected, report.id)?);
            }
            Transport::Passphrase(_) => {
                let f = report
                    .output(OutputKind::PassphraseShard)
                    .expect("a passphrase shard was written");
                check_back::sealed_file(&f.path, &f.sha256).map_err(Runner::failed(STEP))?;
                checks.push(CheckBack::SealedFileCompared);
                let file = match &c.transport {
                    PlanTransport::Passphrase { passphrase_file } => {
                        passphrase_file.as_ref().map(|p| plan.resolve(p))
                    }
                    _ => None,
                };
                let check = self.passphrase_check(&f.path, expected, &c.name, file.as_deref())?;
                self.line(format!(
                    "{}: opened with {}: it holds share {}",
                    file_name(&f.path),
                    match check {
                        CheckBack::PassphraseOpened { from_file: true } => "the passphrase file",
                        _ => "the passphrase typed again",
                    },
                    report.id
                ));
                checks.push(check);
            }
            Transport::Sealed(target) => {
                let f = report
                    .output(OutputKind::SealedShare)
                    .expect("a sealed share was written");
                check_back::sealed_file(&f.path, &f.sha256).map_err(Runner::failed(STEP))?;
                checks.push(CheckBack::SealedFileCompared);
                if target.serial.is_some() {
                    let with = self.unseal_check(&f.path, expected, target, &mut heard)?;
                    self.line(format!(
                        "{}: unsealed on {} slot {} with PIN and touch: it holds share {}",
                        file_name(&f.path),
                        with.token,
                        with.slot,
                        report.id
                    ));
                    checks.push(CheckBack::Unsealed(with));
                } else {
                    self.say(Said::Warning(format!(
                        "{}: sealed to a recipient with no token serial in the plan: compared, not unsealed",
                        file_name(&f.path)
                    )));
                    checks.push(CheckBack::NotUnsealedNoToken);
                }
            }
        }

        let files: Vec<String> = report.outputs.iter().map(|o| file_name(&o.path)).collect();
        let facts = json!({
            "share": report.id,
            "custodian": c.name,
            "transport": c.transport.kind(),
            "outputs": report.outputs.iter().map(|o| json!({
                "file": file_name(&o.path),
                "kind": kind_name(o.kind),
                "sha256": o.sha256.to_hex(),
            })).collect::<Vec<_>>(),
            "sealed_to": report.sealed_to.as_ref().map(|t| json!({
                "serial": t.serial,
                "slot": t.slot.map(|s| s.to_string()),
                "recipient": t.recipient.to_string(),
                "token": t.label,
                "test_token": t.test_token,
            })),
            "qr_version": report.qr_version,
            "check_back": checks.iter().map(CheckBack::facts).collect::<Vec<_>>(),
            "events": heard,
        });
        let question = format!(
            "{}: have you received share {} ({}) and seen it checked?",
            c.name,
            report.id,
            files.join(", ")
        );
        let by = self.conclude_by(STEP, facts, "receipt_confirmed_by", &question, &c.name)?;
        // handed out: its files are outputs now, no longer scrubbed on a stop
        self.pending.clear();
        self.shares.push(ShareHandout {
            report,
            custodian: c.name.clone(),
            transport: c.transport.kind(),
            checks,
            receipt_confirmed_by: by,
        });
        Ok(())
    }

    /// Asks for a scan or photo of the printed sheet and decodes it.
    fn scan_check(
        &mut self,
        expected: &crate::shard::ShardFile,
        id: u8,
    ) -> Result<CheckBack, Stop> {
        if self.opts.yes {
            self.line("no scan of the printed sheet asked for (--yes)");
            return Ok(CheckBack::NoScanGiven);
        }
        for _ in 0..MAX_ATTEMPTS {
            self.check_stop(STEP)?;
            let answer = self
                .console
                .read_line(
                    &format!(
                        "Print shard-{id}.html. Path of a scan or photo of the printed sheet (PNG or JPEG), or Enter to skip: "
                    ),
                    MAX_SCAN_PATH,
                )
                .map_err(|e| Stop::Failed {
                    step: STEP.into(),
                    error: Error::io("(console)", "cannot read the scan path", e),
                })?;
            self.check_stop(STEP)?;
            let text = answer.as_deref().map(|s| s.trim()).unwrap_or("");
            if text.is_empty() {
                self.line("no scan of the printed sheet given");
                return Ok(CheckBack::NoScanGiven);
            }
            if text.len() > MAX_SCAN_PATH {
                return Err(Stop::Failed {
                    step: STEP.into(),
                    error: Error::Usage(format!(
                        "the scan path is longer than {MAX_SCAN_PATH} bytes"
                    )),
                });
            }
            let scan = PathBuf::from(text);
            match check_back::qr_image(&scan, expected) {
                Ok(_) => {
                    let sha256 = sha256_file(&scan).map_err(Runner::failed(STEP))?;
                    self.line(format!(
                        "{}: the scan of the printed sheet decodes to share {id}",
                        scan.display()
                    ));
                    return Ok(CheckBack::QrScanDecoded { scan, sha256 });
                }
                Err(e) => {
                    self.say(Said::Warning(format!("the scan does not check out: {e}")));
                    if !self
                        .console
                        .confirm("Try another scan of the printed sheet? (no stops the ceremony)")
                    {
                        return Err(Stop::Failed {
                            step: STEP.into(),
                            error: e,
                        });
                    }
                }
            }
        }
        Err(Stop::Failed {
            step: STEP.into(),
            error: Error::Check(format!(
                "share {id}: no scan of the printed sheet checked out in {MAX_ATTEMPTS} tries"
            )),
        })
    }

    /// The new passphrase of share `id`: from `file` (checked for length
    /// before the run began), or asked twice at the console, again while
    /// the two differ or it is too short (at most [`MAX_ATTEMPTS`] times).
    fn new_passphrase(
        &mut self,
        id: u8,
        name: &str,
        file: Option<&Path>,
    ) -> Result<crate::bundle::Passphrase, Stop> {
        if let Some(f) = file {
            return crate::bundle::Passphrase::from_file(f).map_err(Runner::failed(STEP));
        }
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            self.check_stop(STEP)?;
            let got = crate::bundle::ask_new_passphrase_for(
                &mut *self.console,
                &format!("share {id} ({name}), typed by {name}"),
            )
            .and_then(|p| crate::passphrase_shard::check_new(&p, None, false).map(|_| p));
            match got {
                Ok(p) => return Ok(p),
                Err(e @ Error::NoAnswer { .. }) => return Err(Runner::failed(STEP)(e)),
                Err(Error::Request(crate::error::RequestError::ShortPassphrase {
                    chars,
                    min,
                    ..
                })) => {
                    // (split's message names --allow-short-passphrase, which
                    // a ceremony does not have: a plan's shares meet the minimum)
                    let e = Error::Check(format!(
                        "share {id}: the passphrase has only {chars} characters; a passphrase-protected shard needs at least {min}. Type a longer one"
                    ));
                    self.say(Said::Warning(format!("{e}")));
                    last = Some(e);
                }
                Err(e) => {
                    self.say(Said::Warning(format!("{e}")));
                    last = Some(e);
                }
            }
        }
        Err(Stop::Failed {
            step: STEP.into(),
            error: last.unwrap_or_else(|| {
                Error::Check(format!("share {id}: no usable passphrase was given"))
            }),
        })
    }

    /// Opens the written passphrase shard with the passphrase typed again by
    /// the custodian (or from the plan's file), retrying a wrong one when
    /// the lead says so (never with `--yes` or a file).
    fn passphrase_check(
        &mut self,
        path: &Path,
        expected: &crate::shard::ShardFile,
        name: &str,
        file: Option<&Path>,
    ) -> Result<CheckBack, Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.check_stop(STEP)?;
            let mut relay = Relay::new(&mut *self.narrator);
            let got = check_back::passphrase_shard(
                path,
                expected,
                file,
                &format!(
                    "{name}: type the passphrase of share {} again to check it back: ",
                    expected.share.id()
                ),
                &mut *self.console,
                &mut relay,
            );
            match got {
                Ok(()) => {
                    return Ok(CheckBack::PassphraseOpened {
                        from_file: file.is_some(),
                    })
                }
                Err(e) => {
                    let retry = file.is_none()
                        && !self.opts.yes
                        && attempt < MAX_ATTEMPTS
                        && matches!(
                            e,
                            Error::PassphraseShard {
                                source:
                                    crate::passphrase_shard::PassphraseShardError::WrongPassphrase,
                                ..
                            }
                        );
                    self.say(Said::Warning(format!("check-back failed: {e}")));
                    if !retry
                        || !self.console.confirm(&format!(
                            "Let {name} type the passphrase again? (no stops the ceremony)"
                        ))
                    {
                        return Err(Stop::Failed {
                            step: STEP.into(),
                            error: e,
                        });
                    }
                }
            }
        }
    }

    /// Unseals the written share on its token (PIN and touch), retrying a
    /// token failure when the lead says so.
    fn unseal_check(
        &mut self,
        path: &Path,
        expected: &crate::shard::ShardFile,
        target: &SealTarget,
        heard: &mut Vec<String>,
    ) -> Result<SealedWith, Stop> {
        let dir = if target.test_token {
            self.test_dir.clone()
        } else {
            self.opts.test_tokens.clone()
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.check_stop(STEP)?;
            // a fresh unsealer per attempt: one whose PIN was refused does not try again
            let mut unsealer = Unsealer::new(
                crate::token::provider(dir.as_deref()),
                PinSource {
                    pin_file: self.opts.pin_file.clone(),
                    last_pin_try: self.opts.last_pin_try,
                },
            );
            let mut relay = Relay::new(&mut *self.narrator);
            let got = check_back::sealed_share(
                path,
                expected,
                Some(target),
                &mut unsealer,
                &mut *self.console,
                &mut relay,
            );
            heard.extend(relay.heard);
            match got {
                Ok(with) => return Ok(with),
                Err(e) => {
                    let retry = retryable(&e)
                        && attempt < MAX_ATTEMPTS
                        && !self.opts.yes
                        && !(self.opts.pin_file.is_some()
                            && matches!(e.token_error(), Some(TokenError::WrongPin { .. })));
                    self.say(Said::Warning(format!("check-back failed: {e}")));
                    if !retry
                        || !self.console.confirm(&format!(
                            "Check share {} back again on {}? (no stops the ceremony)",
                            expected.share.id(),
                            target.label
                        ))
                    {
                        return Err(Stop::Failed {
                            step: STEP.into(),
                            error: e,
                        });
                    }
                }
            }
        }
    }
}

/// Token failures a person can fix and try again.
fn retryable(e: &Error) -> bool {
    matches!(
        e.token_error(),
        Some(
            TokenError::WrongPin { .. }
                | TokenError::Removed(_)
                | TokenError::TouchTimeout(_)
                | TokenError::NotFound(_)
                | TokenError::NoMatchingToken { .. }
                | TokenError::NoTokens
        )
    )
}

fn kind_name(k: OutputKind) -> &'static str {
    match k {
        OutputKind::CeremonyRecord => "ceremony-record",
        OutputKind::ShardFile => "shard-file",
        OutputKind::SealedShare => "sealed-share",
        OutputKind::PassphraseShard => "passphrase-shard",
        OutputKind::QrPng => "qr-png",
        OutputKind::QrSvg => "qr-svg",
        OutputKind::QrSheet => "qr-sheet",
    }
}

/// SHA-256 of a file, read in pieces.
pub(super) fn sha256_file(path: &Path) -> crate::Result<Sha256Digest> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Sha256Digest(h.finalize().into()))
}
