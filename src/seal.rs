//! YubiKey-sealed shares: a shard file inside an age v1 file whose only
//! recipient stanza is `piv-p256`, byte-compatible with age-plugin-yubikey.
//!
//! ```text
//! age-encryption.org/v1
//! -> piv-p256 <tag> <epk>
//! <base64 of the 32-byte wrapped file key>
//! --- <header MAC>
//! <payload>
//! ```
//!
//! - `tag`: first 4 bytes of SHA-256 over the token's compressed public key
//!   (33 bytes), base64 without padding. It names the key without revealing it.
//! - `epk`: the compressed ephemeral P-256 point (33 bytes), base64 without padding.
//! - wrap key = HKDF-SHA256(ikm = x coordinate of the ECDH shared point,
//!   salt = epk || token public key (both compressed), info = "piv-p256");
//!   the 16-byte file key is sealed with ChaCha20-Poly1305 under a zero nonce
//!   (the wrap key is single-use), giving a 32-byte body.
//! - The recipient string is Bech32 (not Bech32m) with prefix `age1yubikey`
//!   over the 33-byte compressed point.
//!
//! The age crate also writes one random stanza whose type ends in `-grease`
//! into every header (age readers skip unknown stanzas; no key opens it).
//! A sealed share has exactly one *recipient*: the piv-p256 stanza. Any
//! other non-grease stanza is refused, since it would let someone else open
//! the share.
//!
//! Sealing needs only the public key. Unsealing needs the token: the ECDH runs
//! on the card (see [`crate::token`]), and everything after it happens here.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::secrecy::ExposeSecret;
use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::shard::ShardFile;
use crate::token::{
    ensure_pin, find_by_tag, PinSource, Slot, SlotKey, Token, TokenError, TokenProvider,
};

/// First line of every age v1 file; how `inputs` recognises a sealed share.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
/// The stanza type age-plugin-yubikey writes and reads.
pub const STANZA_TAG: &str = "piv-p256";
/// HKDF info string for the wrap key (same bytes as the stanza type).
pub const STANZA_KEY_LABEL: &[u8] = b"piv-p256";
/// Human-readable part of a recipient string.
pub const RECIPIENT_HRP: &str = "age1yubikey";
/// Length of the key tag in a stanza.
pub const TAG_LEN: usize = 4;
/// Compressed P-256 point length.
pub const POINT_LEN: usize = 33;
/// Wrapped file key: 16 bytes of key plus the 16-byte Poly1305 tag.
pub const WRAPPED_KEY_LEN: usize = FILE_KEY_BYTES + 16;
/// Largest sealed share read: a shard file (64 KiB at most) plus age overhead.
pub const MAX_SEALED_LEN: usize = 80 * 1024;

/// Why a recipient string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    #[error("not a YubiKey recipient: it should start with \"age1yubikey1\" (run `keyceremony token recipient --serial S` to get one)")]
    WrongPrefix,
    #[error("the recipient string is damaged (its Bech32 checksum does not match): a character was mistyped, dropped or swapped; copy it again from `keyceremony token recipient`")]
    BadChecksum,
    #[error("the recipient string is not valid Bech32 ({0})")]
    NotBech32(String),
    #[error(
        "the recipient holds {0} bytes; a YubiKey recipient holds a 33-byte compressed P-256 point"
    )]
    WrongLength(usize),
    #[error("the recipient is not a compressed point on the P-256 curve")]
    NotOnCurve,
}

/// A token's P-256 public key, as an age recipient (`age1yubikey1...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PivRecipient(PublicKey);

impl PivRecipient {
    pub fn from_public_key(pk: PublicKey) -> Self {
        PivRecipient(pk)
    }

    /// Accepts only a 33-byte compressed SEC1 point on the curve.
    pub fn from_compressed(bytes: &[u8]) -> std::result::Result<Self, RecipientError> {
        if bytes.len() != POINT_LEN {
            return Err(RecipientError::WrongLength(bytes.len()));
        }
        if bytes[0] != 0x02 && bytes[0] != 0x03 {
            return Err(RecipientError::NotOnCurve);
        }
        PublicKey::from_sec1_bytes(bytes)
            .map(PivRecipient)
            .map_err(|_| RecipientError::NotOnCurve)
    }

    /// Parses `age1yubikey1...` (one case throughout, Bech32 checksum, not
    /// Bech32m). A trailing `# comment` (as `token recipient` prints for a
    /// test token) is ignored.
    pub fn parse(text: &str) -> std::result::Result<Self, RecipientError> {
        let text = text.split('#').next().unwrap_or("").trim();
        let lower = text.to_ascii_lowercase();
        if !lower.starts_with("age1yubikey1") {
            return Err(RecipientError::WrongPrefix);
        }
        let checked = CheckedHrpstring::new::<Bech32>(text).map_err(|e| {
            use bech32::primitives::decode::{CheckedHrpstringError, ChecksumError};
            match e {
                CheckedHrpstringError::Checksum(ChecksumError::InvalidResidue) => {
                    RecipientError::BadChecksum
                }
                other => RecipientError::NotBech32(other.to_string()),
            }
        })?;
        if checked.hrp().to_lowercase() != RECIPIENT_HRP {
            return Err(RecipientError::WrongPrefix);
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        Self::from_compressed(&bytes)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.0
    }

    pub fn to_compressed(&self) -> [u8; POINT_LEN] {
        let mut out = [0u8; POINT_LEN];
        out.copy_from_slice(self.0.to_encoded_point(true).as_bytes());
        out
    }

    /// The stanza tag: first 4 bytes of SHA-256 of the compressed point.
    pub fn tag(&self) -> KeyTag {
        let digest = Sha256::digest(self.to_compressed());
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&digest[..TAG_LEN]);
        KeyTag(t)
    }
}

impl fmt::Display for PivRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse(RECIPIENT_HRP).expect("constant HRP is valid");
        let s = bech32::encode::<Bech32>(hrp, &self.to_compressed())
            .expect("33 bytes fit in a Bech32 string");
        f.write_str(&s)
    }
}

impl fmt::Debug for PivRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PivRecipient({self})")
    }
}

/// The 4-byte key tag of a `piv-p256` stanza.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyTag(pub [u8; TAG_LEN]);

impl fmt::Display for KeyTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyTag({self})")
    }
}

/// Why a sealed file could not be opened. No variant carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not an age file (it does not start with \"age-encryption.org/v1\")")]
    NotAge,
    #[error("file is {0} bytes, larger than any sealed share ({MAX_SEALED_LEN} bytes at most)")]
    TooLarge(usize),
    #[error("the age header is malformed ({0}): the file is damaged or truncated")]
    BadHeader(&'static str),
    #[error("this age file is not sealed to a YubiKey: its recipient is \"{}\", not piv-p256", crate::terminal::Shown(.0))]
    NotPiv(String),
    #[error("this age file has {0} recipients; a sealed share has exactly one (piv-p256), so that only the one token opens it")]
    StanzaCount(usize),
    #[error("the piv-p256 stanza is malformed ({0}): the file is damaged")]
    BadStanza(&'static str),
    #[error("the token's key does not open this file (the wrapped file key fails to decrypt): the file is damaged, or it was sealed to another key with the same tag")]
    WrongKeyOrDamaged,
    #[error("the age header's MAC does not match: the file was altered or damaged")]
    HeaderMac,
    #[error(
        "the sealed content fails its integrity check: the file was altered, damaged or truncated"
    )]
    Payload,
    #[error("the sealed content is not a keyceremony shard file: {0}")]
    NotShard(String),
}

/// What the header of a sealed share says, parsed strictly: exactly one
/// recipient stanza, of type piv-p256 (age's ignorable `-grease` stanzas aside), with a 4-byte tag, a valid compressed point and
/// a 32-byte body.
#[derive(Clone, Debug)]
pub struct SealedHeader {
    pub tag: KeyTag,
    pub epk: PublicKey,
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

pub(crate) fn b64_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Canonical unpadded base64 of exactly N bytes (the engine refuses
    // non-zero trailing bits, so one byte string has one spelling).
    if text.len() != (4 * N).div_ceil(3) {
        return None;
    }
    let v = BASE64_STANDARD_NO_PAD.decode(text).ok()?;
    v.try_into().ok()
}

/// One recipient stanza of an age header as written: type, arguments, body.
pub(crate) struct RawStanza {
    pub kind: String,
    pub args: Vec<String>,
    pub body: Vec<u8>,
}

/// Most stanzas read from one header: a share file has one or two.
const MAX_STANZAS: usize = 16;

/// The recipient stanzas of an age file that starts with [`AGE_MAGIC`],
/// read from its first 4 KiB up to the MAC line. Only the shape is checked
/// here (lines, base64 bodies); the age crate checks the MAC and payload.
pub(crate) fn read_stanzas(bytes: &[u8]) -> std::result::Result<Vec<RawStanza>, SealError> {
    let head = bytes.strip_prefix(AGE_MAGIC).ok_or(SealError::NotAge)?;
    // The header is ASCII lines; read at most a few KiB of it.
    let head = &head[..head.len().min(4096 - AGE_MAGIC.len())];
    let mut lines = head.split(|&b| b == b'\n');
    let mut stanzas: Vec<RawStanza> = Vec::new();
    let mut line = lines
        .next()
        .ok_or(SealError::BadHeader("no recipient line"))?;
    loop {
        let text =
            std::str::from_utf8(line).map_err(|_| SealError::BadHeader("non-ASCII header line"))?;
        if text.starts_with("---") {
            break;
        }
        let rest = text
            .strip_prefix("-> ")
            .ok_or(SealError::BadHeader("expected a \"-> \" recipient line"))?;
        let mut parts = rest.split(' ');
        let kind = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or(SealError::BadHeader("empty recipient type"))?;
        let args: Vec<String> = parts.map(str::to_string).collect();
        // Body: base64 lines of 64 characters, ended by a shorter line.
        let mut body_text = String::new();
        loop {
            let l = lines
                .next()
                .ok_or(SealError::BadHeader("header ends inside a stanza"))?;
            let l = std::str::from_utf8(l)
                .map_err(|_| SealError::BadHeader("non-ASCII stanza body"))?;
            if l.len() > 64 {
                return Err(SealError::BadHeader("stanza body line longer than 64"));
            }
            body_text.push_str(l);
            if l.len() < 64 {
                break;
            }
        }
        let body = BASE64_STANDARD_NO_PAD
            .decode(&body_text)
            .map_err(|_| SealError::BadHeader("stanza body is not base64"))?;
        stanzas.push(RawStanza {
            kind: kind.to_string(),
            args,
            body,
        });
        if stanzas.len() > MAX_STANZAS {
            return Err(SealError::StanzaCount(stanzas.len()));
        }
        line = lines
            .next()
            .ok_or(SealError::BadHeader("header has no MAC line"))?;
    }
    Ok(stanzas)
}

impl SealedHeader {
    /// Reads the header lines of an age file. Only what is needed to find
    /// the token is checked here; the age crate checks the MAC and payload.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, SealError> {
        if !bytes.starts_with(AGE_MAGIC) {
            return Err(SealError::NotAge);
        }
        if bytes.len() > MAX_SEALED_LEN {
            return Err(SealError::TooLarge(bytes.len()));
        }
        let mut stanzas = read_stanzas(bytes)?;
        // The age crate adds one random "<x>-grease" stanza to every file it
        // writes (to keep readers tolerant of unknown stanzas); no key opens it.
        stanzas.retain(|s| !s.kind.ends_with("-grease"));
        if stanzas.len() != 1 {
            return Err(SealError::StanzaCount(stanzas.len()));
        }
        let RawStanza { kind, args, body } = stanzas.pop().expect("one stanza");
        if kind != STANZA_TAG {
            return Err(SealError::NotPiv(kind.chars().take(40).collect()));
        }
        if args.len() != 2 {
            return Err(SealError::BadStanza("it needs exactly two arguments"));
        }
        let tag = b64_exact::<TAG_LEN>(&args[0])
            .ok_or(SealError::BadStanza("the tag is not 4 bytes of base64"))?;
        let epk_bytes = b64_exact::<POINT_LEN>(&args[1]).ok_or(SealError::BadStanza(
            "the ephemeral key is not 33 bytes of base64",
        ))?;
        let epk = PivRecipient::from_compressed(&epk_bytes)
            .map_err(|_| SealError::BadStanza("the ephemeral key is not a P-256 point"))?
            .0;
        let wrapped_key: [u8; WRAPPED_KEY_LEN] = body
            .try_into()
            .map_err(|_| SealError::BadStanza("the body is not 32 bytes"))?;
        Ok(SealedHeader {
            tag: KeyTag(tag),
            epk,
            wrapped_key,
        })
    }

    /// The uncompressed (65-byte) ephemeral point, as PIV ECDH takes it.
    pub fn epk_uncompressed(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out.copy_from_slice(self.epk.to_encoded_point(false).as_bytes());
        out
    }
}

fn wrap_key(shared_x: &[u8; 32], epk: &PublicKey, recipient: &PivRecipient) -> Zeroizing<[u8; 32]> {
    let mut salt = Vec::with_capacity(2 * POINT_LEN);
    salt.extend_from_slice(epk.to_encoded_point(true).as_bytes());
    salt.extend_from_slice(&recipient.to_compressed());
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared_x)
        .expand(STANZA_KEY_LABEL, &mut okm[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// Builds the stanza for `recipient` with the given ephemeral secret.
fn stanza_with(file_key: &FileKey, recipient: &PivRecipient, esk: &SecretKey) -> Stanza {
    let epk = esk.public_key();
    let shared = p256::ecdh::diffie_hellman(esk.to_nonzero_scalar(), recipient.0.as_affine());
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(shared.raw_secret_bytes());
    let key = wrap_key(&x, &epk, recipient);
    let body = ChaCha20Poly1305::new(Key::from_slice(&key[..]))
        .encrypt(&Nonce::default(), &file_key.expose_secret()[..])
        .expect("in-memory AEAD encryption cannot fail");
    Stanza {
        tag: STANZA_TAG.to_string(),
        args: vec![
            BASE64_STANDARD_NO_PAD.encode(recipient.tag().0),
            BASE64_STANDARD_NO_PAD.encode(epk.to_encoded_point(true).as_bytes()),
        ],
        body,
    }
}

impl age::Recipient for PivRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> std::result::Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let esk = SecretKey::random(&mut OsRng);
        Ok((vec![stanza_with(file_key, self, &esk)], HashSet::new()))
    }
}

/// A recipient whose ephemeral key is fixed, for reproducible test vectors
/// only: reusing an ephemeral key across files is unsafe.
#[doc(hidden)]
pub struct FixedEphemeralRecipient {
    pub recipient: PivRecipient,
    pub ephemeral: SecretKey,
}

impl age::Recipient for FixedEphemeralRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> std::result::Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        Ok((
            vec![stanza_with(file_key, &self.recipient, &self.ephemeral)],
            HashSet::new(),
        ))
    }
}

/// Encrypts `plaintext` into an age file for one recipient.
pub fn seal_bytes(recipient: &dyn age::Recipient, plaintext: &[u8]) -> Result<Vec<u8>> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| Error::Sealing { source: e };
    let enc = age::Encryptor::with_recipients(std::iter::once(recipient))
        .map_err(|e| failed(Box::new(e)))?;
    let mut out = Vec::with_capacity(plaintext.len() + 300);
    let mut w = enc.wrap_output(&mut out).map_err(|e| failed(Box::new(e)))?;
    w.write_all(plaintext)
        .and_then(|_| w.finish().map(|_| ()))
        .map_err(|e| failed(Box::new(e)))?;
    Ok(out)
}

/// Seals a shard file to a token's key: the bytes of `shard-<i>.age`.
pub fn seal_shard(shard: &ShardFile, recipient: &PivRecipient) -> Result<Vec<u8>> {
    seal_bytes(recipient, shard.to_json().as_bytes())
}

/// The age identity for one file once the card has done its part: the
/// shared x coordinate for this file's ephemeral key.
struct EcdhResult<'a> {
    header: &'a SealedHeader,
    recipient: &'a PivRecipient,
    shared_x: &'a [u8; 32],
    failed: std::cell::Cell<bool>,
}

impl age::Identity for EcdhResult<'_> {
    fn unwrap_stanza(
        &self,
        stanza: &Stanza,
    ) -> Option<std::result::Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let key = wrap_key(self.shared_x, &self.header.epk, self.recipient);
        let opened = ChaCha20Poly1305::new(Key::from_slice(&key[..]))
            .decrypt(&Nonce::default(), &self.header.wrapped_key[..]);
        Some(match opened {
            Ok(pt) if pt.len() == FILE_KEY_BYTES => {
                let pt = Zeroizing::new(pt);
                Ok(FileKey::init_with_mut(|k| k.copy_from_slice(&pt)))
            }
            _ => {
                self.failed.set(true);
                Err(age::DecryptError::DecryptionFailed)
            }
        })
    }
}

/// Decrypts a sealed file given the ECDH result the token computed for its
/// header. Returns the plaintext in zeroizing storage.
pub fn open_with_shared_secret(
    bytes: &[u8],
    header: &SealedHeader,
    recipient: &PivRecipient,
    shared_x: &[u8; 32],
) -> std::result::Result<Zeroizing<Vec<u8>>, SealError> {
    if header.tag != recipient.tag() {
        return Err(SealError::WrongKeyOrDamaged);
    }
    let identity = EcdhResult {
        header,
        recipient,
        shared_x,
        failed: std::cell::Cell::new(false),
    };
    let dec = age::Decryptor::new(bytes).map_err(map_age_error)?;
    let mut reader = dec
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| {
            if identity.failed.get() {
                SealError::WrongKeyOrDamaged
            } else {
                map_age_error(e)
            }
        })?;
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_SEALED_LEN));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let n = reader
            .read(&mut chunk[..])
            .map_err(|_| SealError::Payload)?;
        if n == 0 {
            break;
        }
        if out.len() + n > MAX_SEALED_LEN {
            return Err(SealError::TooLarge(out.len() + n));
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

fn map_age_error(e: age::DecryptError) -> SealError {
    match e {
        age::DecryptError::InvalidMac => SealError::HeaderMac,
        age::DecryptError::InvalidHeader => SealError::BadHeader("the age crate refuses it"),
        age::DecryptError::UnknownFormat => SealError::BadHeader("unknown age version"),
        age::DecryptError::DecryptionFailed | age::DecryptError::Io(_) => SealError::Payload,
        age::DecryptError::KeyDecryptionFailed | age::DecryptError::NoMatchingKeys => {
            SealError::WrongKeyOrDamaged
        }
        _ => SealError::BadHeader("unexpected age error"),
    }
}

/// Parses the decrypted content as a shard file.
pub fn shard_from_plaintext(plaintext: &[u8]) -> std::result::Result<ShardFile, SealError> {
    ShardFile::parse(plaintext).map_err(|e| SealError::NotShard(e.to_string()))
}

/// Whether `bytes` look like an age file (for content sniffing in `inputs`).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC)
}

/// A sealed-share error, tied to its file.
pub fn file_error(path: &Path, e: SealError) -> Error {
    Error::Sealed {
        path: path.to_path_buf(),
        source: e,
    }
}

/// The token (and slot) that opened a sealed share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedWith {
    /// How the token is named to a person ("TEST TOKEN ..." for a test token).
    pub token: String,
    pub serial: u32,
    pub slot: Slot,
    pub test_token: bool,
}

/// Opens sealed shares with the tokens at hand. One per run (or per
/// ceremony), so a token opened for one share keeps its PIN session for the
/// next (PIN policy "once" asks once, "always" before every share). The
/// console (PIN, last-try confirmation) and the event sink (which token,
/// touch) are passed to each call.
pub struct Unsealer {
    provider: Box<dyn TokenProvider>,
    pins: PinSource,
    opened: Vec<(Box<dyn Token>, Vec<SlotKey>)>,
    /// Tokens whose PIN was refused in this run: not tried again, so one
    /// typo in a PIN file cannot burn a try per sealed share.
    pin_refused: Vec<u32>,
    /// `--shard-passphrase-file F`: the passphrase of passphrase-protected
    /// shards (`.json.age`); None asks on the console for each.
    shard_passphrase_file: Option<std::path::PathBuf>,
}

impl Unsealer {
    pub fn new(provider: Box<dyn TokenProvider>, pins: PinSource) -> Self {
        Unsealer {
            provider,
            pins,
            opened: Vec::new(),
            pin_refused: Vec::new(),
            shard_passphrase_file: None,
        }
    }

    /// Passphrase-protected shards are opened with the passphrase in `file`.
    pub fn with_shard_passphrase_file(mut self, file: Option<std::path::PathBuf>) -> Self {
        self.shard_passphrase_file = file;
        self
    }

    /// The file given for passphrase-protected shards, if any.
    pub fn shard_passphrase_file(&self) -> Option<&Path> {
        self.shard_passphrase_file.as_deref()
    }

    /// Finds the token for `tag`: one opened earlier in this run, or a new one.
    fn token_for(&mut self, tag: KeyTag) -> std::result::Result<(usize, SlotKey), TokenError> {
        for (i, (_, keys)) in self.opened.iter().enumerate() {
            if let Some(k) = keys.iter().find(|k| k.tag() == tag) {
                return Ok((i, k.clone()));
            }
        }
        let (mut token, key) = find_by_tag(self.provider.as_mut(), tag)?;
        let keys = token.slot_keys()?;
        self.opened.push((token, keys));
        Ok((self.opened.len() - 1, key))
    }

    /// Decrypts a sealed share (`bytes` read from `path`) and checks the
    /// shard inside; also says which token opened it. Every error names the
    /// file; token errors stay [`TokenError`]s inside [`Error::Token`].
    pub fn unseal_shard(
        &mut self,
        path: &Path,
        bytes: &[u8],
        console: &mut dyn Console,
        events: &mut dyn EventSink,
    ) -> Result<(ShardFile, SealedWith)> {
        let (plaintext, with) = self.unseal_bytes(path, bytes, console, events)?;
        let shard = shard_from_plaintext(&plaintext).map_err(|e| file_error(path, e))?;
        Ok((shard, with))
    }

    /// Decrypts a sealed file to its plaintext; also says which token opened it.
    pub fn unseal_bytes(
        &mut self,
        path: &Path,
        bytes: &[u8],
        console: &mut dyn Console,
        events: &mut dyn EventSink,
    ) -> Result<(Zeroizing<Vec<u8>>, SealedWith)> {
        let header = SealedHeader::parse(bytes).map_err(|e| file_error(path, e))?;
        let on_file = |e: Error| e.in_file(path);
        let (i, key) = self.token_for(header.tag).map_err(|e| on_file(e.into()))?;
        let token = self.opened[i].0.as_mut();
        events.emit(Event::SealedShareFound {
            path: path.to_path_buf(),
            token: token.label(),
            slot: key.slot,
        });
        if self.pin_refused.contains(&token.serial()) {
            return Err(on_file(TokenError::PinRefusedEarlier(token.label()).into()));
        }
        if let Err(e) = ensure_pin(token, key.pin_policy, &self.pins, console) {
            self.pin_refused.push(token.serial());
            // A bad PIN file is told about as a failure to open this share
            return Err(match e {
                Error::Token { source, .. } => Error::Token {
                    path: Some(path.to_path_buf()),
                    source,
                },
                Error::Input { problem, .. } => Error::input(path, problem),
                other => on_file(other),
            });
        }
        let shared = token
            .ecdh(&key, &header.epk, events)
            .map_err(|e| on_file(e.into()))?;
        let with = SealedWith {
            token: token.label(),
            serial: token.serial(),
            slot: key.slot,
            test_token: token.is_test(),
        };
        let plaintext = open_with_shared_secret(bytes, &header, &key.recipient(), &shared)
            .map_err(|e| file_error(path, e))?;
        Ok((plaintext, with))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).unwrap()
    }

    #[test]
    fn recipient_round_trips_and_uses_bech32() {
        let r = PivRecipient::from_public_key(key(7).public_key());
        let s = r.to_string();
        assert!(s.starts_with("age1yubikey1"));
        assert_eq!(PivRecipient::parse(&s).unwrap(), r);
        assert_eq!(PivRecipient::parse(&s.to_uppercase()).unwrap(), r);
        // Same payload under Bech32m is refused: age-plugin-yubikey uses Bech32.
        let hrp = Hrp::parse(RECIPIENT_HRP).unwrap();
        let m = bech32::encode::<bech32::Bech32m>(hrp, &r.to_compressed()).unwrap();
        assert!(PivRecipient::parse(&m).is_err());
    }

    #[test]
    fn recipient_parse_errors_are_specific() {
        let s = PivRecipient::from_public_key(key(7).public_key()).to_string();
        let mut bad: Vec<char> = s.chars().collect();
        let i = bad.len() - 3;
        bad[i] = if bad[i] == 'q' { 'p' } else { 'q' };
        let bad: String = bad.into_iter().collect();
        assert_eq!(
            PivRecipient::parse(&bad).unwrap_err(),
            RecipientError::BadChecksum
        );
        assert_eq!(
            PivRecipient::parse("age1qpzry9x8gf2tvdw0s3jn54khce6mua7l").unwrap_err(),
            RecipientError::WrongPrefix
        );
        let hrp = Hrp::parse(RECIPIENT_HRP).unwrap();
        let short = bech32::encode::<Bech32>(hrp, &[2u8; 20]).unwrap();
        assert_eq!(
            PivRecipient::parse(&short).unwrap_err(),
            RecipientError::WrongLength(20)
        );
        let off_curve = bech32::encode::<Bech32>(hrp, &[0x05u8; 33]).unwrap();
        assert_eq!(
            PivRecipient::parse(&off_curve).unwrap_err(),
            RecipientError::NotOnCurve
        );
    }

    #[test]
    fn seal_then_open_with_token_side_ecdh() {
        let token_key = key(9);
        let r = PivRecipient::from_public_key(token_key.public_key());
        let sealed = seal_bytes(&r, b"hello shard").unwrap();
        let header = SealedHeader::parse(&sealed).unwrap();
        assert_eq!(header.tag, r.tag());
        let shared =
            p256::ecdh::diffie_hellman(token_key.to_nonzero_scalar(), header.epk.as_affine());
        let mut x = [0u8; 32];
        x.copy_from_slice(shared.raw_secret_bytes());
        let pt = open_with_shared_secret(&sealed, &header, &r, &x).unwrap();
        assert_eq!(&pt[..], b"hello shard");
        // Another key's ECDH result does not open it.
        let other = key(10);
        let shared = p256::ecdh::diffie_hellman(other.to_nonzero_scalar(), header.epk.as_affine());
        x.copy_from_slice(shared.raw_secret_bytes());
        assert_eq!(
            open_with_shared_secret(&sealed, &header, &r, &x).unwrap_err(),
            SealError::WrongKeyOrDamaged
        );
    }

    #[test]
    fn header_parser_refuses_other_shapes() {
        assert_eq!(
            SealedHeader::parse(b"hello").unwrap_err(),
            SealError::NotAge
        );
        let x25519 = b"age-encryption.org/v1\n-> X25519 abc\nAAAA\n--- xyz\n";
        assert!(matches!(
            SealedHeader::parse(x25519).unwrap_err(),
            SealError::NotPiv(_)
        ));
        let r = PivRecipient::from_public_key(key(3).public_key());
        let one = seal_bytes(&r, b"x").unwrap();
        let text = String::from_utf8_lossy(&one).to_string();
        let mut lines: Vec<&str> = text.split('\n').collect();
        let stanza = [lines[1], lines[2]];
        lines.splice(1..1, stanza);
        let two = lines.join("\n");
        assert_eq!(
            SealedHeader::parse(two.as_bytes()).unwrap_err(),
            SealError::StanzaCount(2)
        );
    }
}
