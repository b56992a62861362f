//! `keyceremony ceremony run PLAN`: a ceremony from its plan, one step at a
//! time, each announced, confirmed by the lead (or `--yes`) and written to
//! the signed transcript:
//!
//! 1. `plan`: the plan's SHA-256, as hex and as words to read aloud;
//! 2. `preflight`: the machine checks; a failure the plan does not allow stops the run;
//! 3. `tokens` (when shares are sealed): test tokens set up, every seal target
//!    resolved before the key exists;
//! 4. `key`: generated or imported; its fingerprint as hex and words;
//! 5. `split`: the shares in memory, checked to give back the key; `ceremony.json`;
//! 6. `share`, one custodian at a time: their output written, **checked back**
//!    (re-read, decoded from the image and from a scan, unsealed on their
//!    token), then their receipt confirmed;
//! 7. `bundle`, per bundle: written and verified;
//! 8. `wipe`: key and shares zeroized; then `close` and the signature; then
//!    the printable transcript `transcript.html`.
//!
//! A stop at any point (the lead says no, Ctrl-C or SIGTERM at the next safe
//! point, a failed check) scrubs the outputs of every share not handed out,
//! closes the transcript with an `interrupted` line saying what was and was
//! not handed out, signs it, and reports [`RunOutcome::Interrupted`]. A kill
//! leaves an unsigned transcript (verification says so) and no secret
//! outside the outputs already handed out. The runner never prints: it
//! speaks through a [`Narrator`] and asks through a [`Console`].

mod bundles;
mod handout;
mod stop;
mod tokens;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::console::Console;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::plan::{self, Mode, Plan};
use crate::preflight::{self, CheckId, LiveSystem, PreflightOptions, PreflightReport, System};
use crate::record::{CeremonyInfo, MAX_NAME_CHARS};
use crate::secret::RootKey;
use crate::split::{self, OutputFile, OutputKind, Shares};
use crate::transcript::{
    self, Header, Interruption, SignedTranscript, TranscriptWriter, VerifyOptions,
};

pub use bundles::BundleReport;
pub use handout::{CheckBack, ShareHandout};
pub use stop::StopFlag;

/// What every rehearsal output's label starts with.
pub const REHEARSAL_PREFIX: &str = "REHEARSAL: ";
/// The transcript, the record and the printable transcript in the output folder.
pub const TRANSCRIPT_FILE: &str = "transcript.jsonl";
pub const PRINTABLE_FILE: &str = "transcript.html";
/// The test-token folder the runner creates inside the output folder.
pub const TEST_TOKENS_DIR: &str = "test-tokens";

/// How to run.
pub struct RunOptions {
    /// The output folder: created (0700) if missing, refused if not empty.
    pub out: PathBuf,
    /// Confirm every step and receipt without asking (recorded as `--yes`).
    pub yes: bool,
    /// `--test-tokens DIR`: the test tokens to use in a rehearsal; without
    /// it, a rehearsal with test tokens makes them in `OUT/test-tokens`.
    /// Refused with a production plan.
    pub test_tokens: Option<PathBuf>,
    /// `--pin-file`: the PIN for every token (setting up test tokens,
    /// unsealing at the check-back) instead of asking.
    pub pin_file: Option<PathBuf>,
    pub last_pin_try: bool,
    /// `--allow-network` for the preflight (recorded).
    pub allow_network: bool,
    /// Set by Ctrl-C / SIGTERM ([`StopFlag::install`]) or by a caller.
    pub stop: StopFlag,
    /// The machine preflight checks.
    pub system: Box<dyn System>,
}

impl RunOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            yes: false,
            test_tokens: None,
            pin_file: None,
            last_pin_try: false,
            allow_network: false,
            stop: StopFlag::default(),
            system: Box::new(LiveSystem),
        }
    }
}

/// The output folder used without `--out`: `<plan file stem>-ceremony` here.
pub fn default_out(plan: &Plan) -> PathBuf {
    let stem = plan
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    PathBuf::from(format!("{stem}-ceremony"))
}

/// What the runner says along the way.
#[derive(Debug, Clone)]
pub enum Said {
    /// A step begins.
    Step { number: usize, title: String },
    /// A fact about the step, for the room (hashes, words, files).
    Line(String),
    /// The preflight report (the command line renders it as `preflight` does).
    Preflight(PreflightReport),
    /// What a library operation said (touch prompts, which token opened a share...).
    Event(Event),
    /// Something the lead must hear: a check that did not pass, a stop.
    Warning(String),
}

/// Receives what the runner says.
pub trait Narrator {
    fn say(&mut self, said: Said);
}

impl Narrator for Vec<Said> {
    fn say(&mut self, said: Said) {
        self.push(said);
    }
}

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The lead (or a custodian) answered no.
    Declined { step: String, question: String },
    /// Ctrl-C or SIGTERM (or a caller's [`StopFlag::request`]).
    Signal { step: String, signal: i32 },
    /// Preflight checks failed that the plan does not allow.
    Preflight { failed: Vec<CheckId> },
    /// A step failed (a check-back, a bundle that does not verify, ...).
    Failed { step: String, error: Error },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Declined { step, question } => {
                write!(
                    f,
                    "stopped by the lead at step {step}: answered no to \"{question}\""
                )
            }
            Stop::Signal { step, signal } => write!(
                f,
                "stopped by {} at step {step}",
                match *signal {
                    libc::SIGINT => "Ctrl-C (SIGINT)".to_string(),
                    libc::SIGTERM => "SIGTERM".to_string(),
                    0 => "a stop request".to_string(),
                    n => format!("signal {n}"),
                }
            ),
            Stop::Preflight { failed } => write!(
                f,
                "preflight failed: {} (not allowed by the plan)",
                failed
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Stop::Failed { step, error } => write!(f, "step {step} failed: {error}"),
        }
    }
}

/// How the run ended.
#[derive(Debug)]
pub enum RunOutcome {
    Completed,
    Interrupted {
        stop: Stop,
        handed_out: Vec<String>,
        not_handed_out: Vec<String>,
        /// Outputs of shares not handed out, overwritten and removed.
        scrubbed: Vec<PathBuf>,
    },
}

/// What a run did. Holds no secret.
#[derive(Debug)]
pub struct CeremonyReport {
    pub out: PathBuf,
    pub mode: Mode,
    pub plan_sha256: Sha256Digest,
    /// The label every output carries (REHEARSAL-prefixed in a rehearsal).
    pub label: String,
    pub transcript: SignedTranscript,
    /// `transcript.html`, unless writing it failed (then `printable_error`).
    pub printable: Option<PathBuf>,
    pub printable_error: Option<String>,
    pub record: Option<OutputFile>,
    pub info: Option<CeremonyInfo>,
    pub preflight: Option<PreflightReport>,
    pub test_tokens: Option<PathBuf>,
    pub shares: Vec<ShareHandout>,
    pub bundles: Vec<BundleReport>,
    pub outcome: RunOutcome,
}

impl CeremonyReport {
    pub fn completed(&self) -> bool {
        matches!(self.outcome, RunOutcome::Completed)
    }
}

/// Why a run was refused before anything was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunRefused {
    #[error("{}: the output folder is not empty (this plan may have run into it already): a ceremony writes into a new or empty folder; choose another --out", .0.display())]
    OutNotEmpty(PathBuf),
    #[error("{}: is not a folder", .0.display())]
    OutNotAFolder(PathBuf),
    #[error("{}: a production plan cannot run with test tokens (--test-tokens / KEYCEREMONY_TEST_TOKENS is set): a production ceremony uses real YubiKeys only; unset it, or use a rehearsal plan", .0.display())]
    TestTokensInProduction(PathBuf),
    #[error("{}: the label is too long for a rehearsal: every rehearsal output's label starts with \"{REHEARSAL_PREFIX}\", which leaves {} characters", .0.display(), MAX_NAME_CHARS - REHEARSAL_PREFIX.len())]
    RehearsalLabelTooLong(PathBuf),
    #[error("{}: shares {first} and {second} are sealed to the same key ({target}): whoever holds it would hold both", plan.display())]
    SameToken {
        plan: PathBuf,
        first: u8,
        second: u8,
        target: String,
    },
    #[error("{}: share {share} is protected by a passphrase typed at the console, and --yes asks no one: give the custodian a passphrase_file in the plan, or run without --yes", plan.display())]
    PassphraseNeedsFile { plan: PathBuf, share: u8 },
    #[error("{}: the Nexus backup's passphrase in {} has only {chars} characters; a new Nexus backup needs at least {min}. Write a longer passphrase into it before the ceremony", plan.display(), file.display())]
    ShortPassphrase {
        plan: PathBuf,
        file: PathBuf,
        chars: usize,
        min: usize,
    },
}

/// The label on every output: the plan's, prefixed with REHEARSAL in a rehearsal.
pub fn output_label(plan: &Plan) -> String {
    match plan.mode {
        Mode::Rehearsal if !plan.label.starts_with("REHEARSAL") => {
            format!("{REHEARSAL_PREFIX}{}", plan.label)
        }
        _ => plan.label.clone(),
    }
}

/// Checks everything that can be checked before the first file is written
/// (also called by [`run`] itself).
pub fn check_can_run(plan: &Plan, options: &RunOptions) -> Result<()> {
    if plan.key == plan::KeySource::FromShares {
        return Err(Error::input(
            &plan.path,
            "[key] from_shares = true: this plan re-shares the key of an existing ceremony; \
             run it with keyceremony reshare SHARD... --record ceremony.json --plan PLAN --out DIR",
        ));
    }
    if plan.mode == Mode::Production && options.test_tokens.is_some() {
        return Err(RunRefused::TestTokensInProduction(plan.path.clone()).into());
    }
    if output_label(plan).chars().count() > MAX_NAME_CHARS {
        return Err(RunRefused::RehearsalLabelTooLong(plan.path.clone()).into());
    }
    // A killed run's staged files go first (and are reported).
    crate::atomic_file::clean_leftovers_around(&options.out);
    match std::fs::read_dir(&options.out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RunRefused::OutNotEmpty(options.out.clone()).into());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(RunRefused::OutNotAFolder(options.out.clone()).into())
        }
        Err(e) => return Err(Error::io(&options.out, "cannot read the output folder", e)),
    }
    // passphrase shards: with --yes the passphrase comes from a file; a
    // file's passphrase must be long enough; the secret file must be there
    for c in &plan.custodians {
        if let plan::Transport::Passphrase { passphrase_file } = &c.transport {
            match passphrase_file {
                None if options.yes => {
                    return Err(RunRefused::PassphraseNeedsFile {
                        plan: plan.path.clone(),
                        share: c.share_id,
                    }
                    .into())
                }
                None => {}
                Some(p) => {
                    let file = plan.resolve(p);
                    let pass = crate::bundle::Passphrase::from_file(&file)?;
                    crate::passphrase_shard::check_new(&pass, Some(&file), false)?;
                }
            }
        }
    }
    if let plan::KeySource::SecretFile(p) = &plan.key {
        crate::input_file::open_regular(&plan.resolve(p), "secret file")?;
    }
    // a passphrase too short for a new backup stops the run before the key
    // exists, not at the bundle step after the shares went out
    for b in &plan.bundles {
        if let plan::BundlePlan::NexusBackup {
            passphrase_file: Some(p),
            ..
        } = b
        {
            let file = plan.resolve(p);
            let pass = crate::bundle::Passphrase::from_file(&file)?;
            let (chars, min) = (pass.chars(), crate::bundle::MIN_NEW_PASSPHRASE_CHARS);
            if chars < min {
                return Err(RunRefused::ShortPassphrase {
                    plan: plan.path.clone(),
                    file,
                    chars,
                    min,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Runs the ceremony `plan` as `options` say, asking on `console` and
/// speaking through `narrator`. `Err` only for a refusal before anything
/// was written, or when the transcript itself cannot be written; a run
/// that stops early is `Ok` with [`RunOutcome::Interrupted`].
pub fn run(
    plan: &Plan,
    options: RunOptions,
    console: &mut dyn Console,
    narrator: &mut dyn Narrator,
) -> Result<CeremonyReport> {
    check_can_run(plan, &options)?;
    let created = crate::atomic_file::prepare_output_dir(&options.out, false)?;
    let transcript_path = options.out.join(TRANSCRIPT_FILE);
    let writer = match TranscriptWriter::create(&transcript_path, &Header::from_plan(plan)) {
        Ok(w) => w,
        Err(e) => {
            let mut created = created;
            crate::atomic_file::remove_created_dirs(&mut created);
            return Err(e);
        }
    };
    let mut r = Runner {
        plan,
        label: output_label(plan),
        opts: options,
        console,
        narrator,
        writer,
        step_no: 0,
        preflight: None,
        test_dir: None,
        targets: Vec::new(),
        record: None,
        record_doc: None,
        info: None,
        shares: Vec::new(),
        pending: Vec::new(),
        bundles: Vec::new(),
    };
    let result = r.steps();
    r.finish(result)
}

/// The state of one run.
struct Runner<'a> {
    plan: &'a Plan,
    label: String,
    opts: RunOptions,
    console: &'a mut dyn Console,
    narrator: &'a mut dyn Narrator,
    writer: TranscriptWriter,
    step_no: usize,
    preflight: Option<PreflightReport>,
    test_dir: Option<PathBuf>,
    /// One per custodian: where a sealed share goes (None for file and QR).
    targets: Vec<Option<crate::seal_target::SealTarget>>,
    record: Option<OutputFile>,
    /// The record as written, for verifying the transcript against it.
    record_doc: Option<crate::record::CeremonyRecord>,
    info: Option<CeremonyInfo>,
    /// Shares handed out, in order.
    shares: Vec<ShareHandout>,
    /// Outputs written for a share not (yet) handed out: scrubbed on a stop.
    pending: Vec<PathBuf>,
    bundles: Vec<BundleReport>,
}

/// Forwards library events to the narrator and keeps their text for the transcript.
pub(crate) struct Relay<'a> {
    narrator: &'a mut dyn Narrator,
    pub heard: Vec<String>,
}

impl<'a> Relay<'a> {
    pub(crate) fn new(narrator: &'a mut dyn Narrator) -> Self {
        Relay {
            narrator,
            heard: Vec::new(),
        }
    }
}

impl EventSink for Relay<'_> {
    fn emit(&mut self, event: Event) {
        self.heard.push(event.to_string());
        self.narrator.say(Said::Event(event));
    }
}

/// A file name inside the output folder, for facts and messages.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl Runner<'_> {
    fn say(&mut self, said: Said) {
        self.narrator.say(said);
    }

    fn line(&mut self, text: impl Into<String>) {
        self.narrator.say(Said::Line(text.into()));
    }

    fn words(&mut self, label: &str, hex: &str, words: &str) {
        self.line(format!("{label}: {hex}"));
        let w: Vec<&str> = words.split(' ').collect();
        for row in w.chunks(8) {
            self.line(format!("    {}", row.join(" ")));
        }
    }

    fn begin(&mut self, step: &str, title: &str) -> std::result::Result<(), Stop> {
        self.check_stop(step)?;
        self.step_no += 1;
        let number = self.step_no;
        self.say(Said::Step {
            number,
            title: title.to_string(),
        });
        Ok(())
    }

    fn check_stop(&self, step: &str) -> std::result::Result<(), Stop> {
        match self.opts.stop.requested() {
            Some(signal) => Err(Stop::Signal {
                step: step.to_string(),
                signal,
            }),
            None => Ok(()),
        }
    }

    /// The lead confirms the step (or `--yes`), then it is recorded with
    /// `confirmed_by`; a stop at the question records it with
    /// `confirmed_by: null` and `stopped_here`. Returns who confirmed.
    fn conclude(
        &mut self,
        step: &str,
        facts: Value,
        question: &str,
    ) -> std::result::Result<String, Stop> {
        let lead = self.plan.lead.clone();
        self.conclude_by(step, facts, "confirmed_by", question, &lead)
    }

    fn conclude_by(
        &mut self,
        step: &str,
        mut facts: Value,
        field: &str,
        question: &str,
        who: &str,
    ) -> std::result::Result<String, Stop> {
        match self.confirm_by(step, question, who) {
            Ok(by) => {
                facts[field] = json!(by);
                self.record(step, facts)?;
                Ok(by)
            }
            Err(stop) => {
                facts[field] = Value::Null;
                facts["stopped_here"] = json!(stop.to_string());
                self.record(step, facts)?;
                Err(stop)
            }
        }
    }

    fn confirm_by(
        &mut self,
        step: &str,
        question: &str,
        who: &str,
    ) -> std::result::Result<String, Stop> {
        self.check_stop(step)?;
        let by = if self.opts.yes {
            self.line(format!("{question} yes (--yes)"));
            "--yes".to_string()
        } else if self
            .console
            .confirm(&format!("{question} (no stops the ceremony)"))
        {
            who.to_string()
        } else {
            return Err(Stop::Declined {
                step: step.to_string(),
                question: question.to_string(),
            });
        };
        self.check_stop(step)?;
        Ok(by)
    }

    fn record(&mut self, step: &str, facts: Value) -> std::result::Result<(), Stop> {
        self.writer
            .append(step, facts)
            .map(|_| ())
            .map_err(|error| Stop::Failed {
                step: step.to_string(),
                error,
            })
    }

    fn failed(step: &str) -> impl Fn(Error) -> Stop + '_ {
        move |error| Stop::Failed {
            step: step.to_string(),
            error,
        }
    }

    fn steps(&mut self) -> std::result::Result<(), Stop> {
        self.step_plan()?;
        self.step_preflight()?;
        if self.plan.custodians.iter().any(|c| c.transport.is_sealed()) {
            self.step_tokens()?;
        }
        let key = self.step_key()?;
        let shares = self.step_split(&key)?;
        for index in 0..self.plan.custodians.len() {
            self.step_share(&shares, index)?;
        }
        for index in 0..self.plan.bundles.len() {
            self.step_bundle(&key, index)?;
        }
        // The secrets go now, before the transcript is closed.
        drop(shares);
        drop(key);
        self.begin("wipe", "the key and the shares are wiped")?;
        self.line("the root key and every share value are overwritten in memory (zeroized)");
        let staged = self.staged_files();
        self.record(
            "wipe",
            json!({
                "key": "zeroized",
                "shares": "zeroized",
                "staged_files_left": staged,
            }),
        )
    }

    /// Temporary files left in the output folder (there should be none).
    fn staged_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.opts.out) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".keyceremony-"))
            .collect()
    }

    fn step_plan(&mut self) -> std::result::Result<(), Stop> {
        const STEP: &str = "plan";
        self.begin(STEP, "the plan")?;
        let plan = self.plan;
        self.line(format!(
            "{}: {} ({}), lead {}",
            plan.path.display(),
            plan.label,
            match plan.mode {
                Mode::Production => "production".to_string(),
                Mode::Rehearsal => "REHEARSAL: not a real ceremony".to_string(),
            },
            plan.lead
        ));
        self.line(format!(
            "any {} of {} shares recover the key",
            plan.params.threshold(),
            plan.params.shares()
        ));
        self.words(
            "plan SHA-256",
            &plan.sha256.to_hex(),
            &plan.sha256.to_words(),
        );
        let mut facts = plan.facts();
        facts["plan_file"] = json!(plan.path.display().to_string());
        facts["plan_words"] = json!(plan.sha256.to_words());
        facts["output_label"] = json!(self.label);
        self.conclude(
            STEP,
            facts,
            "Plan: was its SHA-256 read aloud, and does it match the reviewed plan?",
        )
        .map(|_| ())
    }

    fn step_preflight(&mut self) -> std::result::Result<(), Stop> {
        const STEP: &str = "preflight";
        self.begin(STEP, "preflight: this machine")?;
        let report = preflight::run(
            self.opts.system.as_ref(),
            &PreflightOptions {
                mode: self.plan.mode,
                allow_network: self.opts.allow_network,
                exceptions: self.plan.preflight_exceptions.clone(),
                test_tokens: self.test_tokens_in_use(),
            },
        );
        self.say(Said::Preflight(report.clone()));
        let passed = report.passed();
        let mut facts = report.facts();
        self.preflight = Some(report.clone());
        if !passed {
            facts["stopped_the_run"] = json!(true);
            self.record(STEP, facts)?;
            return Err(Stop::Preflight {
                failed: report.blocking().iter().map(|c| c.id).collect(),
            });
        }
        self.conclude(STEP, facts, "Preflight: go on with this machine?")
            .map(|_| ())
    }

    /// The test-token folder this run uses, if any (known before it exists).
    fn test_tokens_in_use(&self) -> Option<PathBuf> {
        if let Some(d) = &self.opts.test_tokens {
            return Some(d.clone());
        }
        (self.plan.mode == Mode::Rehearsal && self.plan.uses_test_tokens())
            .then(|| self.opts.out.join(TEST_TOKENS_DIR))
    }

    fn step_key(&mut self) -> std::result::Result<RootKey, Stop> {
        const STEP: &str = "key";
        self.begin(STEP, "the root key")?;
        let plan = self.plan;
        let (source, mut facts) = match &plan.key {
            plan::KeySource::Generate => {
                self.line("generating a fresh key from the OS random source");
                (split::KeySource::Generate, json!({"source": "generate"}))
            }
            plan::KeySource::KeyFile(p) => {
                let p = plan.resolve(p);
                self.line(format!("reading the key from {}", p.display()));
                (
                    split::KeySource::KeyFile(p.clone()),
                    json!({"source": "file", "file": p.display().to_string()}),
                )
            }
            plan::KeySource::SecretFile(p) => {
                let p = plan.resolve(p);
                self.line(format!(
                    "generating a fresh data key; the secret {} is written under it as secret.age",
                    p.display()
                ));
                (
                    split::KeySource::Generate,
                    json!({"source": "secret-file", "secret_file": p.display().to_string()}),
                )
            }
            plan::KeySource::Spike { files, threshold } => {
                let files: Vec<PathBuf> = files.iter().map(|f| plan.resolve(f)).collect();
                self.line(format!(
                    "assembling the key from {} SPIKE recovery shards ({threshold} needed)",
                    files.len()
                ));
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                (
                    split::KeySource::Spike {
                        files,
                        threshold: *threshold,
                    },
                    json!({"source": "spike", "files": names, "threshold": threshold}),
                )
            }
            plan::KeySource::FromShares => {
                // check_can_run refuses such a plan before anything is written
                return Err(Stop::Failed {
                    step: STEP.into(),
                    error: Error::Usage("a from_shares plan is run by keyceremony reshare".into()),
                });
            }
        };
        let key = split::obtain_key(source).map_err(Self::failed(STEP))?;
        let fp = key.fingerprint();
        let fp_words = crate::pgp_words::to_phrase(fp.as_bytes());
        self.words("key fingerprint", &fp.to_string(), &fp_words);
        facts["key_fingerprint"] = json!(fp.to_string());
        facts["fingerprint_words"] = json!(fp_words);
        self.conclude(
            STEP,
            facts,
            "Key: was its fingerprint read aloud and written down?",
        )?;
        Ok(key)
    }

    fn step_split(&mut self, key: &RootKey) -> std::result::Result<Shares, Stop> {
        const STEP: &str = "split";
        self.begin(STEP, "the split")?;
        let plan = self.plan;
        let names: Vec<String> = plan.custodians.iter().map(|c| c.name.clone()).collect();
        let mut shares =
            split::split_key(key, plan.params, &self.label, &names).map_err(Self::failed(STEP))?;
        shares.record.ceremony_public_key = Some(hex::encode(self.writer.public_key()));
        crate::check_back::reconstructs(&shares, key).map_err(Self::failed(STEP))?;
        let path = split::record_path(&self.opts.out);
        let secret = match &plan.key {
            plan::KeySource::SecretFile(p) => Some(
                crate::secret_file::write_with_record(
                    key,
                    &plan.resolve(p),
                    &mut shares,
                    &self.opts.out,
                )
                .map_err(Self::failed(STEP))?,
            ),
            _ => {
                let json_text = shares.record.to_json();
                crate::atomic_file::write_file(&path, json_text.as_bytes(), false)
                    .map_err(Self::failed(STEP))?;
                None
            }
        };
        let json_text = shares.record.to_json();
        let record = OutputFile {
            path,
            kind: OutputKind::CeremonyRecord,
            sha256: Sha256Digest::of(json_text.as_bytes()),
        };
        let info = shares.info.clone();
        self.line(format!(
            "ceremony {}: {} shares, any {} recover the key; the shares together give back the key",
            info.ceremony_id,
            info.params.shares(),
            info.params.threshold()
        ));
        self.line(format!(
            "ceremony key (signs the transcript): ed25519 {}",
            hex::encode(self.writer.public_key())
        ));
        self.words(
            "ceremony.json SHA-256",
            &record.sha256.to_hex(),
            &record.sha256.to_words(),
        );
        let facts = json!({
            "ceremony_id": info.ceremony_id.to_string(),
            "label": info.label,
            "threshold": info.params.threshold(),
            "shares": info.params.shares(),
            "commitments": info.commitments_hex(),
            "key_fingerprint": info.fingerprint.to_string(),
            "created": info.created,
            "reconstructs_key": true,
            "record": {"file": file_name(&record.path), "sha256": record.sha256.to_hex()},
            "ceremony_public_key": hex::encode(self.writer.public_key()),
        });
        let mut facts = facts;
        if let Some(sec) = &secret {
            self.line(format!(
                "{}: the secret ({} bytes) under the data key ({} bytes, SHA-256 {}), decrypted back and checked",
                file_name(&sec.path),
                sec.plaintext_size,
                sec.entry.size,
                sec.entry.sha256.to_hex()
            ));
            facts["secret"] = json!({
                "file": file_name(&sec.path),
                "sha256": sec.entry.sha256.to_hex(),
                "size": sec.entry.size,
            });
        }
        self.record = Some(record);
        self.record_doc = Some(shares.record.clone());
        self.info = Some(info);
        self.conclude(
            STEP,
            facts,
            "Split: was the ceremony id read aloud and written down?",
        )?;
        Ok(shares)
    }

    /// Closes the transcript (signed either way), writes the printable copy
    /// and builds the report.
    fn finish(mut self, result: std::result::Result<(), Stop>) -> Result<CeremonyReport> {
        let (signed, outcome) = match result {
            Ok(()) => {
                let facts = json!({
                    "outcome": "completed",
                    "ceremony_id": self.info.as_ref().map(|i| i.ceremony_id.to_string()),
                    "key_fingerprint": self.info.as_ref().map(|i| i.fingerprint.to_string()),
                    "handed_out": self.handed_out(),
                    "bundles": self.bundles.iter().map(|b| file_name(&b.path)).collect::<Vec<_>>(),
                    "record_sha256": self.record.as_ref().map(|r| r.sha256.to_hex()),
                });
                let signed = self.writer.close_and_sign(facts)?;
                (signed, RunOutcome::Completed)
            }
            Err(stop) => {
                self.narrator
                    .say(Said::Warning(format!("the ceremony stops: {stop}")));
                let scrubbed = self.scrub_pending();
                let handed_out = self.handed_out();
                let not_handed_out = self.not_handed_out(&scrubbed);
                let interruption = Interruption {
                    reason: stop.to_string(),
                    handed_out: handed_out.clone(),
                    not_handed_out: not_handed_out.clone(),
                };
                let signed = self.writer.close_interrupted(&interruption)?;
                (
                    signed,
                    RunOutcome::Interrupted {
                        stop,
                        handed_out,
                        not_handed_out,
                        scrubbed,
                    },
                )
            }
        };
        let (printable, printable_error) =
            match write_printable(&self.opts.out, self.record_doc.clone(), &signed) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e.to_string())),
            };
        Ok(CeremonyReport {
            out: self.opts.out.clone(),
            mode: self.plan.mode,
            plan_sha256: self.plan.sha256,
            label: self.label,
            transcript: signed,
            printable,
            printable_error,
            record: self.record,
            info: self.info,
            preflight: self.preflight,
            test_tokens: self.test_dir,
            shares: self.shares,
            bundles: self.bundles,
            outcome,
        })
    }

    fn handed_out(&self) -> Vec<String> {
        self.shares.iter().map(|s| s.describe()).collect()
    }

    fn not_handed_out(&self, scrubbed: &[PathBuf]) -> Vec<String> {
        let given: Vec<u8> = self.shares.iter().map(|s| s.report.id).collect();
        let mut out: Vec<String> = self
            .plan
            .custodians
            .iter()
            .filter(|c| !given.contains(&c.share_id))
            .map(|c| {
                let mine: Vec<String> = scrubbed
                    .iter()
                    .filter(|p| handout::belongs_to(p, c.share_id))
                    .map(|p| file_name(p))
                    .collect();
                if mine.is_empty() {
                    format!("share {} ({}): not made", c.share_id, c.name)
                } else {
                    format!(
                        "share {} ({}): written but not handed out; removed: {}",
                        c.share_id,
                        c.name,
                        mine.join(", ")
                    )
                }
            })
            .collect();
        let made: Vec<String> = self.bundles.iter().map(|b| file_name(&b.path)).collect();
        for (i, b) in self.plan.bundles.iter().enumerate() {
            if i >= made.len() {
                out.push(format!("bundle {} ({}): not made", i + 1, b.kind()));
            }
        }
        out
    }

    /// Overwrites and removes the outputs of a share not handed out.
    fn scrub_pending(&mut self) -> Vec<PathBuf> {
        let pending = std::mem::take(&mut self.pending);
        let mut done = Vec::new();
        for p in pending {
            if scrub(&p) {
                done.push(p);
            }
        }
        done
    }
}

/// Verifies the signed transcript against the record and writes its
/// printable copy beside it.
fn write_printable(
    out: &Path,
    record: Option<crate::record::CeremonyRecord>,
    signed: &SignedTranscript,
) -> Result<PathBuf> {
    let verified = transcript::verify_file(
        &signed.path,
        &VerifyOptions {
            record,
            chain_from: None,
        },
    )?;
    let html = transcript::render_html(&verified)?;
    let path = out.join(PRINTABLE_FILE);
    crate::atomic_file::write_file(&path, html.as_bytes(), false)?;
    Ok(path)
}

/// Overwrites a file with zeros, flushes, and removes it (best effort: on
/// flash storage the old blocks may survive; that is why the runner keeps
/// its output folder in memory in the demo). True when it was there.
pub fn scrub(path: &Path) -> bool {
    use std::io::Write;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if meta.is_file() {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            let zeros = vec![0u8; 64 * 1024];
            let mut left = meta.len();
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                if f.write_all(&zeros[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = f.sync_all();
        }
    }
    std::fs::remove_file(path).is_ok()
}
