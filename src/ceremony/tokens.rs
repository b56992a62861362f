//! The `tokens` step: test tokens set up (in a rehearsal), and every sealed
//! share's target resolved, before the key exists. A real YubiKey must
//! already hold its key (`keyceremony token init`); a test token the run
//! does not find is created and given a key (PIN 123456, touch always).

use std::path::Path;

use serde_json::{json, Value};

use super::{Relay, RunRefused, Runner, Stop};
use crate::error::Error;
use crate::plan::Transport;
use crate::seal_target::{self, SealTarget, SealTargetRequest};
use crate::token::manage::{self, InitRequest};
use crate::token::soft::SoftProvider;
use crate::token::{PinPolicy, Token, TokenError, TouchPolicy};

const STEP: &str = "tokens";

impl Runner<'_> {
    pub(super) fn step_tokens(&mut self) -> Result<(), Stop> {
        self.begin(STEP, "the tokens for sealed shares")?;
        let test_dir = self.test_tokens_in_use();
        let mut facts_tokens: Vec<Value> = Vec::new();
        let mut heard = Vec::new();
        if let Some(dir) = &test_dir {
            if self.plan.uses_test_tokens() || self.opts.test_tokens.is_some() {
                self.line(format!(
                    "TEST TOKENS in {} (software stand-ins for YubiKeys; rehearsal only)",
                    dir.display()
                ));
            }
        }
        let mut targets = Vec::with_capacity(self.plan.custodians.len());
        for c in &self.plan.custodians {
            let dir = match &c.transport {
                Transport::TestToken { .. } => test_dir.as_deref(),
                _ => self.opts.test_tokens.as_deref(),
            };
            let target = match &c.transport {
                Transport::File | Transport::Qr | Transport::Passphrase { .. } => None,
                Transport::Token { serial } | Transport::TestToken { serial } => {
                    let mut created = false;
                    if let Some(d) = dir {
                        let mut relay = Relay::new(&mut *self.narrator);
                        created = prepare_test_token(
                            d,
                            *serial,
                            self.opts.pin_file.as_deref(),
                            &mut *self.console,
                            &mut relay,
                        )
                        .map_err(Runner::failed(STEP))?;
                        heard.extend(relay.heard);
                    }
                    let t = seal_target::resolve(
                        &SealTargetRequest {
                            serials: vec![*serial],
                            ..Default::default()
                        },
                        1,
                        dir,
                    )
                    .map_err(Runner::failed(STEP))?
                    .remove(0);
                    facts_tokens.push(target_facts(c.share_id, &c.name, &t, created));
                    Some(t)
                }
                Transport::Recipient { recipient, serial } => {
                    let mut t = seal_target::resolve(
                        &SealTargetRequest {
                            recipients: vec![recipient.clone()],
                            ..Default::default()
                        },
                        1,
                        dir,
                    )
                    .map_err(Runner::failed(STEP))?
                    .remove(0);
                    t.serial = *serial;
                    facts_tokens.push(target_facts(c.share_id, &c.name, &t, false));
                    Some(t)
                }
            };
            if let Some(t) = &target {
                self.line(format!(
                    "share {} ({}): sealed to {}",
                    c.share_id, c.name, t.label
                ));
            }
            targets.push(target);
        }
        // two shares to one key: whoever holds it holds both
        for (i, t) in targets.iter().enumerate() {
            let Some(t) = t else { continue };
            if let Some(j) = targets[..i]
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.recipient == t.recipient))
            {
                return Err(Stop::Failed {
                    step: STEP.into(),
                    error: RunRefused::SameToken {
                        plan: self.plan.path.clone(),
                        first: j as u8 + 1,
                        second: i as u8 + 1,
                        target: t.label.clone(),
                    }
                    .into(),
                });
            }
        }
        self.targets = targets;
        self.test_dir = test_dir.clone();
        self.conclude(
            STEP,
            json!({
                "test_tokens": test_dir.map(|d| d.display().to_string()),
                "targets": facts_tokens,
                "events": heard,
            }),
            "Tokens: is every token holder here with the token named above?",
        )
        .map(|_| ())
    }
}

fn target_facts(share: u8, name: &str, t: &SealTarget, created: bool) -> Value {
    json!({
        "share": share,
        "custodian": name,
        "serial": t.serial,
        "slot": t.slot.map(|s| s.to_string()),
        "recipient": t.recipient.to_string(),
        "token": t.label,
        "test_token": t.test_token,
        "created_by_this_run": created,
    })
}

/// Makes sure the test token `serial` in `dir` exists and holds a key:
/// created and given one (PIN asked, or from `pin_file`) if not. True when
/// this run made the key.
fn prepare_test_token(
    dir: &Path,
    serial: u32,
    pin_file: Option<&Path>,
    console: &mut dyn crate::console::Console,
    events: &mut dyn crate::events::EventSink,
) -> Result<bool, Error> {
    let has_key = match SoftProvider::new(dir).open_soft(serial) {
        Ok(mut t) => !t.slot_keys()?.is_empty(),
        Err(TokenError::NotFound(_) | TokenError::NoTestTokens(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if has_key {
        return Ok(false);
    }
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(crate::atomic_file::DIR_MODE)
            .create(dir)
            .map_err(|e| Error::io(dir, "cannot create the test-token folder", e))?;
    }
    manage::init(
        Some(dir),
        &InitRequest {
            serial,
            pin_file: pin_file.map(Path::to_path_buf),
            slot: None,
            pin_policy: PinPolicy::Once,
            touch_policy: TouchPolicy::Always,
        },
        console,
        events,
    )?;
    Ok(true)
}

use std::os::unix::fs::DirBuilderExt;
