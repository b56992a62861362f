//! What keyceremony says along the way, as typed [`Event`]s handed to an
//! [`EventSink`] the caller passes in: the command line prints each one on
//! standard error as it comes, a ceremony runner records them, tests collect
//! them (`Vec<Event>` is a sink).
//!
//! An event's [`Display`](std::fmt::Display) is the line the command line
//! prints for it, `warning: ` included where it has one; its
//! [`severity`](Event::severity) says whether it is a warning. No event
//! carries a secret.

use std::fmt;
use std::path::PathBuf;

use crate::record::CeremonyId;
use crate::recovery::SetProblem;
use crate::token::Slot;

/// Receives events as they happen.
pub trait EventSink {
    fn emit(&mut self, event: Event);

    /// Where long steps report their progress (silent unless the sink says).
    fn progress(&self) -> crate::progress::Progress {
        crate::progress::Progress::silent()
    }
}

/// Collects events in order.
impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

/// Drops every event.
pub struct Discard;

impl EventSink for Discard {
    fn emit(&mut self, _: Event) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
}

/// Why a token wants to be touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPrompt {
    /// The slot's touch policy is "always".
    Now,
    /// Policy "cached" or unknown (older firmware): only if it blinks.
    IfItBlinks,
    /// A new key signs its slot certificate.
    ToSignCertificate,
}

#[derive(Clone, Debug)]
pub enum Event {
    /// A sealed share was matched to the token (and slot) that opens it.
    SealedShareFound {
        path: PathBuf,
        token: String,
        slot: Slot,
    },
    /// The token waits for a touch.
    TouchNeeded { token: String, prompt: TouchPrompt },
    /// A test token answered its touch by itself.
    TouchConfirmedAutomatically { token: String },
    /// A test token set up to simulate being pulled out instead of touched.
    TokenPulledOut { token: String },
    /// A key was made on a YubiKey but its slot certificate was not written.
    SlotCertificateNotWritten { token: String, problem: String },
    /// `assemble` goes on without an input that is bad, foreign or repeated.
    LeftOut(SetProblem),
    /// A Nexus backup is written under an unusual file name.
    UnusualBundleName { path: PathBuf },
    /// A Nexus backup without keyceremony's manifest (a plain one).
    NoManifest { path: PathBuf },
    /// A share typed from a sheet's fallback lines was read and checked.
    TypedShareRead { id: u8, ceremony_id: CeremonyId },
}

impl Event {
    pub fn severity(&self) -> Severity {
        match self {
            Event::SlotCertificateNotWritten { .. }
            | Event::LeftOut(_)
            | Event::UnusualBundleName { .. }
            | Event::NoManifest { .. } => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SealedShareFound { path, token, slot } => {
                write!(f, "{}: sealed to {token}, slot {slot}", path.display())
            }
            Event::TouchNeeded { token, prompt } => match prompt {
                TouchPrompt::Now => write!(f, "{token}: touch your YubiKey now"),
                TouchPrompt::IfItBlinks => write!(f, "{token}: touch your YubiKey now if it blinks"),
                TouchPrompt::ToSignCertificate => write!(
                    f,
                    "{token}: touch your YubiKey now (to sign the slot's certificate)"
                ),
            },
            Event::TouchConfirmedAutomatically { token } => {
                write!(f, "{token}: touch confirmed automatically (test token)")
            }
            Event::TokenPulledOut { token } => write!(
                f,
                "{token}: simulating the token being pulled out instead of touched"
            ),
            Event::SlotCertificateNotWritten { token, problem } => write!(
                f,
                "{token}: warning: the key was created, but its certificate could not be written ({problem}); keyceremony finds the key by its metadata, age-plugin-yubikey will not list it"
            ),
            Event::LeftOut(p) => write!(f, "warning: left out {p}"),
            Event::UnusualBundleName { path } => write!(
                f,
                "warning: {}: a Nexus backup is normally named *{}",
                path.display(),
                crate::bundle::NEXUS_EXTENSION
            ),
            Event::NoManifest { path } => write!(
                f,
                "warning: {}: no manifest.json: a plain Nexus backup, not made by keyceremony. Its \
                 passphrase and tag check out, but there are no file hashes or key fingerprint to check",
                path.display()
            ),
            Event::TypedShareRead { id, ceremony_id } => write!(
                f,
                "share {id} of ceremony {ceremony_id} read and verified against its commitments."
            ),
        }
    }
}
