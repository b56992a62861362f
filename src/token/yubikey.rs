//! Real YubiKeys, through PC/SC and the `yubikey` crate (0.8, feature
//! `untested` for `piv::decrypt_data`, which is PIV ECDH).
//!
//! - Tokens are found by iterating the PC/SC readers and reading each card's
//!   serial; `YubiKey::open()` alone refuses when two keys are plugged in.
//! - Keys live in the retired slots 0x82..0x95 (or 9d), P-256, generated on
//!   the card; PIN policy and touch policy are set at generation.
//! - A slot's public key and policies come from GET METADATA (firmware
//!   5.2.3+); on older firmware from the slot's certificate, which `init`
//!   writes (self-signed, as age-plugin-yubikey does) so that
//!   age-plugin-yubikey finds the key too.
//! - Generating needs the management key: the PIN-protected one if the key
//!   has one (as age-plugin-yubikey sets up), else the factory default.
//! - The connection is reset when dropped, so a PIN verified by keyceremony
//!   does not stay verified on the card after the command ends.

use std::time::Duration;

use p256::PublicKey;
use yubikey::piv::{self, AlgorithmId, ManagementAlgorithmId, SlotId};
use yubikey::{MgmKey, YubiKey};
use zeroize::Zeroizing;

use crate::events::{Event, EventSink, TouchPrompt};

use super::{
    Pin, PinPolicy, Slot, SlotKey, Token, TokenError, TokenProvider, TokenSummary, TouchPolicy,
};

/// The real PC/SC provider.
pub struct YubiKeyProvider;

pub fn label_for(serial: u32) -> String {
    format!("YubiKey {serial}")
}

fn context() -> Result<yubikey::reader::Context, TokenError> {
    // Without the PC/SC library every call would only say "no service".
    crate::pcsc_loader::load()?;
    yubikey::reader::Context::open().map_err(|e| map_error(None, e))
}

/// Turns a `yubikey` crate error into one a custodian can act on.
fn map_error(serial: Option<u32>, e: yubikey::Error) -> TokenError {
    let label = serial.map_or_else(|| "the YubiKey".to_string(), label_for);
    match e {
        yubikey::Error::PcscError { inner: Some(pe) } => match pe {
            pcsc::Error::NoService | pcsc::Error::ServiceStopped => {
                TokenError::NoService("pcscd is not running (the PC/SC service)".into())
            }
            pcsc::Error::NoReadersAvailable => TokenError::NoTokens,
            pcsc::Error::RemovedCard
            | pcsc::Error::ResetCard
            | pcsc::Error::NoSmartcard
            | pcsc::Error::ReaderUnavailable
            | pcsc::Error::UnknownReader => TokenError::Removed(label),
            pcsc::Error::SharingViolation => TokenError::Device {
                token: label,
                detail: "another program holds the YubiKey (gpg's scdaemon, yubikey-agent...). Stop it (gpgconf --kill scdaemon) and try again".into(),
            },
            other => TokenError::Device {
                token: label,
                detail: format!("smart-card error: {other}"),
            },
        },
        yubikey::Error::PinLocked | yubikey::Error::WrongPin { tries: 0 } => {
            TokenError::PinBlocked {
                token: label,
                serial,
            }
        }
        yubikey::Error::WrongPin { tries } => TokenError::WrongPin {
            token: label,
            tries_left: tries,
        },
        yubikey::Error::NotFound => TokenError::NoTokens,
        yubikey::Error::NotSupported => {
            TokenError::NotSupported(format!("{label} does not support this operation"))
        }
        other => TokenError::Device {
            token: label,
            detail: other.to_string(),
        },
    }
}

impl TokenProvider for YubiKeyProvider {
    fn is_test(&self) -> bool {
        false
    }

    fn list(&mut self) -> Result<Vec<TokenSummary>, TokenError> {
        let mut ctx = context()?;
        let readers = match ctx.iter() {
            Ok(r) => r,
            Err(e) => {
                return match map_error(None, e) {
                    TokenError::NoTokens => Err(TokenError::NoTokens),
                    other => Err(other),
                }
            }
        };
        let mut found = Vec::new();
        for reader in readers {
            // A reader without a card, or a card without PIV, is not a token.
            if let Ok(yk) = reader.open() {
                let serial = yk.serial().0;
                found.push(TokenSummary {
                    serial,
                    label: label_for(serial),
                });
                let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
            }
        }
        if found.is_empty() {
            return Err(TokenError::NoTokens);
        }
        found.sort_by_key(|t| t.serial);
        Ok(found)
    }

    fn open(&mut self, serial: u32) -> Result<Box<dyn Token>, TokenError> {
        let mut ctx = context()?;
        let readers = ctx.iter().map_err(|e| map_error(None, e))?;
        let mut busy = None;
        for reader in readers {
            match reader.open() {
                Ok(yk) if yk.serial().0 == serial => {
                    return Ok(Box::new(RealToken {
                        yk,
                        serial,
                        pin_verified: false,
                    }))
                }
                Ok(other) => {
                    let _ = other.disconnect(pcsc::Disposition::LeaveCard);
                }
                Err(
                    e @ yubikey::Error::PcscError {
                        inner: Some(pcsc::Error::SharingViolation),
                    },
                ) => busy = Some(e),
                Err(_) => {}
            }
        }
        match busy {
            // A key held by another program might be the one asked for.
            Some(e) => Err(map_error(Some(serial), e)),
            None => Err(TokenError::NotFound(label_for(serial))),
        }
    }
}

/// Whether a YubiKey with this serial answers on any reader right now.
fn serial_present(serial: u32) -> bool {
    let Ok(mut ctx) = context() else {
        return false;
    };
    let Ok(readers) = ctx.iter() else {
        return false;
    };
    readers
        .filter_map(|r| r.open().ok())
        .any(|yk| yk.serial().0 == serial)
}

/// One connected YubiKey.
pub struct RealToken {
    yk: YubiKey,
    serial: u32,
    pin_verified: bool,
}

impl RealToken {
    fn err(&self, e: yubikey::Error) -> TokenError {
        map_error(Some(self.serial), e)
    }

    fn slot_id(slot: Slot) -> SlotId {
        SlotId::try_from(slot.id()).expect("Slot only holds retired slots and 9d")
    }

    fn has_metadata(&self) -> bool {
        let v = self.yk.version();
        (v.major, v.minor, v.patch) >= (5, 2, 3)
    }

    fn key_from_metadata(&mut self, slot: Slot) -> Result<Option<SlotKey>, TokenError> {
        match piv::metadata(&mut self.yk, Self::slot_id(slot)) {
            Ok(md) => {
                if md.algorithm != ManagementAlgorithmId::Asymmetric(AlgorithmId::EccP256) {
                    return Ok(None);
                }
                let Some(spki) = md.public else {
                    return Ok(None);
                };
                let Some(public_key) = point_from_spki(spki.subject_public_key.raw_bytes()) else {
                    return Ok(None);
                };
                let (pin_policy, touch_policy) = match md.policy {
                    Some((p, t)) => (pin_policy_from(p), touch_policy_from(t)),
                    None => (None, None),
                };
                Ok(Some(SlotKey {
                    slot,
                    public_key,
                    pin_policy,
                    touch_policy,
                }))
            }
            // An empty slot answers "reference not found".
            Err(yubikey::Error::GenericError) | Err(yubikey::Error::NotFound) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn key_from_certificate(&mut self, slot: Slot) -> Result<Option<SlotKey>, TokenError> {
        match yubikey::Certificate::read(&mut self.yk, Self::slot_id(slot)) {
            Ok(cert) => {
                let spki = cert.subject_pki();
                Ok(
                    point_from_spki(spki.subject_public_key.raw_bytes()).map(|public_key| {
                        SlotKey {
                            slot,
                            public_key,
                            pin_policy: None,
                            touch_policy: None,
                        }
                    }),
                )
            }
            Err(yubikey::Error::PcscError { inner: Some(pe) }) => {
                Err(self.err(yubikey::Error::PcscError { inner: Some(pe) }))
            }
            Err(_) => Ok(None),
        }
    }

    fn authenticate_management(&mut self) -> Result<(), TokenError> {
        if let Ok(key) = MgmKey::get_protected(&mut self.yk) {
            return self.yk.authenticate(key).map_err(|e| self.err(e));
        }
        self.yk.authenticate(MgmKey::default()).map_err(|_| TokenError::Device {
            token: self.label(),
            detail: "keyceremony cannot authenticate with its PIV management key: it is neither the 3DES factory default nor PIN-protected (YubiKeys with firmware 5.7+ ship an AES key, which this build cannot use). Set a PIN-protected 3DES management key (ykman piv access change-management-key --algorithm TDES --protect), then run `keyceremony token init` again".into(),
        })
    }

    /// Writes a self-signed certificate for the new key (as age-plugin-yubikey
    /// does), so tools that look for certificates find the key. Signing uses
    /// the new key: it may need a touch.
    fn write_certificate(
        &mut self,
        slot: Slot,
        spki: x509_cert::spki::SubjectPublicKeyInfoOwned,
    ) -> Result<(), yubikey::Error> {
        use std::str::FromStr;
        let serial = x509_cert::serial_number::SerialNumber::new(&[0x01, slot.id()])
            .map_err(|_| yubikey::Error::GenericError)?;
        let validity =
            x509_cert::time::Validity::from_now(Duration::from_secs(20 * 365 * 24 * 3600))
                .map_err(|_| yubikey::Error::GenericError)?;
        let subject = x509_cert::name::Name::from_str(&format!(
            "CN=keyceremony,OU=slot {slot},O=keyceremony"
        ))
        .map_err(|_| yubikey::Error::GenericError)?;
        yubikey::Certificate::generate_self_signed::<_, p256::NistP256>(
            &mut self.yk,
            Self::slot_id(slot),
            serial,
            validity,
            subject,
            spki,
            |_| Ok(()),
        )
        .map(|_| ())
    }
}

fn point_from_spki(raw: &[u8]) -> Option<PublicKey> {
    PublicKey::from_sec1_bytes(raw).ok()
}

fn pin_policy_from(p: yubikey::PinPolicy) -> Option<PinPolicy> {
    match p {
        yubikey::PinPolicy::Never => Some(PinPolicy::Never),
        yubikey::PinPolicy::Once => Some(PinPolicy::Once),
        yubikey::PinPolicy::Always => Some(PinPolicy::Always),
        // "Default" for a retired slot means "once".
        yubikey::PinPolicy::Default => Some(PinPolicy::Once),
    }
}

fn touch_policy_from(t: yubikey::TouchPolicy) -> Option<TouchPolicy> {
    match t {
        yubikey::TouchPolicy::Never | yubikey::TouchPolicy::Default => Some(TouchPolicy::Never),
        yubikey::TouchPolicy::Always => Some(TouchPolicy::Always),
        yubikey::TouchPolicy::Cached => Some(TouchPolicy::Cached),
    }
}

impl Token for RealToken {
    fn serial(&self) -> u32 {
        self.serial
    }

    fn label(&self) -> String {
        label_for(self.serial)
    }

    fn is_test(&self) -> bool {
        false
    }

    fn version(&mut self) -> Result<String, TokenError> {
        Ok(self.yk.version().to_string())
    }

    fn pin_tries_left(&mut self) -> Result<u8, TokenError> {
        // Reads the counter with an empty VERIFY, which costs no try but
        // re-selects the application, ending any PIN session.
        self.pin_verified = false;
        let n = self.yk.get_pin_retries().map_err(|e| self.err(e))?;
        if n == 0 && self.has_metadata() {
            // The crate reads "verified" as 0 tries; a blocked PIN is worth
            // a second opinion from the PIN slot's metadata (firmware 5.3+).
            let pin_slot = SlotId::try_from(0x80u8).expect("0x80 is the PIN");
            if let Ok(md) = piv::metadata(&mut self.yk, pin_slot) {
                if let Some(r) = md.retries {
                    return Ok(r.remaining_count);
                }
            }
        }
        Ok(n)
    }

    fn puk_tries_left(&mut self) -> Result<Option<u8>, TokenError> {
        if !self.has_metadata() {
            return Ok(None);
        }
        let puk = SlotId::try_from(0x81u8).expect("0x81 is the PUK");
        match piv::metadata(&mut self.yk, puk) {
            Ok(md) => Ok(md.retries.map(|r| r.remaining_count)),
            Err(_) => Ok(None),
        }
    }

    fn verify_pin(&mut self, pin: &Pin) -> Result<(), TokenError> {
        match self.yk.verify_pin(pin.expose()) {
            Ok(()) => {
                self.pin_verified = true;
                Ok(())
            }
            Err(e) => {
                self.pin_verified = false;
                Err(self.err(e))
            }
        }
    }

    fn pin_verified(&self) -> bool {
        self.pin_verified
    }

    fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), TokenError> {
        self.yk
            .change_pin(old.expose(), new.expose())
            .map_err(|e| self.err(e))
    }

    fn unblock_pin(&mut self, puk: &Pin, new_pin: &Pin) -> Result<(), TokenError> {
        self.yk
            .unblock_pin(puk.expose(), new_pin.expose())
            .map_err(|e| match e {
                yubikey::Error::PinLocked | yubikey::Error::WrongPin { tries: 0 } => {
                    TokenError::PukBlocked(self.label())
                }
                yubikey::Error::WrongPin { tries } => TokenError::WrongPuk {
                    token: self.label(),
                    tries_left: tries,
                },
                other => self.err(other),
            })
    }

    fn slot_keys(&mut self) -> Result<Vec<SlotKey>, TokenError> {
        let mut keys = Vec::new();
        let mut metadata = self.has_metadata();
        for slot in Slot::all() {
            let key = if metadata {
                match self.key_from_metadata(slot) {
                    // A card that claims 5.2.3+ but lacks GET METADATA:
                    // fall back to certificates for this and later slots.
                    Err(TokenError::NotSupported(_)) => {
                        metadata = false;
                        self.key_from_certificate(slot)?
                    }
                    other => other?,
                }
            } else {
                self.key_from_certificate(slot)?
            };
            keys.extend(key);
        }
        Ok(keys)
    }

    fn generate(
        &mut self,
        slot: Slot,
        pin_policy: PinPolicy,
        touch_policy: TouchPolicy,
        events: &mut dyn EventSink,
    ) -> Result<SlotKey, TokenError> {
        if !self.pin_verified {
            return Err(TokenError::PinRequired {
                token: self.label(),
            });
        }
        if self.slot_keys()?.iter().any(|k| k.slot == slot) {
            return Err(TokenError::SlotOccupied {
                token: self.label(),
                slot,
            });
        }
        self.authenticate_management()?;
        let yk_pin = match pin_policy {
            PinPolicy::Never => yubikey::PinPolicy::Never,
            PinPolicy::Once => yubikey::PinPolicy::Once,
            PinPolicy::Always => yubikey::PinPolicy::Always,
        };
        let yk_touch = match touch_policy {
            TouchPolicy::Never => yubikey::TouchPolicy::Never,
            TouchPolicy::Always => yubikey::TouchPolicy::Always,
            TouchPolicy::Cached => yubikey::TouchPolicy::Cached,
        };
        let spki = piv::generate(
            &mut self.yk,
            Self::slot_id(slot),
            AlgorithmId::EccP256,
            yk_pin,
            yk_touch,
        )
        .map_err(|e| self.err(e))?;
        let public_key = point_from_spki(spki.subject_public_key.raw_bytes()).ok_or_else(|| {
            TokenError::Device {
                token: self.label(),
                detail: "the new key is not a P-256 point".into(),
            }
        })?;
        if touch_policy != TouchPolicy::Never {
            events.emit(Event::TouchNeeded {
                token: self.label(),
                prompt: TouchPrompt::ToSignCertificate,
            });
        }
        if let Err(e) = self.write_certificate(slot, spki) {
            events.emit(Event::SlotCertificateNotWritten {
                token: self.label(),
                problem: e.to_string(),
            });
        }
        Ok(SlotKey {
            slot,
            public_key,
            pin_policy: Some(pin_policy),
            touch_policy: Some(touch_policy),
        })
    }

    fn ecdh(
        &mut self,
        key: &SlotKey,
        peer: &PublicKey,
        events: &mut dyn EventSink,
    ) -> Result<Zeroizing<[u8; 32]>, TokenError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = peer.to_encoded_point(false);
        match key.touch_policy {
            Some(TouchPolicy::Never) => {}
            Some(TouchPolicy::Always) => events.emit(Event::TouchNeeded {
                token: self.label(),
                prompt: TouchPrompt::Now,
            }),
            // Cached: only if the last touch is older than 15 s; unknown: old firmware.
            Some(TouchPolicy::Cached) | None => events.emit(Event::TouchNeeded {
                token: self.label(),
                prompt: TouchPrompt::IfItBlinks,
            }),
        }
        let out = piv::decrypt_data(
            &mut self.yk,
            point.as_bytes(),
            AlgorithmId::EccP256,
            Self::slot_id(key.slot),
        )
        .map_err(|e| match e {
            // The card says "security status not satisfied": after a
            // verified PIN that means the touch did not come in time.
            yubikey::Error::AuthenticationError
                if self.pin_verified || key.pin_policy == Some(PinPolicy::Never) =>
            {
                TokenError::TouchTimeout(self.label())
            }
            yubikey::Error::AuthenticationError => TokenError::PinRequired {
                token: self.label(),
            },
            // A card pulled out mid-command often answers with nothing at
            // all, which the crate reports as a generic error: look again.
            other @ (yubikey::Error::GenericError | yubikey::Error::PcscError { .. })
                if !serial_present(self.serial) =>
            {
                let _ = other;
                TokenError::Removed(self.label())
            }
            other => self.err(other),
        })?;
        if key.pin_policy == Some(PinPolicy::Always) {
            self.pin_verified = false;
        }
        if out.len() != 32 {
            return Err(TokenError::Device {
                token: self.label(),
                detail: format!("ECDH returned {} bytes instead of 32", out.len()),
            });
        }
        let mut x = Zeroizing::new([0u8; 32]);
        x.copy_from_slice(&out);
        Ok(x)
    }

    fn attest(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, TokenError> {
        match piv::attest(&mut self.yk, Self::slot_id(slot)) {
            Ok(der) => Ok(Some(der.to_vec())),
            Err(yubikey::Error::NotSupported) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcsc(e: pcsc::Error) -> yubikey::Error {
        yubikey::Error::PcscError { inner: Some(e) }
    }

    #[test]
    fn errors_map_to_what_a_custodian_can_act_on() {
        let l = Some(123);
        assert!(matches!(
            map_error(l, pcsc(pcsc::Error::NoService)),
            TokenError::NoService(_)
        ));
        assert!(matches!(
            map_error(l, pcsc(pcsc::Error::RemovedCard)),
            TokenError::Removed(t) if t == "YubiKey 123"
        ));
        assert!(matches!(
            map_error(l, yubikey::Error::WrongPin { tries: 2 }),
            TokenError::WrongPin { tries_left: 2, .. }
        ));
        assert!(matches!(
            map_error(l, yubikey::Error::WrongPin { tries: 0 }),
            TokenError::PinBlocked { .. }
        ));
        assert!(matches!(
            map_error(l, yubikey::Error::PinLocked),
            TokenError::PinBlocked { .. }
        ));
        let busy = map_error(l, pcsc(pcsc::Error::SharingViolation)).to_string();
        assert!(busy.contains("scdaemon"), "{busy}");
        let msg = TokenError::WrongPin {
            token: "YubiKey 123".into(),
            tries_left: 1,
        }
        .to_string();
        assert!(msg.contains("1 try left"), "{msg}");
    }

    #[test]
    fn policies_map_both_ways() {
        assert_eq!(
            pin_policy_from(yubikey::PinPolicy::Once),
            Some(PinPolicy::Once)
        );
        assert_eq!(
            pin_policy_from(yubikey::PinPolicy::Default),
            Some(PinPolicy::Once)
        );
        assert_eq!(
            touch_policy_from(yubikey::TouchPolicy::Cached),
            Some(TouchPolicy::Cached)
        );
        for s in Slot::all() {
            assert!(SlotId::try_from(s.id()).is_ok(), "slot {s}");
        }
    }
}
