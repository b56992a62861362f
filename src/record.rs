//! What every output of one ceremony has in common (id, label, t, n,
//! commitments, fingerprint, time), and the public ceremony record
//! `ceremony.json` built on it. Nothing here is secret.

use std::fmt;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::KeyFingerprint;
use crate::shamir::{Commitments, SplitParams};

pub const RECORD_FORMAT: &str = "keyceremony-record";
pub const RECORD_VERSION: u32 = 1;
/// The version of a record that supersedes another (`reshare`): v1 plus
/// `supersedes`. Written only when there is something to supersede.
pub const RECORD_VERSION_SUPERSEDES: u32 = 2;
/// Longest label or custodian name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Crockford base32 without I, L, O, U: easy to read aloud and to type.
const ID_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A random, human-friendly ceremony id: `KC-XXXX-XXXX-XXXX` (60 random bits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CeremonyId(String);

impl CeremonyId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 8];
        OsRng.fill_bytes(&mut bytes);
        let mut v = u64::from_be_bytes(bytes);
        let mut s = String::from("KC");
        for i in 0..12 {
            if i % 4 == 0 {
                s.push('-');
            }
            s.push(ID_ALPHABET[(v & 31) as usize] as char);
            v >>= 5;
        }
        CeremonyId(s)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let ok = b.len() == 17
            && text.starts_with("KC")
            && [2, 7, 12].iter().all(|&i| b[i] == b'-')
            && b.iter()
                .enumerate()
                .filter(|(i, _)| *i >= 2 && ![2, 7, 12].contains(i))
                .all(|(_, c)| ID_ALPHABET.contains(c));
        ok.then(|| CeremonyId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonyId({})", self.0)
    }
}

/// The current time as RFC 3339 UTC with whole seconds, e.g. `2026-11-26T10:24:57Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats")
}

pub fn is_rfc3339(text: &str) -> bool {
    text.len() <= 40
        && time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok()
}

/// A label or name is printed on sheets and terminals and hashed line by
/// line: no control characters, bounded length.
pub fn check_name(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(format!("longer than {MAX_NAME_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character (newline, tab, escape...)".into());
    }
    Ok(())
}

/// A label or name this tool is asked to write: [`check_name`]'s rules,
/// and no invisible character (bidi override, zero-width space...) that
/// would make it read differently than it is. Names already written are
/// read with [`check_name`] and shown escaped, so an old file still opens.
pub fn check_new_name(text: &str) -> Result<(), String> {
    check_name(text)?;
    crate::terminal::check_visible(text)
}

/// The public facts shared by every output of one ceremony.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CeremonyInfo {
    pub ceremony_id: CeremonyId,
    pub label: String,
    pub params: SplitParams,
    pub commitments: Commitments,
    pub fingerprint: KeyFingerprint,
    pub created: String,
}

impl CeremonyInfo {
    /// Lines of the canonical text the checksums cover.
    pub(crate) fn canonical_lines(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "ceremony_id={}", self.ceremony_id);
        let _ = writeln!(out, "label={}", self.label);
        let _ = writeln!(out, "threshold={}", self.params.threshold());
        let _ = writeln!(out, "shares={}", self.params.shares());
        let _ = writeln!(out, "commitments={}", self.commitments_hex().join(","));
        let _ = writeln!(out, "key_fingerprint={}", self.fingerprint);
        let _ = writeln!(out, "created={}", self.created);
    }

    pub fn commitments_hex(&self) -> Vec<String> {
        self.commitments
            .to_compressed()
            .iter()
            .map(hex::encode)
            .collect()
    }
}

/// First 8 bytes of SHA-256 of the canonical text, as 16 hex characters.
pub(crate) fn checksum_of(canonical: &str) -> String {
    hex::encode(&Sha256::digest(canonical.as_bytes())[..8])
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianEntry {
    pub id: u8,
    pub name: Option<String>,
}

/// `ceremony.json`: the public record of a split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeremonyRecord {
    pub info: CeremonyInfo,
    pub custodians: Vec<CustodianEntry>,
    /// The ceremony run's one-time Ed25519 public key (64 lowercase hex), which
    /// signed its transcript. Absent in records written by `split` alone.
    pub ceremony_public_key: Option<String>,
    /// For a split of any secret (`split --secret-file`): the encrypted
    /// `secret.age` beside the record. Absent for a root key.
    pub secret: Option<SecretEntry>,
    /// For a re-share (`keyceremony reshare`, record v2): the ceremony this
    /// one replaces, whose shares are retired. Absent in v1 records.
    pub supersedes: Option<Supersedes>,
}

/// What a v2 record replaces: ceremony A, named by its id and the SHA-256
/// of its `ceremony.json` exactly as read, and A's share ids, all retired.
/// The key is the same (same `C_0`, same fingerprint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supersedes {
    pub ceremony_id: CeremonyId,
    pub record_sha256: crate::digest::Sha256Digest,
    pub retired_ids: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SupersedesJson {
    ceremony_id: String,
    record_sha256: String,
    retired_ids: Vec<u8>,
}

/// The encrypted secret file of a ceremony: its SHA-256 and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretEntry {
    pub sha256: crate::digest::Sha256Digest,
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretJson {
    file: String,
    sha256: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordJson {
    format: String,
    version: u32,
    ceremony_id: String,
    label: String,
    threshold: u16,
    shares: u16,
    commitments: Vec<String>,
    key_fingerprint: String,
    created: String,
    custodians: Vec<CustodianEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ceremony_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<SecretJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    supersedes: Option<SupersedesJson>,
    checksum: String,
}

impl CeremonyRecord {
    /// 2 for a record that supersedes another, else 1.
    pub fn version(&self) -> u32 {
        if self.supersedes.is_some() {
            RECORD_VERSION_SUPERSEDES
        } else {
            RECORD_VERSION
        }
    }

    fn canonical(&self) -> String {
        let mut s = format!("{RECORD_FORMAT} v{}\n", self.version());
        self.info.canonical_lines(&mut s);
        for c in &self.custodians {
            s.push_str(&format!(
                "custodian.{}={}\n",
                c.id,
                c.name.as_deref().unwrap_or("")
            ));
        }
        // only when present, so records without it keep their checksums
        if let Some(k) = &self.ceremony_public_key {
            s.push_str(&format!("ceremony_public_key={k}\n"));
        }
        // likewise only for a split of any secret
        if let Some(e) = &self.secret {
            s.push_str(&format!(
                "secret.file={}\n",
                crate::secret_file::SECRET_FILE_NAME
            ));
            s.push_str(&format!("secret.sha256={}\n", e.sha256.to_hex()));
            s.push_str(&format!("secret.size={}\n", e.size));
        }
        if let Some(r) = &self.supersedes {
            s.push_str(&format!("supersedes.ceremony_id={}\n", r.ceremony_id));
            s.push_str(&format!(
                "supersedes.record_sha256={}\n",
                r.record_sha256.to_hex()
            ));
            s.push_str(&format!(
                "supersedes.retired_ids={}\n",
                r.retired_ids
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        s
    }

    pub fn checksum(&self) -> String {
        checksum_of(&self.canonical())
    }

    pub fn to_json(&self) -> String {
        let j = RecordJson {
            format: RECORD_FORMAT.into(),
            version: self.version(),
            ceremony_id: self.info.ceremony_id.to_string(),
            label: self.info.label.clone(),
            threshold: self.info.params.threshold() as u16,
            shares: self.info.params.shares() as u16,
            commitments: self.info.commitments_hex(),
            key_fingerprint: self.info.fingerprint.to_string(),
            created: self.info.created.clone(),
            custodians: self.custodians.clone(),
            ceremony_public_key: self.ceremony_public_key.clone(),
            secret: self.secret.as_ref().map(|e| SecretJson {
                file: crate::secret_file::SECRET_FILE_NAME.into(),
                sha256: e.sha256.to_hex(),
                size: e.size,
            }),
            supersedes: self.supersedes.as_ref().map(|r| SupersedesJson {
                ceremony_id: r.ceremony_id.to_string(),
                record_sha256: r.record_sha256.to_hex(),
                retired_ids: r.retired_ids.clone(),
            }),
            checksum: self.checksum(),
        };
        let mut s = serde_json::to_string_pretty(&j).expect("plain data serialises");
        s.push('\n');
        s
    }

    /// Parses a record from a JSON value whose format tag was already checked.
    pub(crate) fn from_value(v: serde_json::Value) -> Result<Self, String> {
        let j: RecordJson = serde_json::from_value(v)
            .map_err(|e| crate::shard::sanitize_serde_message(&e.to_string()))?;
        match (j.version, j.supersedes.is_some()) {
            (RECORD_VERSION, false) | (RECORD_VERSION_SUPERSEDES, true) => {}
            (RECORD_VERSION, true) => {
                return Err("a version 1 record has no supersedes (that is version 2)".into())
            }
            (RECORD_VERSION_SUPERSEDES, false) => {
                return Err(
                    "a version 2 record names the ceremony it supersedes; supersedes is missing"
                        .into(),
                )
            }
            (v, _) => {
                return Err(format!(
                    "record version {v} is not supported; this keyceremony reads versions \
                     {RECORD_VERSION} and {RECORD_VERSION_SUPERSEDES}"
                ))
            }
        }
        let info = parse_info(
            &j.ceremony_id,
            &j.label,
            j.threshold,
            j.shares,
            &j.commitments,
            &j.key_fingerprint,
            &j.created,
        )?;
        let mut seen = std::collections::BTreeSet::new();
        for c in &j.custodians {
            if c.id == 0 || c.id > info.params.shares() || !seen.insert(c.id) {
                return Err(format!(
                    "custodian entry with id {} is out of range or repeated",
                    c.id
                ));
            }
            if let Some(n) = &c.name {
                check_name(n).map_err(|e| format!("custodian name for share {}: {e}", c.id))?;
            }
        }
        if let Some(k) = &j.ceremony_public_key {
            if crate::digest::Sha256Digest::parse_hex(k).is_none() {
                return Err(
                    "ceremony_public_key is not 64 lowercase hex characters (an Ed25519 public key)"
                        .into(),
                );
            }
        }
        let secret = match &j.secret {
            None => None,
            Some(s) => {
                if s.file != crate::secret_file::SECRET_FILE_NAME {
                    return Err(format!(
                        "secret.file must be {}",
                        crate::secret_file::SECRET_FILE_NAME
                    ));
                }
                let sha256 =
                    crate::digest::Sha256Digest::parse_hex(&s.sha256).ok_or_else(|| {
                        "secret.sha256 is not 64 lowercase hex characters".to_string()
                    })?;
                Some(SecretEntry {
                    sha256,
                    size: s.size,
                })
            }
        };
        let supersedes = match &j.supersedes {
            None => None,
            Some(r) => Some(parse_supersedes(r, &info)?),
        };
        let rec = CeremonyRecord {
            info,
            custodians: j.custodians,
            ceremony_public_key: j.ceremony_public_key.clone(),
            secret,
            supersedes,
        };
        if rec.checksum() != j.checksum {
            return Err(
                "checksum does not match the content: the record was altered or damaged".into(),
            );
        }
        Ok(rec)
    }
}

fn parse_supersedes(r: &SupersedesJson, info: &CeremonyInfo) -> Result<Supersedes, String> {
    let ceremony_id = CeremonyId::parse(&r.ceremony_id)
        .ok_or_else(|| "supersedes.ceremony_id is not of the form KC-XXXX-XXXX-XXXX".to_string())?;
    if ceremony_id == info.ceremony_id {
        return Err("supersedes names the record's own ceremony".into());
    }
    let record_sha256 = crate::digest::Sha256Digest::parse_hex(&r.record_sha256)
        .ok_or_else(|| "supersedes.record_sha256 is not 64 lowercase hex characters".to_string())?;
    if r.retired_ids.is_empty()
        || r.retired_ids.contains(&0)
        || r.retired_ids.windows(2).any(|w| w[0] >= w[1])
    {
        return Err("supersedes.retired_ids must be share ids 1..255, ascending, none repeated, at least one".into());
    }
    Ok(Supersedes {
        ceremony_id,
        record_sha256,
        retired_ids: r.retired_ids.clone(),
    })
}

/// Validates the shared public fields as read from a file.
pub(crate) fn parse_info(
    ceremony_id: &str,
    label: &str,
    threshold: u16,
    shares: u16,
    commitments: &[String],
    key_fingerprint: &str,
    created: &str,
) -> Result<CeremonyInfo, String> {
    let ceremony_id = CeremonyId::parse(ceremony_id)
        .ok_or_else(|| "ceremony_id is not of the form KC-XXXX-XXXX-XXXX".to_string())?;
    check_name(label).map_err(|e| format!("label: {e}"))?;
    let params = SplitParams::new(threshold, shares).map_err(|e| e.to_string())?;
    if commitments.len() != threshold as usize {
        return Err(format!(
            "expected {threshold} commitments (one per threshold), found {}",
            commitments.len()
        ));
    }
    let mut raw = Vec::with_capacity(commitments.len());
    for (i, c) in commitments.iter().enumerate() {
        if c.len() != 66 || !c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "commitment {i} is not 66 lowercase hex characters (a compressed P-256 point)"
            ));
        }
        raw.push(hex::decode(c).expect("checked hex"));
    }
    let commitments = Commitments::from_compressed(&raw).map_err(|e| e.to_string())?;
    let fingerprint = KeyFingerprint::parse(key_fingerprint)
        .ok_or_else(|| "key_fingerprint is not of the form xxxx-xxxx-xxxx-xxxx-xxxx".to_string())?;
    if fingerprint != commitments.fingerprint() {
        return Err(format!(
            "key_fingerprint {fingerprint} does not match the commitments (they give {}): the file was altered",
            commitments.fingerprint()
        ));
    }
    if !is_rfc3339(created) {
        return Err("created is not an RFC 3339 time".into());
    }
    Ok(CeremonyInfo {
        ceremony_id,
        label: label.to_string(),
        params,
        commitments,
        fingerprint,
        created: created.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceremony_ids_parse_back() {
        for _ in 0..50 {
            let id = CeremonyId::generate();
            assert_eq!(CeremonyId::parse(id.as_str()), Some(id));
        }
        assert!(CeremonyId::parse("KC-0000-0000-000I").is_none());
        assert!(CeremonyId::parse("KC-0000-0000-00000").is_none());
        assert!(CeremonyId::parse("XX-0000-0000-0000").is_none());
        assert!(CeremonyId::parse("KC-0000-0000-0000").is_some());
    }

    #[test]
    fn names_refuse_control_characters() {
        assert!(check_name("Alice Ng").is_ok());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(201)).is_err());
    }

    #[test]
    fn time_format() {
        assert!(is_rfc3339(&now_rfc3339()));
        assert!(!is_rfc3339("yesterday"));
    }
}
