//! Hardware tokens (YubiKey PIV, P-256) behind one small trait, so that the
//! ceremony runs the same against a real key and a software stand-in.
//!
//! - [`yubikey`]: real YubiKeys over PC/SC (the `yubikey` crate).
//! - [`soft`]: test tokens, one JSON state file each in a folder given by
//!   `--test-tokens DIR` or `KEYCEREMONY_TEST_TOKENS`.
//!
//! Slots: keyceremony uses the 20 *retired* key-management slots 0x82..0x95,
//! as age-plugin-yubikey does, so a key made by either tool is found by the
//! other; `token init` takes the first free one unless told otherwise. Slot
//! 0x9d (key management) is accepted when named explicitly.

pub mod manage;
pub mod soft;
pub mod yubikey;

use std::fmt;
use std::path::{Path, PathBuf};

use p256::PublicKey;
use zeroize::Zeroizing;

use crate::console::Console;
use crate::error::{Error, Question};
use crate::events::EventSink;
use crate::seal::{KeyTag, PivRecipient};

/// Default PIN of a new YubiKey PIV application (and of a new test token).
pub const DEFAULT_PIN: &str = "123456";
/// Default PUK of a new YubiKey PIV application (and of a new test token).
pub const DEFAULT_PUK: &str = "12345678";
/// Wrong PINs (or PUKs) before the PIN (or PUK) is blocked, on a new YubiKey.
pub const DEFAULT_TRIES: u8 = 3;

/// A PIV key slot that keyceremony may use.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u8);

impl Slot {
    /// Slot 9d, "key management".
    pub const KEY_MANAGEMENT: Slot = Slot(0x9d);

    /// Retired slots 0x82..=0x95 and 9d; nothing else.
    pub fn new(id: u8) -> Option<Slot> {
        ((0x82..=0x95).contains(&id) || id == 0x9d).then_some(Slot(id))
    }

    /// Parses "82", "0x82", "9d" or "R1".."R20".
    pub fn parse(text: &str) -> Option<Slot> {
        let t = text.trim().to_ascii_lowercase();
        if let Some(n) = t.strip_prefix('r') {
            let n: u8 = n.parse().ok()?;
            return (1..=20).contains(&n).then(|| Slot(0x81 + n));
        }
        let t = t.strip_prefix("0x").unwrap_or(&t);
        u8::from_str_radix(t, 16).ok().and_then(Slot::new)
    }

    /// The slots searched for a sealed share's key, in order.
    pub fn all() -> impl Iterator<Item = Slot> {
        (0x82..=0x95).map(Slot).chain(std::iter::once(Slot(0x9d)))
    }

    /// The retired slots, where `token init` puts new keys by default.
    pub fn retired() -> impl Iterator<Item = Slot> {
        (0x82..=0x95).map(Slot)
    }

    pub fn id(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({self})")
    }
}

/// When the token asks for the PIN before using a slot's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPolicy {
    /// Never.
    Never,
    /// Once per session (until the token is unplugged or another program resets it).
    Once,
    /// Before every use.
    Always,
}

/// When the token wants a touch before using a slot's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPolicy {
    Never,
    /// Every use.
    Always,
    /// Once, then cached for 15 seconds.
    Cached,
}

impl PinPolicy {
    pub fn name(self) -> &'static str {
        match self {
            PinPolicy::Never => "never",
            PinPolicy::Once => "once",
            PinPolicy::Always => "always",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "never" => Some(PinPolicy::Never),
            "once" => Some(PinPolicy::Once),
            "always" => Some(PinPolicy::Always),
            _ => None,
        }
    }
}

impl TouchPolicy {
    pub fn name(self) -> &'static str {
        match self {
            TouchPolicy::Never => "never",
            TouchPolicy::Always => "always",
            TouchPolicy::Cached => "cached",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "never" => Some(TouchPolicy::Never),
            "always" => Some(TouchPolicy::Always),
            "cached" => Some(TouchPolicy::Cached),
            _ => None,
        }
    }
}

/// A P-256 key in a slot, with what is known of its policies (a YubiKey
/// older than firmware 5.3 cannot report them).
#[derive(Clone, Debug)]
pub struct SlotKey {
    pub slot: Slot,
    pub public_key: PublicKey,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
}

impl SlotKey {
    pub fn recipient(&self) -> PivRecipient {
        PivRecipient::from_public_key(self.public_key)
    }

    pub fn tag(&self) -> KeyTag {
        self.recipient().tag()
    }
}

/// One token found by a provider, before it is opened.
#[derive(Clone, Debug)]
pub struct TokenSummary {
    pub serial: u32,
    /// How to name it to a person; says "TEST TOKEN" for a software token.
    pub label: String,
}

/// Seconds a command waits for a test token another process is using
/// (default [`soft::DEFAULT_LOCK_WAIT_SECS`]).
pub const LOCK_WAIT_ENV: &str = "KEYCEREMONY_TEST_TOKEN_LOCK_WAIT";

/// A serial in a command to run: the real one when known, else the
/// placeholder the help uses.
struct SerialArg(Option<u32>);

impl std::fmt::Display for SerialArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(serial) => write!(f, "{serial}"),
            None => f.write_str("SERIAL"),
        }
    }
}

/// What goes wrong with tokens, worded for a custodian in the middle of a
/// ceremony: what happened, and what to do next. Never holds a PIN or key.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot talk to smart cards: {0}. Start it (Debian: apt-get install pcscd && systemctl start pcscd) and try again")]
    NoService(String),
    #[error("cannot talk to smart cards: {0}")]
    NoPcscLibrary(#[from] crate::pcsc_loader::LoadError),
    #[error("no YubiKey is connected. Plug one in and try again")]
    NoTokens,
    #[error("TEST MODE: there are no test tokens in {}. Create one with: keyceremony token init --serial N (any serial you choose)", .0.display())]
    NoTestTokens(PathBuf),
    #[error("{} tokens are connected: {}. Say which one with --serial SERIAL", .0.len(), .0.join("; "))]
    WhichToken(Vec<String>),
    #[error("{0} is not connected. Plug it in (or check the serial printed on its back) and try again; `keyceremony token list` shows what is connected")]
    NotFound(String),
    #[error("{0} was removed during the operation. Nothing was written. Plug it back in and run the command again")]
    Removed(String),
    #[error("wrong PIN for {token}: {tries_left} {} left before the PIN is blocked. Check the PIN (a PIN has 6 to 8 characters) and try again", if *.tries_left == 1 { "try" } else { "tries" })]
    WrongPin { token: String, tries_left: u8 },
    #[error("the PIN of {token} is blocked after too many wrong PINs. Unblock it with the PUK: keyceremony token unblock --serial {}", SerialArg(*.serial))]
    PinBlocked { token: String, serial: Option<u32> },
    #[error("{0} has only ONE PIN try left: a wrong PIN now blocks it. If you are sure of the PIN, run again with --last-pin-try")]
    LastPinTry(String),
    #[error("not opened: the PIN for {0} was refused earlier in this run, and keyceremony does not spend another try on it. Check the PIN and run again")]
    PinRefusedEarlier(String),
    #[error("wrong PUK for {token}: {tries_left} {} left before the PUK is blocked too", if *.tries_left == 1 { "try" } else { "tries" })]
    WrongPuk { token: String, tries_left: u8 },
    #[error("the PUK of {0} is blocked as well. Only a reset of its PIV application helps, and that destroys the keys in it: shares sealed to it must be recovered from the other custodians")]
    PukBlocked(String),
    #[error("{0}")]
    PinFormat(String),
    #[error("touch was not given: {0} was not touched in time. Run the command again and touch the key's contact when it blinks")]
    TouchTimeout(String),
    #[error("{token} has no key in slot {slot}. Create one with: keyceremony token init --serial {}", SerialArg(Some(*.serial)))]
    SlotEmpty {
        token: String,
        serial: u32,
        slot: Slot,
    },
    #[error("slot {slot} of {token} already holds a key; keyceremony will not overwrite it. Choose another slot with --slot")]
    SlotOccupied { token: String, slot: Slot },
    #[error("{token} has no free slot among the retired slots 82..95; choose one with --slot")]
    NoFreeSlot { token: String },
    #[error("{token} refused the operation: a PIN is needed first (internal error in keyceremony; please report it)")]
    PinRequired { token: String },
    #[error("{token}: {detail}")]
    Device { token: String, detail: String },
    #[error("{0}")]
    NotSupported(String),
    #[error("test token state {}: {problem}", path.display())]
    BadState { path: PathBuf, problem: String },
    /// Another process holds the test token's lock (it is in the middle of
    /// an operation, or hung).
    #[error("TEST TOKEN {serial} is in use by another process: its lock {} was still held after {waited_secs} s of waiting. Let that command finish (or stop it) and run again; {LOCK_WAIT_ENV} sets how long to wait", lock.display())]
    Busy {
        serial: u32,
        lock: PathBuf,
        waited_secs: u64,
    },
    #[error("test token state {}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a test token with serial {serial} already exists in {}", dir.display())]
    Exists { serial: u32, dir: PathBuf },
    #[error("the two new PINs differ; nothing was changed")]
    NewPinsDiffer,
    #[error("{token} cannot attest its keys{}", if *.test_token { " (a test token has no Yubico attestation key)" } else { " (firmware before 4.3)" })]
    CannotAttest { token: String, test_token: bool },
    #[error("no connected token holds the key this share is sealed to (key tag {tag}). Plug in the custodian's YubiKey; connected: {connected}")]
    NoMatchingToken { tag: KeyTag, connected: String },
}

/// A PIN or PUK as typed: 6 to 8 characters, kept in zeroizing memory.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Takes the text (one trailing newline dropped, as from a file) and checks its length.
    pub fn new(text: Zeroizing<String>, what: &str, min: usize) -> Result<Pin, TokenError> {
        let mut text = text;
        while text.ends_with('\n') || text.ends_with('\r') {
            text.pop();
        }
        let n = text.chars().count();
        if n < min || n > 8 {
            return Err(TokenError::PinFormat(format!(
                "a {what} has {min} to 8 characters; the one given has {n}"
            )));
        }
        if !text.is_ascii() {
            return Err(TokenError::PinFormat(format!(
                "a {what} is plain ASCII (letters, digits, symbols)"
            )));
        }
        Ok(Pin(text))
    }

    pub fn from_pin_text(text: Zeroizing<String>) -> Result<Pin, TokenError> {
        Self::new(text, "PIN", 6)
    }

    pub fn from_puk_text(text: Zeroizing<String>) -> Result<Pin, TokenError> {
        Self::new(text, "PUK", 6)
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(redacted)")
    }
}

/// One opened token. Everything a ceremony needs of a YubiKey's PIV
/// application, and nothing more.
pub trait Token {
    fn serial(&self) -> u32;
    /// How to name this token to a person ("YubiKey 12345678" or
    /// "TEST TOKEN 10000001 (software, not a YubiKey)").
    fn label(&self) -> String;
    fn is_test(&self) -> bool;
    /// Firmware version, e.g. "5.4.3".
    fn version(&mut self) -> Result<String, TokenError>;
    /// PIN tries left, read without spending one. Reading it ends a PIN
    /// session on a YubiKey, so ask before `verify_pin`, not after.
    fn pin_tries_left(&mut self) -> Result<u8, TokenError>;
    /// PUK tries left where the token can tell without spending one.
    fn puk_tries_left(&mut self) -> Result<Option<u8>, TokenError>;
    /// Checks the PIN; right restores the counter, wrong says tries left.
    fn verify_pin(&mut self, pin: &Pin) -> Result<(), TokenError>;
    /// Whether a PIN was verified in this session (policy "once" needs no other).
    fn pin_verified(&self) -> bool;
    fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), TokenError>;
    /// Sets a new PIN with the PUK, unblocking a blocked PIN.
    fn unblock_pin(&mut self, puk: &Pin, new_pin: &Pin) -> Result<(), TokenError>;
    /// The P-256 keys in the slots keyceremony uses.
    fn slot_keys(&mut self) -> Result<Vec<SlotKey>, TokenError>;
    /// Generates a P-256 key on the token (needs the PIN verified first);
    /// announces a touch on `events` when signing its certificate needs one.
    fn generate(
        &mut self,
        slot: Slot,
        pin_policy: PinPolicy,
        touch_policy: TouchPolicy,
        events: &mut dyn EventSink,
    ) -> Result<SlotKey, TokenError>;
    /// ECDH with the slot's key: the x coordinate of the shared point. The
    /// caller has verified the PIN if the policy needs it; this announces the
    /// touch on `events` when the policy needs one.
    fn ecdh(
        &mut self,
        key: &SlotKey,
        peer: &PublicKey,
        events: &mut dyn EventSink,
    ) -> Result<Zeroizing<[u8; 32]>, TokenError>;
    /// The slot's attestation certificate (DER), where the token can make one.
    fn attest(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, TokenError>;
}

/// Finds and opens tokens: the real ones, or the test tokens in a folder.
pub trait TokenProvider {
    fn is_test(&self) -> bool;
    fn list(&mut self) -> Result<Vec<TokenSummary>, TokenError>;
    fn open(&mut self, serial: u32) -> Result<Box<dyn Token>, TokenError>;
}

/// The provider for this run: test tokens in `test_dir` when given, real
/// YubiKeys otherwise.
pub fn provider(test_dir: Option<&Path>) -> Box<dyn TokenProvider> {
    match test_dir {
        Some(dir) => Box::new(soft::SoftProvider::new(dir)),
        None => Box::new(yubikey::YubiKeyProvider),
    }
}

/// Where the PIN comes from for this run.
#[derive(Clone, Debug, Default)]
pub struct PinSource {
    /// `--pin-file F`: the PIN's first line. None: ask on the terminal.
    pub pin_file: Option<PathBuf>,
    /// `--last-pin-try`: spend the last try without asking.
    pub last_pin_try: bool,
}

impl PinSource {
    fn read_pin(&self, console: &mut dyn Console, prompt: &str) -> Result<Pin, Error> {
        match &self.pin_file {
            Some(path) => read_pin_file(path),
            None => {
                let text = console
                    .read_secret(prompt)
                    .map_err(|source| Error::NoAnswer {
                        path: None,
                        question: Question::Pin,
                        source,
                    })?;
                Ok(Pin::from_pin_text(text)?)
            }
        }
    }
}

/// Reads a PIN (or PUK) from the first line of a file.
pub fn read_pin_file(path: &Path) -> Result<Pin, Error> {
    read_secret_file(path, "PIN", 6)
}

pub fn read_secret_file(path: &Path, what: &'static str, min: usize) -> Result<Pin, Error> {
    // a PIN (or PUK) file holds one short line
    let bytes = crate::input_file::read(path, 64, what)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::input(path, format!("the {what} file is not text")))?;
    let first = text.split('\n').next().unwrap_or("");
    Pin::new(Zeroizing::new(first.to_string()), what, min).map_err(|source| Error::Token {
        path: Some(path.to_path_buf()),
        source,
    })
}

/// Makes sure the PIN is verified before a key with `policy` is used:
/// checks tries left first (free), refuses the last try unless allowed,
/// and reports wrong PINs with the tries left.
pub fn ensure_pin(
    token: &mut dyn Token,
    policy: Option<PinPolicy>,
    pins: &PinSource,
    console: &mut dyn Console,
) -> Result<(), Error> {
    let needs = match policy {
        Some(PinPolicy::Never) => false,
        Some(PinPolicy::Once) => !token.pin_verified(),
        // Unknown policy (old firmware): ask, as a YubiKey would refuse otherwise.
        Some(PinPolicy::Always) | None => true,
    };
    if !needs {
        return Ok(());
    }
    let label = token.label();
    let tries = token.pin_tries_left()?;
    if tries == 0 {
        return Err(TokenError::PinBlocked {
            token: label,
            serial: Some(token.serial()),
        }
        .into());
    }
    if tries == 1 && !pins.last_pin_try {
        let ok = pins.pin_file.is_none()
            && console.confirm(&format!(
                "{label} has only ONE PIN try left; a wrong PIN blocks it. Enter the PIN anyway?"
            ));
        if !ok {
            return Err(TokenError::LastPinTry(label).into());
        }
    }
    let left = if tries == 1 { "try" } else { "tries" };
    let pin = pins.read_pin(console, &format!("PIN for {label} ({tries} {left} left): "))?;
    Ok(token.verify_pin(&pin)?)
}

/// Finds the token and slot whose key has `tag`, among all connected tokens.
pub fn find_by_tag(
    provider: &mut dyn TokenProvider,
    tag: KeyTag,
) -> Result<(Box<dyn Token>, SlotKey), TokenError> {
    let found = provider.list()?;
    let mut names = Vec::new();
    for summary in &found {
        let mut token = match provider.open(summary.serial) {
            Ok(t) => t,
            Err(TokenError::NotFound(_) | TokenError::Removed(_)) => continue,
            Err(e) => return Err(e),
        };
        names.push(token.label());
        for key in token.slot_keys()? {
            if key.tag() == tag {
                return Ok((token, key));
            }
        }
    }
    Err(TokenError::NoMatchingToken {
        tag,
        connected: if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        },
    })
}
