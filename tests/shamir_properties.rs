//! Properties of the sharing that a custodian relies on, over random keys,
//! thresholds, subsets and corruptions:
//!
//! 1. any t shares (any subset, any order, and any larger set) reconstruct
//!    the key;
//! 2. any t-1 shares are consistent with every candidate key: for random
//!    t-1 shares and a random candidate k', a polynomial of degree t-1
//!    passes through them with constant term k' (so the Shamir shares alone
//!    say nothing about the key; the Feldman commitments, by design, reveal
//!    k·G and so tell the true completion from the others);
//! 3. a single corrupted share among more than t is identified, by the
//!    commitment check and by the set analysis of `verify`/`assemble`,
//!    which name exactly that input and still reconstruct from the rest;
//! 4. shards forged under the ceremony's id never win by number: without the
//!    record the set is refused as forgery, with it exactly they are named.
//!
//! Randomness comes from the proptest seed (a SHA-256 counter stream), so
//! a failing case replays. Case counts are small: our crate is built without
//! optimisation in tests.

use std::path::PathBuf;

use keyceremony::console::ScriptedConsole;
use keyceremony::events::Event;
use keyceremony::inputs::{self, InputOptions, Item, Loaded};
use keyceremony::record::{self, CeremonyId, CeremonyInfo, CeremonyRecord};
use keyceremony::recovery::{self, SetConflict};
use keyceremony::secret::RootKey;
use keyceremony::shamir::{self, Share, ShareId, SplitParams};
use keyceremony::shard::ShardFile;
use p256::elliptic_curve::{Field, PrimeField};
use p256::Scalar;
use proptest::prelude::*;
use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// A deterministic stream for the tests (not for keys: only its
/// reproducibility matters here).
struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRng {
    fn new(seed: [u8; 32]) -> Self {
        SeededRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn scalar(&mut self) -> Scalar {
        // Rejection sampling: uniform below n, never zero.
        loop {
            let mut b = [0u8; 32];
            self.fill_bytes(&mut b);
            let s: Option<Scalar> = Scalar::from_repr(b.into()).into();
            if let Some(s) = s.filter(|s| !bool::from(s.is_zero())) {
                return s;
            }
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `k` distinct indices of 0..n in random order.
    fn pick(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_le_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *d = self.block[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for SeededRng {}

fn key_of(s: &Scalar) -> RootKey {
    RootKey::from_scalar(s).expect("a non-zero scalar")
}

fn scalar_of(share: &Share) -> Scalar {
    Option::from(Scalar::from_repr((*share.expose_value()).into())).expect("a share is below n")
}

fn x_of(id: ShareId) -> Scalar {
    Scalar::from(id.get() as u64)
}

/// The value at `x` of the polynomial of degree < points.len() through `points`
/// (Lagrange, computed here independently of vsss-rs).
fn interpolate(points: &[(Scalar, Scalar)], x: Scalar) -> Scalar {
    let mut sum = Scalar::ZERO;
    for (i, (xi, yi)) in points.iter().enumerate() {
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for (m, (xm, _)) in points.iter().enumerate() {
            if m != i {
                num *= x - xm;
                den *= *xi - xm;
            }
        }
        sum += *yi * num * den.invert().expect("distinct x");
    }
    sum
}

/// Threshold and share count: 2 <= t <= n <= 7.
fn params() -> impl Strategy<Value = (u16, u16)> {
    (2u16..=5).prop_flat_map(|t| (Just(t), t..=7))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// 1. Every set of at least t distinct shares, in any order, gives the key.
    #[test]
    fn any_t_or_more_shares_reconstruct((t, n) in params(), seed in any::<[u8; 32]>(), more in 0usize..3) {
        let mut rng = SeededRng::new(seed);
        let key = key_of(&rng.scalar());
        let p = SplitParams::new(t, n).unwrap();
        let (shares, c) = shamir::split(&key, p, &mut rng);
        let k = (t as usize + more).min(n as usize);
        let subset: Vec<Share> = rng.pick(n as usize, k).into_iter().map(|i| shares[i].clone()).collect();
        prop_assert!(shamir::combine(&subset).unwrap() == key);
        prop_assert!(shamir::combine_checked(&subset, &c).unwrap() == key);
    }

    /// 2. Any t-1 shares fit every candidate key equally: for a random
    /// candidate k', the polynomial through (0, k') and the t-1 shares exists,
    /// and the share it gives at a missing id completes the t-1 real shares
    /// to a set that reconstructs k' (with the library's own combine).
    #[test]
    fn t_minus_one_shares_are_consistent_with_every_candidate_key((t, n) in params(), seed in any::<[u8; 32]>()) {
        let mut rng = SeededRng::new(seed);
        let key = key_of(&rng.scalar());
        let (shares, c) = shamir::split(&key, SplitParams::new(t, n).unwrap(), &mut rng);
        let order = rng.pick(n as usize, n as usize);
        let few: Vec<Share> = order[..t as usize - 1].iter().map(|&i| shares[i].clone()).collect();
        // A missing id: one of this split's other shares, or an id beyond n.
        let missing = if rng.below(2) == 0 {
            shares[order[t as usize - 1]].id()
        } else {
            ShareId::new(n + 1 + rng.below(255 - n as usize) as u16).unwrap()
        };
        let candidate = rng.scalar();
        let mut points = vec![(Scalar::ZERO, candidate)];
        points.extend(few.iter().map(|s| (x_of(s.id()), scalar_of(s))));
        // The polynomial really passes through every given point ...
        for (x, y) in &points {
            prop_assert_eq!(interpolate(&points, *x), *y);
        }
        // ... and completes the real shares to the candidate key.
        let y = interpolate(&points, x_of(missing));
        prop_assume!(!bool::from(y.is_zero()));
        let completion = Share::new(missing, &y.to_repr()).unwrap();
        let mut set = few.clone();
        set.push(completion.clone());
        prop_assert!(shamir::combine(&set).unwrap() == key_of(&candidate));
        // The commitments publish k·G, so only the true completion passes them.
        prop_assert_eq!(c.verify(&completion).is_ok(), key_of(&candidate) == key);
        // t-1 shares alone are too few for the checked path.
        prop_assert!(shamir::combine_checked(&few, &c).is_err());
    }

    /// 3. One corrupted share among m > t: the commitment check fails for it
    /// and only it; `verify`/`assemble`'s set analysis (files loaded as the
    /// commands load them) rejects exactly that file, and assembles the key
    /// from the others.
    #[test]
    fn a_single_corrupted_share_among_more_than_t_is_identified(
        (t, n) in (2u16..=4).prop_flat_map(|t| (Just(t), (t + 1)..=6)),
        seed in any::<[u8; 32]>(),
        how in 0u8..3,
    ) {
        let mut rng = SeededRng::new(seed);
        let key = key_of(&rng.scalar());
        let p = SplitParams::new(t, n).unwrap();
        let (shares, c) = shamir::split(&key, p, &mut rng);
        let m = t as usize + 1 + rng.below((n - t) as usize);
        let chosen = rng.pick(n as usize, m);
        let bad = rng.below(m);
        let mut set: Vec<Share> = chosen.iter().map(|&i| shares[i].clone()).collect();
        let original = set[bad].clone();
        set[bad] = match how {
            // another value, as a misread or altered value would be
            0 => Share::new(original.id(), &rng.scalar().to_repr()).unwrap(),
            // the value shifted by a small amount (a near miss)
            1 => Share::new(original.id(), &(scalar_of(&original) + Scalar::from(1 + rng.below(1000) as u64)).to_repr()).unwrap(),
            // the right value under another id of the split, unused in this set
            _ => {
                let unused: Vec<ShareId> = (1..=n)
                    .map(|i| ShareId::new(i).unwrap())
                    .filter(|id| !set.iter().any(|s| s.id() == *id))
                    .collect();
                let id = if unused.is_empty() { ShareId::new(n + 1).unwrap() } else { unused[rng.below(unused.len())] };
                Share::new(id, original.expose_value()).unwrap()
            }
        };
        prop_assume!(set[bad] != original);

        // By the commitment check: exactly the corrupted share fails.
        let failing: Vec<usize> = (0..m).filter(|&i| c.verify(&set[i]).is_err()).collect();
        prop_assert_eq!(failing, vec![bad]);
        prop_assert!(shamir::combine_checked(&set, &c).is_err());

        // By the set analysis, on shard files with consistent checksums.
        let dir = tempfile::tempdir().unwrap();
        let info = CeremonyInfo {
            ceremony_id: CeremonyId::generate(),
            label: "property test".into(),
            params: p,
            fingerprint: c.fingerprint(),
            commitments: c.clone(),
            created: record::now_rfc3339(),
        };
        let paths: Vec<PathBuf> = set
            .iter()
            .enumerate()
            .map(|(i, share)| {
                let shard = ShardFile { info: info.clone(), share: share.clone(), custodian: None };
                let path = dir.path().join(format!("input-{i}.json"));
                std::fs::write(&path, shard.to_json().as_bytes()).unwrap();
                path
            })
            .collect();
        // Shard files need no token: a console that is never asked, events discarded.
        let mut unsealer = InputOptions::default().unsealer();
        let mut console = ScriptedConsole::new();
        let mut events: Vec<Event> = Vec::new();
        let (items, failures) = inputs::load_all(&paths, &mut unsealer, &mut console, &mut events);
        let analysis = recovery::analyse(items, failures);
        let named: Vec<&str> = analysis.rejected.iter().map(|r| r.source.as_str()).collect();
        let bad_path = paths[bad].display().to_string();
        prop_assert_eq!(named, vec![bad_path.as_str()]);
        // An id beyond n is refused as such; any other change fails the commitments.
        let why = if set[bad].id().get() as u16 > n { "out of range" } else { "commitments" };
        prop_assert!(analysis.rejected[0].reason.to_string().contains(why), "{}", analysis.rejected[0].reason);
        prop_assert!(analysis.foreign.is_empty() && analysis.duplicates.is_empty() && analysis.conflict.is_none());
        prop_assert_eq!(analysis.accepted.len(), m - 1);
        prop_assert!(analysis.accepted.iter().all(|a| a.source != bad_path));
        prop_assert!(analysis.assemble().unwrap() == key);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// 4. Shards of one ceremony id from two splits (another key, as a
    /// forger makes them: self-consistent, the real id): whatever the
    /// sizes of the two groups, without the record the set is refused as
    /// forgery and no key comes out; with the record exactly the forged
    /// shards are rejected and the honest ones alone are used.
    #[test]
    fn forged_shards_of_the_ceremony_id_never_win_by_number(
        (t, n) in params(),
        seed in any::<[u8; 32]>(),
    ) {
        let mut rng = SeededRng::new(seed);
        let key = key_of(&rng.scalar());
        let other = key_of(&rng.scalar());
        let p = SplitParams::new(t, n).unwrap();
        let (honest, c) = shamir::split(&key, p, &mut rng);
        let (forged, fc) = shamir::split(&other, p, &mut rng);
        let info = CeremonyInfo {
            ceremony_id: CeremonyId::generate(),
            label: "property test".into(),
            params: p,
            fingerprint: c.fingerprint(),
            commitments: c.clone(),
            created: record::now_rfc3339(),
        };
        let forged_info = CeremonyInfo {
            fingerprint: fc.fingerprint(),
            commitments: fc.clone(),
            ..info.clone()
        };
        // Each id once, from one split or the other, at least one of each.
        let order = rng.pick(n as usize, n as usize);
        let cut = 1 + rng.below(n as usize - 1);
        let is_forged = |i: usize| order[..cut].contains(&i);
        let loaded = |with_record: bool| -> Vec<Loaded> {
            let mut v: Vec<Loaded> = (0..n as usize)
                .map(|i| {
                    let (info, share) = if is_forged(i) {
                        (forged_info.clone(), forged[i].clone())
                    } else {
                        (info.clone(), honest[i].clone())
                    };
                    Loaded {
                        source: format!("shard-{}", i + 1),
                        item: Item::Shard(Box::new(ShardFile { info, share, custodian: None })),
                        sealed: None,
                    }
                })
                .collect();
            if with_record {
                v.push(Loaded {
                    source: "ceremony.json".into(),
                    item: Item::Record(Box::new(CeremonyRecord {
                        info: info.clone(),
                        custodians: Vec::new(),
                        ceremony_public_key: None,
                        secret: None,
                        supersedes: None,
                    })),
                    sealed: None,
                });
            }
            v
        };

        let without = recovery::analyse(loaded(false), Vec::new());
        match &without.conflict {
            Some(SetConflict::Forged { groups, .. }) => {
                prop_assert_eq!(groups.len(), 2);
                for g in groups {
                    let forged_group = g.fingerprint == fc.fingerprint();
                    prop_assert!(g.fingerprint == c.fingerprint() || forged_group);
                    for s in &g.sources {
                        let i: usize = s["shard-".len()..].parse::<usize>().unwrap() - 1;
                        prop_assert_eq!(is_forged(i), forged_group);
                    }
                }
            }
            other => prop_assert!(false, "not refused as forgery: {:?}", other),
        }
        prop_assert!(without.reference.is_none() && without.assemble().is_err());

        let with = recovery::analyse(loaded(true), Vec::new());
        prop_assert!(with.conflict.is_none());
        let mut rejected: Vec<&str> = with.rejected.iter().map(|r| r.source.as_str()).collect();
        rejected.sort();
        let mut expect: Vec<String> = (0..n as usize).filter(|&i| is_forged(i)).map(|i| format!("shard-{}", i + 1)).collect();
        expect.sort();
        prop_assert_eq!(rejected, expect.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert!(with.rejected.iter().all(|r| r.reason.to_string().contains("FORGED")));
        prop_assert_eq!(with.accepted.len(), n as usize - cut);
        match with.assemble() {
            Ok(k) => prop_assert!(n as usize - cut >= t as usize && k == key),
            Err(_) => prop_assert!((n as usize - cut) < t as usize),
        }
    }
}
