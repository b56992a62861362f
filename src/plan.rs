//! Ceremony plans: `ceremony/*.toml`, the one input of a ceremony run, so
//! that it can be reviewed beforehand and its SHA-256 read aloud in the room.
//!
//! Parsing is strict: an unknown key, a wrong type, a missing field, a
//! duplicate name, a threshold out of range, a test token in production, a
//! recipient that does not parse, a missing or double key source, or an
//! unsupported version is refused with `FILE:LINE:COLUMN: problem`. Paths in
//! a plan are relative to the plan's own folder. No secret goes in a plan
//! (a `passphrase` key is refused: give `passphrase_file`, or nothing to be
//! asked at the console). Every key is described in `docs/ceremony.md`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::preflight::CheckId;
use crate::seal::PivRecipient;
use crate::shamir::SplitParams;

/// The plan format version this build reads.
pub const PLAN_VERSION: i64 = 1;
/// Largest plan file read.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024;
/// Most custodians (share ids are 1..=255).
pub const MAX_CUSTODIANS: usize = 255;
/// Most witnesses, bundles, files listed in one place.
pub const MAX_LIST: usize = 64;

/// A real ceremony, or a rehearsal with test tokens allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Production,
    Rehearsal,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Production => "production",
            Mode::Rehearsal => "rehearsal",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a custodian receives their share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A shard file `shard-<i>.json`.
    File,
    /// A printed QR sheet (with its PNG and SVG).
    Qr,
    /// Sealed to the YubiKey with this serial (present at the ceremony).
    Token { serial: u32 },
    /// Sealed to a software test token (rehearsal only).
    TestToken { serial: u32 },
    /// Sealed to an `age1yubikey1...` recipient; `serial` names the token
    /// that will open it at the check-back, when known.
    Recipient {
        recipient: String,
        serial: Option<u32>,
    },
    /// `shard-<i>.json.age` under the custodian's passphrase (age scrypt):
    /// from `passphrase_file` (resolved against the plan's folder), or asked
    /// twice at the console and typed again for the check-back.
    Passphrase { passphrase_file: Option<PathBuf> },
}

impl Transport {
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::File => "file",
            Transport::Qr => "qr",
            Transport::Token { .. } => "token",
            Transport::TestToken { .. } => "test-token",
            Transport::Recipient { .. } => "recipient",
            Transport::Passphrase { .. } => "passphrase",
        }
    }

    /// Sealed to a token (real or test): checked back by unsealing.
    pub fn is_sealed(&self) -> bool {
        matches!(
            self,
            Transport::Token { .. } | Transport::TestToken { .. } | Transport::Recipient { .. }
        )
    }
}

/// One custodian: share `share_id` (their position in the plan, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custodian {
    pub share_id: u8,
    pub name: String,
    pub transport: Transport,
}

/// Where the root key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A fresh key from the OS random source.
    Generate,
    /// 64 hex characters in a file (resolved against the plan's folder).
    KeyFile(PathBuf),
    /// SPIKE Nexus recovery shards, assembled first.
    Spike { files: Vec<PathBuf>, threshold: u16 },
    /// Any secret in a file: a fresh data key is split and the secret is
    /// written under it as `secret.age`, as `split --secret-file` does.
    SecretFile(PathBuf),
    /// The key of an existing ceremony, from the shares given to
    /// `keyceremony reshare --plan` (`from_shares = true`); `ceremony run`
    /// refuses such a plan.
    FromShares,
}

impl KeySource {
    pub fn kind(&self) -> &'static str {
        match self {
            KeySource::Generate => "generate",
            KeySource::KeyFile(_) => "file",
            KeySource::Spike { .. } => "spike",
            KeySource::SecretFile(_) => "secret-file",
            KeySource::FromShares => "from-shares",
        }
    }
}

/// An encrypted bundle for the Nexus, written after the shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundlePlan {
    /// age v1 to X25519 recipients (`age1...`).
    Age {
        recipients: Vec<String>,
        file: Option<String>,
        include: Vec<PathBuf>,
        /// An age identity that opens the bundle, to verify it fully after writing.
        check_identity: Option<PathBuf>,
    },
    /// The Nexus backup format under a passphrase: from a file, or asked at the console.
    NexusBackup {
        passphrase_file: Option<PathBuf>,
        file: Option<String>,
        include: Vec<PathBuf>,
    },
}

impl BundlePlan {
    pub fn kind(&self) -> &'static str {
        match self {
            BundlePlan::Age { .. } => "age",
            BundlePlan::NexusBackup { .. } => "nexus-backup",
        }
    }
}

/// A preflight check the plan allows to fail, and why (recorded in the transcript).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightException {
    pub check: CheckId,
    pub reason: String,
}

/// A parsed, fully checked plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The file it was read from (for messages and resolving paths).
    pub path: PathBuf,
    /// SHA-256 of the file's exact bytes.
    pub sha256: Sha256Digest,
    pub label: String,
    pub mode: Mode,
    pub lead: String,
    pub params: SplitParams,
    pub custodians: Vec<Custodian>,
    pub key: KeySource,
    pub bundles: Vec<BundlePlan>,
    pub witnesses: Vec<String>,
    pub preflight_exceptions: Vec<PreflightException>,
}

impl Plan {
    /// Reads and checks a plan file.
    pub fn load(path: &Path) -> Result<Plan> {
        let bytes = crate::input_file::read(path, MAX_PLAN_BYTES, "ceremony plan")?;
        Ok(Plan::parse(path, &bytes)?)
    }

    /// Checks a plan's bytes; `path` is used in messages and to resolve its paths.
    pub fn parse(path: &Path, bytes: &[u8]) -> std::result::Result<Plan, PlanError> {
        Parser { path, bytes }.parse()
    }

    /// The folder the plan's relative paths start from.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// A path from the plan, made relative to the plan's folder (absolute ones stay).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }

    /// Every file the plan names, resolved against its folder, with what it is for.
    pub fn referenced_files(&self) -> Vec<(&'static str, PathBuf)> {
        let mut out = Vec::new();
        match &self.key {
            KeySource::Generate | KeySource::FromShares => {}
            KeySource::KeyFile(p) => out.push(("key file", self.resolve(p))),
            KeySource::Spike { files, .. } => {
                out.extend(files.iter().map(|p| ("SPIKE shard", self.resolve(p))))
            }
            KeySource::SecretFile(p) => out.push(("secret file", self.resolve(p))),
        }
        for c in &self.custodians {
            if let Transport::Passphrase {
                passphrase_file: Some(p),
            } = &c.transport
            {
                out.push(("shard passphrase", self.resolve(p)));
            }
        }
        for b in &self.bundles {
            let (include, extra) = match b {
                BundlePlan::Age {
                    include,
                    check_identity,
                    ..
                } => (
                    include,
                    check_identity.as_ref().map(|p| ("age check identity", p)),
                ),
                BundlePlan::NexusBackup {
                    include,
                    passphrase_file,
                    ..
                } => (
                    include,
                    passphrase_file.as_ref().map(|p| ("passphrase file", p)),
                ),
            };
            out.extend(include.iter().map(|p| ("bundle include", self.resolve(p))));
            if let Some((what, p)) = extra {
                out.push((what, self.resolve(p)));
            }
        }
        out
    }

    pub fn uses_test_tokens(&self) -> bool {
        self.custodians
            .iter()
            .any(|c| matches!(c.transport, Transport::TestToken { .. }))
    }

    /// The plan as transcript facts (all public: the plan holds no secret).
    pub fn facts(&self) -> serde_json::Value {
        use serde_json::json;
        let custodians: Vec<_> = self
            .custodians
            .iter()
            .map(|c| {
                let mut v =
                    json!({"share": c.share_id, "name": c.name, "transport": c.transport.kind()});
                match &c.transport {
                    Transport::Token { serial } | Transport::TestToken { serial } => {
                        v["serial"] = json!(serial)
                    }
                    Transport::Recipient { recipient, serial } => {
                        v["recipient"] = json!(recipient);
                        if let Some(s) = serial {
                            v["serial"] = json!(s);
                        }
                    }
                    Transport::Passphrase { passphrase_file } => {
                        v["passphrase"] = json!(if passphrase_file.is_some() {
                            "file"
                        } else {
                            "console"
                        })
                    }
                    Transport::File | Transport::Qr => {}
                }
                v
            })
            .collect();
        let bundles: Vec<_> = self
            .bundles
            .iter()
            .map(|b| match b {
                BundlePlan::Age { recipients, .. } => {
                    json!({"format": "age", "recipients": recipients})
                }
                BundlePlan::NexusBackup {
                    passphrase_file, ..
                } => json!({
                    "format": "nexus-backup",
                    "passphrase": if passphrase_file.is_some() { "file" } else { "console" },
                }),
            })
            .collect();
        json!({
            "plan_sha256": self.sha256.to_hex(),
            "label": self.label,
            "mode": self.mode.as_str(),
            "lead": self.lead,
            "threshold": self.params.threshold(),
            "shares": self.params.shares(),
            "custodians": custodians,
            "key_source": self.key.kind(),
            "bundles": bundles,
            "witnesses": self.witnesses,
            "preflight_exceptions": self.preflight_exceptions,
        })
    }
}

/// Why a plan was refused: `FILE:LINE:COLUMN: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {problem}", path.display())]
pub struct PlanError {
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub problem: String,
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Error {
        Error::Plan(Box::new(e))
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Characters a name must not hold beyond `record::check_name`'s rules
/// (see [`crate::terminal::is_invisible`]).
pub fn is_invisible_control(c: char) -> bool {
    crate::terminal::is_invisible(c)
}

/// A person's name or a label as a plan may give it.
pub fn check_plan_name(text: &str) -> std::result::Result<(), String> {
    if text.trim().is_empty() {
        return Err("is empty".into());
    }
    if text.trim() != text {
        return Err("starts or ends with a space".into());
    }
    crate::record::check_name(text)?;
    crate::terminal::check_visible(text)
}

/// Makes text from a plan (inside a serde message) safe for a terminal.
fn printable(text: &str) -> String {
    crate::terminal::escape(text).into_owned()
}

/// A value found in a plan, shown in a message: numbers and booleans as
/// they are, a string quoted and cut to 40 characters, other values by kind.
/// (Not through the toml crate's writer: its quote counting overflows on a
/// string of 256 quotes, found by fuzzing.)
fn describe_value(v: &toml::Value) -> String {
    match v {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if shown.len() < s.len() { "..." } else { "" };
            format!("\"{}{more}\"", printable(&shown))
        }
        other => format!("of type {}", other.type_str()),
    }
}

// ---------------------------------------------------------------------------
// What the TOML holds, before the checks. Every field is spanned, so each
// refusal points at the exact key or value.

#[derive(Deserialize)]
struct VersionProbe {
    version: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    // checked by the VersionProbe pass; named here so that it is not unknown
    #[allow(dead_code)]
    version: Spanned<i64>,
    label: Spanned<String>,
    mode: Spanned<Mode>,
    lead: Spanned<String>,
    threshold: Spanned<i64>,
    #[serde(default)]
    witnesses: Vec<Spanned<String>>,
    key: Spanned<RawKey>,
    #[serde(rename = "custodian", default)]
    custodians: Vec<Spanned<RawCustodian>>,
    #[serde(rename = "bundle", default)]
    bundles: Vec<Spanned<RawBundle>>,
    preflight: Option<Spanned<RawPreflight>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    generate: Option<Spanned<bool>>,
    file: Option<Spanned<String>>,
    spike: Option<Spanned<RawSpike>>,
    secret_file: Option<Spanned<String>>,
    from_shares: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpike {
    files: Spanned<Vec<Spanned<String>>>,
    threshold: Spanned<i64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawTransport {
    File,
    Qr,
    Token,
    TestToken,
    Recipient,
    Passphrase,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustodian {
    name: Spanned<String>,
    transport: Spanned<RawTransport>,
    serial: Option<Spanned<i64>>,
    recipient: Option<Spanned<String>>,
    passphrase_file: Option<Spanned<String>>,
    /// Only so that a passphrase written into the plan gets its own refusal.
    passphrase: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawBundleFormat {
    Age,
    NexusBackup,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    format: Spanned<RawBundleFormat>,
    recipients: Option<Spanned<Vec<Spanned<String>>>>,
    file: Option<Spanned<String>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    check_identity: Option<Spanned<String>>,
    passphrase_file: Option<Spanned<String>>,
    /// Only so that a passphrase written into the plan gets its own refusal.
    passphrase: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    check: Spanned<String>,
    reason: Spanned<String>,
}

struct Parser<'a> {
    path: &'a Path,
    bytes: &'a [u8],
}

impl Parser<'_> {
    fn error_at(&self, text: &str, at: usize, problem: impl Into<String>) -> PlanError {
        let (line, column) = line_column(text, at);
        PlanError {
            path: self.path.to_path_buf(),
            line,
            column,
            problem: problem.into(),
        }
    }

    fn toml_error(&self, text: &str, e: toml::de::Error) -> PlanError {
        let at = e.span().map_or(0, |s| s.start);
        let message = e
            .message()
            .trim()
            .replace('\n', "; ")
            .replace("expected i64", "expected a whole number")
            .replace("expected a boolean", "expected true or false");
        self.error_at(text, at, printable(&message))
    }

    fn parse(&self) -> std::result::Result<Plan, PlanError> {
        let text = std::str::from_utf8(self.bytes).map_err(|e| PlanError {
            path: self.path.to_path_buf(),
            line: 1,
            column: 1,
            problem: format!(
                "not UTF-8 text (bad byte at offset {}): a plan is a TOML file",
                e.valid_up_to()
            ),
        })?;
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        // The version first: a plan of another version is refused as such,
        // not for the keys this build does not know.
        let probe: VersionProbe = toml::from_str(text).map_err(|e| self.toml_error(text, e))?;
        match probe.version {
            None => {
                return Err(self.error_at(
                    text,
                    0,
                    format!("missing `version = {PLAN_VERSION}`: the first key of every plan"),
                ))
            }
            Some(v) if v.get_ref().as_integer() != Some(PLAN_VERSION) => {
                return Err(self.error_at(
                    text,
                    v.span().start,
                    format!(
                        "plan version {} is not supported: this keyceremony reads version {PLAN_VERSION}",
                        describe_value(v.get_ref())
                    ),
                ))
            }
            Some(_) => {}
        }
        let raw: RawPlan = toml::from_str(text).map_err(|e| self.toml_error(text, e))?;
        self.check(text, raw)
    }

    fn name(
        &self,
        text: &str,
        field: &str,
        v: &Spanned<String>,
    ) -> std::result::Result<String, PlanError> {
        check_plan_name(v.get_ref())
            .map_err(|e| self.error_at(text, v.span().start, format!("{field} {e}")))?;
        Ok(v.get_ref().clone())
    }

    fn path_value(
        &self,
        text: &str,
        field: &str,
        v: &Spanned<String>,
    ) -> std::result::Result<PathBuf, PlanError> {
        let s = v.get_ref();
        if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_control()) {
            return Err(self.error_at(
                text,
                v.span().start,
                format!("{field} is not a usable path (empty, too long, or a control character)"),
            ));
        }
        Ok(PathBuf::from(s))
    }

    /// An output file name inside the ceremony's folder: no folders, no dot files.
    fn file_name(&self, text: &str, v: &Spanned<String>) -> std::result::Result<String, PlanError> {
        let s = v.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 200
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(self.error_at(
                text,
                v.span().start,
                "file must be a plain file name (letters, digits, . - _; no folder, not starting with a dot)",
            ));
        }
        Ok(s.clone())
    }

    fn serial(&self, text: &str, v: &Spanned<i64>) -> std::result::Result<u32, PlanError> {
        u32::try_from(*v.get_ref())
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                self.error_at(
                    text,
                    v.span().start,
                    format!(
                        "serial {} is not a token serial number (1 to 4294967295)",
                        v.get_ref()
                    ),
                )
            })
    }

    fn check(&self, text: &str, raw: RawPlan) -> std::result::Result<Plan, PlanError> {
        let label = self.name(text, "label", &raw.label)?;
        let lead = self.name(text, "lead", &raw.lead)?;
        let mode = *raw.mode.get_ref();

        // custodians
        if raw.custodians.is_empty() {
            return Err(self.error_at(
                text,
                raw.threshold.span().start,
                "no [[custodian]]: a plan names every custodian, one [[custodian]] table each",
            ));
        }
        if raw.custodians.len() > MAX_CUSTODIANS {
            return Err(self.error_at(
                text,
                raw.custodians[MAX_CUSTODIANS].span().start,
                format!("more than {MAX_CUSTODIANS} custodians"),
            ));
        }
        let mut custodians = Vec::new();
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut serials: Vec<(u32, usize)> = Vec::new();
        for (i, c) in raw.custodians.iter().enumerate() {
            let c = c.get_ref();
            let name = self.name(text, "custodian name", &c.name)?;
            let folded = name.to_lowercase();
            if let Some((_, at)) = seen.iter().find(|(n, _)| *n == folded) {
                let (line, _) = line_column(text, *at);
                return Err(self.error_at(
                    text,
                    c.name.span().start,
                    format!(
                        "duplicate custodian \"{}\" (already at line {line}): each custodian appears once",
                        printable(&name)
                    ),
                ));
            }
            seen.push((folded, c.name.span().start));
            let kind = *c.transport.get_ref();
            let transport_name = match kind {
                RawTransport::File => "file",
                RawTransport::Qr => "qr",
                RawTransport::Token => "token",
                RawTransport::TestToken => "test-token",
                RawTransport::Recipient => "recipient",
                RawTransport::Passphrase => "passphrase",
            };
            if let Some(p) = &c.passphrase {
                return Err(self.error_at(
                    text,
                    p.span().start,
                    "a passphrase never goes into a plan (the plan is hashed, printed and kept): give passphrase_file = \"...\", or leave it out to be asked at the console",
                ));
            }
            if let (Some(p), false) = (&c.passphrase_file, kind == RawTransport::Passphrase) {
                return Err(self.error_at(
                    text,
                    p.span().start,
                    format!("`passphrase_file` does not apply to transport = \"{transport_name}\""),
                ));
            }
            let serial = c
                .serial
                .as_ref()
                .map(|s| self.serial(text, s).map(|v| (v, s.span().start)))
                .transpose()?;
            let not_for = |field: &str, at: usize| {
                self.error_at(
                    text,
                    at,
                    format!("`{field}` does not apply to transport = \"{transport_name}\""),
                )
            };
            let transport = match kind {
                RawTransport::Passphrase => {
                    if let Some((_, at)) = serial {
                        return Err(not_for("serial", at));
                    }
                    if let Some(r) = &c.recipient {
                        return Err(not_for("recipient", r.span().start));
                    }
                    let passphrase_file = c
                        .passphrase_file
                        .as_ref()
                        .map(|p| self.path_value(text, "passphrase_file", p))
                        .transpose()?;
                    Transport::Passphrase { passphrase_file }
                }
                RawTransport::File | RawTransport::Qr => {
                    if let Some((_, at)) = serial {
                        return Err(not_for("serial", at));
                    }
                    if let Some(r) = &c.recipient {
                        return Err(not_for("recipient", r.span().start));
                    }
                    if kind == RawTransport::File {
                        Transport::File
                    } else {
                        Transport::Qr
                    }
                }
                RawTransport::Token | RawTransport::TestToken => {
                    if let Some(r) = &c.recipient {
                        return Err(not_for("recipient", r.span().start));
                    }
                    let Some((serial, _)) = serial else {
                        return Err(self.error_at(
                            text,
                            c.transport.span().start,
                            format!("transport = \"{transport_name}\" needs the token's `serial`"),
                        ));
                    };
                    if kind == RawTransport::TestToken {
                        if mode == Mode::Production {
                            return Err(self.error_at(
                                text,
                                c.transport.span().start,
                                "a test token is not allowed in a production plan: use transport = \"token\" with a real YubiKey, or mode = \"rehearsal\"",
                            ));
                        }
                        Transport::TestToken { serial }
                    } else {
                        Transport::Token { serial }
                    }
                }
                RawTransport::Recipient => {
                    let Some(r) = &c.recipient else {
                        return Err(self.error_at(
                            text,
                            c.transport.span().start,
                            "transport = \"recipient\" needs `recipient = \"age1yubikey1...\"` (from `keyceremony token recipient`)",
                        ));
                    };
                    PivRecipient::parse(r.get_ref()).map_err(|e| {
                        self.error_at(text, r.span().start, format!("recipient: {e}"))
                    })?;
                    if r.get_ref().contains('#') || r.get_ref().trim() != r.get_ref() {
                        return Err(self.error_at(
                            text,
                            r.span().start,
                            "recipient: give the age1yubikey1... string alone, without spaces or a comment",
                        ));
                    }
                    Transport::Recipient {
                        recipient: r.get_ref().clone(),
                        serial: serial.map(|(s, _)| s),
                    }
                }
            };
            if let Some((s, at)) = serial {
                if let Some((_, first)) = serials.iter().find(|(v, _)| *v == s) {
                    let (line, _) = line_column(text, *first);
                    return Err(self.error_at(
                        text,
                        at,
                        format!("token {s} is already used at line {line}: whoever holds it would hold two shares"),
                    ));
                }
                serials.push((s, at));
            }
            custodians.push(Custodian {
                share_id: (i + 1) as u8,
                name,
                transport,
            });
        }

        // threshold
        let n = custodians.len();
        let t = *raw.threshold.get_ref();
        if t < 2 || t > n as i64 {
            return Err(self.error_at(
                text,
                raw.threshold.span().start,
                format!(
                    "threshold {t} is out of range: it must be at least 2 and at most the number of custodians ({n})"
                ),
            ));
        }
        let params = SplitParams::new(t as u16, n as u16)
            .map_err(|e| self.error_at(text, raw.threshold.span().start, e.to_string()))?;

        // key source: exactly one
        let key_at = raw.key.span().start;
        let k = raw.key.get_ref();
        let mut sources: Vec<(usize, KeySource)> = Vec::new();
        if let Some(g) = &k.generate {
            if !*g.get_ref() {
                return Err(self.error_at(
                    text,
                    g.span().start,
                    "generate = false names no key source: write generate = true, or give `file` or `spike` instead",
                ));
            }
            sources.push((g.span().start, KeySource::Generate));
        }
        if let Some(f) = &k.from_shares {
            if !*f.get_ref() {
                return Err(self.error_at(
                    text,
                    f.span().start,
                    "from_shares = false names no key source: write from_shares = true (keyceremony reshare), or give `generate`, `file` or `spike` instead",
                ));
            }
            sources.push((f.span().start, KeySource::FromShares));
        }
        if let Some(f) = &k.file {
            sources.push((
                f.span().start,
                KeySource::KeyFile(self.path_value(text, "key file", f)?),
            ));
        }
        if let Some(s) = &k.spike {
            let sp = s.get_ref();
            let files = sp.files.get_ref();
            let st = *sp.threshold.get_ref();
            if files.is_empty() || files.len() > 255 {
                return Err(self.error_at(
                    text,
                    sp.files.span().start,
                    "spike.files lists no file (or more than 255)",
                ));
            }
            if st < 1 || st > files.len() as i64 {
                return Err(self.error_at(
                    text,
                    sp.threshold.span().start,
                    format!(
                        "spike threshold {st} is out of range: at least 1 and at most the number of files listed ({})",
                        files.len()
                    ),
                ));
            }
            let mut paths = Vec::new();
            for f in files {
                let p = self.path_value(text, "spike file", f)?;
                if paths.contains(&p) {
                    return Err(self.error_at(text, f.span().start, "spike file listed twice"));
                }
                paths.push(p);
            }
            sources.push((
                s.span().start,
                KeySource::Spike {
                    files: paths,
                    threshold: st as u16,
                },
            ));
        }
        if let Some(f) = &k.secret_file {
            sources.push((
                f.span().start,
                KeySource::SecretFile(self.path_value(text, "secret file", f)?),
            ));
        }
        let key = match sources.len() {
            0 => {
                return Err(self.error_at(
                    text,
                    key_at,
                    "[key] names no key source: give exactly one of generate = true, file = \"...\", spike = { files = [...], threshold = K }, secret_file = \"...\"",
                ))
            }
            1 => sources.pop().expect("one").1,
            _ => {
                return Err(self.error_at(
                    text,
                    sources[1].0,
                    format!(
                        "[key] names two key sources ({} and {}): give exactly one",
                        sources[0].1.kind(),
                        sources[1].1.kind()
                    ),
                ))
            }
        };

        // bundles
        if let (KeySource::SecretFile(_), Some(b)) = (&key, raw.bundles.first()) {
            return Err(self.error_at(
                text,
                b.span().start,
                "a plan that splits a secret file makes no bundle: the shares hold the secret's data key, not a Nexus root key (bundle the secret itself after assembling it, if the Nexus needs it)",
            ));
        }
        if raw.bundles.len() > MAX_LIST {
            return Err(self.error_at(
                text,
                raw.bundles[MAX_LIST].span().start,
                format!("more than {MAX_LIST} bundles"),
            ));
        }
        let mut bundles = Vec::new();
        let mut bundle_files: Vec<String> = Vec::new();
        for b in &raw.bundles {
            let b = b.get_ref();
            if let Some(p) = &b.passphrase {
                return Err(self.error_at(
                    text,
                    p.span().start,
                    "a passphrase never goes into a plan (the plan is hashed, printed and kept): give passphrase_file = \"...\", or leave it out to be asked at the console",
                ));
            }
            let file = b
                .file
                .as_ref()
                .map(|f| self.file_name(text, f))
                .transpose()?;
            if let (Some(name), Some(f)) = (&file, &b.file) {
                if bundle_files.contains(name) {
                    return Err(self.error_at(
                        text,
                        f.span().start,
                        "two bundles with the same file name",
                    ));
                }
                bundle_files.push(name.clone());
            }
            if b.include.len() > MAX_LIST {
                return Err(self.error_at(
                    text,
                    b.include[MAX_LIST].span().start,
                    format!("more than {MAX_LIST} include paths"),
                ));
            }
            let include = b
                .include
                .iter()
                .map(|p| self.path_value(text, "include", p))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let format_name = match b.format.get_ref() {
                RawBundleFormat::Age => "age",
                RawBundleFormat::NexusBackup => "nexus-backup",
            };
            let not_for = |field: &str, at: usize| {
                self.error_at(
                    text,
                    at,
                    format!("`{field}` does not apply to format = \"{format_name}\""),
                )
            };
            match b.format.get_ref() {
                RawBundleFormat::Age => {
                    if let Some(p) = &b.passphrase_file {
                        return Err(not_for("passphrase_file", p.span().start));
                    }
                    let Some(recipients) = &b.recipients else {
                        return Err(self.error_at(
                            text,
                            b.format.span().start,
                            "an age bundle needs `recipients = [\"age1...\"]` (the Nexus's age recipient)",
                        ));
                    };
                    if recipients.get_ref().is_empty() || recipients.get_ref().len() > MAX_LIST {
                        return Err(self.error_at(
                            text,
                            recipients.span().start,
                            format!("recipients must list 1 to {MAX_LIST} age recipients"),
                        ));
                    }
                    let mut list = Vec::new();
                    for r in recipients.get_ref() {
                        age::x25519::Recipient::from_str(r.get_ref()).map_err(|e| {
                            self.error_at(
                                text,
                                r.span().start,
                                format!("not an age X25519 recipient (age1...): {}", printable(e)),
                            )
                        })?;
                        if list.contains(r.get_ref()) {
                            return Err(self.error_at(
                                text,
                                r.span().start,
                                "recipient listed twice",
                            ));
                        }
                        list.push(r.get_ref().clone());
                    }
                    let check_identity = b
                        .check_identity
                        .as_ref()
                        .map(|p| self.path_value(text, "check_identity", p))
                        .transpose()?;
                    bundles.push(BundlePlan::Age {
                        recipients: list,
                        file,
                        include,
                        check_identity,
                    });
                }
                RawBundleFormat::NexusBackup => {
                    if let Some(r) = &b.recipients {
                        return Err(not_for("recipients", r.span().start));
                    }
                    if let Some(c) = &b.check_identity {
                        return Err(not_for("check_identity", c.span().start));
                    }
                    let passphrase_file = b
                        .passphrase_file
                        .as_ref()
                        .map(|p| self.path_value(text, "passphrase_file", p))
                        .transpose()?;
                    bundles.push(BundlePlan::NexusBackup {
                        passphrase_file,
                        file,
                        include,
                    });
                }
            }
        }

        // witnesses
        if raw.witnesses.len() > MAX_LIST {
            return Err(self.error_at(
                text,
                raw.witnesses[MAX_LIST].span().start,
                format!("more than {MAX_LIST} witnesses"),
            ));
        }
        let mut witnesses = Vec::new();
        let mut witness_seen: Vec<String> = Vec::new();
        for w in &raw.witnesses {
            let name = self.name(text, "witness name", w)?;
            let folded = name.to_lowercase();
            if witness_seen.contains(&folded) {
                return Err(self.error_at(
                    text,
                    w.span().start,
                    format!("duplicate witness \"{}\"", printable(&name)),
                ));
            }
            if folded == lead.to_lowercase() || seen.iter().any(|(n, _)| *n == folded) {
                return Err(self.error_at(
                    text,
                    w.span().start,
                    format!(
                        "\"{}\" is the lead or a custodian: a witness must be someone else",
                        printable(&name)
                    ),
                ));
            }
            witness_seen.push(folded);
            witnesses.push(name);
        }

        // preflight exceptions
        let mut preflight_exceptions: Vec<PreflightException> = Vec::new();
        if let Some(p) = &raw.preflight {
            for a in &p.get_ref().allow {
                let a = a.get_ref();
                let Some(id) = CheckId::parse(a.check.get_ref()) else {
                    let names: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
                    return Err(self.error_at(
                        text,
                        a.check.span().start,
                        format!(
                            "unknown preflight check \"{}\": one of {}",
                            printable(a.check.get_ref()),
                            names.join(", ")
                        ),
                    ));
                };
                if !id.may_be_excepted() {
                    return Err(self.error_at(
                        text,
                        a.check.span().start,
                        format!("the {id} check cannot be allowed to fail"),
                    ));
                }
                if preflight_exceptions.iter().any(|e| e.check == id) {
                    return Err(self.error_at(
                        text,
                        a.check.span().start,
                        format!("the {id} check is allowed twice"),
                    ));
                }
                let reason = a.reason.get_ref();
                check_plan_name(reason).map_err(|e| {
                    self.error_at(text, a.reason.span().start, format!("reason {e}"))
                })?;
                preflight_exceptions.push(PreflightException {
                    check: id,
                    reason: reason.clone(),
                });
            }
        }

        Ok(Plan {
            path: self.path.to_path_buf(),
            sha256: Sha256Digest::of(self.bytes),
            label,
            mode,
            lead,
            params,
            custodians,
            key,
            bundles,
            witnesses,
            preflight_exceptions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let t = "ab\ncdé f\n";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 3), (2, 1));
        assert_eq!(line_column(t, t.find('f').unwrap()), (2, 5));
        assert_eq!(line_column(t, 10_000), (3, 1));
    }

    #[test]
    fn names_refuse_invisible_controls() {
        assert!(check_plan_name("Zoë Ng").is_ok());
        assert!(check_plan_name("Ali\u{202E}ce").is_err());
        assert!(check_plan_name("Bo\u{200B}b").is_err());
        assert!(check_plan_name("\u{2066}x").is_err());
        assert!(check_plan_name(" Bob").is_err());
        assert!(check_plan_name("").is_err());
        assert!(check_plan_name("a\tb").is_err());
    }
}
