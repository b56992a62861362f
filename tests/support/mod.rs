//! Shared by the QR tests and the QR benchmark: deterministic shards.
#![allow(dead_code)]

use keyceremony::record::{CeremonyId, CeremonyInfo};
use keyceremony::secret::RootKey;
use keyceremony::shamir::{split, SplitParams};
use keyceremony::shard::ShardFile;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

pub mod degrade;

/// A counter-mode SHA-256 stream: the same seed gives the same shares.
/// For tests only; never for a real ceremony.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
    buf: Vec<u8>,
}

impl TestRng {
    pub fn new(seed: &str) -> Self {
        TestRng {
            seed: Sha256::digest(seed.as_bytes()).into(),
            counter: 0,
            buf: Vec::new(),
        }
    }
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest.iter_mut() {
            if self.buf.is_empty() {
                let mut h = Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_be_bytes());
                self.counter += 1;
                self.buf = h.finalize().to_vec();
            }
            *d = self.buf.pop().expect("refilled");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// All n shards of a deterministic t-of-n split named by `seed`.
pub fn shard_set(seed: &str, t: u16, n: u16) -> Vec<ShardFile> {
    let mut rng = TestRng::new(seed);
    let mut key_bytes = [0u8; 32];
    let key = loop {
        rng.fill_bytes(&mut key_bytes);
        if let Ok(k) = RootKey::from_bytes(&key_bytes) {
            break k;
        }
    };
    let params = SplitParams::new(t, n).unwrap();
    let (shares, commitments) = split(&key, params, &mut rng);
    let info = CeremonyInfo {
        ceremony_id: CeremonyId::parse("KC-7Q2M-X9RD-4HKT").unwrap(),
        label: "Root CA 2026".into(),
        params,
        fingerprint: commitments.fingerprint(),
        commitments,
        created: "2026-11-26T10:24:57Z".into(),
    };
    shares
        .into_iter()
        .enumerate()
        .map(|(i, share)| ShardFile {
            info: info.clone(),
            share,
            custodian: Some(format!("Custodian {}", i + 1)),
        })
        .collect()
}
