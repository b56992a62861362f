//! Looking after tokens: list, status, init (a key for sealed shares; in
//! test mode the test token itself), recipient, unblock, attest. Each takes
//! a typed request and returns a typed report; PINs and PUKs are asked on
//! the [`Console`] unless given in files.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::soft::SoftProvider;
use super::{
    provider, read_secret_file, Pin, PinPolicy, Slot, SlotKey, Token, TokenError, TouchPolicy,
    DEFAULT_PIN,
};
use crate::console::Console;
use crate::error::{Error, Question, Result};
use crate::events::EventSink;
use crate::seal_target::sealing_key;

/// A token and its keys, as `list` and `status` see them.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub serial: u32,
    pub label: String,
    pub test_token: bool,
    pub firmware: String,
    pub keys: Vec<SlotKey>,
}

/// What `list` found: the tokens that answered, and those that did not
/// (a damaged test-token file, a token that failed to answer), each on
/// its own, so one bad token does not hide the others.
#[derive(Debug, Default)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
    pub damaged: Vec<DamagedToken>,
}

/// A token that was found but could not be read.
#[derive(Debug)]
pub struct DamagedToken {
    pub serial: u32,
    pub label: String,
    pub error: Error,
}

/// The token a command is about: the serial given, or when none is, the
/// only token connected (as ykman does). With several connected, the error
/// lists them; with none, it says so.
pub fn which_token(test_dir: Option<&Path>, serial: Option<u32>) -> Result<u32> {
    if let Some(serial) = serial {
        return Ok(serial);
    }
    let found = provider(test_dir).list()?;
    match found.as_slice() {
        [one] => Ok(one.serial),
        [] => Err(match test_dir {
            Some(d) => TokenError::NoTestTokens(d.to_path_buf()),
            None => TokenError::NoTokens,
        }
        .into()),
        several => {
            Err(TokenError::WhichToken(several.iter().map(|t| t.label.clone()).collect()).into())
        }
    }
}

/// Every token connected (or every test token in the folder).
pub fn list(test_dir: Option<&Path>) -> Result<TokenList> {
    let mut provider = provider(test_dir);
    let found = match provider.list() {
        Ok(f) => f,
        Err(TokenError::NoTokens | TokenError::NoTestTokens(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = TokenList::default();
    let test_token = provider.is_test();
    for t in &found {
        let read = (|| -> std::result::Result<TokenInfo, TokenError> {
            let mut tok = provider.open(t.serial)?;
            let firmware = tok.version()?;
            let keys = tok.slot_keys()?;
            Ok(TokenInfo {
                serial: t.serial,
                label: t.label.clone(),
                test_token,
                firmware,
                keys,
            })
        })();
        match read {
            Ok(info) => out.tokens.push(info),
            Err(e) => out.damaged.push(DamagedToken {
                serial: t.serial,
                label: t.label.clone(),
                error: e.into(),
            }),
        }
    }
    Ok(out)
}

/// A token's state.
#[derive(Clone, Debug)]
pub struct TokenStatus {
    pub token: TokenInfo,
    pub pin_tries_left: u8,
    /// `None` where the token cannot tell (firmware before 5.3).
    pub puk_tries_left: Option<u8>,
}

pub fn status(test_dir: Option<&Path>, serial: u32) -> Result<TokenStatus> {
    let mut tok = provider(test_dir).open(serial)?;
    let label = tok.label();
    let firmware = tok.version()?;
    let pin_tries_left = tok.pin_tries_left()?;
    let puk_tries_left = tok.puk_tries_left()?;
    let keys = tok.slot_keys()?;
    Ok(TokenStatus {
        token: TokenInfo {
            serial,
            label,
            test_token: tok.is_test(),
            firmware,
            keys,
        },
        pin_tries_left,
        puk_tries_left,
    })
}

/// A new key for sealed shares.
#[derive(Clone, Debug)]
pub struct InitRequest {
    pub serial: u32,
    /// The PIN's first line; `None` asks on the console.
    pub pin_file: Option<PathBuf>,
    /// `None`: the first free retired slot.
    pub slot: Option<Slot>,
    pub pin_policy: PinPolicy,
    pub touch_policy: TouchPolicy,
}

/// What [`init`] did.
#[derive(Clone, Debug)]
pub struct InitReport {
    pub serial: u32,
    pub label: String,
    pub test_token: bool,
    /// In test mode, when the test token was created first: its state file.
    pub created_test_token: Option<PathBuf>,
    pub key: SlotKey,
    /// The PIN is still the factory default.
    pub default_pin: bool,
}

/// Asks for a secret, or reads it from `file`.
fn ask_secret(
    console: &mut dyn Console,
    file: Option<&Path>,
    prompt: &str,
    what: &'static str,
    min: usize,
) -> Result<Pin> {
    match file {
        Some(f) => read_secret_file(f, what, min),
        None => {
            let text = console
                .read_secret(prompt)
                .map_err(|source| Error::NoAnswer {
                    path: None,
                    question: Question::TokenSecret(what),
                    source,
                })?;
            Ok(Pin::new(text, what, min)?)
        }
    }
}

/// Creates a P-256 key on the token (in test mode, creates the test token
/// first when there is none with that serial). A touch for the slot
/// certificate is announced on `events`.
pub fn init(
    test_dir: Option<&Path>,
    request: &InitRequest,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<InitReport> {
    let serial = request.serial;
    let mut created_test_token = None;
    let mut tok: Box<dyn Token> = match test_dir {
        Some(dir) => {
            let mut p = SoftProvider::new(dir);
            match p.open_soft(serial) {
                Ok(t) => Box::new(t),
                Err(TokenError::NotFound(_)) => {
                    let t = p.create(serial)?;
                    created_test_token = Some(t.state_path());
                    Box::new(t)
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => provider(None).open(serial)?,
    };
    let label = tok.label();
    let keys = tok.slot_keys()?;
    let slot = match request.slot {
        Some(s) => {
            if keys.iter().any(|k| k.slot == s) {
                return Err(TokenError::SlotOccupied {
                    token: label,
                    slot: s,
                }
                .into());
            }
            s
        }
        None => Slot::retired()
            .find(|s| !keys.iter().any(|k| k.slot == *s))
            .ok_or_else(|| TokenError::NoFreeSlot {
                token: label.clone(),
            })?,
    };
    let tries = tok.pin_tries_left()?;
    if tries == 0 {
        return Err(TokenError::PinBlocked {
            token: label,
            serial: Some(tok.serial()),
        }
        .into());
    }
    let pin = ask_secret(
        console,
        request.pin_file.as_deref(),
        &format!("PIN for {label} ({tries} tries left): "),
        "PIN",
        6,
    )?;
    tok.verify_pin(&pin)?;
    let key = tok.generate(slot, request.pin_policy, request.touch_policy, events)?;
    Ok(InitReport {
        serial,
        test_token: tok.is_test(),
        label,
        created_test_token,
        key,
        default_pin: pin.expose() == DEFAULT_PIN.as_bytes(),
    })
}

/// The sealing key of a token: where `--seal-to-recipient` comes from.
#[derive(Clone, Debug)]
pub struct RecipientReport {
    pub serial: u32,
    pub label: String,
    pub test_token: bool,
    pub key: SlotKey,
}

pub fn recipient(
    test_dir: Option<&Path>,
    serial: u32,
    slot: Option<Slot>,
) -> Result<RecipientReport> {
    let mut tok = provider(test_dir).open(serial)?;
    let key = sealing_key(tok.as_mut(), slot)?;
    Ok(RecipientReport {
        serial,
        label: tok.label(),
        test_token: tok.is_test(),
        key,
    })
}

/// A new PIN set with the PUK.
#[derive(Clone, Debug)]
pub struct UnblockRequest {
    pub serial: u32,
    pub puk_file: Option<PathBuf>,
    /// `None`: asked twice on the console.
    pub new_pin_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct UnblockReport {
    pub serial: u32,
    pub label: String,
    pub test_token: bool,
    pub pin_tries_left: u8,
}

pub fn unblock(
    test_dir: Option<&Path>,
    request: &UnblockRequest,
    console: &mut dyn Console,
) -> Result<UnblockReport> {
    let mut tok = provider(test_dir).open(request.serial)?;
    let label = tok.label();
    let puk = ask_secret(
        console,
        request.puk_file.as_deref(),
        &format!("PUK for {label}: "),
        "PUK",
        6,
    )?;
    let new_pin = ask_secret(
        console,
        request.new_pin_file.as_deref(),
        &format!("new PIN for {label}: "),
        "PIN",
        6,
    )?;
    if request.new_pin_file.is_none() {
        let again = ask_secret(console, None, "repeat the new PIN: ", "PIN", 6)?;
        if again.expose() != new_pin.expose() {
            return Err(TokenError::NewPinsDiffer.into());
        }
    }
    tok.unblock_pin(&puk, &new_pin)?;
    let pin_tries_left = tok.pin_tries_left()?;
    Ok(UnblockReport {
        serial: request.serial,
        label,
        test_token: tok.is_test(),
        pin_tries_left,
    })
}

#[derive(Clone, Debug)]
pub struct AttestReport {
    pub serial: u32,
    pub label: String,
    pub test_token: bool,
    pub slot: Slot,
    pub file: PathBuf,
    /// Size of the certificate written (DER).
    pub size: usize,
}

/// Writes the slot's attestation certificate (DER) to `out`, atomically.
pub fn attest(
    test_dir: Option<&Path>,
    serial: u32,
    slot: Option<Slot>,
    out: &Path,
    force: bool,
) -> Result<AttestReport> {
    let mut tok = provider(test_dir).open(serial)?;
    let label = tok.label();
    let key = sealing_key(tok.as_mut(), slot)?;
    let der = tok
        .attest(key.slot)?
        .ok_or_else(|| TokenError::CannotAttest {
            token: label.clone(),
            test_token: tok.is_test(),
        })?;
    let der = Zeroizing::new(der);
    crate::atomic_file::write_file(out, &der, force)?;
    Ok(AttestReport {
        serial,
        label,
        test_token: tok.is_test(),
        slot: key.slot,
        file: out.to_path_buf(),
        size: der.len(),
    })
}
