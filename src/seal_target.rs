//! Where shares are sealed: token serials (the token must be at hand, its
//! sealing key is read from it) and `age1yubikey1...` recipients (no token
//! needed), resolved into one [`SealTarget`] each before any key is touched.

use std::path::Path;

use crate::error::{RequestError, Result};
use crate::seal::PivRecipient;
use crate::token::{self, Slot, SlotKey, Token, TokenError};

/// Which shares to seal to what.
#[derive(Clone, Debug, Default)]
pub struct SealTargetRequest {
    /// Token serials, for the first shares in order.
    pub serials: Vec<u32>,
    /// `age1yubikey1...` recipients, for the shares after those.
    pub recipients: Vec<String>,
    /// Allow two shares sealed to one key (whoever holds it holds both).
    pub allow_same_token: bool,
}

/// Where one share is sealed.
#[derive(Clone, Debug)]
pub struct SealTarget {
    pub recipient: PivRecipient,
    /// Token serial, when the target was named by serial.
    pub serial: Option<u32>,
    /// The token's slot holding the key, when the token was read.
    pub slot: Option<Slot>,
    /// For people: the token's label and slot, or the recipient string.
    pub label: String,
    pub test_token: bool,
}

/// The token's key for sealing: the one in `slot`, or the only one, or the
/// first retired slot's when there are several.
pub fn sealing_key(tok: &mut dyn Token, slot: Option<Slot>) -> Result<SlotKey, TokenError> {
    let label = tok.label();
    let serial = tok.serial();
    let keys = tok.slot_keys()?;
    match slot {
        Some(s) => keys
            .into_iter()
            .find(|k| k.slot == s)
            .ok_or(TokenError::SlotEmpty {
                token: label,
                serial,
                slot: s,
            }),
        None => keys
            .into_iter()
            .next()
            .ok_or_else(|| TokenError::SlotEmpty {
                token: label,
                serial,
                slot: Slot::new(0x82).expect("retired slot"),
            }),
    }
}

/// Resolves the request into one target per share, in share order (serials
/// first, then recipients). Refuses more targets than `shares`, and two
/// shares to one key unless allowed. `test_tokens`: the test-token folder
/// in test mode.
pub fn resolve(
    request: &SealTargetRequest,
    shares: u8,
    test_tokens: Option<&Path>,
) -> Result<Vec<SealTarget>> {
    let given = request.serials.len() + request.recipients.len();
    if given > shares as usize {
        return Err(RequestError::TooManySealTargets { given, shares }.into());
    }
    let mut targets: Vec<SealTarget> = Vec::with_capacity(given);
    if !request.serials.is_empty() {
        let mut provider = token::provider(test_tokens);
        for &serial in &request.serials {
            let mut tok = provider.open(serial)?;
            let key = sealing_key(tok.as_mut(), None)?;
            targets.push(SealTarget {
                recipient: key.recipient(),
                serial: Some(serial),
                slot: Some(key.slot),
                label: format!("{}, slot {}", tok.label(), key.slot),
                test_token: tok.is_test(),
            });
        }
    }
    for text in &request.recipients {
        let recipient = PivRecipient::parse(text).map_err(RequestError::Recipient)?;
        let test_token = text.contains("TEST TOKEN");
        targets.push(SealTarget {
            label: if test_token {
                format!("{recipient} (a TEST TOKEN's recipient)")
            } else {
                recipient.to_string()
            },
            recipient,
            serial: None,
            slot: None,
            test_token,
        });
    }
    if !request.allow_same_token {
        for (i, t) in targets.iter().enumerate() {
            if let Some(j) = targets[..i].iter().position(|o| o.recipient == t.recipient) {
                return Err(RequestError::SameToken {
                    first: j + 1,
                    second: i + 1,
                    target: t.label.clone(),
                }
                .into());
            }
        }
    }
    Ok(targets)
}
