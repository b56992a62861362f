//! `keyceremony token ...`: list, status, init, recipient, unblock, attest.
//! In test mode (`--test-tokens DIR`) every line about a token names it as
//! a TEST TOKEN.

use serde_json::{json, Value};

use crate::cli::{TokenArgs, TokenCommand};
use crate::commands::{Context, Outcome};
use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::token::manage::{self, InitRequest, UnblockRequest};
use crate::token::{PinPolicy, Slot, SlotKey, TouchPolicy, DEFAULT_PIN, DEFAULT_PUK};

pub fn run(
    a: &TokenArgs,
    ctx: &Context,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Outcome> {
    let test_dir = ctx.inputs.test_tokens.as_deref();
    match &a.command {
        TokenCommand::List => Ok(list(test_dir, manage::list(test_dir)?)),
        TokenCommand::Status { serial } => {
            let serial = manage::which_token(test_dir, *serial)?;
            Ok(status(manage::status(test_dir, serial)?))
        }
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
            let request = InitRequest {
                serial: manage::which_token(test_dir, *serial)?,
                pin_file: pin_file.clone(),
                slot,
                pin_policy,
                touch_policy,
            };
            Ok(init(&manage::init(test_dir, &request, console, events)?))
        }
        TokenCommand::Recipient { serial, slot } => {
            let slot = slot.as_deref().map(parse_slot).transpose()?;
            let serial = manage::which_token(test_dir, *serial)?;
            Ok(recipient(&manage::recipient(test_dir, serial, slot)?))
        }
        TokenCommand::Unblock {
            serial,
            puk_file,
            new_pin_file,
        } => {
            let request = UnblockRequest {
                serial: manage::which_token(test_dir, *serial)?,
                puk_file: puk_file.clone(),
                new_pin_file: new_pin_file.clone(),
            };
            Ok(unblock(&manage::unblock(test_dir, &request, console)?))
        }
        TokenCommand::Attest {
            serial,
            slot,
            out,
            force,
        } => {
            let slot = slot.as_deref().map(parse_slot).transpose()?;
            let serial = manage::which_token(test_dir, *serial)?;
            Ok(attest(&manage::attest(
                test_dir, serial, slot, out, *force,
            )?))
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

fn list(test_dir: Option<&std::path::Path>, listed: manage::TokenList) -> Outcome {
    let found = listed.tokens;
    let mut text = Vec::new();
    if found.is_empty() && listed.damaged.is_empty() {
        text.push(match test_dir {
            Some(d) => format!("TEST MODE: no test tokens in {}", d.display()),
            None => "no YubiKey connected".into(),
        });
    }
    let mut entries = Vec::new();
    for t in &found {
        let slots: Vec<String> = t.keys.iter().map(|k| k.slot.to_string()).collect();
        text.push(format!(
            "{}: firmware {}, keys in slots: {}",
            t.label,
            t.firmware,
            if slots.is_empty() {
                "none".to_string()
            } else {
                slots.join(", ")
            }
        ));
        entries.push(json!({
            "serial": t.serial,
            "test_token": t.test_token,
            "label": t.label,
            "firmware": t.firmware,
            "slots": slots,
        }));
    }
    let mut damaged = Vec::new();
    for d in &listed.damaged {
        text.push(format!("{}: DAMAGED, cannot be read: {}", d.label, d.error));
        damaged.push(json!({
            "serial": d.serial,
            "label": d.label,
            "error": d.error.to_string(),
        }));
    }
    let mut outcome = Outcome::success(
        text,
        json!({ "command": "token list", "tokens": entries, "damaged": damaged }),
    );
    // the others are listed, but a token that cannot be read is a failure
    outcome.ok = listed.damaged.is_empty();
    outcome
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

fn status(s: manage::TokenStatus) -> Outcome {
    let t = &s.token;
    let (label, serial) = (&t.label, t.serial);
    let pin_tries = s.pin_tries_left;
    let blocked = format!(" (BLOCKED: unblock with `keyceremony token unblock --serial {serial}`)");
    let mut text = vec![
        format!("{label}: serial {serial}, firmware {}", t.firmware),
        format!(
            "{label}: PIN tries left: {pin_tries}{}",
            match pin_tries {
                0 => blocked.as_str(),
                1 => " (a wrong PIN now blocks it)",
                _ => "",
            }
        ),
        format!(
            "{label}: PUK tries left: {}",
            s.puk_tries_left
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unknown (firmware before 5.3)".into())
        ),
    ];
    if t.keys.is_empty() {
        text.push(format!(
            "{label}: no key in slots 82..95 or 9d; create one with `keyceremony token init --serial {serial}`"
        ));
    }
    text.extend(t.keys.iter().map(|k| key_line(label, k)));
    Outcome::success(
        text,
        json!({
            "command": "token status",
            "serial": serial,
            "test_token": t.test_token,
            "label": label,
            "firmware": t.firmware,
            "pin_tries_left": pin_tries,
            "puk_tries_left": s.puk_tries_left,
            "slots": t.keys.iter().map(key_json).collect::<Vec<_>>(),
        }),
    )
}

fn init(r: &manage::InitReport) -> Outcome {
    let (label, serial, key) = (&r.label, r.serial, &r.key);
    let mut text = Vec::new();
    if let Some(state) = &r.created_test_token {
        text.push(format!(
            "{label}: created (PIN {DEFAULT_PIN}, PUK {DEFAULT_PUK}, 3 tries each) in {}",
            state.display()
        ));
    }
    text.push(key_line(label, key));
    text.push(format!(
        "{label}: seal shares to it with `keyceremony split ... --seal-to {serial}` or --seal-to-recipient {}",
        key.recipient()
    ));
    if r.default_pin {
        text.push(format!(
            "{label}: warning: the PIN is still the factory default {DEFAULT_PIN}; change it before the ceremony (ykman piv access change-pin)"
        ));
    }
    Outcome::success(
        text,
        json!({
            "command": "token init",
            "serial": serial,
            "test_token": r.test_token,
            "label": label,
            "key": key_json(key),
        }),
    )
}

fn recipient(r: &manage::RecipientReport) -> Outcome {
    let recipient = r.key.recipient().to_string();
    let (label, slot) = (&r.label, r.key.slot);
    // An age recipients file (`age -R`): the comment on a line of its own
    // (age refuses one after the recipient), as age-plugin-yubikey prints
    // it. A test token's comment says so, so it cannot pass for a real key.
    let lines = vec![format!("# {label}, slot {slot}"), recipient.clone()];
    Outcome::success(
        lines,
        json!({
            "command": "token recipient",
            "serial": r.serial,
            "test_token": r.test_token,
            "label": label,
            "slot": slot.to_string(),
            "recipient": recipient,
        }),
    )
}

fn unblock(r: &manage::UnblockReport) -> Outcome {
    Outcome::success(
        vec![format!(
            "{}: new PIN set, PIN unblocked ({} tries left)",
            r.label, r.pin_tries_left
        )],
        json!({
            "command": "token unblock",
            "serial": r.serial,
            "test_token": r.test_token,
            "label": r.label,
            "pin_tries_left": r.pin_tries_left,
        }),
    )
}

fn attest(r: &manage::AttestReport) -> Outcome {
    Outcome::success(
        vec![format!(
            "{}: attestation certificate for slot {} written to {} ({} bytes, DER)",
            r.label,
            r.slot,
            r.file.display(),
            r.size
        )],
        json!({
            "command": "token attest",
            "serial": r.serial,
            "test_token": r.test_token,
            "slot": r.slot.to_string(),
            "path": r.file.display().to_string(),
        }),
    )
}
