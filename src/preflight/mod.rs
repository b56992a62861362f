//! Preflight: is this machine fit to hold a root key? Each check says pass,
//! warn or fail and shows its evidence (what it read), so the transcript
//! records not only the verdict but why.
//!
//! A check that would fail in production only warns in a rehearsal, except
//! the random source, which fails in every mode. A production plan may
//! allow named checks to fail ([`crate::plan::PreflightException`]); the
//! check then stays `fail`, carries the plan's reason, and does not stop the
//! run. `--allow-network` turns a failed network check into a warning and is
//! recorded as such. Thresholds: see `docs/ceremony.md`.

pub mod rng_health;
pub mod system;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

use crate::plan::{Mode, PreflightException};
pub use system::{binary_identity, BinaryIdentity, Limit, LiveSystem, RootedSystem, System};

/// The checks, by the name a plan's exceptions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    Network,
    Radios,
    Swap,
    CoreDumps,
    MemoryLock,
    Random,
    Clock,
    TestTokens,
    Binary,
}

impl CheckId {
    pub const ALL: [CheckId; 9] = [
        CheckId::Network,
        CheckId::Radios,
        CheckId::Swap,
        CheckId::CoreDumps,
        CheckId::MemoryLock,
        CheckId::Random,
        CheckId::Clock,
        CheckId::TestTokens,
        CheckId::Binary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Network => "network",
            CheckId::Radios => "radios",
            CheckId::Swap => "swap",
            CheckId::CoreDumps => "core-dumps",
            CheckId::MemoryLock => "memory-lock",
            CheckId::Random => "random",
            CheckId::Clock => "clock",
            CheckId::TestTokens => "test-tokens",
            CheckId::Binary => "binary",
        }
    }

    pub fn parse(text: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether a plan may allow this check to fail. Never for a random
    /// source that fails its health test, nor for test tokens in production.
    pub fn may_be_excepted(self) -> bool {
        !matches!(
            self,
            CheckId::Random | CheckId::TestTokens | CheckId::Binary
        )
    }

    fn title(self) -> &'static str {
        match self {
            CheckId::Network => "network interfaces",
            CheckId::Radios => "wireless and bluetooth",
            CheckId::Swap => "swap",
            CheckId::CoreDumps => "core dumps",
            CheckId::MemoryLock => "memory locking",
            CheckId::Random => "random source",
            CheckId::Clock => "clock",
            CheckId::TestTokens => "test tokens",
            CheckId::Binary => "this binary",
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's verdict and what it is based on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub title: &'static str,
    pub status: Status,
    /// One line for a person.
    pub summary: String,
    /// What was read: one fact per line.
    pub evidence: Vec<String>,
    /// The plan's reason, when a plan exception allows this failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by_plan: Option<String>,
}

impl Check {
    /// A failure that stops a ceremony (not allowed by the plan).
    pub fn blocks(&self) -> bool {
        self.status == Status::Fail && self.allowed_by_plan.is_none()
    }
}

/// How to judge.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    pub mode: Mode,
    /// `--allow-network`: a connected interface warns instead of failing (recorded).
    pub allow_network: bool,
    /// Checks the plan allows to fail, with its reasons.
    pub exceptions: Vec<PreflightException>,
    /// The test-token folder, when test mode is configured (`--test-tokens`, `KEYCEREMONY_TEST_TOKENS`).
    pub test_tokens: Option<PathBuf>,
}

/// Every check, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    pub mode: Mode,
    pub allow_network: bool,
    pub checks: Vec<Check>,
}

impl PreflightReport {
    /// True when nothing blocks: every failure (if any) is allowed by the plan.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(Check::blocks)
    }

    pub fn blocking(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.blocks()).collect()
    }

    pub fn get(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The report as transcript facts (all public).
    pub fn facts(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("plain data serialises");
        if let Value::Object(m) = &mut v {
            m.insert("passed".into(), json!(self.passed()));
        }
        v
    }
}

/// Runs every check against `system`.
pub fn run(system: &dyn System, opts: &PreflightOptions) -> PreflightReport {
    let mut checks = vec![
        network(system, opts),
        radios(system, opts),
        swap(system, opts),
        core_dumps(system, opts),
        memory_lock(system, opts),
        random(system),
        clock(system, opts),
        test_tokens(opts),
        binary(system),
    ];
    for c in &mut checks {
        if c.status == Status::Fail && c.id.may_be_excepted() {
            if let Some(e) = opts.exceptions.iter().find(|e| e.check == c.id) {
                c.allowed_by_plan = Some(e.reason.clone());
            }
        }
    }
    PreflightReport {
        mode: opts.mode,
        allow_network: opts.allow_network,
        checks,
    }
}

/// Runs every check on this machine.
pub fn run_live(opts: &PreflightOptions) -> PreflightReport {
    run(&LiveSystem, opts)
}

fn check(id: CheckId, status: Status, summary: impl Into<String>, evidence: Vec<String>) -> Check {
    Check {
        id,
        title: id.title(),
        status,
        summary: summary.into(),
        evidence,
        allowed_by_plan: None,
    }
}

/// Fail in production, warn in a rehearsal.
fn strict(mode: Mode) -> Status {
    match mode {
        Mode::Production => Status::Fail,
        Mode::Rehearsal => Status::Warn,
    }
}

/// Text read from /sys or /proc, cut to a line and stripped of anything
/// that is not plain printable ASCII (it ends up on terminals and paper).
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .take(120)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

const IFF_UP: u64 = 0x1;
const IFF_LOOPBACK: u64 = 0x8;
const ARPHRD_LOOPBACK: &str = "772";

fn parse_hex_flags(text: &str) -> Option<u64> {
    let t = text.trim();
    u64::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok()
}

fn network(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::Network;
    let names = match sys.list_dir("/sys/class/net") {
        Ok(n) => n,
        Err(e) => {
            return check(
                id,
                strict(opts.mode),
                "cannot list the network interfaces",
                vec![format!("/sys/class/net: {e}")],
            )
        }
    };
    let mut evidence = Vec::new();
    let mut connected = Vec::new();
    let mut enabled = Vec::new();
    for name in &names {
        let name_shown = clean(name);
        let base = format!("/sys/class/net/{name}");
        let flags = sys
            .read_file(&format!("{base}/flags"))
            .ok()
            .and_then(|t| parse_hex_flags(&t));
        let oper = sys
            .read_file(&format!("{base}/operstate"))
            .map(|t| clean(&t))
            .unwrap_or_else(|_| "unreadable".into());
        let kind = sys
            .read_file(&format!("{base}/type"))
            .map(|t| clean(&t))
            .unwrap_or_default();
        let loopback = flags.is_some_and(|f| f & IFF_LOOPBACK != 0) || kind == ARPHRD_LOOPBACK;
        let flags_text = flags.map_or("unreadable".to_string(), |f| format!("0x{f:x}"));
        if loopback {
            evidence.push(format!("{name_shown}: loopback (ignored)"));
            continue;
        }
        // flags unreadable: assume the worst
        let admin_up = flags.is_none_or(|f| f & IFF_UP != 0);
        let line = format!("{name_shown}: operstate {oper}, flags {flags_text}");
        if admin_up && matches!(oper.as_str(), "up" | "unknown" | "dormant" | "unreadable") {
            evidence.push(format!("{line}: UP"));
            connected.push(name_shown);
        } else if admin_up {
            evidence.push(format!("{line}: enabled, no link"));
            enabled.push(name_shown);
        } else {
            evidence.push(format!("{line}: down"));
        }
    }
    if !connected.is_empty() {
        let list = connected.join(", ");
        if opts.mode == Mode::Production && opts.allow_network {
            evidence.push("allowed by --allow-network".into());
            return check(
                id,
                Status::Warn,
                format!("interface up: {list} (allowed by --allow-network)"),
                evidence,
            );
        }
        return check(
            id,
            strict(opts.mode),
            format!(
                "interface up: {list}: unplug it, or `ip link set DEV down`, before the key exists"
            ),
            evidence,
        );
    }
    if !enabled.is_empty() {
        return check(
            id,
            Status::Warn,
            format!(
                "enabled without a link: {}: `ip link set DEV down`",
                enabled.join(", ")
            ),
            evidence,
        );
    }
    check(
        id,
        Status::Pass,
        "no network interface is up other than loopback",
        evidence,
    )
}

fn radios(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::Radios;
    let mut evidence = Vec::new();
    let mut on = Vec::new();
    let mut bluetooth_rfkill = false;
    for dev in sys.list_dir("/sys/class/rfkill").unwrap_or_default() {
        let base = format!("/sys/class/rfkill/{dev}");
        let read = |f: &str| {
            sys.read_file(&format!("{base}/{f}"))
                .map(|t| clean(&t))
                .unwrap_or_default()
        };
        let (kind, name, soft, hard) = (read("type"), read("name"), read("soft"), read("hard"));
        let blocked = soft == "1" || hard == "1";
        evidence.push(format!(
            "{}: {kind} {name}: soft block {soft}, hard block {hard}",
            clean(&dev)
        ));
        bluetooth_rfkill |= kind == "bluetooth";
        if !blocked {
            on.push(format!("{kind} {name}"));
        }
    }
    let adapters = sys.list_dir("/sys/class/bluetooth").unwrap_or_default();
    for a in &adapters {
        evidence.push(format!("bluetooth adapter {}", clean(a)));
    }
    // an adapter that no rfkill switch covers cannot be shown to be off
    if !adapters.is_empty() && !bluetooth_rfkill {
        on.push(format!(
            "bluetooth {} (no rfkill switch)",
            clean(&adapters[0])
        ));
    }
    if !on.is_empty() {
        return check(
            id,
            strict(opts.mode),
            format!("radio not blocked: {}: `rfkill block all`", on.join(", ")),
            evidence,
        );
    }
    if evidence.is_empty() {
        return check(
            id,
            Status::Pass,
            "no wireless or bluetooth device",
            vec![
                "/sys/class/rfkill: no radio".into(),
                "/sys/class/bluetooth: no adapter".into(),
            ],
        );
    }
    check(id, Status::Pass, "every radio is blocked", evidence)
}

fn swap(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::Swap;
    let text = match sys.read_file("/proc/swaps") {
        Ok(t) => t,
        Err(e) => {
            return check(
                id,
                Status::Warn,
                "cannot read /proc/swaps",
                vec![format!("/proc/swaps: {e}")],
            )
        }
    };
    let areas: Vec<String> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [name, kind, size, used, ..] => {
                    format!("{}: {kind}, {size} KiB, {used} KiB used", clean(name))
                }
                _ => clean(l),
            }
        })
        .collect();
    if areas.is_empty() {
        return check(
            id,
            Status::Pass,
            "no swap in use",
            vec!["/proc/swaps: none".into()],
        );
    }
    check(
        id,
        strict(opts.mode),
        format!(
            "swap is on ({} area(s)): memory holding secrets could reach disk; `swapoff -a`",
            areas.len()
        ),
        areas,
    )
}

fn core_dumps(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::CoreDumps;
    let mut evidence = Vec::new();
    let mut problems = Vec::new();
    match sys.dumpable() {
        Ok(0) => evidence.push("prctl(PR_GET_DUMPABLE) = 0".into()),
        Ok(d) => {
            evidence.push(format!("prctl(PR_GET_DUMPABLE) = {d}"));
            problems.push("the process is dumpable");
        }
        Err(e) => {
            evidence.push(format!("prctl(PR_GET_DUMPABLE): {e}"));
            problems.push("cannot tell whether the process is dumpable");
        }
    }
    match sys.core_limit() {
        Ok(Limit {
            soft: Some(0),
            hard: Some(0),
        }) => evidence.push("RLIMIT_CORE = 0 (soft and hard)".into()),
        Ok(l) => {
            evidence.push(format!(
                "RLIMIT_CORE soft {}, hard {}",
                show_limit(l.soft),
                show_limit(l.hard)
            ));
            problems.push("core files are allowed");
        }
        Err(e) => {
            evidence.push(format!("RLIMIT_CORE: {e}"));
            problems.push("cannot read RLIMIT_CORE");
        }
    }
    if let Ok(p) = sys.read_file("/proc/sys/kernel/core_pattern") {
        evidence.push(format!("kernel.core_pattern = {}", clean(&p)));
    }
    if let Ok(s) = sys.read_file("/proc/sys/fs/suid_dumpable") {
        let s = clean(&s);
        evidence.push(format!("fs.suid_dumpable = {s}"));
        if s != "0" {
            problems.push("fs.suid_dumpable is not 0, so even a non-dumpable process may dump core (`sysctl fs.suid_dumpable=0`)");
        }
    }
    if problems.is_empty() {
        check(
            id,
            Status::Pass,
            "core dumps are off and the process is not dumpable",
            evidence,
        )
    } else {
        check(id, strict(opts.mode), problems.join("; "), evidence)
    }
}

fn show_limit(v: Option<u64>) -> String {
    v.map_or("unlimited".into(), |v| v.to_string())
}

/// Memory locked for the test: more than every secret buffer a ceremony holds at once.
pub const MLOCK_TEST_BYTES: usize = 64 * 1024;

fn memory_lock(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::MemoryLock;
    let mut evidence = Vec::new();
    match sys.memlock_limit() {
        Ok(l) => evidence.push(format!(
            "RLIMIT_MEMLOCK soft {}, hard {}",
            show_limit(l.soft),
            show_limit(l.hard)
        )),
        Err(e) => evidence.push(format!("RLIMIT_MEMLOCK: {e}")),
    }
    match sys.try_mlock(MLOCK_TEST_BYTES) {
        Ok(()) => {
            evidence.push(format!("mlock of {MLOCK_TEST_BYTES} bytes: ok"));
            check(
                id,
                Status::Pass,
                "secret memory can be locked against swapping",
                evidence,
            )
        }
        Err(e) => {
            evidence.push(format!("mlock of {MLOCK_TEST_BYTES} bytes: {e}"));
            check(
                id,
                strict(opts.mode),
                "memory cannot be locked: raise RLIMIT_MEMLOCK (`ulimit -l`) or run as root",
                evidence,
            )
        }
    }
}

fn random(sys: &dyn System) -> Check {
    use rng_health::*;
    let id = CheckId::Random;
    let mut sample = zeroize::Zeroizing::new(vec![0u8; SAMPLE_LEN]);
    if let Err(e) = sys.random(&mut sample) {
        let summary = if e.kind() == std::io::ErrorKind::WouldBlock {
            "the kernel's random pool is not initialised yet: wait, then run preflight again"
                .to_string()
        } else {
            format!("the OS random source does not answer: {e}")
        };
        return check(
            id,
            Status::Fail,
            summary,
            vec![format!("getrandom({SAMPLE_LEN} bytes, GRND_NONBLOCK): {e}")],
        );
    }
    let r = test_sample(&sample);
    let evidence = vec![
        format!("getrandom: {} bytes", r.samples),
        format!(
            "repetition count test: longest run {} (fails at {RCT_CUTOFF})",
            r.longest_run
        ),
        format!(
            "adaptive proportion test: highest count {} in a {APT_WINDOW}-byte window (fails at {APT_CUTOFF})",
            r.max_window_count
        ),
    ];
    if r.passed() {
        check(
            id,
            Status::Pass,
            "the OS random source answers and passes the start-up health tests",
            evidence,
        )
    } else {
        check(
            id,
            Status::Fail,
            "the OS random source FAILED its start-up health test: do not generate a key on this machine",
            evidence,
        )
    }
}

/// The earliest date this build could run at: the source date of a release
/// build (`SOURCE_DATE_EPOCH` at build time), otherwise the day this check
/// was written. A clock before it is wrong.
pub fn earliest_plausible_date() -> time::OffsetDateTime {
    option_env!("SOURCE_DATE_EPOCH")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::macros::datetime!(2026-12-01 00:00 UTC))
}

/// How far past [`earliest_plausible_date`] a clock may be before it is called absurd.
pub const PLAUSIBLE_YEARS: i32 = 20;

fn clock(sys: &dyn System, opts: &PreflightOptions) -> Check {
    let id = CheckId::Clock;
    let now = sys.now();
    let floor = earliest_plausible_date();
    let ceiling = floor
        .replace_year(floor.year() + PLAUSIBLE_YEARS)
        .unwrap_or(floor);
    let fmt = |t: time::OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let evidence = vec![
        format!("system clock: {}", fmt(now)),
        format!("plausible: {} to {}", fmt(floor), fmt(ceiling)),
    ];
    if now < floor {
        check(
            id,
            strict(opts.mode),
            "the clock is before this build was made: set it (`date -s`) so the transcript's times mean something",
            evidence,
        )
    } else if now > ceiling {
        check(
            id,
            strict(opts.mode),
            format!("the clock is more than {PLAUSIBLE_YEARS} years after this build: set it (`date -s`)"),
            evidence,
        )
    } else {
        check(id, Status::Pass, "the clock is plausible", evidence)
    }
}

fn test_tokens(opts: &PreflightOptions) -> Check {
    let id = CheckId::TestTokens;
    match (&opts.test_tokens, opts.mode) {
        (None, _) => check(
            id,
            Status::Pass,
            "no test tokens configured",
            vec!["--test-tokens / KEYCEREMONY_TEST_TOKENS: not set".into()],
        ),
        (Some(dir), Mode::Rehearsal) => check(
            id,
            Status::Pass,
            "test tokens configured (allowed in a rehearsal)",
            vec![format!("test tokens in {}", clean(&dir.display().to_string()))],
        ),
        (Some(dir), Mode::Production) => check(
            id,
            Status::Fail,
            "TEST TOKENS are configured: a production ceremony uses real YubiKeys only (unset KEYCEREMONY_TEST_TOKENS, drop --test-tokens)",
            vec![format!("test tokens in {}", clean(&dir.display().to_string()))],
        ),
    }
}

fn binary(sys: &dyn System) -> Check {
    let id = CheckId::Binary;
    match sys.binary() {
        Ok(b) => check(
            id,
            Status::Pass,
            format!("keyceremony {} sha256 {}", b.version, b.sha256),
            vec![
                format!("version {}", b.version),
                format!("commit {}", clean(&b.commit)),
                format!("rustc {}", clean(&b.rustc)),
                format!("path {}", clean(&b.path)),
                format!("sha256 {}", b.sha256),
            ],
        ),
        Err(e) => check(
            id,
            Status::Warn,
            "cannot read this binary to hash it",
            vec![format!("/proc/self/exe: {e}")],
        ),
    }
}

#[cfg(test)]
mod tests;
