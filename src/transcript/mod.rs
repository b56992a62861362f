//! The ceremony transcript, `transcript.jsonl`: what happened, in order,
//! hash-chained line by line and signed by a one-time key.
//!
//! ```text
//! {"seq":1,"time":"2026-12-01T10:00:00Z","step":"start","facts":{...},"prev":"<64 hex>"}
//! {"seq":2,"time":"2026-12-01T10:00:04Z","step":"plan","facts":{...},"prev":"<sha256 of line 1>"}
//! ...
//! {"seq":N-1,...,"step":"close","facts":{...},"prev":"<sha256 of line N-2>"}
//! {"seq":N,...,"step":"signature","facts":{"algorithm":"ed25519","public_key":"<64 hex>","signature":"<128 hex>","signed_hash":"<H>","signed_seq":N-1},"prev":"<H>"}
//! ```
//!
//! - One JSON object per line, ASCII only (other characters as `\uXXXX`),
//!   keys in this order at the top and sorted inside `facts`, no spaces;
//!   every line ends with `\n`. A line that is not byte for byte in this
//!   form is refused, so a line has exactly one reading.
//! - `seq` is the line number, from 1. `time` is RFC 3339 UTC, whole seconds.
//! - `prev` is the SHA-256 of the previous line's exact bytes, its `\n`
//!   included (`sed -n Kp transcript.jsonl | sha256sum`). The first line's
//!   `prev` is 64 zeros, or the final hash of a transcript it continues.
//! - The first line (step `start`) holds the format, version, the
//!   ceremony's one-time Ed25519 public key and the people present.
//! - The second-to-last line closes the run: step `close` (completed), or
//!   `interrupted` (with what was and was not handed out). Its hash is the
//!   transcript's **final hash**, read aloud as words and written down.
//! - The last line (step `signature`) carries the Ed25519 signature over
//!   the ASCII text `keyceremony-transcript/v1 <signed_seq> <final hash hex>`.
//!   The private key lives only in locked memory during the run and is
//!   zeroized when the transcript is signed (or the writer is dropped).
//!
//! Facts are public only; the writer cannot tell, so callers scan with
//! [`crate::secret_scan`] in their tests.

mod printable;
mod verify;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Map, Value};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::plan::{Mode, Plan};
use crate::secret::SecretBytes;

pub use printable::{render_html, PRINTABLE_TEMPLATE};
pub use verify::{
    verify_bytes, verify_file, Outcome, TranscriptError, TranscriptProblem, VerifiedTranscript,
    VerifyOptions,
};

/// `facts.format` of the first line.
pub const FORMAT: &str = "keyceremony-transcript";
/// `facts.version` of the first line.
pub const VERSION: u64 = 1;
/// What the signature's message starts with.
pub const SIGNATURE_CONTEXT: &str = "keyceremony-transcript/v1";
/// Longest line written or read, `\n` included.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest transcript read (a ceremony of 255 custodians writes well under 1 MiB).
pub const MAX_TRANSCRIPT_BYTES: u64 = 16 << 20;

pub const STEP_START: &str = "start";
pub const STEP_CLOSE: &str = "close";
pub const STEP_INTERRUPTED: &str = "interrupted";
pub const STEP_SIGNATURE: &str = "signature";
const RESERVED_STEPS: [&str; 4] = [STEP_START, STEP_CLOSE, STEP_INTERRUPTED, STEP_SIGNATURE];

/// The message the ceremony key signs.
pub fn signature_message(signed_seq: u64, signed_hash: &Sha256Digest) -> String {
    format!("{SIGNATURE_CONTEXT} {signed_seq} {}", signed_hash.to_hex())
}

/// Who and what the ceremony is: the first line's facts, besides the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub label: String,
    pub mode: Mode,
    pub plan_sha256: Option<Sha256Digest>,
    pub lead: String,
    pub custodians: Vec<String>,
    pub witnesses: Vec<String>,
}

impl Header {
    pub fn from_plan(plan: &Plan) -> Header {
        Header {
            label: plan.label.clone(),
            mode: plan.mode,
            plan_sha256: Some(plan.sha256),
            lead: plan.lead.clone(),
            custodians: plan.custodians.iter().map(|c| c.name.clone()).collect(),
            witnesses: plan.witnesses.clone(),
        }
    }

    fn facts(&self, public_key: &[u8; 32]) -> Value {
        let mut f = json!({
            "format": FORMAT,
            "version": VERSION,
            "ceremony_public_key": hex::encode(public_key),
            "label": self.label,
            "mode": self.mode.as_str(),
            "lead": self.lead,
            "custodians": self.custodians,
            "witnesses": self.witnesses,
        });
        if let Some(h) = &self.plan_sha256 {
            f["plan_sha256"] = json!(h.to_hex());
        }
        f
    }
}

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub step: String,
    pub facts: Map<String, Value>,
    pub prev: Sha256Digest,
}

impl Entry {
    /// The line exactly as written, `\n` included.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("{\"seq\":");
        s.push_str(&self.seq.to_string());
        s.push_str(",\"time\":");
        write_string(&self.time, &mut s);
        s.push_str(",\"step\":");
        write_string(&self.step, &mut s);
        s.push_str(",\"facts\":");
        write_object(&self.facts, &mut s);
        s.push_str(",\"prev\":\"");
        s.push_str(&self.prev.to_hex());
        s.push_str("\"}\n");
        s
    }
}

/// Canonical JSON text of a value: objects with sorted keys, no spaces,
/// ASCII only.
pub fn canonical_json(v: &Value) -> String {
    let mut s = String::new();
    write_value(v, &mut s);
    s
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_object(m, out),
    }
}

fn write_object(m: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(&m[k.as_str()], out);
    }
    out.push('}');
}

fn write_string(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Where the transcript's times come from.
pub trait Clock {
    fn now(&mut self) -> time::OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}

impl<F: FnMut() -> time::OffsetDateTime> Clock for F {
    fn now(&mut self) -> time::OffsetDateTime {
        self()
    }
}

/// RFC 3339 UTC with whole seconds, as every line carries it.
pub fn format_time(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats")
}

/// What an interrupted run did and did not hand out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interruption {
    /// Why it stopped (a failed check, Ctrl-C, ...).
    pub reason: String,
    /// Outputs (e.g. "share 1 (Alice): shard-1.json") handed to their custodian.
    pub handed_out: Vec<String>,
    /// Outputs not handed out (not made, or not confirmed).
    pub not_handed_out: Vec<String>,
}

/// How a transcript writer is set up.
pub struct WriterOptions {
    /// The first line's `prev`: the final hash of a transcript this one continues.
    pub chain_from: Option<Sha256Digest>,
    pub clock: Box<dyn Clock>,
    /// A fixed ceremony key, for test vectors only: a transcript signed with
    /// a known key proves nothing. `None` (always, in a ceremony) draws a
    /// fresh one from the OS random source.
    pub fixed_signing_seed: Option<[u8; 32]>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            chain_from: None,
            clock: Box::new(SystemClock),
            fixed_signing_seed: None,
        }
    }
}

/// The transcript once signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTranscript {
    pub path: PathBuf,
    /// Hash of the closing line: what was signed, and what the witnesses write down.
    pub final_hash: Sha256Digest,
    /// The closing line's `seq`.
    pub final_seq: u64,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
    /// Lines in the file, the signature line included.
    pub lines: u64,
}

/// Appends lines to `transcript.jsonl`, each flushed to disk before
/// `append` returns, and signs it at the end.
pub struct TranscriptWriter {
    path: PathBuf,
    file: File,
    seq: u64,
    last_hash: Sha256Digest,
    seed: SecretBytes<32>,
    public_key: [u8; 32],
    clock: Box<dyn Clock>,
}

impl std::fmt::Debug for TranscriptWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptWriter")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .field("public_key", &hex::encode(self.public_key))
            .finish_non_exhaustive()
    }
}

impl TranscriptWriter {
    /// Creates `path` (which must not exist), draws the one-time ceremony
    /// key and writes the first line.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        Self::create_with(path, header, WriterOptions::default())
    }

    pub fn create_with(path: &Path, header: &Header, options: WriterOptions) -> Result<Self> {
        let mut seed = SecretBytes::<32>::zeroed();
        match options.fixed_signing_seed {
            Some(s) => seed.expose_mut().copy_from_slice(&s),
            None => OsRng.fill_bytes(seed.expose_mut()),
        }
        let public_key = SigningKey::from_bytes(seed.expose())
            .verifying_key()
            .to_bytes();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(crate::atomic_file::FILE_MODE)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    Error::io(path, "cannot create the transcript", e)
                }
            })?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let mut w = TranscriptWriter {
            path: path.to_path_buf(),
            file,
            seq: 0,
            last_hash: options.chain_from.unwrap_or(Sha256Digest::ZERO),
            seed,
            public_key,
            clock: options.clock,
        };
        let facts = header.facts(&public_key);
        w.write_entry(STEP_START, facts)?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ceremony's public key (Ed25519, 32 bytes): for the record and every sheet.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// Hash of the last line written.
    pub fn last_hash(&self) -> Sha256Digest {
        self.last_hash
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.seq
    }

    /// Appends one step with its public facts (a JSON object) and flushes
    /// it to disk. Returns the new line's hash.
    pub fn append(&mut self, step: &str, facts: Value) -> Result<Sha256Digest> {
        if RESERVED_STEPS.contains(&step) {
            return Err(Error::Check(format!(
                "transcript step name \"{step}\" is reserved for the writer itself"
            )));
        }
        self.write_entry(step, facts)
    }

    /// Writes the closing entry (step `close`, with `facts`), signs its hash,
    /// writes the signature line and wipes the key.
    pub fn close_and_sign(mut self, facts: Value) -> Result<SignedTranscript> {
        self.write_entry(STEP_CLOSE, facts)?;
        self.sign()
    }

    /// Closes a run that stopped early: an `interrupted` entry saying why
    /// and what was and was not handed out, then the signature.
    pub fn close_interrupted(mut self, what: &Interruption) -> Result<SignedTranscript> {
        let facts = json!({
            "reason": what.reason,
            "handed_out": what.handed_out,
            "not_handed_out": what.not_handed_out,
        });
        self.write_entry(STEP_INTERRUPTED, facts)?;
        self.sign()
    }

    fn sign(mut self) -> Result<SignedTranscript> {
        let final_hash = self.last_hash;
        let final_seq = self.seq;
        let signature = {
            let key = SigningKey::from_bytes(self.seed.expose());
            key.sign(signature_message(final_seq, &final_hash).as_bytes())
                .to_bytes()
            // `key` is zeroized here (ed25519-dalek's ZeroizeOnDrop)
        };
        self.seed.expose_mut().fill(0);
        let facts = json!({
            "algorithm": "ed25519",
            "public_key": hex::encode(self.public_key),
            "signed_seq": final_seq,
            "signed_hash": final_hash.to_hex(),
            "signature": hex::encode(signature),
        });
        self.write_entry(STEP_SIGNATURE, facts)?;
        Ok(SignedTranscript {
            path: self.path.clone(),
            final_hash,
            final_seq,
            public_key: self.public_key,
            signature,
            lines: self.seq,
        })
    }

    fn write_entry(&mut self, step: &str, facts: Value) -> Result<Sha256Digest> {
        let Value::Object(facts) = facts else {
            return Err(Error::Check(
                "transcript facts must be a JSON object".into(),
            ));
        };
        if !is_step_name(step) {
            return Err(Error::Check(format!(
                "transcript step name \"{}\" is not 1 to 64 characters of a-z, 0-9 and -",
                crate::terminal::escape(step)
            )));
        }
        let entry = Entry {
            seq: self.seq + 1,
            time: format_time(self.clock.now()),
            step: step.to_string(),
            facts,
            prev: self.last_hash,
        };
        let line = entry.to_line();
        if line.len() > MAX_LINE_BYTES {
            return Err(Error::Check(format!(
                "transcript step {step}: its facts make a line of {} bytes, more than {MAX_LINE_BYTES}",
                line.len()
            )));
        }
        // One write per line, then to disk: a kill leaves whole lines and at
        // most one truncated last line, which verification names.
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, "cannot append to the transcript", e))?;
        self.seq = entry.seq;
        self.last_hash = Sha256Digest::of(line.as_bytes());
        Ok(self.last_hash)
    }
}

/// Step names: 1 to 64 of `a-z 0-9 -`.
pub fn is_step_name(step: &str) -> bool {
    (1..=64).contains(&step.len())
        && step
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_is_ascii_sorted_and_round_trips() {
        let v = json!({"b": 1, "a": ["x\"y\\z\n", "é€😀", null, true], "c": {"z": 1, "y": -2}, "ctl": "\u{1b}[31m\u{202e}"});
        let text = canonical_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(
            text,
            r#"{"a":["x\"y\\z\n","\u00e9\u20ac\ud83d\ude00",null,true],"b":1,"c":{"y":-2,"z":1},"ctl":"\u001b[31m\u202e"}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        assert_eq!(canonical_json(&back), text);
    }

    #[test]
    fn step_names() {
        assert!(is_step_name("share-3-check"));
        assert!(!is_step_name(""));
        assert!(!is_step_name("Share"));
        assert!(!is_step_name("a b"));
        assert!(!is_step_name(&"a".repeat(65)));
    }
}
