//! The PIV applet of a YubiKey 5, as far as pivsim emulates it: P-256 keys
//! only, 3DES management key, Yubico's vendor commands (version, serial,
//! metadata, attestation, set management key, PIN retries, reset).
//!
//! Status words follow what a YubiKey 5 answers, so that the `yubikey`
//! crate and `yubico-piv-tool` take the same paths as with real hardware.

use std::time::{Duration, Instant};

use des::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use des::TdesEde3;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use rand_core::{OsRng, RngCore};

use crate::apdu::{sw, Applet, Command, Response};
use crate::attest;
use crate::state::*;
use crate::tlv::{self, tlv};

pub const ALG_3DES: u8 = 0x03;
pub const ALG_P256: u8 = 0x11;
const SLOT_MGM: u8 = 0x9b;
const REF_PIN: u8 = 0x80;
const REF_PUK: u8 = 0x81;

const AID_PIV: &[u8] = &[0xa0, 0x00, 0x00, 0x03, 0x08];
const AID_MGMT: &[u8] = &[0xa0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17];
const AID_OTP: &[u8] = &[0xa0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01];

/// Objects whose GET DATA needs the PIN (SP 800-73-4: printed information).
const OBJ_PRINTED: u32 = 0x5f_c109;
const OBJ_DISCOVERY: u32 = 0x7e;
/// The largest object a YubiKey 5 stores.
const MAX_OBJECT: usize = 3063;
/// A cached touch stays good this long (touch policy "cached").
const TOUCH_CACHE: Duration = Duration::from_secs(15);

/// How the simulated user answers a touch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// The key is touched at once.
    Given,
    /// Nobody touches it: the card waits out the timeout and refuses (6982),
    /// as a YubiKey does after about 15 seconds.
    Never(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Selected {
    Nothing,
    Piv,
    Other,
}

/// What the card forgets when it loses power or is reset.
struct Session {
    selected: Selected,
    pin_verified: bool,
    /// A VERIFY just happened and no key operation has used it yet (PIN policy "always").
    pin_fresh: bool,
    mgm_authenticated: bool,
    /// Witness the card sent encrypted, waiting to come back decrypted.
    mgm_witness: Option<[u8; 8]>,
    /// Challenge the card sent in the clear (single-step auth), waiting to come back encrypted.
    mgm_challenge: Option<[u8; 8]>,
    last_touch: Option<Instant>,
}

impl Session {
    fn new() -> Self {
        Session {
            selected: Selected::Nothing,
            pin_verified: false,
            pin_fresh: false,
            mgm_authenticated: false,
            mgm_witness: None,
            mgm_challenge: None,
            last_touch: None,
        }
    }
}

pub struct Piv {
    pub state: CardState,
    store: Store,
    touch: Touch,
    session: Session,
    /// Human-readable events for stderr (never PINs or keys).
    pub log: Vec<String>,
}

fn valid_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95)
}

/// The PIN policy a YubiKey applies when the generate command names none.
fn default_pin_policy(slot: u8) -> u8 {
    match slot {
        0x9c => PIN_POLICY_ALWAYS,
        0x9e => PIN_POLICY_NEVER,
        _ => PIN_POLICY_ONCE,
    }
}

/// A PIN/PUK as sent: 8 bytes, padded with 0xFF. Returns the unpadded value
/// when it is 6 to 8 bytes long and contains no padding byte inside.
fn unpad(field: &[u8]) -> Option<&[u8]> {
    if field.len() != 8 {
        return None;
    }
    let len = field.iter().position(|&b| b == 0xff).unwrap_or(8);
    if field[len..].iter().any(|&b| b != 0xff) || len < 6 {
        return None;
    }
    Some(&field[..len])
}

fn object_id(tag_5c: &[u8]) -> Option<u32> {
    match tag_5c.len() {
        1 => Some(u32::from(tag_5c[0])),
        3 => Some(u32::from(tag_5c[0]) << 16 | u32::from(tag_5c[1]) << 8 | u32::from(tag_5c[2])),
        _ => None,
    }
}

fn tdes(key: &[u8]) -> TdesEde3 {
    TdesEde3::new(GenericArray::from_slice(key))
}

impl Piv {
    pub fn new(state: CardState, store: Store, touch: Touch) -> Self {
        Piv {
            state,
            store,
            touch,
            session: Session::new(),
            log: Vec::new(),
        }
    }

    /// Power off, power on or reset: every verification is gone, as after an unplug.
    pub fn power_cycle(&mut self) {
        self.session = Session::new();
    }

    fn save(&mut self) -> Result<(), Response> {
        self.store.save(&self.state).map_err(|e| {
            self.log.push(format!("cannot save state: {e}"));
            Response::status(0x6f00)
        })
    }

    fn select(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0x04 {
            return Response::status(sw::WRONG_P1P2);
        }
        let aid = cmd.data.as_slice();
        // The 5-byte RID+PIX prefix or the full PIV AID (up to 11 bytes).
        if aid.len() <= 11 && aid.starts_with(AID_PIV) {
            // Selecting PIV (again) drops PIN and management-key verification, as on a
            // YubiKey; clients rely on it to read the retry counter (yubico-piv-tool's
            // ykpiv_get_pin_retries, the yubikey crate's get_pin_retries).
            self.session = Session::new();
            self.session.selected = Selected::Piv;
            // Application property template: PIX and the coexistent tag allocation authority.
            let apt = [
                tlv(&[0x4f], &[0x00, 0x00, 0x10, 0x00, 0x01, 0x00]),
                tlv(&[0x79], &tlv(&[0x4f], AID_PIV)),
            ]
            .concat();
            return Response::ok(tlv(&[0x61], &apt));
        }
        if aid == AID_MGMT || aid == AID_OTP {
            self.session = Session::new();
            self.session.selected = Selected::Other;
            return Response::ok(Vec::new());
        }
        Response::status(sw::NOT_FOUND)
    }

    fn verify(&mut self, cmd: &Command) -> Response {
        if cmd.p2 != REF_PIN {
            return Response::status(sw::WRONG_P1P2);
        }
        match cmd.p1 {
            0x00 => {}
            // Yubico 5.3+: P1=FF resets the verification status.
            0xff if cmd.data.is_empty() => {
                self.session.pin_verified = false;
                self.session.pin_fresh = false;
                return Response::status(sw::OK);
            }
            _ => return Response::status(sw::WRONG_P1P2),
        }
        if cmd.data.is_empty() {
            // A status query: costs no attempt.
            return if self.state.pin.tries_left == 0 {
                Response::status(sw::AUTH_BLOCKED)
            } else if self.session.pin_verified {
                Response::status(sw::OK)
            } else {
                Response::status(sw::verify_fail(self.state.pin.tries_left))
            };
        }
        let Some(pin) = unpad(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        let pin = pin.to_vec();
        if self.state.pin.tries_left == 0 {
            return Response::status(sw::AUTH_BLOCKED);
        }
        self.session.pin_verified = false;
        self.session.pin_fresh = false;
        if pin == self.state.pin.value {
            self.state.pin.tries_left = self.state.pin.max_tries;
            self.session.pin_verified = true;
            self.session.pin_fresh = true;
            if let Err(r) = self.save() {
                return r;
            }
            self.log.push("PIN verified".into());
            Response::status(sw::OK)
        } else {
            self.state.pin.tries_left -= 1;
            let left = self.state.pin.tries_left;
            if let Err(r) = self.save() {
                return r;
            }
            self.log.push(format!("wrong PIN, {left} tries left"));
            Response::status(sw::verify_fail(left))
        }
    }

    /// CHANGE REFERENCE DATA (PIN or PUK) and RESET RETRY COUNTER (PUK unblocks PIN).
    fn change_reference(&mut self, cmd: &Command, unblock: bool) -> Response {
        if cmd.p1 != 0 {
            return Response::status(sw::WRONG_P1P2);
        }
        let target = cmd.p2;
        let allowed = target == REF_PIN || (!unblock && target == REF_PUK);
        if !allowed {
            return Response::status(sw::WRONG_P1P2);
        }
        if cmd.data.len() != 16 {
            return Response::status(sw::WRONG_DATA);
        }
        let (Some(old), Some(new)) = (unpad(&cmd.data[..8]), unpad(&cmd.data[8..])) else {
            return Response::status(sw::WRONG_DATA);
        };
        let (old, new) = (old.to_vec(), new.to_vec());
        // The reference that is checked: the PUK when unblocking, else the one being changed.
        let checked = if unblock || target == REF_PUK {
            &mut self.state.puk
        } else {
            &mut self.state.pin
        };
        if checked.tries_left == 0 {
            return Response::status(sw::AUTH_BLOCKED);
        }
        if old != checked.value {
            checked.tries_left -= 1;
            let left = checked.tries_left;
            if let Err(r) = self.save() {
                return r;
            }
            self.log.push(format!(
                "wrong {}, {left} tries left",
                if unblock || target == REF_PUK {
                    "PUK"
                } else {
                    "PIN"
                }
            ));
            return Response::status(sw::verify_fail(left));
        }
        checked.tries_left = checked.max_tries;
        let changed = if target == REF_PUK {
            &mut self.state.puk
        } else {
            &mut self.state.pin
        };
        changed.value = new;
        changed.tries_left = changed.max_tries;
        changed.is_default = false;
        if let Err(r) = self.save() {
            return r;
        }
        self.log.push(
            match (unblock, target) {
                (true, _) => "PIN unblocked with the PUK",
                (false, REF_PUK) => "PUK changed",
                _ => "PIN changed",
            }
            .into(),
        );
        Response::status(sw::OK)
    }

    /// Waits for the simulated touch; false when it never comes.
    fn touch(&mut self) -> bool {
        match self.touch {
            Touch::Given => {
                self.log.push("touch requested: given (simulated)".into());
                self.session.last_touch = Some(Instant::now());
                true
            }
            Touch::Never(timeout) => {
                self.log.push(format!(
                    "touch requested: never given, timing out after {} ms",
                    timeout.as_millis()
                ));
                std::thread::sleep(timeout);
                false
            }
        }
    }

    fn touch_ok(&mut self, policy: u8) -> bool {
        match policy {
            TOUCH_POLICY_ALWAYS => self.touch(),
            TOUCH_POLICY_CACHED => {
                let cached = self
                    .session
                    .last_touch
                    .is_some_and(|t| t.elapsed() < TOUCH_CACHE);
                cached || self.touch()
            }
            _ => true,
        }
    }

    fn general_authenticate(&mut self, cmd: &Command) -> Response {
        let Ok((outer, rest)) = tlv::parse(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        if outer.tag != 0x7c || !rest.is_empty() {
            return Response::status(sw::WRONG_DATA);
        }
        let Ok(items) = tlv::parse_all(outer.value) else {
            return Response::status(sw::WRONG_DATA);
        };
        if cmd.p2 == SLOT_MGM {
            self.management_auth(cmd.p1, &items)
        } else {
            self.private_key_operation(cmd.p1, cmd.p2, &items)
        }
    }

    fn management_auth(&mut self, algorithm: u8, items: &[tlv::Tlv<'_>]) -> Response {
        if algorithm != ALG_3DES {
            return Response::status(sw::WRONG_DATA);
        }
        let cipher = tdes(&self.state.mgm_key);
        let witness = tlv::find(items, 0x80);
        let challenge = tlv::find(items, 0x81);
        let response = tlv::find(items, 0x82);
        match (witness, challenge, response) {
            // Step 1 of mutual auth: the card sends a witness, encrypted.
            (Some([]), None, None) => {
                let mut w = [0u8; 8];
                OsRng.fill_bytes(&mut w);
                self.session.mgm_witness = Some(w);
                self.session.mgm_authenticated = false;
                let mut block = GenericArray::clone_from_slice(&w);
                cipher.encrypt_block(&mut block);
                Response::ok(tlv(&[0x7c], &tlv(&[0x80], &block)))
            }
            // Step 2: the host returns the witness decrypted and challenges the card.
            (Some(w), Some(c), None) if w.len() == 8 && c.len() == 8 => {
                let expected = self.session.mgm_witness.take();
                if expected.as_ref().map(|e| &e[..]) != Some(w) {
                    self.log.push("management key authentication failed".into());
                    return Response::status(sw::SECURITY_STATUS);
                }
                if self.state.mgm_touch && !self.touch() {
                    return Response::status(sw::SECURITY_STATUS);
                }
                self.session.mgm_authenticated = true;
                self.log.push("management key authenticated".into());
                let mut block = GenericArray::clone_from_slice(c);
                cipher.encrypt_block(&mut block);
                Response::ok(tlv(&[0x7c], &tlv(&[0x82], &block)))
            }
            // Single-step auth, part 1: the card sends a challenge in the clear.
            (None, Some([]), None) => {
                let mut c = [0u8; 8];
                OsRng.fill_bytes(&mut c);
                self.session.mgm_challenge = Some(c);
                self.session.mgm_authenticated = false;
                Response::ok(tlv(&[0x7c], &tlv(&[0x81], &c)))
            }
            // Part 2: the host answers with the challenge encrypted.
            (None, None, Some(r)) if r.len() == 8 => {
                let Some(c) = self.session.mgm_challenge.take() else {
                    return Response::status(sw::SECURITY_STATUS);
                };
                let mut block = GenericArray::clone_from_slice(r);
                cipher.decrypt_block(&mut block);
                if block.as_slice() != c {
                    self.log.push("management key authentication failed".into());
                    return Response::status(sw::SECURITY_STATUS);
                }
                self.session.mgm_authenticated = true;
                self.log.push("management key authenticated".into());
                Response::status(sw::OK)
            }
            _ => Response::status(sw::WRONG_DATA),
        }
    }

    fn private_key_operation(
        &mut self,
        algorithm: u8,
        slot: u8,
        items: &[tlv::Tlv<'_>],
    ) -> Response {
        if !valid_key_slot(slot) && slot != SLOT_ATTESTATION {
            return Response::status(sw::WRONG_P1P2);
        }
        let Some(key) = self.state.keys.get(&slot).cloned() else {
            return Response::status(sw::NOT_FOUND);
        };
        if key.algorithm != algorithm {
            return Response::status(sw::WRONG_DATA);
        }
        if tlv::find(items, 0x82) != Some(&[]) {
            return Response::status(sw::WRONG_DATA);
        }
        let pin_ok = match key.pin_policy {
            PIN_POLICY_NEVER => true,
            PIN_POLICY_ALWAYS => self.session.pin_verified && self.session.pin_fresh,
            _ => self.session.pin_verified,
        };
        if !pin_ok {
            self.log
                .push(format!("slot {slot:02x}: PIN required and not verified"));
            return Response::status(sw::SECURITY_STATUS);
        }
        // PIN policy "always": one VERIFY, one operation.
        self.session.pin_fresh = false;
        if !self.touch_ok(key.touch_policy) {
            return Response::status(sw::SECURITY_STATUS);
        }
        let secret = key.secret();
        if let Some(point) = tlv::find(items, 0x85) {
            if point.len() != 65 {
                return Response::status(sw::WRONG_DATA);
            }
            let Ok(peer) = p256::PublicKey::from_sec1_bytes(point) else {
                return Response::status(sw::WRONG_DATA);
            };
            let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
            self.log.push(format!("slot {slot:02x}: ECDH done"));
            let x = shared.raw_secret_bytes();
            return Response::ok(tlv(&[0x7c], &tlv(&[0x82], x.as_slice())));
        }
        if let Some(digest) = tlv::find(items, 0x81) {
            if digest.is_empty() || digest.len() > 32 {
                return Response::status(sw::WRONG_DATA);
            }
            // The card signs the digest left-padded to the field size.
            let mut prehash = [0u8; 32];
            prehash[32 - digest.len()..].copy_from_slice(digest);
            let signing = SigningKey::from(&secret);
            let Ok(signature): Result<DerSignature, _> = signing.sign_prehash(&prehash) else {
                return Response::status(sw::WRONG_DATA);
            };
            self.log.push(format!("slot {slot:02x}: signature made"));
            return Response::ok(tlv(&[0x7c], &tlv(&[0x82], signature.as_bytes())));
        }
        Response::status(sw::WRONG_DATA)
    }

    fn require_mgm(&self) -> Result<(), Response> {
        if self.session.mgm_authenticated {
            Ok(())
        } else {
            Err(Response::status(sw::SECURITY_STATUS))
        }
    }

    /// Parses the policy TLVs (AA pin, AB touch) of generate and import.
    fn policies(&self, slot: u8, items: &[tlv::Tlv<'_>]) -> Result<(u8, u8), Response> {
        let one = |tag| match tlv::find(items, tag) {
            None => Ok(0),
            Some([v]) => Ok(*v),
            Some(_) => Err(Response::status(sw::WRONG_DATA)),
        };
        let pin = match one(0xaa)? {
            PIN_POLICY_DEFAULT => default_pin_policy(slot),
            p @ (PIN_POLICY_NEVER | PIN_POLICY_ONCE | PIN_POLICY_ALWAYS) => p,
            _ => return Err(Response::status(sw::WRONG_DATA)),
        };
        let touch = match one(0xab)? {
            TOUCH_POLICY_DEFAULT => TOUCH_POLICY_NEVER,
            t @ (TOUCH_POLICY_NEVER | TOUCH_POLICY_ALWAYS | TOUCH_POLICY_CACHED) => t,
            _ => return Err(Response::status(sw::WRONG_DATA)),
        };
        Ok((pin, touch))
    }

    fn generate(&mut self, cmd: &Command) -> Response {
        if let Err(r) = self.require_mgm() {
            return r;
        }
        if cmd.p1 != 0 || !valid_key_slot(cmd.p2) {
            return Response::status(sw::WRONG_P1P2);
        }
        let Ok((outer, _)) = tlv::parse(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        let Ok(items) = tlv::parse_all(outer.value) else {
            return Response::status(sw::WRONG_DATA);
        };
        if outer.tag != 0xac || tlv::find(&items, 0x80) != Some(&[ALG_P256]) {
            // RSA and P-384 are real YubiKey features pivsim does not emulate.
            return Response::status(sw::WRONG_DATA);
        }
        let (pin_policy, touch_policy) = match self.policies(cmd.p2, &items) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let secret = p256::SecretKey::random(&mut OsRng);
        let key = SlotKey {
            algorithm: ALG_P256,
            scalar: secret.to_bytes().to_vec(),
            pin_policy,
            touch_policy,
            generated: true,
        };
        let point = key.public_point();
        self.state.keys.insert(cmd.p2, key);
        // A new key makes the old certificate in the slot meaningless; a YubiKey leaves it,
        // and so does pivsim.
        if let Err(r) = self.save() {
            return r;
        }
        self.log.push(format!(
            "slot {:02x}: P-256 key generated (pin policy {pin_policy}, touch policy {touch_policy})",
            cmd.p2
        ));
        Response::ok(tlv(&[0x7f, 0x49], &tlv(&[0x86], &point)))
    }

    fn import(&mut self, cmd: &Command) -> Response {
        if let Err(r) = self.require_mgm() {
            return r;
        }
        if cmd.p1 != ALG_P256 || !(valid_key_slot(cmd.p2) || cmd.p2 == SLOT_ATTESTATION) {
            return Response::status(if cmd.p1 != ALG_P256 {
                sw::WRONG_DATA
            } else {
                sw::WRONG_P1P2
            });
        }
        let Ok(items) = tlv::parse_all(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        let Some(scalar) = tlv::find(&items, 0x06) else {
            return Response::status(sw::WRONG_DATA);
        };
        if scalar.len() != 32 || p256::SecretKey::from_slice(scalar).is_err() {
            return Response::status(sw::WRONG_DATA);
        }
        let (pin_policy, touch_policy) = match self.policies(cmd.p2, &items) {
            Ok(p) => p,
            Err(r) => return r,
        };
        self.state.keys.insert(
            cmd.p2,
            SlotKey {
                algorithm: ALG_P256,
                scalar: scalar.to_vec(),
                pin_policy,
                touch_policy,
                generated: false,
            },
        );
        if let Err(r) = self.save() {
            return r;
        }
        self.log
            .push(format!("slot {:02x}: P-256 key imported", cmd.p2));
        Response::status(sw::OK)
    }

    fn metadata(&mut self, cmd: &Command) -> Response {
        // GET METADATA arrived with firmware 5.3.
        if self.state.version < [5, 3, 0] {
            return Response::status(sw::INS_NOT_SUPPORTED);
        }
        let reference = |r: &Reference| {
            [
                tlv(&[0x01], &[0xff]),
                tlv(&[0x05], &[u8::from(r.is_default)]),
                tlv(&[0x06], &[r.max_tries, r.tries_left]),
            ]
            .concat()
        };
        let data = match cmd.p2 {
            REF_PIN => reference(&self.state.pin),
            REF_PUK => reference(&self.state.puk),
            SLOT_MGM => [
                tlv(&[0x01], &[ALG_3DES]),
                tlv(
                    &[0x02],
                    &[0x00, if self.state.mgm_touch { 0x02 } else { 0x01 }],
                ),
                tlv(&[0x05], &[u8::from(self.state.mgm_key == DEFAULT_MGM_KEY)]),
            ]
            .concat(),
            slot if valid_key_slot(slot) || slot == SLOT_ATTESTATION => {
                let Some(key) = self.state.keys.get(&slot) else {
                    return Response::status(sw::NOT_FOUND);
                };
                [
                    tlv(&[0x01], &[key.algorithm]),
                    tlv(&[0x02], &[key.pin_policy, key.touch_policy]),
                    tlv(&[0x03], &[if key.generated { 0x01 } else { 0x02 }]),
                    tlv(&[0x04], &tlv(&[0x86], &key.public_point())),
                ]
                .concat()
            }
            _ => return Response::status(sw::WRONG_P1P2),
        };
        Response::ok(data)
    }

    fn attest(&mut self, cmd: &Command) -> Response {
        if !valid_key_slot(cmd.p1) {
            return Response::status(sw::WRONG_P1P2);
        }
        let Some(key) = self.state.keys.get(&cmd.p1) else {
            return Response::status(sw::NOT_FOUND);
        };
        if !key.generated {
            // Only keys generated on the card can be attested.
            return Response::status(sw::WRONG_DATA);
        }
        let Some(attestation_key) = self.state.keys.get(&SLOT_ATTESTATION) else {
            return Response::status(sw::NOT_FOUND);
        };
        let cert = attest::attest(
            cmd.p1,
            key,
            attestation_key,
            self.state.serial,
            self.state.version,
        );
        self.log.push(format!("slot {:02x}: attested", cmd.p1));
        Response::ok(cert)
    }

    fn get_data(&mut self, cmd: &Command) -> Response {
        if (cmd.p1, cmd.p2) != (0x3f, 0xff) {
            return Response::status(sw::WRONG_P1P2);
        }
        let Ok((t, _)) = tlv::parse(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        let Some(id) = object_id(t.value).filter(|_| t.tag == 0x5c) else {
            return Response::status(sw::WRONG_DATA);
        };
        if id == OBJ_DISCOVERY {
            let discovery = [
                tlv(&[0x4f], &[0xa0, 0, 0, 3, 8, 0, 0, 0x10, 0, 1, 0]),
                tlv(&[0x5f, 0x2f], &[0x40, 0x00]),
            ]
            .concat();
            return Response::ok(tlv(&[0x7e], &discovery));
        }
        if id == OBJ_PRINTED && !self.session.pin_verified {
            return Response::status(sw::SECURITY_STATUS);
        }
        match self.state.objects.get(&id) {
            Some(HexBytes(value)) => Response::ok(tlv(&[0x53], value)),
            None => Response::status(sw::NOT_FOUND),
        }
    }

    fn put_data(&mut self, cmd: &Command) -> Response {
        if let Err(r) = self.require_mgm() {
            return r;
        }
        if (cmd.p1, cmd.p2) != (0x3f, 0xff) {
            return Response::status(sw::WRONG_P1P2);
        }
        let Ok((id_tlv, rest)) = tlv::parse(&cmd.data) else {
            return Response::status(sw::WRONG_DATA);
        };
        let Ok((value_tlv, trailing)) = tlv::parse(rest) else {
            return Response::status(sw::WRONG_DATA);
        };
        let id = match object_id(id_tlv.value) {
            Some(id) if id_tlv.tag == 0x5c && id != OBJ_DISCOVERY => id,
            _ => return Response::status(sw::WRONG_DATA),
        };
        if value_tlv.tag != 0x53 || !trailing.is_empty() {
            return Response::status(sw::WRONG_DATA);
        }
        if value_tlv.value.len() > MAX_OBJECT {
            return Response::status(sw::NO_SPACE);
        }
        if value_tlv.value.is_empty() {
            self.state.objects.remove(&id);
        } else {
            self.state
                .objects
                .insert(id, HexBytes(value_tlv.value.to_vec()));
        }
        if let Err(r) = self.save() {
            return r;
        }
        self.log.push(format!(
            "object {id:06x}: {} bytes stored",
            value_tlv.value.len()
        ));
        Response::status(sw::OK)
    }

    fn set_mgm_key(&mut self, cmd: &Command) -> Response {
        if let Err(r) = self.require_mgm() {
            return r;
        }
        if cmd.p1 != 0xff || !matches!(cmd.p2, 0xfe | 0xff) {
            return Response::status(sw::WRONG_P1P2);
        }
        let d = &cmd.data;
        // AES management keys (algorithms 08/0A/0C) are not emulated.
        if d.len() != 27 || d[0] != ALG_3DES || d[1] != SLOT_MGM || d[2] != 24 {
            return Response::status(sw::WRONG_DATA);
        }
        self.state.mgm_key = d[3..].to_vec();
        self.state.mgm_touch = cmd.p2 == 0xfe;
        if let Err(r) = self.save() {
            return r;
        }
        self.log.push("management key changed".into());
        Response::status(sw::OK)
    }

    fn set_pin_retries(&mut self, cmd: &Command) -> Response {
        if let Err(r) = self.require_mgm() {
            return r;
        }
        if !self.session.pin_verified {
            return Response::status(sw::SECURITY_STATUS);
        }
        if !(1..=15).contains(&cmd.p1) || !(1..=15).contains(&cmd.p2) {
            return Response::status(sw::WRONG_P1P2);
        }
        // Like a YubiKey: new counters, and PIN and PUK back to their defaults.
        self.state.pin = Reference {
            value: DEFAULT_PIN.to_vec(),
            max_tries: cmd.p1,
            tries_left: cmd.p1,
            is_default: true,
        };
        self.state.puk = Reference {
            value: DEFAULT_PUK.to_vec(),
            max_tries: cmd.p2,
            tries_left: cmd.p2,
            is_default: true,
        };
        if let Err(r) = self.save() {
            return r;
        }
        self.log.push(format!(
            "PIN/PUK retries set to {}/{}; PIN and PUK back to defaults",
            cmd.p1, cmd.p2
        ));
        Response::status(sw::OK)
    }

    fn reset(&mut self) -> Response {
        // Only a card whose PIN and PUK are both blocked may be reset.
        if self.state.pin.tries_left != 0 || self.state.puk.tries_left != 0 {
            return Response::status(sw::CONDITIONS);
        }
        self.state.reset();
        if let Err(r) = self.save() {
            return r;
        }
        self.session = Session {
            selected: Selected::Piv,
            ..Session::new()
        };
        self.log.push("PIV applet reset to factory state".into());
        Response::status(sw::OK)
    }
}

impl Applet for Piv {
    fn process(&mut self, cmd: &Command) -> Response {
        if cmd.ins == 0xa4 {
            return self.select(cmd);
        }
        if self.session.selected != Selected::Piv {
            return Response::status(sw::INS_NOT_SUPPORTED);
        }
        match cmd.ins {
            0xfd => Response::ok(self.state.version.to_vec()),
            0xf8 => Response::ok(self.state.serial.to_be_bytes().to_vec()),
            0x20 => self.verify(cmd),
            0x24 => self.change_reference(cmd, false),
            0x2c => self.change_reference(cmd, true),
            0x87 => self.general_authenticate(cmd),
            0x47 => self.generate(cmd),
            0xfe => self.import(cmd),
            0xf7 => self.metadata(cmd),
            0xf9 => self.attest(cmd),
            0xcb => self.get_data(cmd),
            0xdb => self.put_data(cmd),
            0xff => self.set_mgm_key(cmd),
            0xfa => self.set_pin_retries(cmd),
            0xfb => self.reset(),
            _ => Response::status(sw::INS_NOT_SUPPORTED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    fn card() -> Piv {
        let mut piv = Piv::new(
            CardState::factory(4242, [5, 4, 3]),
            Store::memory(),
            Touch::Given,
        );
        let r = piv.process(&cmd(0xa4, 0x04, 0x00, AID_PIV));
        assert_eq!(r.sw, sw::OK);
        piv
    }

    fn cmd(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Command {
        Command {
            cla: 0,
            ins,
            p1,
            p2,
            data: data.to_vec(),
        }
    }

    fn pin_field(pin: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 8];
        f[..pin.len()].copy_from_slice(pin);
        f
    }

    fn authenticate(piv: &mut Piv) {
        let cipher = tdes(&DEFAULT_MGM_KEY);
        let r = piv.process(&cmd(0x87, ALG_3DES, SLOT_MGM, &[0x7c, 0x02, 0x80, 0x00]));
        assert_eq!(r.sw, sw::OK);
        let mut witness = GenericArray::clone_from_slice(&r.data[4..12]);
        cipher.decrypt_block(&mut witness);
        let challenge = [9u8; 8];
        let body = [tlv(&[0x80], &witness), tlv(&[0x81], &challenge)].concat();
        let r = piv.process(&cmd(0x87, ALG_3DES, SLOT_MGM, &tlv(&[0x7c], &body)));
        assert_eq!(r.sw, sw::OK);
        let mut expected = GenericArray::clone_from_slice(&challenge);
        cipher.encrypt_block(&mut expected);
        assert_eq!(
            &r.data[4..12],
            expected.as_slice(),
            "the card proves it knows the key"
        );
    }

    #[test]
    fn wrong_pins_count_down_block_and_an_empty_verify_costs_nothing() {
        let mut piv = card();
        let verify =
            |piv: &mut Piv, pin: &[u8]| piv.process(&cmd(0x20, 0, 0x80, &pin_field(pin))).sw;
        assert_eq!(piv.process(&cmd(0x20, 0, 0x80, &[])).sw, 0x63c3);
        assert_eq!(verify(&mut piv, b"000000"), 0x63c2);
        assert_eq!(piv.process(&cmd(0x20, 0, 0x80, &[])).sw, 0x63c2);
        assert_eq!(verify(&mut piv, b"000000"), 0x63c1);
        assert_eq!(verify(&mut piv, b"000000"), 0x63c0);
        assert_eq!(verify(&mut piv, b"123456"), sw::AUTH_BLOCKED);
        // The PUK sets a new PIN and restores the counter.
        let data = [pin_field(b"12345678"), pin_field(b"654321")].concat();
        assert_eq!(piv.process(&cmd(0x2c, 0, 0x80, &data)).sw, sw::OK);
        assert_eq!(verify(&mut piv, b"654321"), sw::OK);
        assert_eq!(piv.process(&cmd(0x20, 0, 0x80, &[])).sw, sw::OK);
        // Too short, or padding inside, is refused without spending a try.
        assert_eq!(verify(&mut piv, b"123"), sw::WRONG_DATA);
        assert_eq!(
            piv.process(&cmd(
                0x20,
                0,
                0x80,
                &[0x31, 0xff, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31]
            ))
            .sw,
            sw::WRONG_DATA
        );
    }

    #[test]
    fn generate_needs_the_management_key_and_ecdh_needs_the_pin() {
        let mut piv = card();
        let gen = cmd(0x47, 0, 0x9d, &[0xac, 0x03, 0x80, 0x01, ALG_P256]);
        assert_eq!(piv.process(&gen).sw, sw::SECURITY_STATUS);
        authenticate(&mut piv);
        let r = piv.process(&gen);
        assert_eq!(r.sw, sw::OK);
        assert_eq!(&r.data[..5], &[0x7f, 0x49, 0x43, 0x86, 0x41]);
        let card_public = p256::PublicKey::from_sec1_bytes(&r.data[5..]).unwrap();

        let ephemeral = p256::SecretKey::random(&mut OsRng);
        let point = ephemeral.public_key().to_encoded_point(false);
        let body = [tlv(&[0x82], &[]), tlv(&[0x85], point.as_bytes())].concat();
        let ecdh = cmd(0x87, ALG_P256, 0x9d, &tlv(&[0x7c], &body));
        assert_eq!(piv.process(&ecdh).sw, sw::SECURITY_STATUS);
        assert_eq!(
            piv.process(&cmd(0x20, 0, 0x80, &pin_field(b"123456"))).sw,
            sw::OK
        );
        let r = piv.process(&ecdh);
        assert_eq!(r.sw, sw::OK);
        let expected =
            p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), card_public.as_affine());
        assert_eq!(&r.data[..4], &[0x7c, 0x22, 0x82, 0x20]);
        assert_eq!(&r.data[4..], expected.raw_secret_bytes().as_slice());

        // An unplug forgets the PIN.
        piv.power_cycle();
        assert_eq!(
            piv.process(&ecdh).sw,
            sw::INS_NOT_SUPPORTED,
            "PIV is not selected"
        );
        piv.process(&cmd(0xa4, 0x04, 0x00, AID_PIV));
        assert_eq!(piv.process(&ecdh).sw, sw::SECURITY_STATUS);
    }

    #[test]
    fn a_touch_that_never_comes_is_refused_after_the_wait() {
        let mut piv = card();
        piv.touch = Touch::Never(Duration::from_millis(50));
        authenticate(&mut piv);
        let gen = cmd(
            0x47,
            0,
            0x82,
            &[
                0xac, 0x09, 0x80, 0x01, ALG_P256, 0xaa, 0x01, 0x01, 0xab, 0x01, 0x02,
            ],
        );
        assert_eq!(piv.process(&gen).sw, sw::OK);
        let ephemeral = p256::SecretKey::random(&mut OsRng).public_key();
        let body = [
            tlv(&[0x82], &[]),
            tlv(&[0x85], ephemeral.to_encoded_point(false).as_bytes()),
        ]
        .concat();
        let started = Instant::now();
        let r = piv.process(&cmd(0x87, ALG_P256, 0x82, &tlv(&[0x7c], &body)));
        assert_eq!(r.sw, sw::SECURITY_STATUS);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
