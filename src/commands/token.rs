//! `keyceremony token ...`: list, status, init, recipient, unblock, attest.
//! In test mode (`--test-tokens DIR`) every line about a token names it as
//! a TEST TOKEN.

use std::path::Path;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cli::{TokenArgs, TokenCommand};
use crate::commands::{Context, Outcome};
use crate::error::{Error, Result};
use crate::token::{
    self, read_secret_file, soft::SoftProvider, token_error, Console, Pin, PinPolicy, Slot,
    SlotKey, TerminalConsole, Token, TokenError, TouchPolicy, DEFAULT_PIN,
};

pub fn run(a: &TokenArgs, ctx: &Context) -> Result<Outcome> {
    let test_dir = ctx.inputs.test_tokens.as_deref();
    let mut console = TerminalConsole;
    match &a.command {
        TokenCommand::List => list(test_dir),
        TokenCommand::Status { serial } => status(test_dir, *serial),
        TokenCommand::Init {
            serial,
            pin_file,
            slot,
            pin_policy,
            touch_policy,
        } => {
            let pin_policy = PinPolicy::parse(pin_policy)
                .ok_or_else(|| Error::Usage("--pin-policy must be never, once or always".into()))?;
            let touch_policy = TouchPolicy::parse(touch_policy).ok_or_else(|| {
                Error::Usage("--touch-policy must be never, always or cached".into())
            })?;
            let slot = slot.as_deref().map(parse_slot).transpose()?;
            init(
                test_dir,
                *serial,
                pin_file.as_deref(),
                slot,
                pin_policy,
                touch_policy,
                &mut console,
            )
        }
        TokenCommand::Recipient { serial, slot } => {
            let slot = slot.as_deref().map(parse_slot).transpose()?;
            recipient(test_dir, *serial, slot)
        }
        TokenCommand::Unblock {
            serial,
            puk_file,
            new_pin_file,
        } => unblock(
            test_dir,
            *serial,
            puk_file.as_deref(),
            new_pin_file.as_deref(),
            &mut console,
        ),
        TokenCommand::Attest {
            serial,
            slot,
            out,
            force,
        } => {
            let slot = slot.as_deref().map(parse_slot).transpose()?;
            attest(test_dir, *serial, slot, out, *force)
        }
    }
}

fn parse_slot(text: &str) -> Result<Slot> {
    Slot::parse(text).ok_or_else(|| {
        Error::Usage(format!(
            "--slot {text:?}: use a retired slot 82..95 (or R1..R20), or 9d"
        ))
    })
}

fn open(test_dir: Option<&Path>, serial: u32) -> Result<Box<dyn Token>> {
    token::provider(test_dir).open(serial).map_err(token_error)
}

fn list(test_dir: Option<&Path>) -> Result<Outcome> {
    let mut provider = token::provider(test_dir);
    let found = match provider.list() {
        Ok(f) => f,
        Err(TokenError::NoTokens | TokenError::NoTestTokens(_)) => Vec::new(),
        Err(e) => return Err(token_error(e)),
    };
    let mut text = Vec::new();
    if found.is_empty() {
        text.push(match test_dir {
            Some(d) => format!("TEST MODE: no test tokens in {}", d.display()),
            None => "no YubiKey connected".into(),
        });
    }
    let mut entries = Vec::new();
    for t in &found {
        let mut tok = provider.open(t.serial).map_err(token_error)?;
        let version = tok.version().map_err(token_error)?;
        let keys = tok.slot_keys().map_err(token_error)?;
        let slots: Vec<String> = keys.iter().map(|k| k.slot.to_string()).collect();
        text.push(format!(
            "{}: firmware {version}, keys in slots: {}",
            t.label,
            if slots.is_empty() {
                "none".to_string()
            } else {
                slots.join(", ")
            }
        ));
        entries.push(json!({
            "serial": t.serial,
            "test_token": provider.is_test(),
            "label": t.label,
            "firmware": version,
            "slots": slots,
        }));
    }
    Ok(Outcome::success(
        text,
        json!({ "command": "token list", "tokens": entries }),
    ))
}

fn key_json(k: &SlotKey) -> Value {
    json!({
        "slot": k.slot.to_string(),
        "algorithm": "ECCP256",
        "pin_policy": k.pin_policy.map(|p| p.name()),
        "touch_policy": k.touch_policy.map(|p| p.name()),
        "recipient": k.recipient().to_string(),
        "tag": k.tag().to_string(),
    })
}

fn key_line(label: &str, k: &SlotKey) -> String {
    let pol = |p: Option<&'static str>| p.unwrap_or("unknown (firmware before 5.3)");
    format!(
        "{label}: slot {}: P-256 key, PIN policy {}, touch policy {}, recipient {}",
        k.slot,
        pol(k.pin_policy.map(|p| p.name())),
        pol(k.touch_policy.map(|p| p.name())),
        k.recipient()
    )
}

fn status(test_dir: Option<&Path>, serial: u32) -> Result<Outcome> {
    let mut tok = open(test_dir, serial)?;
    let label = tok.label();
    let version = tok.version().map_err(token_error)?;
    let pin_tries = tok.pin_tries_left().map_err(token_error)?;
    let puk_tries = tok.puk_tries_left().map_err(token_error)?;
    let keys = tok.slot_keys().map_err(token_error)?;
    let mut text = vec![
        format!("{label}: serial {serial}, firmware {version}"),
        format!(
            "{label}: PIN tries left: {pin_tries}{}",
            match pin_tries {
                0 => " (BLOCKED: unblock with `keyceremony token unblock`)",
                1 => " (a wrong PIN now blocks it)",
                _ => "",
            }
        ),
        format!(
            "{label}: PUK tries left: {}",
            puk_tries
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unknown (firmware before 5.3)".into())
        ),
    ];
    if keys.is_empty() {
        text.push(format!(
            "{label}: no key in slots 82..95 or 9d; create one with `keyceremony token init --serial {serial}`"
        ));
    }
    text.extend(keys.iter().map(|k| key_line(&label, k)));
    Ok(Outcome::success(
        text,
        json!({
            "command": "token status",
            "serial": serial,
            "test_token": tok.is_test(),
            "label": label,
            "firmware": version,
            "pin_tries_left": pin_tries,
            "puk_tries_left": puk_tries,
            "slots": keys.iter().map(key_json).collect::<Vec<_>>(),
        }),
    ))
}

fn ask_secret(
    console: &mut dyn Console,
    file: Option<&Path>,
    prompt: &str,
    what: &str,
    min: usize,
) -> Result<Pin> {
    match file {
        Some(f) => read_secret_file(f, what, min),
        None => {
            let text = console.read_secret(prompt).map_err(|e| {
                Error::Usage(format!(
                    "cannot read the {what} from the terminal ({e}); pass it in a file instead"
                ))
            })?;
            Pin::new(text, what, min).map_err(|e| Error::Check(e.to_string()))
        }
    }
}

fn init(
    test_dir: Option<&Path>,
    serial: u32,
    pin_file: Option<&Path>,
    slot: Option<Slot>,
    pin_policy: PinPolicy,
    touch_policy: TouchPolicy,
    console: &mut dyn Console,
) -> Result<Outcome> {
    let mut text = Vec::new();
    let mut tok: Box<dyn Token> = match test_dir {
        Some(dir) => {
            let mut p = SoftProvider::new(dir);
            match p.open_soft(serial) {
                Ok(t) => Box::new(t),
                Err(TokenError::NotFound(_)) => {
                    let t = p.create(serial).map_err(token_error)?;
                    text.push(format!(
                        "{}: created (PIN {DEFAULT_PIN}, PUK {}, 3 tries each) in {}",
                        t.label(),
                        token::DEFAULT_PUK,
                        t.state_path().display()
                    ));
                    Box::new(t)
                }
                Err(e) => return Err(token_error(e)),
            }
        }
        None => open(None, serial)?,
    };
    let label = tok.label();
    let keys = tok.slot_keys().map_err(token_error)?;
    let slot = match slot {
        Some(s) => {
            if keys.iter().any(|k| k.slot == s) {
                return Err(token_error(TokenError::SlotOccupied {
                    token: label,
                    slot: s,
                }));
            }
            s
        }
        None => Slot::retired()
            .find(|s| !keys.iter().any(|k| k.slot == *s))
            .ok_or_else(|| {
                token_error(TokenError::NoFreeSlot {
                    token: label.clone(),
                })
            })?,
    };
    let tries = tok.pin_tries_left().map_err(token_error)?;
    if tries == 0 {
        return Err(token_error(TokenError::PinBlocked(label)));
    }
    let pin = ask_secret(
        console,
        pin_file,
        &format!("PIN for {label} ({tries} tries left): "),
        "PIN",
        6,
    )?;
    tok.verify_pin(&pin).map_err(token_error)?;
    let key = tok
        .generate(slot, pin_policy, touch_policy, console)
        .map_err(token_error)?;
    text.push(key_line(&label, &key));
    text.push(format!(
        "{label}: seal shares to it with `keyceremony split ... --seal-to {serial}` or --seal-to-recipient {}",
        key.recipient()
    ));
    if pin.expose() == DEFAULT_PIN.as_bytes() {
        text.push(format!(
            "{label}: warning: the PIN is still the factory default {DEFAULT_PIN}; change it before the ceremony (ykman piv access change-pin)"
        ));
    }
    Ok(Outcome::success(
        text,
        json!({
            "command": "token init",
            "serial": serial,
            "test_token": tok.is_test(),
            "label": label,
            "key": key_json(&key),
        }),
    ))
}

/// The token's key for sealing: the one in `slot`, or the only one, or the
/// first retired slot's when there are several (said in the output).
pub fn sealing_key(tok: &mut dyn Token, slot: Option<Slot>) -> Result<SlotKey> {
    let label = tok.label();
    let keys = tok.slot_keys().map_err(token_error)?;
    match slot {
        Some(s) => keys.into_iter().find(|k| k.slot == s).ok_or_else(|| {
            token_error(TokenError::SlotEmpty {
                token: label,
                slot: s,
            })
        }),
        None => keys.into_iter().next().ok_or_else(|| {
            token_error(TokenError::SlotEmpty {
                token: label,
                slot: Slot::new(0x82).expect("retired slot"),
            })
        }),
    }
}

fn recipient(test_dir: Option<&Path>, serial: u32, slot: Option<Slot>) -> Result<Outcome> {
    let mut tok = open(test_dir, serial)?;
    let key = sealing_key(tok.as_mut(), slot)?;
    let r = key.recipient().to_string();
    let label = tok.label();
    // One line an age recipients file (age -R) accepts for a real key; a
    // test token's line carries its warning, so it cannot pass for real.
    let line = if tok.is_test() {
        format!("{r} # {label}, slot {}", key.slot)
    } else {
        r.clone()
    };
    if !tok.is_test() {
        eprintln!("{label}, slot {}:", key.slot);
    }
    Ok(Outcome::success(
        vec![line],
        json!({
            "command": "token recipient",
            "serial": serial,
            "test_token": tok.is_test(),
            "label": label,
            "slot": key.slot.to_string(),
            "recipient": r,
        }),
    ))
}

fn unblock(
    test_dir: Option<&Path>,
    serial: u32,
    puk_file: Option<&Path>,
    new_pin_file: Option<&Path>,
    console: &mut dyn Console,
) -> Result<Outcome> {
    let mut tok = open(test_dir, serial)?;
    let label = tok.label();
    let puk = ask_secret(console, puk_file, &format!("PUK for {label}: "), "PUK", 6)?;
    let new_pin = ask_secret(
        console,
        new_pin_file,
        &format!("new PIN for {label}: "),
        "PIN",
        6,
    )?;
    if new_pin_file.is_none() {
        let again = ask_secret(console, None, "repeat the new PIN: ", "PIN", 6)?;
        if again.expose() != new_pin.expose() {
            return Err(Error::Check(
                "the two new PINs differ; nothing was changed".into(),
            ));
        }
    }
    tok.unblock_pin(&puk, &new_pin).map_err(token_error)?;
    let tries = tok.pin_tries_left().map_err(token_error)?;
    Ok(Outcome::success(
        vec![format!(
            "{label}: new PIN set, PIN unblocked ({tries} tries left)"
        )],
        json!({
            "command": "token unblock",
            "serial": serial,
            "test_token": tok.is_test(),
            "label": label,
            "pin_tries_left": tries,
        }),
    ))
}

fn attest(
    test_dir: Option<&Path>,
    serial: u32,
    slot: Option<Slot>,
    out: &Path,
    force: bool,
) -> Result<Outcome> {
    let mut tok = open(test_dir, serial)?;
    let label = tok.label();
    let key = sealing_key(tok.as_mut(), slot)?;
    let der = tok.attest(key.slot).map_err(token_error)?.ok_or_else(|| {
        Error::Check(format!(
            "{label} cannot attest its keys{}",
            if tok.is_test() {
                " (a test token has no Yubico attestation key)"
            } else {
                " (firmware before 4.3)"
            }
        ))
    })?;
    let der = Zeroizing::new(der);
    crate::atomic_file::write_file(out, &der, force)?;
    Ok(Outcome::success(
        vec![format!(
            "{label}: attestation certificate for slot {} written to {} ({} bytes, DER)",
            key.slot,
            out.display(),
            der.len()
        )],
        json!({
            "command": "token attest",
            "serial": serial,
            "test_token": tok.is_test(),
            "slot": key.slot.to_string(),
            "file": out.display().to_string(),
        }),
    ))
}

/// Where one share of a split is sealed.
#[derive(Clone, Debug)]
pub struct SealTarget {
    pub recipient: crate::seal::PivRecipient,
    /// Token serial, when given by --seal-to.
    pub serial: Option<u32>,
    /// For messages: the token's label and slot, or the recipient string.
    pub label: String,
    pub test_token: bool,
}

/// Resolves `split --seal-to` / `--seal-to-recipient` into one target per
/// share, in share order (serials first, then recipient strings). Refuses
/// more targets than shares, and two shares to one key unless allowed.
pub fn seal_targets(
    a: &crate::cli::SplitArgs,
    shares: u8,
    test_dir: Option<&Path>,
) -> Result<Vec<SealTarget>> {
    let total = a.seal_to.len() + a.seal_to_recipient.len();
    if total > shares as usize {
        return Err(Error::Usage(format!(
            "{total} sealing targets (--seal-to, --seal-to-recipient) for {shares} shares"
        )));
    }
    let mut targets: Vec<SealTarget> = Vec::with_capacity(total);
    if !a.seal_to.is_empty() {
        let mut provider = token::provider(test_dir);
        for &serial in &a.seal_to {
            let mut tok = provider.open(serial).map_err(token_error)?;
            let key = sealing_key(tok.as_mut(), None)?;
            targets.push(SealTarget {
                recipient: key.recipient(),
                serial: Some(serial),
                label: format!("{}, slot {}", tok.label(), key.slot),
                test_token: tok.is_test(),
            });
        }
    }
    for text in &a.seal_to_recipient {
        let recipient = crate::seal::PivRecipient::parse(text)
            .map_err(|e| Error::Usage(format!("--seal-to-recipient: {e}")))?;
        let test_token = text.contains("TEST TOKEN");
        targets.push(SealTarget {
            label: if test_token {
                format!("{recipient} (a TEST TOKEN's recipient)")
            } else {
                recipient.to_string()
            },
            recipient,
            serial: None,
            test_token,
        });
    }
    if !a.allow_same_token {
        for (i, t) in targets.iter().enumerate() {
            if let Some(j) = targets[..i].iter().position(|o| o.recipient == t.recipient) {
                return Err(Error::Usage(format!(
                    "shares {} and {} would both be sealed to {}: whoever holds that token would hold two shares. Pass --allow-same-token if that is intended",
                    j + 1,
                    i + 1,
                    t.label
                )));
            }
        }
    }
    Ok(targets)
}
