//! The root key: a P-256 scalar, kept in locked, zeroized memory, never shown.
//!
//! Process hardening (no core dumps, memory locking) lives here as well, since
//! it exists only for the sake of the secrets.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::{Field, PrimeField};
use p256::{ProjectivePoint, Scalar};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Length of a root key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a byte string is not a usable root key. Never carries the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a root key is 32 bytes (64 hex characters); this one is {0} bytes")]
    WrongLength(usize),
    #[error(
        "a root key is written as 64 hexadecimal characters; this one has a non-hex character"
    )]
    NotHex,
    #[error("the key is zero, which is not a valid P-256 scalar")]
    Zero,
    #[error("the key is not below the P-256 group order n, so it is not a valid P-256 scalar")]
    NotBelowOrder,
}

/// Fixed-size secret bytes in heap memory that is locked against swapping
/// (best effort, through the process-wide page-lock registry, so that
/// secrets sharing a page keep it locked until the last one is dropped) and
/// zeroized on drop. No `Debug`/`Display` shows the bytes.
pub struct SecretBytes<const N: usize> {
    inner: Box<Zeroizing<[u8; N]>>,
    locked: bool,
}

impl<const N: usize> SecretBytes<N> {
    pub fn zeroed() -> Self {
        let inner = Box::new(Zeroizing::new([0u8; N]));
        let locked = lock_memory(inner.as_ptr(), N);
        SecretBytes { inner, locked }
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != N {
            return None;
        }
        let mut s = Self::zeroed();
        s.inner.copy_from_slice(bytes);
        Some(s)
    }

    pub fn expose(&self) -> &[u8; N] {
        &self.inner
    }

    pub fn expose_mut(&mut self) -> &mut [u8; N] {
        &mut self.inner
    }
}

impl<const N: usize> Clone for SecretBytes<N> {
    fn clone(&self) -> Self {
        let mut s = Self::zeroed();
        s.inner.copy_from_slice(&self.inner[..]);
        s
    }
}

impl<const N: usize> Drop for SecretBytes<N> {
    fn drop(&mut self) {
        self.inner.zeroize();
        if self.locked {
            unlock_memory(self.inner.as_ptr(), N);
        }
    }
}

impl<const N: usize> fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes<{N}>(redacted)")
    }
}

/// The 32-byte root key, a P-256 scalar with 0 < k < n.
#[derive(Clone)]
pub struct RootKey {
    bytes: SecretBytes<KEY_LEN>,
}

impl RootKey {
    /// Takes big-endian bytes; refuses anything that is not a scalar in 1..n.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::WrongLength(bytes.len()));
        }
        let key = RootKey {
            bytes: SecretBytes::from_slice(bytes).expect("length checked"),
        };
        key.scalar_checked()?;
        Ok(key)
    }

    /// Parses 64 hex characters (either case), with at most one trailing newline.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let t = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::NotHex);
        }
        if t.len() != 2 * KEY_LEN {
            return Err(KeyError::WrongLength(t.len() / 2));
        }
        let mut buf = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(t, &mut buf[..]).map_err(|_| KeyError::NotHex)?;
        Self::from_bytes(&buf[..])
    }

    /// Fresh key from the operating system's CSPRNG (rejection-sampled into 1..n).
    pub fn generate() -> Self {
        loop {
            // Drawn straight into the key's own locked buffer: no copy to drop.
            let mut bytes = SecretBytes::<KEY_LEN>::zeroed();
            OsRng.fill_bytes(bytes.expose_mut());
            let key = RootKey { bytes };
            if key.scalar_checked().is_ok() {
                return key;
            }
        }
    }

    pub fn from_scalar(s: &Scalar) -> Result<Self, KeyError> {
        let repr = Zeroizing::new(s.to_repr());
        Self::from_bytes(repr.as_slice())
    }

    fn scalar_checked(&self) -> Result<Zeroizing<Scalar>, KeyError> {
        let repr = Zeroizing::new(p256::FieldBytes::clone_from_slice(self.bytes.expose()));
        let s: Option<Scalar> = Scalar::from_repr(*repr).into();
        let s = Zeroizing::new(s.ok_or(KeyError::NotBelowOrder)?);
        if bool::from(s.is_zero()) {
            return Err(KeyError::Zero);
        }
        Ok(s)
    }

    /// The key as a field element, for the sharing arithmetic; wiped when
    /// the returned value is dropped (callers copying it out keep the copy
    /// zeroizing too).
    pub fn scalar(&self) -> Zeroizing<Scalar> {
        self.scalar_checked().expect("validated at construction")
    }

    /// Big-endian bytes. Callers keep them in zeroizing storage.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        self.bytes.expose()
    }

    /// 64 lowercase hex characters, in zeroizing storage.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.expose()))
    }

    /// The public point k·G (the first Feldman commitment).
    pub fn public_point(&self) -> ProjectivePoint {
        ProjectivePoint::GENERATOR * *self.scalar()
    }

    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint::of_public_point(&self.public_point())
    }
}

impl PartialEq for RootKey {
    /// In constant time (`subtle`).
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes)
    }
}

impl<const N: usize> SecretBytes<N> {
    /// Equality in time independent of the contents (`subtle`).
    pub fn ct_eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.expose()[..].ct_eq(&other.expose()[..]))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey(redacted, fingerprint {})", self.fingerprint())
    }
}

/// A short public identifier of a root key.
///
/// Construction: the first 10 bytes of
/// SHA-256("keyceremony/key-fingerprint/v1" || SEC1-compressed(k·G)),
/// as lowercase hex in five groups of four. It is computed from the public
/// point k·G, which every shard already carries as its first Feldman
/// commitment, so it reveals nothing about k that the shards do not already
/// make public (recovering k from k·G is the elliptic-curve discrete log).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; 10]);

impl KeyFingerprint {
    pub const DOMAIN: &'static [u8] = b"keyceremony/key-fingerprint/v1";

    pub fn of_public_point(point: &ProjectivePoint) -> Self {
        let enc = point.to_affine().to_encoded_point(true);
        let mut h = Sha256::new();
        h.update(Self::DOMAIN);
        h.update(enc.as_bytes());
        let d = h.finalize();
        let mut out = [0u8; 10];
        out.copy_from_slice(&d[..10]);
        KeyFingerprint(out)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let compact: String = text.chars().filter(|c| *c != '-').collect();
        if compact.len() != 20
            || !compact
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut out = [0u8; 10];
        hex::decode_to_slice(&compact, &mut out).ok()?;
        let fp = KeyFingerprint(out);
        (fp.to_string() == text).then_some(fp)
    }

    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        for (i, chunk) in h.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(chunk).expect("hex is ascii"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

/// Something about the process that weakens the protection of secrets;
/// keyceremony goes on, and the caller tells the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessWarning {
    /// mlock failed: secret memory may be swapped out.
    MemoryNotLocked(String),
    /// setrlimit(RLIMIT_CORE) failed: a crash may dump memory.
    CoreDumpsOn(String),
    /// prctl(PR_SET_DUMPABLE) failed.
    Dumpable(String),
}

impl fmt::Display for ProcessWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessWarning::MemoryNotLocked(e) => write!(
                f,
                "could not lock secret memory against swapping (mlock: {e}); \
                 continuing. Run on a machine without swap, or raise RLIMIT_MEMLOCK."
            ),
            ProcessWarning::CoreDumpsOn(e) => {
                write!(
                    f,
                    "could not disable core dumps (setrlimit: {e}); continuing."
                )
            }
            ProcessWarning::Dumpable(e) => write!(
                f,
                "could not mark the process non-dumpable (prctl: {e}); continuing."
            ),
        }
    }
}

static MLOCK_FAILED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static MLOCK_TOLD: AtomicBool = AtomicBool::new(false);

/// The first memory-lock failure of this process, once (later calls return
/// nothing): for the caller to tell the person.
pub fn take_process_warnings() -> Vec<ProcessWarning> {
    match MLOCK_FAILED.get() {
        Some(e) if !MLOCK_TOLD.swap(true, Ordering::Relaxed) => {
            vec![ProcessWarning::MemoryNotLocked(e.clone())]
        }
        _ => Vec::new(),
    }
}

/// Which pages hold live secrets, and how many each. Page locks do not
/// stack in the kernel (one `munlock` undoes any number of `mlock`s of the
/// page), and small secrets share pages, so each secret's range is counted
/// here: a page is locked when its first secret arrives and unlocked when
/// its last one leaves.
///
/// Chosen over `mlockall(MCL_CURRENT | MCL_FUTURE)`: that would lock every
/// allocation of the process (Argon2's 64 MiB, bundle buffers, QR images)
/// against the usual 8 MiB `RLIMIT_MEMLOCK`, and then make those allocations
/// fail rather than only leaving a secret unlocked.
#[derive(Debug, Default)]
struct PageLocks {
    /// Page start address -> live secret ranges on it.
    pages: std::collections::BTreeMap<usize, usize>,
}

impl PageLocks {
    fn pages_of(addr: usize, len: usize, page: usize) -> impl Iterator<Item = usize> {
        let first = addr - addr % page;
        let end = addr.saturating_add(len.max(1));
        (first..end).step_by(page)
    }

    /// Counts the range `addr..addr+len`; `lock` is called for each page not
    /// held yet. On a refusal, undoes this call's part and returns false
    /// (the range is then not counted, and must not be released).
    fn acquire(
        &mut self,
        addr: usize,
        len: usize,
        page: usize,
        mut lock: impl FnMut(usize) -> bool,
        mut unlock: impl FnMut(usize),
    ) -> bool {
        let mut done = Vec::new();
        for p in Self::pages_of(addr, len, page) {
            let held = self.pages.get(&p).copied().unwrap_or(0);
            if held == 0 && !lock(p) {
                for q in done {
                    self.release_page(q, &mut unlock);
                }
                return false;
            }
            self.pages.insert(p, held + 1);
            done.push(p);
        }
        true
    }

    /// Uncounts a range counted by [`PageLocks::acquire`]; `unlock` is
    /// called for each page no other secret holds.
    fn release(&mut self, addr: usize, len: usize, page: usize, mut unlock: impl FnMut(usize)) {
        for p in Self::pages_of(addr, len, page) {
            self.release_page(p, &mut unlock);
        }
    }

    fn release_page(&mut self, p: usize, unlock: &mut impl FnMut(usize)) {
        match self.pages.get_mut(&p) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.pages.remove(&p);
                unlock(p);
            }
            None => debug_assert!(false, "page released that was never acquired"),
        }
    }
}

static PAGE_LOCKS: std::sync::Mutex<PageLocks> = std::sync::Mutex::new(PageLocks {
    pages: std::collections::BTreeMap::new(),
});

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
    })
}

fn mlock_page(p: usize) -> bool {
    // SAFETY: `p` is the start of a page that holds part of a live secret
    // allocation; mlock only changes the page's residency.
    let rc = unsafe { libc::mlock(p as *const libc::c_void, page_size()) };
    if rc != 0 {
        let _ = MLOCK_FAILED.set(std::io::Error::last_os_error().to_string());
    }
    rc == 0
}

fn munlock_page(p: usize) {
    // SAFETY: as for mlock_page; the page was locked by it.
    unsafe {
        libc::munlock(p as *const libc::c_void, page_size());
    }
}

/// Locks the pages under `ptr..ptr+len` for as long as the range is held.
fn lock_memory(ptr: *const u8, len: usize) -> bool {
    let mut locks = PAGE_LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    locks.acquire(ptr as usize, len, page_size(), mlock_page, munlock_page)
}

/// Gives back a range locked by [`lock_memory`]; pages under other live
/// secrets stay locked.
fn unlock_memory(ptr: *const u8, len: usize) {
    let mut locks = PAGE_LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    locks.release(ptr as usize, len, page_size(), munlock_page);
}

/// Turns off core dumps and ptrace attachment by unprivileged processes for
/// the life of this process. Where the system refuses, says so in the
/// warnings returned, and goes on.
pub fn harden_process() -> Vec<ProcessWarning> {
    let mut warnings = Vec::new();
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
            warnings.push(ProcessWarning::CoreDumpsOn(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        #[cfg(target_os = "linux")]
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            warnings.push(ProcessWarning::Dumpable(
                std::io::Error::last_os_error().to_string(),
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    const N_HEX: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

    #[test]
    fn accepts_one_and_n_minus_one() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(RootKey::from_bytes(&one).is_ok());
        let mut nm1 = hex::decode(N_HEX).unwrap();
        nm1[31] -= 1;
        assert!(RootKey::from_bytes(&nm1).is_ok());
    }

    #[test]
    fn refuses_zero_n_and_above() {
        assert_eq!(RootKey::from_bytes(&[0u8; 32]).unwrap_err(), KeyError::Zero);
        let n = hex::decode(N_HEX).unwrap();
        assert_eq!(
            RootKey::from_bytes(&n).unwrap_err(),
            KeyError::NotBelowOrder
        );
        assert_eq!(
            RootKey::from_bytes(&[0xff; 32]).unwrap_err(),
            KeyError::NotBelowOrder
        );
    }

    #[test]
    fn hex_parsing_is_strict() {
        let good = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
        assert!(RootKey::from_hex(good).is_ok());
        assert!(RootKey::from_hex(&format!("{good}\n")).is_ok());
        assert!(RootKey::from_hex(&good.to_uppercase()).is_ok());
        assert_eq!(
            RootKey::from_hex(&format!("{good}\n\n")).unwrap_err(),
            KeyError::NotHex
        );
        assert_eq!(
            RootKey::from_hex(&good[..62]).unwrap_err(),
            KeyError::WrongLength(31)
        );
        assert_eq!(
            RootKey::from_hex(&format!(" {}", &good[1..])).unwrap_err(),
            KeyError::NotHex
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let good = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
        let k = RootKey::from_hex(good).unwrap();
        let shown = format!("{k:?}");
        assert!(!shown.contains("0102030405"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn fingerprint_round_trips_and_is_stable() {
        let good = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
        let fp = RootKey::from_hex(good).unwrap().fingerprint();
        let text = fp.to_string();
        assert_eq!(text.len(), 24);
        assert_eq!(KeyFingerprint::parse(&text), Some(fp));
        assert_eq!(KeyFingerprint::parse(&text.replace('-', "")), None);
    }

    /// Whether the kernel holds the page at `addr` locked: the VmFlags of
    /// its mapping in /proc/self/smaps (mlock splits a mapping so that the
    /// locked pages are their own, flagged `lo`).
    fn page_is_locked(addr: usize) -> bool {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = head.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= addr && addr < hi;
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.split_whitespace().any(|f| f == "lo");
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// Two secrets on one page: dropping the first must leave the page
    /// locked for the second (page locks do not stack in the kernel).
    #[test]
    fn a_page_stays_locked_until_its_last_secret_is_gone() {
        let page = page_size();
        let layout = std::alloc::Layout::from_size_align(page, page).unwrap();
        // SAFETY: a non-zero size; freed below with the same layout.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!base.is_null());
        let (a, b) = (base, base.wrapping_add(64));
        if !lock_memory(a, 32) {
            eprintln!("mlock refused here (RLIMIT_MEMLOCK?); the kernel check cannot run");
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(base, layout) };
            return;
        }
        assert!(page_is_locked(a as usize));
        assert!(lock_memory(b, 32));
        unlock_memory(a, 32);
        let still = page_is_locked(b as usize);
        unlock_memory(b, 32);
        let after = page_is_locked(b as usize);
        // SAFETY: allocated above with this layout; no range is held any more.
        unsafe { std::alloc::dealloc(base, layout) };
        assert!(still, "dropping one secret unlocked the page under another");
        assert!(!after, "the page is unlocked once no secret is on it");
    }

    /// The registry's counting, with the system calls recorded instead of made.
    #[test]
    fn page_lock_counts_stack_per_page_and_roll_back_on_refusal() {
        use std::cell::RefCell;
        let locked = RefCell::new(Vec::new());
        let unlocked = RefCell::new(Vec::new());
        let lock = |p: usize| {
            locked.borrow_mut().push(p);
            true
        };
        let unlock = |p: usize| unlocked.borrow_mut().push(p);
        let mut r = PageLocks::default();
        // a secret straddling pages 0x1000 and 0x2000, then one inside 0x2000
        assert!(r.acquire(0x1ff0, 32, 0x1000, lock, unlock));
        assert!(r.acquire(0x2100, 32, 0x1000, lock, unlock));
        assert_eq!(*locked.borrow(), vec![0x1000, 0x2000]);
        r.release(0x1ff0, 32, 0x1000, unlock);
        assert_eq!(
            *unlocked.borrow(),
            vec![0x1000],
            "0x2000 still holds a secret"
        );
        r.release(0x2100, 32, 0x1000, unlock);
        assert_eq!(*unlocked.borrow(), vec![0x1000, 0x2000]);
        assert!(r.pages.is_empty());

        // the second page refused: the first is given back, nothing is counted
        unlocked.borrow_mut().clear();
        let refuse_second = |p: usize| p != 0x6000;
        assert!(!r.acquire(0x5ff0, 32, 0x1000, refuse_second, unlock));
        assert_eq!(*unlocked.borrow(), vec![0x5000]);
        assert!(r.pages.is_empty());
        // a page already held is not locked again, and a refusal elsewhere
        // leaves its count as it was
        assert!(r.acquire(0x5000, 8, 0x1000, lock, unlock));
        assert!(!r.acquire(0x5ff0, 32, 0x1000, refuse_second, unlock));
        assert_eq!(r.pages.get(&0x5000), Some(&1));
        assert_eq!(
            *unlocked.borrow(),
            vec![0x5000],
            "0x5000 kept for its holder"
        );
    }

    #[test]
    fn generated_keys_are_valid_and_distinct() {
        let a = RootKey::generate();
        let b = RootKey::generate();
        assert!(RootKey::from_bytes(a.expose_bytes()).is_ok());
        assert!(a != b);
    }
}
