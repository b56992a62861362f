//! What a YubiKey keeps across an unplug: serial, firmware version, PIN and
//! PUK with their counters, the management key, slot keys with their
//! policies, and the data objects. Optionally kept in a JSON file so a
//! restarted pivsim is the same card.
//!
//! The file holds private keys and PINs in the clear. It is test support
//! for a simulated card, never for real secrets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

/// Factory PIN, PUK and management key of a YubiKey.
pub const DEFAULT_PIN: &[u8] = b"123456";
pub const DEFAULT_PUK: &[u8] = b"12345678";
pub const DEFAULT_MGM_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];
pub const DEFAULT_TRIES: u8 = 3;

/// PIN and touch policy bytes as the card encodes them.
pub const PIN_POLICY_DEFAULT: u8 = 0;
pub const PIN_POLICY_NEVER: u8 = 1;
pub const PIN_POLICY_ONCE: u8 = 2;
pub const PIN_POLICY_ALWAYS: u8 = 3;
pub const TOUCH_POLICY_DEFAULT: u8 = 0;
pub const TOUCH_POLICY_NEVER: u8 = 1;
pub const TOUCH_POLICY_ALWAYS: u8 = 2;
pub const TOUCH_POLICY_CACHED: u8 = 3;

/// The attestation slot.
pub const SLOT_ATTESTATION: u8 = 0xf9;

/// A PIN or PUK with its retry counter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reference {
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
    pub max_tries: u8,
    pub tries_left: u8,
    /// Still the factory value (reported by GET METADATA).
    pub is_default: bool,
}

impl Reference {
    fn new(value: &[u8]) -> Self {
        Reference {
            value: value.to_vec(),
            max_tries: DEFAULT_TRIES,
            tries_left: DEFAULT_TRIES,
            is_default: true,
        }
    }
}

/// A P-256 private key in a slot, with its policies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlotKey {
    /// Always 0x11 (ECC P-256): the only algorithm pivsim implements.
    pub algorithm: u8,
    #[serde(with = "hex_bytes")]
    pub scalar: Vec<u8>,
    pub pin_policy: u8,
    pub touch_policy: u8,
    /// true: generated on the card; false: imported.
    pub generated: bool,
}

impl SlotKey {
    pub fn secret(&self) -> p256::SecretKey {
        p256::SecretKey::from_slice(&self.scalar).expect("slot keys are valid scalars")
    }

    /// The public key as an uncompressed SEC1 point (65 bytes).
    pub fn public_point(&self) -> Vec<u8> {
        self.secret()
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }
}

/// Everything the card remembers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CardState {
    pub serial: u32,
    pub version: [u8; 3],
    pub pin: Reference,
    pub puk: Reference,
    #[serde(with = "hex_bytes")]
    pub mgm_key: Vec<u8>,
    pub mgm_touch: bool,
    /// Slot number (e.g. 0x9d) to key.
    pub keys: BTreeMap<u8, SlotKey>,
    /// Object id (e.g. 0x5fc105) to stored bytes.
    pub objects: BTreeMap<u32, HexBytes>,
}

/// Bytes stored as hex in the state file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HexBytes(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl CardState {
    /// A factory-fresh card with the given serial: default PIN, PUK and
    /// management key, and a fresh (self-signed, not Yubico's) attestation key.
    pub fn factory(serial: u32, version: [u8; 3]) -> Self {
        let mut state = CardState {
            serial,
            version,
            pin: Reference::new(DEFAULT_PIN),
            puk: Reference::new(DEFAULT_PUK),
            mgm_key: DEFAULT_MGM_KEY.to_vec(),
            mgm_touch: false,
            keys: BTreeMap::new(),
            objects: BTreeMap::new(),
        };
        state.install_attestation_key();
        state
    }

    /// PIV reset: everything back to factory except serial and version.
    /// Like a real YubiKey, a reset also replaces nothing of the attestation
    /// key: pivsim keeps the one it has.
    pub fn reset(&mut self) {
        let attestation = self.keys.get(&SLOT_ATTESTATION).cloned();
        let attestation_cert = self.objects.get(&crate::attest::OBJ_ATTESTATION).cloned();
        *self = CardState {
            serial: self.serial,
            version: self.version,
            pin: Reference::new(DEFAULT_PIN),
            puk: Reference::new(DEFAULT_PUK),
            mgm_key: DEFAULT_MGM_KEY.to_vec(),
            mgm_touch: false,
            keys: BTreeMap::new(),
            objects: BTreeMap::new(),
        };
        match (attestation, attestation_cert) {
            (Some(k), Some(c)) => {
                self.keys.insert(SLOT_ATTESTATION, k);
                self.objects.insert(crate::attest::OBJ_ATTESTATION, c);
            }
            _ => self.install_attestation_key(),
        }
    }

    fn install_attestation_key(&mut self) {
        let secret = p256::SecretKey::random(&mut OsRng);
        let key = SlotKey {
            algorithm: crate::piv::ALG_P256,
            scalar: secret.to_bytes().to_vec(),
            pin_policy: PIN_POLICY_NEVER,
            touch_policy: TOUCH_POLICY_NEVER,
            generated: true,
        };
        let cert = crate::attest::self_signed_root(&key, self.serial);
        self.objects.insert(
            crate::attest::OBJ_ATTESTATION,
            HexBytes(crate::attest::certificate_object(&cert)),
        );
        self.keys.insert(SLOT_ATTESTATION, key);
    }
}

/// Where the state lives: only in memory, or also in a file rewritten after every change.
pub struct Store {
    path: Option<PathBuf>,
}

impl Store {
    pub fn memory() -> Self {
        Store { path: None }
    }

    pub fn file(path: &Path) -> Self {
        Store {
            path: Some(path.to_path_buf()),
        }
    }

    /// Loads the state file if there is one.
    pub fn load(&self) -> Result<Option<CardState>, String> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: not a pivsim state file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
        }
    }

    /// Writes the state atomically (temp file in the same directory, then rename).
    pub fn save(&self, state: &CardState) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| format!("{}: cannot create temp file: {e}", dir.display()))?;
        let json = serde_json::to_vec_pretty(state).expect("state serialises");
        tmp.write_all(&json)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        tmp.persist(path)
            .map_err(|e| format!("{}: cannot replace: {e}", path.display()))?;
        Ok(())
    }
}

/// Byte strings as lowercase hex in the state file.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
