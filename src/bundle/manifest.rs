//! `manifest.json`: what a bundle holds, with a size and SHA-256 per file.
//! Public information only (the key appears as its fingerprint).

use serde::{Deserialize, Serialize};

use crate::record::{check_name, is_rfc3339, CeremonyId};
use crate::secret::KeyFingerprint;

pub const MANIFEST_FORMAT: &str = "keyceremony-bundle";
pub const MANIFEST_VERSION: u32 = 1;
/// Name of the manifest inside the archive.
pub const MANIFEST_PATH: &str = "manifest.json";
/// Name of the root key inside the archive.
pub const ROOT_KEY_PATH: &str = "keys/root.key";
/// Largest manifest read into memory.
pub const MAX_MANIFEST_LEN: u64 = 16 * 1024 * 1024;
/// Most files a bundle may list.
pub const MAX_FILES: usize = 100_000;

/// One file of the bundle as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    /// SHA-256 of the contents, 64 lowercase hex characters.
    pub sha256: String,
}

/// The parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub ceremony_id: Option<CeremonyId>,
    pub label: String,
    pub key_fingerprint: KeyFingerprint,
    pub created: String,
    /// Every file of the bundle except the manifest itself, in archive order.
    pub files: Vec<FileRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    format: String,
    version: u32,
    ceremony_id: Option<String>,
    label: String,
    key_fingerprint: String,
    created: String,
    files: Vec<FileRecord>,
}

impl Manifest {
    pub fn to_json(&self) -> String {
        let wire = Wire {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            ceremony_id: self.ceremony_id.as_ref().map(|c| c.to_string()),
            label: self.label.clone(),
            key_fingerprint: self.key_fingerprint.to_string(),
            created: self.created.clone(),
            files: self.files.clone(),
        };
        let mut s = serde_json::to_string_pretty(&wire).expect("manifest serialises");
        s.push('\n');
        s
    }

    /// Parses and checks a manifest; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_MANIFEST_LEN {
            return Err("manifest.json is larger than 16 MiB".into());
        }
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "manifest.json is not valid: {}",
                crate::terminal::escape(&e.to_string())
            )
        })?;
        if wire.format != MANIFEST_FORMAT {
            return Err(format!(
                "manifest.json has format {:?}, expected {MANIFEST_FORMAT:?}",
                wire.format
            ));
        }
        if wire.version != MANIFEST_VERSION {
            return Err(format!(
                "manifest.json is version {}; this keyceremony reads version {MANIFEST_VERSION}",
                wire.version
            ));
        }
        let ceremony_id = match wire.ceremony_id {
            None => None,
            Some(s) => Some(
                CeremonyId::parse(&s)
                    .ok_or_else(|| format!("manifest.json: ceremony_id {s:?} is malformed"))?,
            ),
        };
        check_name(&wire.label).map_err(|e| format!("manifest.json: label {e}"))?;
        let key_fingerprint = KeyFingerprint::parse(&wire.key_fingerprint).ok_or_else(|| {
            format!(
                "manifest.json: key_fingerprint {:?} is malformed",
                wire.key_fingerprint
            )
        })?;
        if !is_rfc3339(&wire.created) {
            return Err(format!(
                "manifest.json: created {:?} is not an RFC 3339 time",
                wire.created
            ));
        }
        if wire.files.len() > MAX_FILES {
            return Err(format!("manifest.json lists more than {MAX_FILES} files"));
        }
        for f in &wire.files {
            let ok_hash = f.sha256.len() == 64
                && f.sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !ok_hash {
                return Err(format!(
                    "manifest.json: the sha256 of {:?} is not 64 lowercase hex characters",
                    f.path
                ));
            }
        }
        Ok(Manifest {
            ceremony_id,
            label: wire.label,
            key_fingerprint,
            created: wire.created,
            files: wire.files,
        })
    }
}
