//! Software test tokens: stand-ins for YubiKeys in test mode, with the same
//! failure modes (wrong PIN with tries left, blocked PIN, PUK unblock, touch
//! that never comes, token pulled out mid-operation).
//!
//! Each token is one JSON file `token-<serial>.json` in the test-token folder
//! (`--test-tokens DIR` / `KEYCEREMONY_TEST_TOKENS`), documented in
//! docs/tokens.md. Every operation re-reads the file under an exclusive lock
//! on `token-<serial>.lock`, so several processes share one token as they
//! would share a YubiKey, and a file deleted mid-operation reads as a token
//! that was pulled out. The private keys are in that file in the clear: a
//! test token protects nothing, and every line that names one says so.

use std::fs;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::events::{Event, EventSink, TouchPrompt};

use super::{
    Pin, PinPolicy, Slot, SlotKey, Token, TokenError, TokenProvider, TokenSummary, TouchPolicy,
    DEFAULT_PIN, DEFAULT_PUK, DEFAULT_TRIES,
};

pub const STATE_FORMAT: &str = "keyceremony-test-token";
pub const STATE_VERSION: u32 = 1;
/// Firmware version a new test token reports.
pub const SOFT_FIRMWARE: &str = "5.7.1";
/// How long a touch counts for a slot with touch policy "cached".
const TOUCH_CACHE: Duration = Duration::from_secs(15);
/// Largest state file read.
const MAX_STATE_LEN: u64 = 64 * 1024;

const WARNING: &str = "TEST TOKEN: a software stand-in for a YubiKey, for tests and rehearsals only. Its private keys are in this file in the clear. Never seal a real share to it.";

/// How a test token answers a touch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TouchResponse {
    /// The touch is confirmed automatically (after the prompt is shown).
    Auto,
    /// Nobody touches: the operation times out, as a YubiKey does after 15 s.
    Never,
    /// The token is pulled out instead: its state file is deleted.
    Unplug,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotState {
    slot: String,
    algorithm: String,
    private_key: String,
    public_key: String,
    pin_policy: String,
    touch_policy: String,
    origin: String,
}

impl Drop for SlotState {
    fn drop(&mut self) {
        self.private_key.zeroize();
    }
}

/// The state file's content.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    format: String,
    version: u32,
    warning: String,
    serial: u32,
    firmware: String,
    pin: String,
    pin_tries_left: u8,
    pin_max_tries: u8,
    puk: String,
    puk_tries_left: u8,
    puk_max_tries: u8,
    touch: TouchResponse,
    slots: Vec<SlotState>,
}

impl Drop for State {
    fn drop(&mut self) {
        self.pin.zeroize();
        self.puk.zeroize();
    }
}

impl State {
    fn new(serial: u32) -> Self {
        State {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            warning: WARNING.into(),
            serial,
            firmware: SOFT_FIRMWARE.into(),
            pin: DEFAULT_PIN.into(),
            pin_tries_left: DEFAULT_TRIES,
            pin_max_tries: DEFAULT_TRIES,
            puk: DEFAULT_PUK.into(),
            puk_tries_left: DEFAULT_TRIES,
            puk_max_tries: DEFAULT_TRIES,
            touch: TouchResponse::Auto,
            slots: Vec::new(),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.format != STATE_FORMAT {
            return Err(format!("format is not \"{STATE_FORMAT}\""));
        }
        if self.version != STATE_VERSION {
            return Err(format!(
                "version {} is not supported (only {STATE_VERSION})",
                self.version
            ));
        }
        if self.pin_tries_left > self.pin_max_tries || self.puk_tries_left > self.puk_max_tries {
            return Err("more tries left than the maximum".into());
        }
        for s in &self.slots {
            slot_key(s)?;
            secret_of(s)?;
        }
        Ok(())
    }
}

fn parse_slot(text: &str) -> Result<Slot, String> {
    Slot::parse(text).ok_or_else(|| format!("slot \"{text}\" is not a retired slot (82..95) or 9d"))
}

fn slot_key(s: &SlotState) -> Result<SlotKey, String> {
    let slot = parse_slot(&s.slot)?;
    if s.algorithm != "ECCP256" {
        return Err(format!("slot {slot}: algorithm must be ECCP256"));
    }
    let pk = hex::decode(&s.public_key)
        .ok()
        .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
        .ok_or_else(|| format!("slot {slot}: public_key is not a hex P-256 point"))?;
    let pin_policy = PinPolicy::parse(&s.pin_policy)
        .ok_or_else(|| format!("slot {slot}: pin_policy must be never, once or always"))?;
    let touch_policy = TouchPolicy::parse(&s.touch_policy)
        .ok_or_else(|| format!("slot {slot}: touch_policy must be never, always or cached"))?;
    Ok(SlotKey {
        slot,
        public_key: pk,
        pin_policy: Some(pin_policy),
        touch_policy: Some(touch_policy),
    })
}

fn secret_of(s: &SlotState) -> Result<SecretKey, String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(&s.private_key, &mut bytes[..])
        .map_err(|_| format!("slot {}: private_key is not 64 hex characters", s.slot))?;
    let sk = SecretKey::from_slice(&bytes[..])
        .map_err(|_| format!("slot {}: private_key is not a P-256 scalar", s.slot))?;
    let pk = hex::encode(sk.public_key().to_encoded_point(true).as_bytes());
    if pk != s.public_key.to_ascii_lowercase() {
        return Err(format!(
            "slot {}: public_key does not belong to private_key",
            s.slot
        ));
    }
    Ok(sk)
}

/// The label every message about a test token uses.
pub fn label_for(serial: u32) -> String {
    format!("TEST TOKEN {serial} (software stand-in, not a YubiKey)")
}

/// File name of a test token's state.
pub fn state_path(dir: &Path, serial: u32) -> PathBuf {
    dir.join(format!("token-{serial}.json"))
}

fn lock_path(dir: &Path, serial: u32) -> PathBuf {
    dir.join(format!("token-{serial}.lock"))
}

/// How long a command waits for a test token that another process holds,
/// unless [`super::LOCK_WAIT_ENV`] says otherwise.
pub const DEFAULT_LOCK_WAIT_SECS: u64 = 30;

fn lock_wait() -> std::time::Duration {
    let secs = std::env::var(super::LOCK_WAIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_LOCK_WAIT_SECS)
        .min(24 * 3600);
    std::time::Duration::from_secs(secs)
}

/// An exclusive advisory lock, held until dropped.
struct Lock(fs::File);

impl Lock {
    /// Takes the lock, waiting a bounded time for another process to let
    /// go of it: a held lock never makes a command hang silently.
    fn take(path: &Path, serial: u32) -> Result<Lock, TokenError> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| TokenError::Io {
                path: path.to_path_buf(),
                action: "cannot open the lock file",
                source: e,
            })?;
        let wait = lock_wait();
        let started = std::time::Instant::now();
        loop {
            // SAFETY: flock on a valid, open descriptor; no memory is shared.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Lock(f));
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => {}
                _ => {
                    return Err(TokenError::Io {
                        path: path.to_path_buf(),
                        action: "cannot lock",
                        source: e,
                    })
                }
            }
            if started.elapsed() >= wait {
                return Err(TokenError::Busy {
                    serial,
                    lock: path.to_path_buf(),
                    waited_secs: wait.as_secs(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release the lock anyway.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Test tokens in one folder.
pub struct SoftProvider {
    dir: PathBuf,
}

impl SoftProvider {
    pub fn new(dir: &Path) -> Self {
        SoftProvider {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new test token with the defaults (PIN 123456, PUK
    /// 12345678, 3 tries each, touch confirmed automatically).
    pub fn create(&mut self, serial: u32) -> Result<SoftToken, TokenError> {
        fs::create_dir_all(&self.dir).map_err(|e| TokenError::Io {
            path: self.dir.clone(),
            action: "cannot create the test-token folder",
            source: e,
        })?;
        let _lock = Lock::take(&lock_path(&self.dir, serial), serial)?;
        let path = state_path(&self.dir, serial);
        if path.exists() {
            return Err(TokenError::Exists {
                serial,
                dir: self.dir.clone(),
            });
        }
        write_state(&path, &State::new(serial))?;
        Ok(SoftToken::new(&self.dir, serial))
    }

    /// Opens the token, whether or not its state file is there yet.
    pub fn open_soft(&mut self, serial: u32) -> Result<SoftToken, TokenError> {
        let path = state_path(&self.dir, serial);
        if !path.exists() {
            return Err(TokenError::NotFound(label_for(serial)));
        }
        Ok(SoftToken::new(&self.dir, serial))
    }
}

impl TokenProvider for SoftProvider {
    fn is_test(&self) -> bool {
        true
    }

    fn list(&mut self) -> Result<Vec<TokenSummary>, TokenError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TokenError::NoTestTokens(self.dir.clone()))
            }
            Err(e) => {
                return Err(TokenError::Io {
                    path: self.dir.clone(),
                    action: "cannot list the test-token folder",
                    source: e,
                })
            }
        };
        let mut found: Vec<TokenSummary> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let serial: u32 = name
                    .strip_prefix("token-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some(TokenSummary {
                    serial,
                    label: label_for(serial),
                })
            })
            .collect();
        found.sort_by_key(|t| t.serial);
        if found.is_empty() {
            return Err(TokenError::NoTestTokens(self.dir.clone()));
        }
        Ok(found)
    }

    fn open(&mut self, serial: u32) -> Result<Box<dyn Token>, TokenError> {
        let t = self.open_soft(serial)?;
        Ok(Box::new(t))
    }
}

fn write_state(path: &Path, state: &State) -> Result<(), TokenError> {
    let mut text =
        Zeroizing::new(serde_json::to_string_pretty(state).expect("plain data serialises"));
    text.push('\n');
    crate::atomic_file::write_file(path, text.as_bytes(), true).map_err(|e| TokenError::BadState {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// One opened test token. Its session (PIN verified, last touch) lives in
/// this process, like a YubiKey's lives in one connection.
pub struct SoftToken {
    dir: PathBuf,
    serial: u32,
    pin_verified: bool,
    last_touch: Option<Instant>,
}

impl SoftToken {
    fn new(dir: &Path, serial: u32) -> Self {
        SoftToken {
            dir: dir.to_path_buf(),
            serial,
            pin_verified: false,
            last_touch: None,
        }
    }

    pub fn state_path(&self) -> PathBuf {
        state_path(&self.dir, self.serial)
    }

    /// Runs `f` on the state under the lock; writes it back when `f` says so.
    fn with_state<R>(
        &mut self,
        f: impl FnOnce(&mut State, &mut Self) -> (Result<R, TokenError>, bool),
    ) -> Result<R, TokenError> {
        let _lock = Lock::take(&lock_path(&self.dir, self.serial), self.serial)?;
        let path = self.state_path();
        let mut state = self.read_state(&path)?;
        let (result, dirty) = f(&mut state, self);
        if dirty {
            if !path.exists() {
                return Err(TokenError::Removed(self.label()));
            }
            write_state(&path, &state)?;
        }
        result
    }

    fn read_state(&self, path: &Path) -> Result<State, TokenError> {
        let bytes = match fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TokenError::Removed(self.label()))
            }
            Err(e) => {
                return Err(TokenError::Io {
                    path: path.to_path_buf(),
                    action: "cannot read",
                    source: e,
                })
            }
        };
        let bad = |problem: String| TokenError::BadState {
            path: path.to_path_buf(),
            problem: format!("{problem} (TEST TOKEN)"),
        };
        if bytes.len() as u64 > MAX_STATE_LEN {
            return Err(bad(format!("larger than {MAX_STATE_LEN} bytes")));
        }
        let state: State = serde_json::from_slice(&bytes)
            .map_err(|e| bad(crate::shard::sanitize_serde_message(&e.to_string())))?;
        state.check().map_err(bad)?;
        if state.serial != self.serial {
            return Err(bad(format!(
                "holds serial {}, but the file name says {}",
                state.serial, self.serial
            )));
        }
        Ok(state)
    }

    /// Sets how this token answers touch requests (tests and rehearsals).
    pub fn set_touch_response(&mut self, touch: TouchResponse) -> Result<(), TokenError> {
        self.with_state(|st, _| {
            st.touch = touch;
            (Ok(()), true)
        })
    }

    fn touch(
        &mut self,
        state: &State,
        policy: TouchPolicy,
        events: &mut dyn EventSink,
    ) -> Result<(), TokenError> {
        let needed = match policy {
            TouchPolicy::Never => false,
            TouchPolicy::Always => true,
            TouchPolicy::Cached => self
                .last_touch
                .map(|t| t.elapsed() > TOUCH_CACHE)
                .unwrap_or(true),
        };
        if !needed {
            return Ok(());
        }
        let label = self.label();
        events.emit(Event::TouchNeeded {
            token: label.clone(),
            prompt: TouchPrompt::Now,
        });
        match state.touch {
            TouchResponse::Auto => {
                events.emit(Event::TouchConfirmedAutomatically {
                    token: label.clone(),
                });
                self.last_touch = Some(Instant::now());
                Ok(())
            }
            TouchResponse::Never => Err(TokenError::TouchTimeout(label)),
            TouchResponse::Unplug => {
                events.emit(Event::TokenPulledOut {
                    token: label.clone(),
                });
                let _ = fs::remove_file(self.state_path());
                Err(TokenError::Removed(label))
            }
        }
    }
}

impl Token for SoftToken {
    fn serial(&self) -> u32 {
        self.serial
    }

    fn label(&self) -> String {
        label_for(self.serial)
    }

    fn is_test(&self) -> bool {
        true
    }

    fn version(&mut self) -> Result<String, TokenError> {
        self.with_state(|st, _| (Ok(st.firmware.clone()), false))
    }

    fn pin_tries_left(&mut self) -> Result<u8, TokenError> {
        self.with_state(|st, _| (Ok(st.pin_tries_left), false))
    }

    fn puk_tries_left(&mut self) -> Result<Option<u8>, TokenError> {
        self.with_state(|st, _| (Ok(Some(st.puk_tries_left)), false))
    }

    fn verify_pin(&mut self, pin: &Pin) -> Result<(), TokenError> {
        self.with_state(|st, me| {
            let label = me.label();
            if st.pin_tries_left == 0 {
                return (
                    Err(TokenError::PinBlocked {
                        token: label,
                        serial: Some(me.serial()),
                    }),
                    false,
                );
            }
            if pin.expose() == st.pin.as_bytes() {
                st.pin_tries_left = st.pin_max_tries;
                me.pin_verified = true;
                (Ok(()), true)
            } else {
                st.pin_tries_left -= 1;
                me.pin_verified = false;
                let err = if st.pin_tries_left == 0 {
                    TokenError::PinBlocked {
                        token: label,
                        serial: Some(me.serial()),
                    }
                } else {
                    TokenError::WrongPin {
                        token: label,
                        tries_left: st.pin_tries_left,
                    }
                };
                (Err(err), true)
            }
        })
    }

    fn pin_verified(&self) -> bool {
        self.pin_verified
    }

    fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), TokenError> {
        self.verify_pin(old)?;
        self.with_state(|st, _| {
            st.pin = String::from_utf8_lossy(new.expose()).into_owned();
            (Ok(()), true)
        })
    }

    fn unblock_pin(&mut self, puk: &Pin, new_pin: &Pin) -> Result<(), TokenError> {
        self.with_state(|st, me| {
            let label = me.label();
            if st.puk_tries_left == 0 {
                return (Err(TokenError::PukBlocked(label)), false);
            }
            if puk.expose() == st.puk.as_bytes() {
                st.puk_tries_left = st.puk_max_tries;
                st.pin = String::from_utf8_lossy(new_pin.expose()).into_owned();
                st.pin_tries_left = st.pin_max_tries;
                (Ok(()), true)
            } else {
                st.puk_tries_left -= 1;
                let err = if st.puk_tries_left == 0 {
                    TokenError::PukBlocked(label)
                } else {
                    TokenError::WrongPuk {
                        token: label,
                        tries_left: st.puk_tries_left,
                    }
                };
                (Err(err), true)
            }
        })
    }

    fn slot_keys(&mut self) -> Result<Vec<SlotKey>, TokenError> {
        self.with_state(|st, _| {
            let mut keys: Vec<SlotKey> = st
                .slots
                .iter()
                .map(|s| slot_key(s).expect("checked on read"))
                .collect();
            keys.sort_by_key(|k| k.slot);
            (Ok(keys), false)
        })
    }

    fn generate(
        &mut self,
        slot: Slot,
        pin_policy: PinPolicy,
        touch_policy: TouchPolicy,
        _events: &mut dyn EventSink,
    ) -> Result<SlotKey, TokenError> {
        self.with_state(|st, me| {
            let label = me.label();
            if !me.pin_verified {
                return (Err(TokenError::PinRequired { token: label }), false);
            }
            if st
                .slots
                .iter()
                .any(|s| parse_slot(&s.slot).ok() == Some(slot))
            {
                return (Err(TokenError::SlotOccupied { token: label, slot }), false);
            }
            let sk = SecretKey::random(&mut OsRng);
            let pk = sk.public_key();
            st.slots.push(SlotState {
                slot: slot.to_string(),
                algorithm: "ECCP256".into(),
                private_key: hex::encode(sk.to_bytes()),
                public_key: hex::encode(pk.to_encoded_point(true).as_bytes()),
                pin_policy: pin_policy.name().into(),
                touch_policy: touch_policy.name().into(),
                origin: "generated".into(),
            });
            (
                Ok(SlotKey {
                    slot,
                    public_key: pk,
                    pin_policy: Some(pin_policy),
                    touch_policy: Some(touch_policy),
                }),
                true,
            )
        })
    }

    fn ecdh(
        &mut self,
        key: &SlotKey,
        peer: &PublicKey,
        events: &mut dyn EventSink,
    ) -> Result<Zeroizing<[u8; 32]>, TokenError> {
        // First look: policies and the touch, as the card checks them.
        let (pin_policy, touch_policy) = self.with_state(|st, me| {
            let found = st
                .slots
                .iter()
                .find(|s| parse_slot(&s.slot).ok() == Some(key.slot));
            match found {
                None => (
                    Err(TokenError::SlotEmpty {
                        token: me.label(),
                        serial: me.serial(),
                        slot: key.slot,
                    }),
                    false,
                ),
                Some(s) => {
                    let k = slot_key(s).expect("checked on read");
                    (
                        Ok((
                            k.pin_policy.expect("soft tokens know"),
                            k.touch_policy.expect("soft tokens know"),
                        )),
                        false,
                    )
                }
            }
        })?;
        if pin_policy != PinPolicy::Never && !self.pin_verified {
            return Err(TokenError::PinRequired {
                token: self.label(),
            });
        }
        {
            let _lock = Lock::take(&lock_path(&self.dir, self.serial), self.serial)?;
            let state = self.read_state(&self.state_path())?;
            self.touch(&state, touch_policy, events)?;
        }
        // Second look, after the touch: the token may be gone by now.
        let shared = self.with_state(|st, me| {
            let s = match st
                .slots
                .iter()
                .find(|s| parse_slot(&s.slot).ok() == Some(key.slot))
            {
                Some(s) => s,
                None => {
                    return (
                        Err(TokenError::SlotEmpty {
                            token: me.label(),
                            serial: me.serial(),
                            slot: key.slot,
                        }),
                        false,
                    )
                }
            };
            let sk = secret_of(s).expect("checked on read");
            let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
            let mut x = Zeroizing::new([0u8; 32]);
            x.copy_from_slice(shared.raw_secret_bytes());
            (Ok(x), false)
        })?;
        if pin_policy == PinPolicy::Always {
            self.pin_verified = false;
        }
        Ok(shared)
    }

    fn attest(&mut self, _slot: Slot) -> Result<Option<Vec<u8>>, TokenError> {
        // A test token has no Yubico attestation key; saying so is honest.
        Ok(None)
    }
}

/// Writes a test token with a given slot key (for fixed test vectors).
#[doc(hidden)]
pub fn write_fixed_token(
    dir: &Path,
    serial: u32,
    slot: Slot,
    secret: &SecretKey,
    pin_policy: PinPolicy,
    touch_policy: TouchPolicy,
) -> Result<PathBuf, TokenError> {
    let mut st = State::new(serial);
    st.slots.push(SlotState {
        slot: slot.to_string(),
        algorithm: "ECCP256".into(),
        private_key: hex::encode(secret.to_bytes()),
        public_key: hex::encode(secret.public_key().to_encoded_point(true).as_bytes()),
        pin_policy: pin_policy.name().into(),
        touch_policy: touch_policy.name().into(),
        origin: "imported".into(),
    });
    let path = state_path(dir, serial);
    write_state(&path, &st)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps every event as the line it prints.
    struct Quiet(Vec<String>);
    impl EventSink for Quiet {
        fn emit(&mut self, event: Event) {
            self.0.push(event.to_string());
        }
    }

    fn pin(s: &str) -> Pin {
        Pin::from_pin_text(Zeroizing::new(s.into())).unwrap()
    }

    #[test]
    fn pin_counter_blocks_and_puk_unblocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = SoftProvider::new(dir.path());
        let mut t = p.create(10000001).unwrap();
        assert_eq!(t.pin_tries_left().unwrap(), 3);
        match t.verify_pin(&pin("000000")) {
            Err(TokenError::WrongPin {
                tries_left: 2,
                token,
            }) => {
                assert!(token.contains("TEST TOKEN"))
            }
            other => panic!("{other:?}"),
        }
        // A right PIN restores the counter.
        t.verify_pin(&pin(DEFAULT_PIN)).unwrap();
        assert_eq!(t.pin_tries_left().unwrap(), 3);
        for left in [2u8, 1] {
            assert!(matches!(t.verify_pin(&pin("000000")),
                Err(TokenError::WrongPin { tries_left, .. }) if tries_left == left));
        }
        assert!(matches!(
            t.verify_pin(&pin("000000")),
            Err(TokenError::PinBlocked { .. })
        ));
        // Blocked: even the right PIN is refused, from another "process" too.
        let mut other = SoftProvider::new(dir.path()).open_soft(10000001).unwrap();
        assert!(matches!(
            other.verify_pin(&pin(DEFAULT_PIN)),
            Err(TokenError::PinBlocked { .. })
        ));
        assert!(matches!(
            other.unblock_pin(&pin("87654321"), &pin("24682468")),
            Err(TokenError::WrongPuk { tries_left: 2, .. })
        ));
        other
            .unblock_pin(&pin(DEFAULT_PUK), &pin("24682468"))
            .unwrap();
        assert_eq!(t.pin_tries_left().unwrap(), 3);
        t.verify_pin(&pin("24682468")).unwrap();
    }

    #[test]
    fn ecdh_follows_policies_and_notices_removal() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = SoftProvider::new(dir.path());
        let mut t = p.create(10000002).unwrap();
        let mut c = Quiet(Vec::new());
        let slot = Slot::new(0x82).unwrap();
        assert!(matches!(
            t.generate(slot, PinPolicy::Once, TouchPolicy::Always, &mut c),
            Err(TokenError::PinRequired { .. })
        ));
        t.verify_pin(&pin(DEFAULT_PIN)).unwrap();
        let key = t
            .generate(slot, PinPolicy::Once, TouchPolicy::Always, &mut c)
            .unwrap();
        let peer = SecretKey::random(&mut OsRng);
        let x = t.ecdh(&key, &peer.public_key(), &mut c).unwrap();
        let expect =
            p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), key.public_key.as_affine());
        assert_eq!(&x[..], &expect.raw_secret_bytes()[..]);
        assert!(c.0.iter().any(|l| l.contains("touch your YubiKey now")));
        assert!(c.0.iter().all(|l| l.contains("TEST TOKEN")));
        // PIN policy "once": a new session needs the PIN again.
        let mut fresh = SoftProvider::new(dir.path()).open_soft(10000002).unwrap();
        assert!(matches!(
            fresh.ecdh(&key, &peer.public_key(), &mut c),
            Err(TokenError::PinRequired { .. })
        ));
        // A touch that never comes.
        t.set_touch_response(TouchResponse::Never).unwrap();
        assert!(matches!(
            t.ecdh(&key, &peer.public_key(), &mut c),
            Err(TokenError::TouchTimeout(_))
        ));
        // Pulled out mid-operation: the state file disappears.
        fs::remove_file(t.state_path()).unwrap();
        assert!(matches!(
            t.ecdh(&key, &peer.public_key(), &mut c),
            Err(TokenError::Removed(_))
        ));
    }

    #[test]
    fn concurrent_users_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = SoftProvider::new(dir.path());
        let t = p.create(10000003).unwrap();
        let path = t.state_path();
        let mut v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        v["pin_max_tries"] = 50.into();
        v["pin_tries_left"] = 50.into();
        fs::write(&path, v.to_string()).unwrap();
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    // Each thread opens its own handle, as another process would.
                    let mut t = SoftProvider::new(&d).open_soft(10000003).unwrap();
                    assert!(matches!(
                        t.verify_pin(&pin("000000")),
                        Err(TokenError::WrongPin { .. })
                    ));
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let mut t = SoftProvider::new(dir.path()).open_soft(10000003).unwrap();
        assert_eq!(t.pin_tries_left().unwrap(), 30);
    }
}
