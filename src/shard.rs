//! Shard file v1: one custodian's share as versioned JSON, enough to be
//! verified alone (format, ranges, checksum, Feldman commitments).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::record::{self, check_name, CeremonyInfo, CeremonyRecord, RECORD_FORMAT};
use crate::shamir::{Share, ShareId};

pub const SHARD_FORMAT: &str = "keyceremony-shard";
pub const SHARD_VERSION: u32 = 1;
/// Largest JSON document read (a 255-of-255 shard is about 19 KiB).
pub const MAX_JSON_LEN: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("empty file (nothing but blank space)")]
    Empty,
    #[error("file is {0} bytes, larger than any shard file or ceremony record ({MAX_JSON_LEN} bytes at most)")]
    TooLarge(u64),
    #[error("not JSON ({0}); a shard file is a JSON document written by keyceremony split")]
    NotJson(String),
    #[error("JSON without a \"format\" field: not a keyceremony shard file; give a shard-<i>.json or the ceremony.json that `keyceremony split` wrote")]
    NoFormat,
    #[error("unknown format \"{}\": not a keyceremony shard file", crate::terminal::Shown(.0))]
    UnknownFormat(String),
    #[error("{kind} version {found} is not supported; this keyceremony reads {}", versions(*.supported))]
    UnknownVersion {
        kind: &'static str,
        found: String,
        /// The newest version read; every one from 1 up is read.
        supported: u32,
    },
    #[error("malformed shard file: {0}")]
    Malformed(String),
    #[error("share id {id} is out of range: this ceremony has shares 1 to {shares}")]
    IdOutOfRange { id: u16, shares: u16 },
    #[error("share value is not 64 lowercase hex characters")]
    ValueNotHex,
    #[error("share value is invalid: {0}")]
    BadValue(String),
    #[error("share value does not match the ceremony's Feldman commitments: the value or id was altered or damaged")]
    CommitmentMismatch,
    #[error("checksum does not match the content: a field (label, custodian, time...) was altered or damaged")]
    Checksum,
    #[error("malformed ceremony record: {0}")]
    BadRecord(String),
}

/// A parsed, fully checked shard file.
#[derive(Clone, Debug)]
pub struct ShardFile {
    pub info: CeremonyInfo,
    pub share: Share,
    pub custodian: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardJson {
    format: String,
    version: u32,
    ceremony_id: String,
    label: String,
    threshold: u16,
    shares: u16,
    id: u16,
    /// The share: wiped on every path, a failed parse included.
    value: Zeroizing<String>,
    commitments: Vec<String>,
    key_fingerprint: String,
    created: String,
    custodian: Option<String>,
    checksum: String,
}

/// A JSON document this tool writes: a shard or the ceremony record.
#[derive(Debug)]
pub enum JsonDocument {
    Shard(Box<ShardFile>),
    Record(Box<CeremonyRecord>),
}

impl ShardFile {
    fn canonical(&self) -> Zeroizing<String> {
        // Room for the largest shard up front: a reallocation would free a
        // copy of the value unwiped.
        let mut s = Zeroizing::new(String::with_capacity(MAX_JSON_LEN as usize));
        let _ = writeln!(s, "{SHARD_FORMAT} v{SHARD_VERSION}");
        self.info.canonical_lines(&mut s);
        let _ = writeln!(s, "id={}", self.share.id());
        let _ = writeln!(s, "value={}", self.share.value_hex().as_str());
        let _ = writeln!(s, "custodian={}", self.custodian.as_deref().unwrap_or(""));
        s
    }

    /// First 8 bytes of SHA-256 over the canonical text (see docs/formats.md).
    pub fn checksum(&self) -> String {
        record::checksum_of(&self.canonical())
    }

    /// The file's JSON text, in zeroizing storage (it holds the share).
    pub fn to_json(&self) -> Zeroizing<String> {
        let j = ShardJson {
            format: SHARD_FORMAT.into(),
            version: SHARD_VERSION,
            ceremony_id: self.info.ceremony_id.to_string(),
            label: self.info.label.clone(),
            threshold: self.info.params.threshold() as u16,
            shares: self.info.params.shares() as u16,
            id: self.share.id().get() as u16,
            value: self.share.value_hex(),
            commitments: self.info.commitments_hex(),
            key_fingerprint: self.info.fingerprint.to_string(),
            created: self.info.created.clone(),
            custodian: self.custodian.clone(),
            checksum: self.checksum(),
        };
        // Written into room for the largest shard, so that no reallocation
        // frees a copy of the value unwiped; then handed over without a copy.
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_JSON_LEN as usize));
        serde_json::to_writer_pretty(&mut *buf, &j).expect("plain data serialises");
        buf.push(b'\n');
        Zeroizing::new(String::from_utf8(std::mem::take(&mut *buf)).expect("JSON is UTF-8"))
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ShardError> {
        match parse_document(bytes)? {
            JsonDocument::Shard(s) => Ok(*s),
            JsonDocument::Record(_) => Err(ShardError::Malformed(
                "this is a ceremony record (ceremony.json), not a shard".into(),
            )),
        }
    }

    /// Reads the fields from `v` (copying; the caller wipes `v`).
    fn from_value(v: &serde_json::Value) -> Result<Self, ShardError> {
        let j = ShardJson::deserialize(v)
            .map_err(|e| ShardError::Malformed(sanitize_serde_message(&e.to_string())))?;
        if j.version != SHARD_VERSION {
            return Err(ShardError::UnknownVersion {
                kind: "shard file",
                found: j.version.to_string(),
                supported: SHARD_VERSION,
            });
        }
        let info = record::parse_info(
            &j.ceremony_id,
            &j.label,
            j.threshold,
            j.shares,
            &j.commitments,
            &j.key_fingerprint,
            &j.created,
        )
        .map_err(ShardError::Malformed)?;
        if j.id == 0 || j.id > j.shares {
            return Err(ShardError::IdOutOfRange {
                id: j.id,
                shares: j.shares,
            });
        }
        let id = ShareId::new(j.id).expect("range checked");
        if j.value.len() != 64
            || !j
                .value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(ShardError::ValueNotHex);
        }
        let mut value = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(j.value.as_bytes(), &mut value[..])
            .map_err(|_| ShardError::ValueNotHex)?;
        let share = Share::new(id, &value[..]).map_err(|e| ShardError::BadValue(e.to_string()))?;
        if let Some(name) = &j.custodian {
            check_name(name).map_err(|e| ShardError::Malformed(format!("custodian: {e}")))?;
        }
        info.commitments
            .verify(&share)
            .map_err(|_| ShardError::CommitmentMismatch)?;
        let shard = ShardFile {
            info,
            share,
            custodian: j.custodian.clone(),
        };
        if shard.checksum() != j.checksum {
            return Err(ShardError::Checksum);
        }
        Ok(shard)
    }
}

/// Parses one of this tool's JSON documents, telling them apart by the
/// `format` tag, and checks it completely.
pub fn parse_document(bytes: &[u8]) -> Result<JsonDocument, ShardError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ShardError::Empty);
    }
    if bytes.len() as u64 > MAX_JSON_LEN {
        return Err(ShardError::TooLarge(bytes.len() as u64));
    }
    // Strictly (a key given twice, even `format`, is refused, not last-wins),
    // and wiped however this function leaves (the share value is in it).
    let mut v = ScrubOnDrop(
        crate::strict_json::to_value(bytes).map_err(|e| ShardError::NotJson(e.to_string()))?,
    );
    let format = match v.0.get("format") {
        None => return Err(ShardError::NoFormat),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(ShardError::UnknownFormat("(not a string)".into())),
    };
    let doc = match format.as_str() {
        SHARD_FORMAT => {
            check_version(&v.0, "shard file", SHARD_VERSION)?;
            JsonDocument::Shard(Box::new(ShardFile::from_value(&v.0)?))
        }
        RECORD_FORMAT => {
            check_version(&v.0, "ceremony record", record::RECORD_VERSION_SUPERSEDES)?;
            // A record holds no secret.
            CeremonyRecord::from_value(v.0.take())
                .map(|r| JsonDocument::Record(Box::new(r)))
                .map_err(ShardError::BadRecord)?
        }
        other => {
            return Err(ShardError::UnknownFormat(
                other.chars().take(40).collect::<String>(),
            ))
        }
    };
    Ok(doc)
}

fn versions(newest: u32) -> String {
    match newest {
        1 => "version 1".into(),
        n => format!("versions 1 to {n}"),
    }
}

fn check_version(
    v: &serde_json::Value,
    kind: &'static str,
    supported: u32,
) -> Result<(), ShardError> {
    match v.get("version") {
        Some(serde_json::Value::Number(n))
            if n.as_u64()
                .is_some_and(|n| (1..=supported as u64).contains(&n)) =>
        {
            Ok(())
        }
        Some(other) => Err(ShardError::UnknownVersion {
            kind,
            found: other.to_string().chars().take(20).collect(),
            supported,
        }),
        None => Err(ShardError::Malformed("missing field `version`".into())),
    }
}

/// A parsed document whose `value` string (a share, in a shard file) is
/// wiped in place when it is dropped.
struct ScrubOnDrop(serde_json::Value);

impl Drop for ScrubOnDrop {
    fn drop(&mut self) {
        if let Some(serde_json::Value::String(s)) = self.0.get_mut("value") {
            s.zeroize();
        }
    }
}

/// serde's "invalid type/value" messages quote the offending value, which
/// could be share material: keep only what was expected.
pub(crate) fn sanitize_serde_message(msg: &str) -> String {
    if msg.starts_with("invalid type")
        || msg.starts_with("invalid value")
        || msg.starts_with("invalid length")
    {
        match msg.split_once(", expected ") {
            Some((_, expected)) => {
                format!("a field has the wrong type or value (expected {expected})")
            }
            None => "a field has the wrong type or value".into(),
        }
    } else {
        // Field and variant names ("unknown field `...`, expected ...") come
        // from the file: shown escaped and cut short, so a name of any length
        // leaves a message of bounded length.
        quoted_name_shortened(msg)
    }
}

/// How many characters of a field name from a file a message shows.
const MAX_FIELD_NAME_SHOWN: usize = 40;

fn quoted_name_shortened(msg: &str) -> String {
    let start = msg.find('`');
    let end = msg.rfind("`, expected").or_else(|| msg.rfind('`'));
    match (start, end) {
        (Some(s), Some(e)) if e > s => format!(
            "{}`{}`{}",
            crate::terminal::escape(&msg[..s]),
            crate::terminal::escape_short(&msg[s + 1..e], MAX_FIELD_NAME_SHOWN),
            crate::terminal::escape(&msg[e + 1..])
        ),
        _ => crate::terminal::escape_short(msg, 4 * MAX_FIELD_NAME_SHOWN),
    }
}
