//! Checking a transcript: every line in canonical form, numbered in order,
//! chained to the one before, the run closed, and the closing line's hash
//! signed by the ceremony key the first line names (and, given a record,
//! the key the record names). Any edited, deleted, inserted, reordered or
//! appended line, a truncated last line or a missing signature is refused,
//! naming the line.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    signature_message, Entry, Header, FORMAT, MAX_LINE_BYTES, MAX_TRANSCRIPT_BYTES, STEP_CLOSE,
    STEP_INTERRUPTED, STEP_SIGNATURE, STEP_START, VERSION,
};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::plan::Mode;
use crate::record::CeremonyRecord;

/// What to check beyond the transcript itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The ceremony record: its `ceremony_public_key` must be the transcript's
    /// key, and its ceremony id the one the transcript names.
    pub record: Option<CeremonyRecord>,
    /// The first line's `prev` must be this (the transcript it continues).
    pub chain_from: Option<Sha256Digest>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Interrupted {
        reason: String,
        handed_out: Vec<String>,
        not_handed_out: Vec<String>,
    },
}

/// A transcript that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTranscript {
    pub path: PathBuf,
    /// Every line, the signature line included.
    pub entries: Vec<Entry>,
    pub header: Header,
    pub public_key: [u8; 32],
    /// The first line's `prev` (zero: chains to nothing).
    pub chained_to: Sha256Digest,
    /// Hash of the closing line (what was signed).
    pub final_hash: Sha256Digest,
    pub final_seq: u64,
    pub signature: [u8; 64],
    pub outcome: Outcome,
    /// Every ceremony id named in the facts (normally one).
    pub ceremony_ids: Vec<String>,
}

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscriptProblem {
    #[error("the file is empty")]
    Empty,
    #[error("larger than any transcript ({MAX_TRANSCRIPT_BYTES} bytes at most)")]
    TooLarge,
    #[error("truncated: the last line has no line end, so it was cut short (the run was killed while writing it, or the file was cut)")]
    Truncated,
    #[error("longer than any transcript line ({MAX_LINE_BYTES} bytes at most)")]
    LineTooLong,
    #[error("not a transcript line: {0}")]
    NotAnEntry(String),
    #[error("not in the exact form keyceremony writes (ASCII JSON, fixed key order, no spaces): it was edited")]
    NotCanonical,
    #[error(
        "seq is {found} where {expected} was expected: a line was deleted, inserted or moved here"
    )]
    Sequence { found: u64, expected: u64 },
    #[error("prev does not match the hash of line {previous}: line {previous} was altered, or this line does not belong after it")]
    Chain { previous: u64 },
    #[error("prev is {found}, but this transcript should continue {expected}")]
    ChainStart { found: String, expected: String },
    #[error("the first line must be step \"start\", found \"{0}\"")]
    NotStart(String),
    #[error("the start line is malformed: {0}")]
    BadStart(String),
    #[error("step \"{0}\" may appear only where the writer puts it")]
    MisplacedStep(String),
    #[error("not signed: the last line (step \"{last_step}\") is not a signature line: the run did not finish (killed?), or the signature line was removed")]
    Unsigned { last_step: String },
    #[error("not signed: the run was not closed (no \"close\" or \"interrupted\" line before the signature)")]
    NotClosed,
    #[error("the signature line is malformed: {0}")]
    BadSignatureLine(String),
    #[error("the signature does not verify under the ceremony public key: the transcript or its signature was altered")]
    BadSignature,
    #[error("a line follows the signature line: nothing may be appended after it")]
    AfterSignature,
    #[error("the ceremony public key {transcript} is not the one in the record ({record})")]
    KeyMismatch { transcript: String, record: String },
    #[error("the record carries no ceremony public key (written without a ceremony run), so it cannot vouch for this transcript")]
    RecordWithoutKey,
    #[error("the transcript names ceremony {transcript}, the record is of ceremony {record}")]
    CeremonyMismatch { transcript: String, record: String },
}

/// A transcript refused: `FILE: line N: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{problem}", path.display(), line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TranscriptError {
    pub path: PathBuf,
    /// 1-based line, where one line is to blame.
    pub line: Option<u64>,
    pub problem: TranscriptProblem,
}

impl From<TranscriptError> for Error {
    fn from(e: TranscriptError) -> Error {
        Error::Transcript(Box::new(e))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    seq: u64,
    time: String,
    step: String,
    facts: Map<String, Value>,
    prev: String,
}

/// Reads and checks a transcript file.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> Result<VerifiedTranscript> {
    let bytes = crate::input_file::read(path, MAX_TRANSCRIPT_BYTES, "transcript")?;
    Ok(verify_bytes(path, &bytes, opts)?)
}

/// Checks a transcript's bytes; `path` names it in messages.
pub fn verify_bytes(
    path: &Path,
    bytes: &[u8],
    opts: &VerifyOptions,
) -> std::result::Result<VerifiedTranscript, TranscriptError> {
    let err = |line: Option<u64>, problem| TranscriptError {
        path: path.to_path_buf(),
        line,
        problem,
    };
    if bytes.is_empty() {
        return Err(err(None, TranscriptProblem::Empty));
    }
    if bytes.len() as u64 > MAX_TRANSCRIPT_BYTES {
        return Err(err(None, TranscriptProblem::TooLarge));
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut hashes: Vec<Sha256Digest> = Vec::new();
    let mut rest = bytes;
    let mut n: u64 = 0;
    while !rest.is_empty() {
        n += 1;
        let (line, terminated) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..=i], true),
            None => (rest, false),
        };
        rest = &rest[line.len()..];
        if line.len() > MAX_LINE_BYTES {
            return Err(err(Some(n), TranscriptProblem::LineTooLong));
        }
        if !terminated {
            return Err(err(Some(n), TranscriptProblem::Truncated));
        }
        if let Some(last) = entries.last() {
            if last.step == STEP_SIGNATURE {
                return Err(err(Some(n), TranscriptProblem::AfterSignature));
            }
        }
        let entry = parse_line(line).map_err(|p| err(Some(n), p))?;
        if entry.seq != n {
            return Err(err(
                Some(n),
                TranscriptProblem::Sequence {
                    found: entry.seq,
                    expected: n,
                },
            ));
        }
        match hashes.last() {
            Some(h) if entry.prev != *h => {
                return Err(err(Some(n), TranscriptProblem::Chain { previous: n - 1 }))
            }
            None => {
                if let Some(want) = &opts.chain_from {
                    if entry.prev != *want {
                        return Err(err(
                            Some(n),
                            TranscriptProblem::ChainStart {
                                found: entry.prev.to_hex(),
                                expected: want.to_hex(),
                            },
                        ));
                    }
                }
            }
            _ => {}
        }
        let first = entries.is_empty();
        if first && entry.step != STEP_START {
            return Err(err(
                Some(n),
                TranscriptProblem::NotStart(entry.step.clone()),
            ));
        }
        if !first && entry.step == STEP_START {
            return Err(err(
                Some(n),
                TranscriptProblem::MisplacedStep(entry.step.clone()),
            ));
        }
        if let Some(last) = entries.last() {
            let closed = last.step == STEP_CLOSE || last.step == STEP_INTERRUPTED;
            if closed && entry.step != STEP_SIGNATURE {
                return Err(err(
                    Some(n),
                    TranscriptProblem::MisplacedStep(last.step.clone()),
                ));
            }
        }
        hashes.push(crate::digest::Sha256Digest::of(line));
        entries.push(entry);
    }
    let total = entries.len() as u64;
    let start = &entries[0];
    let (header, public_key) = parse_start(&start.facts).map_err(|p| err(Some(1), p))?;

    let last = entries.last().expect("at least one line");
    if last.step != STEP_SIGNATURE {
        return Err(err(
            Some(total),
            TranscriptProblem::Unsigned {
                last_step: last.step.clone(),
            },
        ));
    }
    if total < 3 {
        return Err(err(Some(total), TranscriptProblem::NotClosed));
    }
    let closing = &entries[total as usize - 2];
    if closing.step != STEP_CLOSE && closing.step != STEP_INTERRUPTED {
        return Err(err(Some(total), TranscriptProblem::NotClosed));
    }
    let final_hash = hashes[total as usize - 2];
    let final_seq = total - 1;
    let signature = check_signature(&last.facts, &public_key, final_seq, &final_hash)
        .map_err(|p| err(Some(total), p))?;

    let outcome = if closing.step == STEP_CLOSE {
        Outcome::Completed
    } else {
        let strings = |k: &str| -> Vec<String> {
            closing
                .facts
                .get(k)
                .and_then(Value::as_array)
                .map_or(Vec::new(), |a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
        };
        Outcome::Interrupted {
            reason: closing
                .facts
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            handed_out: strings("handed_out"),
            not_handed_out: strings("not_handed_out"),
        }
    };

    let mut ceremony_ids: Vec<String> = Vec::new();
    for e in &entries {
        if let Some(id) = e.facts.get("ceremony_id").and_then(Value::as_str) {
            if !ceremony_ids.iter().any(|x| x == id) {
                ceremony_ids.push(id.to_string());
            }
        }
    }

    if let Some(rec) = &opts.record {
        let Some(rk) = &rec.ceremony_public_key else {
            return Err(err(None, TranscriptProblem::RecordWithoutKey));
        };
        if *rk != hex::encode(public_key) {
            return Err(err(
                Some(1),
                TranscriptProblem::KeyMismatch {
                    transcript: hex::encode(public_key),
                    record: rk.clone(),
                },
            ));
        }
        let rid = rec.info.ceremony_id.to_string();
        if let Some(other) = ceremony_ids.iter().find(|id| **id != rid) {
            let line = entries
                .iter()
                .find(|e| e.facts.get("ceremony_id").and_then(Value::as_str) == Some(other))
                .map(|e| e.seq);
            return Err(err(
                line,
                TranscriptProblem::CeremonyMismatch {
                    transcript: other.clone(),
                    record: rid,
                },
            ));
        }
    }

    Ok(VerifiedTranscript {
        path: path.to_path_buf(),
        chained_to: entries[0].prev,
        entries,
        header,
        public_key,
        final_hash,
        final_seq,
        signature,
        outcome,
        ceremony_ids,
    })
}

fn parse_line(line: &[u8]) -> std::result::Result<Entry, TranscriptProblem> {
    if !line.is_ascii() {
        return Err(TranscriptProblem::NotCanonical);
    }
    let raw: RawEntry = serde_json::from_slice(line).map_err(|e| {
        // serde_json's messages may quote a value (decoded, so not ASCII):
        // at most 200 bytes of it, cut on a character boundary
        let mut m = e.to_string();
        let mut cut = m.len().min(200);
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        TranscriptProblem::NotAnEntry(crate::terminal::escape(&m).into_owned())
    })?;
    let prev = Sha256Digest::parse_hex(&raw.prev).ok_or_else(|| {
        TranscriptProblem::NotAnEntry("prev is not 64 lowercase hex characters".into())
    })?;
    if !super::is_step_name(&raw.step) {
        return Err(TranscriptProblem::NotAnEntry(
            "step is not 1 to 64 characters of a-z, 0-9 and -".into(),
        ));
    }
    if !crate::record::is_rfc3339(&raw.time) {
        return Err(TranscriptProblem::NotAnEntry(
            "time is not an RFC 3339 time".into(),
        ));
    }
    let entry = Entry {
        seq: raw.seq,
        time: raw.time,
        step: raw.step,
        facts: raw.facts,
        prev,
    };
    if entry.to_line().as_bytes() != line {
        return Err(TranscriptProblem::NotCanonical);
    }
    Ok(entry)
}

fn parse_start(
    facts: &Map<String, Value>,
) -> std::result::Result<(Header, [u8; 32]), TranscriptProblem> {
    let bad = |m: &str| TranscriptProblem::BadStart(m.to_string());
    let s = |k: &str| facts.get(k).and_then(Value::as_str);
    if s("format") != Some(FORMAT) {
        return Err(bad("facts.format is not \"keyceremony-transcript\""));
    }
    match facts.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(TranscriptProblem::BadStart(format!(
                "transcript version {v} is not supported: this keyceremony reads version {VERSION}"
            )))
        }
        None => return Err(bad("facts.version is missing")),
    }
    let key_hex =
        s("ceremony_public_key").ok_or_else(|| bad("facts.ceremony_public_key is missing"))?;
    let key = Sha256Digest::parse_hex(key_hex)
        .ok_or_else(|| bad("facts.ceremony_public_key is not 64 lowercase hex characters"))?
        .0;
    VerifyingKey::from_bytes(&key)
        .map_err(|_| bad("facts.ceremony_public_key is not an Ed25519 public key"))?;
    let mode = match s("mode") {
        Some("production") => Mode::Production,
        Some("rehearsal") => Mode::Rehearsal,
        _ => return Err(bad("facts.mode is not \"production\" or \"rehearsal\"")),
    };
    let names = |k: &str| -> std::result::Result<Vec<String>, TranscriptProblem> {
        let a = facts.get(k).and_then(Value::as_array).ok_or_else(|| {
            TranscriptProblem::BadStart(format!("facts.{k} is not a list of names"))
        })?;
        a.iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    TranscriptProblem::BadStart(format!(
                        "facts.{k} holds something other than a name"
                    ))
                })
            })
            .collect()
    };
    let plan_sha256 = match facts.get("plan_sha256") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(Sha256Digest::parse_hex)
                .ok_or_else(|| bad("facts.plan_sha256 is not 64 lowercase hex characters"))?,
        ),
    };
    let header = Header {
        label: s("label")
            .ok_or_else(|| bad("facts.label is missing"))?
            .to_string(),
        mode,
        plan_sha256,
        lead: s("lead")
            .ok_or_else(|| bad("facts.lead is missing"))?
            .to_string(),
        custodians: names("custodians")?,
        witnesses: names("witnesses")?,
    };
    Ok((header, key))
}

fn check_signature(
    facts: &Map<String, Value>,
    public_key: &[u8; 32],
    final_seq: u64,
    final_hash: &Sha256Digest,
) -> std::result::Result<[u8; 64], TranscriptProblem> {
    let bad = |m: &str| TranscriptProblem::BadSignatureLine(m.to_string());
    let s = |k: &str| facts.get(k).and_then(Value::as_str);
    if s("algorithm") != Some("ed25519") {
        return Err(bad("algorithm is not \"ed25519\""));
    }
    if s("public_key") != Some(hex::encode(public_key).as_str()) {
        return Err(bad(
            "public_key is not the ceremony public key of the first line",
        ));
    }
    if facts.get("signed_seq").and_then(Value::as_u64) != Some(final_seq) {
        return Err(bad("signed_seq does not name the closing line"));
    }
    if s("signed_hash") != Some(final_hash.to_hex().as_str()) {
        return Err(bad("signed_hash is not the hash of the closing line"));
    }
    if facts.len() != 5 {
        return Err(bad(
            "it holds other facts than algorithm, public_key, signature, signed_hash, signed_seq",
        ));
    }
    let sig_hex = s("signature").ok_or_else(|| bad("signature is missing"))?;
    let mut sig = [0u8; 64];
    if sig_hex.len() != 128
        || !sig_hex
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        || hex::decode_to_slice(sig_hex, &mut sig).is_err()
    {
        return Err(bad("signature is not 128 lowercase hex characters"));
    }
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| TranscriptProblem::BadSignature)?;
    key.verify_strict(
        signature_message(final_seq, final_hash).as_bytes(),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| TranscriptProblem::BadSignature)?;
    Ok(sig)
}
