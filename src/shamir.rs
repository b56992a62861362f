//! t-of-n Shamir sharing over the P-256 scalar field with Feldman
//! commitments (vsss-rs). Pure arithmetic: no files, no terminals.

use std::fmt;

use p256::elliptic_curve::group::GroupEncoding;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::{Field, PrimeField};
use p256::{AffinePoint, ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use vsss_rs::{
    DefaultShare, FeldmanVerifierSet, IdentifierPrimeField, ReadableShareSet, Share as _,
    ShareVerifierGroup,
};
use zeroize::Zeroizing;

use crate::secret::{KeyFingerprint, RootKey, SecretBytes};

type FieldElement = IdentifierPrimeField<Scalar>;
type VShare = DefaultShare<FieldElement, FieldElement>;
type Verifier = ShareVerifierGroup<ProjectivePoint>;

/// Largest number of shares (ids are one byte, 1..=255).
pub const MAX_SHARES: u16 = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    #[error(
        "threshold {threshold} of {shares} is not allowed: need 2 <= threshold <= shares <= 255"
    )]
    BadParameters { threshold: u16, shares: u16 },
    #[error("share id {0} is out of range (ids run from 1 to the number of shares)")]
    BadId(u16),
    #[error("share value is zero, which no honest split produces")]
    ZeroValue,
    #[error("share value is not below the P-256 group order n")]
    ValueNotBelowOrder,
    #[error("share value must be 32 bytes, found {0}")]
    ValueLength(usize),
    #[error("commitment {index} is not a valid compressed P-256 point")]
    BadCommitment { index: usize },
    #[error("commitment {index} is the point at infinity")]
    IdentityCommitment { index: usize },
    #[error("expected {expected} commitments (one per threshold), found {found}")]
    CommitmentCount { expected: usize, found: usize },
    #[error("the share does not match the ceremony's Feldman commitments: the value or the id has been altered, or the share belongs to another split")]
    CommitmentMismatch,
    #[error("two shares carry the same id {0}")]
    DuplicateId(u8),
    #[error("need at least {needed} shares, have {have}")]
    NotEnoughShares { needed: usize, have: usize },
    #[error("the reconstructed key does not match the commitments")]
    WrongKey,
}

/// Threshold t and number of shares n, with 2 <= t <= n <= 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitParams {
    threshold: u8,
    shares: u8,
}

impl SplitParams {
    pub fn new(threshold: u16, shares: u16) -> Result<Self, ShamirError> {
        if threshold < 2 || threshold > shares || shares > MAX_SHARES {
            return Err(ShamirError::BadParameters { threshold, shares });
        }
        Ok(SplitParams {
            threshold: threshold as u8,
            shares: shares as u8,
        })
    }
    pub fn threshold(&self) -> u8 {
        self.threshold
    }
    pub fn shares(&self) -> u8 {
        self.shares
    }
}

/// A share id, 1..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareId(u8);

impl ShareId {
    pub fn new(id: u16) -> Result<Self, ShamirError> {
        if id == 0 || id > MAX_SHARES {
            return Err(ShamirError::BadId(id));
        }
        Ok(ShareId(id as u8))
    }
    pub fn get(&self) -> u8 {
        self.0
    }
    fn element(&self) -> FieldElement {
        IdentifierPrimeField(Scalar::from(self.0 as u64))
    }
}

impl fmt::Display for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One share: an id and a secret value, a non-zero scalar below n.
#[derive(Clone)]
pub struct Share {
    id: ShareId,
    value: SecretBytes<32>,
}

impl Share {
    pub fn new(id: ShareId, value: &[u8]) -> Result<Self, ShamirError> {
        if value.len() != 32 {
            return Err(ShamirError::ValueLength(value.len()));
        }
        let s = Zeroizing::new(scalar_from_bytes(value).ok_or(ShamirError::ValueNotBelowOrder)?);
        if bool::from(s.is_zero()) {
            return Err(ShamirError::ZeroValue);
        }
        Ok(Share {
            id,
            value: SecretBytes::from_slice(value).expect("length checked"),
        })
    }
    pub fn id(&self) -> ShareId {
        self.id
    }
    /// The 32-byte big-endian value. Secret: callers keep copies zeroizing.
    pub fn expose_value(&self) -> &[u8; 32] {
        self.value.expose()
    }
    /// Lowercase hex of the value, in zeroizing storage.
    pub fn value_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.value.expose()))
    }
    /// The share as vsss-rs takes it, wiped when dropped.
    fn to_vsss(&self) -> Zeroizing<VShare> {
        let s = Zeroizing::new(
            scalar_from_bytes(self.value.expose()).expect("validated at construction"),
        );
        Zeroizing::new(VShare::with_identifier_and_value(
            self.id.element(),
            IdentifierPrimeField(*s),
        ))
    }
}

impl PartialEq for Share {
    /// The values are compared in constant time (`subtle`).
    fn eq(&self, other: &Self) -> bool {
        self.value.ct_eq(&other.value) && self.id == other.id
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Share {{ id: {}, value: redacted }}", self.id)
    }
}

/// The scalar of 32 big-endian bytes; secret when the bytes are, so the
/// caller keeps the result zeroizing (the copy of the bytes made here is wiped).
fn scalar_from_bytes(bytes: &[u8]) -> Option<Scalar> {
    let repr = Zeroizing::new(p256::FieldBytes::clone_from_slice(bytes));
    Scalar::from_repr(*repr).into()
}

/// Feldman commitments C_j = a_j·G for the polynomial's coefficients a_0..a_(t-1);
/// C_0 = k·G is the key's public point. Public.
#[derive(Clone, PartialEq, Eq)]
pub struct Commitments(Vec<ProjectivePoint>);

impl Commitments {
    /// Parses SEC1-compressed points (33 bytes each), refusing the identity.
    pub fn from_compressed(points: &[Vec<u8>]) -> Result<Self, ShamirError> {
        let mut out = Vec::with_capacity(points.len());
        for (index, bytes) in points.iter().enumerate() {
            if bytes.len() != 33 || !(bytes[0] == 2 || bytes[0] == 3) {
                return Err(ShamirError::BadCommitment { index });
            }
            let mut enc = <AffinePoint as GroupEncoding>::Repr::default();
            enc.copy_from_slice(bytes);
            let p: Option<AffinePoint> = AffinePoint::from_bytes(&enc).into();
            let p = p.ok_or(ShamirError::BadCommitment { index })?;
            let p = ProjectivePoint::from(p);
            if p == ProjectivePoint::IDENTITY {
                return Err(ShamirError::IdentityCommitment { index });
            }
            out.push(p);
        }
        if out.len() < 2 {
            return Err(ShamirError::CommitmentCount {
                expected: 2,
                found: out.len(),
            });
        }
        Ok(Commitments(out))
    }

    /// Each point SEC1-compressed, 33 bytes.
    pub fn to_compressed(&self) -> Vec<[u8; 33]> {
        self.0
            .iter()
            .map(|p| {
                let enc = p.to_affine().to_encoded_point(true);
                let mut out = [0u8; 33];
                out.copy_from_slice(enc.as_bytes());
                out
            })
            .collect()
    }

    /// The threshold these commitments describe (one per coefficient).
    pub fn threshold(&self) -> usize {
        self.0.len()
    }

    /// k·G, the key's public point.
    pub fn public_point(&self) -> ProjectivePoint {
        self.0[0]
    }

    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint::of_public_point(&self.0[0])
    }

    fn verifier_set(&self) -> Vec<Verifier> {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.push(ShareVerifierGroup::from(ProjectivePoint::GENERATOR));
        v.extend(self.0.iter().map(|p| ShareVerifierGroup::from(*p)));
        v
    }

    /// Checks one share against the commitments: value·G == Σ C_j·id^j.
    pub fn verify(&self, share: &Share) -> Result<(), ShamirError> {
        let set = self.verifier_set();
        <Vec<Verifier> as FeldmanVerifierSet<VShare, Verifier>>::verify_share(
            &set,
            &share.to_vsss(),
        )
        .map_err(|_| ShamirError::CommitmentMismatch)
    }
}

impl fmt::Debug for Commitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hexes: Vec<String> = self.to_compressed().iter().map(hex::encode).collect();
        f.debug_tuple("Commitments").field(&hexes).finish()
    }
}

/// Splits the key t-of-n with ids 1..=n. Every share is checked against the
/// commitments before it is returned.
///
/// The polynomial is built here rather than by vsss-rs, whose splitting
/// keeps the coefficients (the key among them) in a vector it frees without
/// wiping; here they live in a Zeroizing vector that never reallocates.
/// vsss-rs still checks every share against the commitments.
pub fn split(
    key: &RootKey,
    params: SplitParams,
    mut rng: impl RngCore + CryptoRng,
) -> (Vec<Share>, Commitments) {
    let t = params.threshold as usize;
    loop {
        // a_0 = k, then t-1 random non-zero coefficients (a zero a_(t-1)
        // would lower the threshold).
        let mut coefficients: Zeroizing<Vec<Scalar>> = Zeroizing::new(Vec::with_capacity(t));
        coefficients.push(*key.scalar());
        while coefficients.len() < t {
            let c = Zeroizing::new(Scalar::random(&mut rng));
            if !bool::from(c.is_zero()) {
                coefficients.push(*c);
            }
        }
        let commitments = Commitments(
            coefficients
                .iter()
                .map(|a| ProjectivePoint::GENERATOR * a)
                .collect(),
        );
        let mut shares = Vec::with_capacity(params.shares as usize);
        for id in 1..=params.shares as u16 {
            let id = ShareId::new(id).expect("1..=255");
            let x = id.element().0;
            // Horner's rule: (((a_(t-1))x + a_(t-2))x + ...)x + a_0
            let mut y = Zeroizing::new(Scalar::ZERO);
            for a in coefficients.iter().rev() {
                *y = *y * x + a;
            }
            let bytes = Zeroizing::new(y.to_repr());
            // A zero share value has probability ~n/2^256: draw again
            // rather than hand it out.
            match Share::new(id, bytes.as_slice()) {
                Ok(share) => shares.push(share),
                Err(_) => break,
            }
        }
        if shares.len() != params.shares as usize {
            continue;
        }
        debug_assert_eq!(commitments.public_point(), key.public_point());
        for s in &shares {
            commitments
                .verify(s)
                .expect("a fresh share matches its commitments");
        }
        return (shares, commitments);
    }
}

/// Lagrange interpolation at zero over shares with distinct ids.
/// Does not check the result; see [`combine_checked`].
pub fn combine(shares: &[Share]) -> Result<RootKey, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::NotEnoughShares {
            needed: 2,
            have: shares.len(),
        });
    }
    let mut seen = [false; 256];
    for s in shares {
        if std::mem::replace(&mut seen[s.id.0 as usize], true) {
            return Err(ShamirError::DuplicateId(s.id.0));
        }
    }
    let vshares: Zeroizing<Vec<VShare>> =
        Zeroizing::new(shares.iter().map(|s| *s.to_vsss()).collect());
    let secret = Zeroizing::new(vshares.combine().map_err(|_| ShamirError::WrongKey)?);
    RootKey::from_scalar(&secret.0).map_err(|_| ShamirError::WrongKey)
}

/// The share at `id` on the same polynomial, from at least t shares with
/// distinct ids (Lagrange interpolation at `id`, never at zero: the key is
/// not computed). Each given share is checked against the commitments
/// first, and the new one after: it verifies as every share of the split
/// does. Intermediate scalars are wiped.
pub fn extend(
    shares: &[Share],
    commitments: &Commitments,
    id: ShareId,
) -> Result<Share, ShamirError> {
    let t = commitments.threshold();
    if shares.len() < t {
        return Err(ShamirError::NotEnoughShares {
            needed: t,
            have: shares.len(),
        });
    }
    let used = &shares[..t];
    let mut seen = [false; 256];
    for s in used {
        if std::mem::replace(&mut seen[s.id.0 as usize], true) {
            return Err(ShamirError::DuplicateId(s.id.0));
        }
        commitments.verify(s)?;
    }
    if seen[id.0 as usize] {
        return Err(ShamirError::DuplicateId(id.0));
    }
    let x = Scalar::from(id.0 as u64);
    let mut sum = Zeroizing::new(Scalar::ZERO);
    for (i, si) in used.iter().enumerate() {
        let xi = Scalar::from(si.id.0 as u64);
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for (j, sj) in used.iter().enumerate() {
            if i != j {
                let xj = Scalar::from(sj.id.0 as u64);
                num *= x - xj;
                den *= xi - xj;
            }
        }
        let inv = Option::<Scalar>::from(den.invert()).ok_or(ShamirError::DuplicateId(si.id.0))?;
        let yi = Zeroizing::new(
            scalar_from_bytes(si.value.expose()).expect("validated at construction"),
        );
        *sum += *yi * num * inv;
    }
    let bytes = Zeroizing::new(sum.to_repr());
    let share = Share::new(id, &bytes)?;
    commitments.verify(&share)?;
    Ok(share)
}

/// Reconstructs the key from at least t shares, each checked against the
/// commitments first, and checks the result against C_0 = k·G.
pub fn combine_checked(
    shares: &[Share],
    commitments: &Commitments,
) -> Result<RootKey, ShamirError> {
    let t = commitments.threshold();
    if shares.len() < t {
        return Err(ShamirError::NotEnoughShares {
            needed: t,
            have: shares.len(),
        });
    }
    for s in shares {
        commitments.verify(s)?;
    }
    let key = combine(shares)?;
    if key.public_point() != commitments.public_point() {
        return Err(ShamirError::WrongKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::OsRng;

    fn key_from_seed(seed: [u8; 32]) -> RootKey {
        // Any 32 bytes reduced into 1..n: good enough to drive the property tests.
        let mut b = seed;
        b[0] &= 0x7f;
        if b.iter().all(|x| *x == 0) {
            b[31] = 1;
        }
        RootKey::from_bytes(&b).unwrap()
    }

    #[test]
    fn extended_shares_lie_on_the_same_polynomial() {
        let key = RootKey::generate();
        let params = SplitParams::new(3, 5).unwrap();
        let (shares, commitments) = split(&key, params, rand_core::OsRng);
        // from shares 2, 4, 5: share 1 again, and a new share 9
        let some = [shares[1].clone(), shares[3].clone(), shares[4].clone()];
        let again = extend(&some, &commitments, ShareId::new(1).unwrap()).unwrap();
        assert!(again == shares[0]);
        let new = extend(&some, &commitments, ShareId::new(9).unwrap()).unwrap();
        commitments.verify(&new).unwrap();
        let with_new = [shares[0].clone(), new.clone(), shares[2].clone()];
        assert_eq!(
            combine_checked(&with_new, &commitments)
                .unwrap()
                .fingerprint(),
            key.fingerprint()
        );
        // an id among the given ones, too few shares, a foreign share: refused
        assert_eq!(
            extend(&some, &commitments, ShareId::new(4).unwrap()).unwrap_err(),
            ShamirError::DuplicateId(4)
        );
        assert!(matches!(
            extend(&some[..2], &commitments, ShareId::new(9).unwrap()),
            Err(ShamirError::NotEnoughShares { needed: 3, have: 2 })
        ));
        let (other, _) = split(&RootKey::generate(), params, rand_core::OsRng);
        let mixed = [shares[0].clone(), shares[1].clone(), other[2].clone()];
        assert_eq!(
            extend(&mixed, &commitments, ShareId::new(9).unwrap()).unwrap_err(),
            ShamirError::CommitmentMismatch
        );
    }

    #[test]
    fn params_bounds() {
        assert!(SplitParams::new(1, 3).is_err());
        assert!(SplitParams::new(4, 3).is_err());
        assert!(SplitParams::new(2, 256).is_err());
        assert!(SplitParams::new(2, 2).is_ok());
        assert!(SplitParams::new(255, 255).is_ok());
    }

    #[test]
    fn ids_are_one_to_n() {
        let key = RootKey::generate();
        let (shares, c) = split(&key, SplitParams::new(3, 5).unwrap(), OsRng);
        let ids: Vec<u8> = shares.iter().map(|s| s.id().get()).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!(c.threshold(), 3);
        assert_eq!(c.fingerprint(), key.fingerprint());
    }

    #[test]
    fn commitments_round_trip_and_refuse_junk() {
        let key = RootKey::generate();
        let (_, c) = split(&key, SplitParams::new(2, 3).unwrap(), OsRng);
        let enc: Vec<Vec<u8>> = c.to_compressed().iter().map(|p| p.to_vec()).collect();
        assert_eq!(Commitments::from_compressed(&enc).unwrap(), c);
        let mut bad = enc.clone();
        bad[1][0] = 4;
        assert_eq!(
            Commitments::from_compressed(&bad).unwrap_err(),
            ShamirError::BadCommitment { index: 1 }
        );
        let mut bad = enc.clone();
        // x >= p is never a coordinate
        bad[0] = [vec![2u8], vec![0xff; 32]].concat();
        assert!(Commitments::from_compressed(&bad).is_err());
        assert!(Commitments::from_compressed(&enc[..1]).is_err());
    }

    #[test]
    fn a_share_from_another_split_fails() {
        let key = RootKey::generate();
        let p = SplitParams::new(2, 3).unwrap();
        let (a, ca) = split(&key, p, OsRng);
        let (b, _) = split(&key, p, OsRng);
        assert!(ca.verify(&a[0]).is_ok());
        assert_eq!(ca.verify(&b[0]), Err(ShamirError::CommitmentMismatch));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn any_t_of_n_assemble(seed in any::<[u8; 32]>(), t in 2u16..6, extra in 0u16..4, pick in any::<u64>()) {
            let n = t + extra;
            let key = key_from_seed(seed);
            let (shares, c) = split(&key, SplitParams::new(t, n).unwrap(), OsRng);
            // a pseudo-random subset of size t, chosen by `pick`
            let mut idx: Vec<usize> = (0..n as usize).collect();
            let mut r = pick;
            for i in (1..idx.len()).rev() {
                idx.swap(i, (r % (i as u64 + 1)) as usize);
                r = r.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
            }
            let subset: Vec<Share> = idx[..t as usize].iter().map(|&i| shares[i].clone()).collect();
            let got = combine_checked(&subset, &c).unwrap();
            prop_assert!(got == key);
        }

        #[test]
        fn t_minus_one_never_assembles(seed in any::<[u8; 32]>(), t in 3u16..6, extra in 0u16..3) {
            let n = t + extra;
            let key = key_from_seed(seed);
            let (shares, c) = split(&key, SplitParams::new(t, n).unwrap(), OsRng);
            let few = &shares[..(t - 1) as usize];
            prop_assert_eq!(
                combine_checked(few, &c).unwrap_err(),
                ShamirError::NotEnoughShares { needed: t as usize, have: (t - 1) as usize }
            );
            // and the raw interpolation of t-1 shares is not the key
            let raw = combine(few).unwrap();
            prop_assert!(raw != key);
        }

        #[test]
        fn any_single_bit_flip_in_a_value_is_caught(seed in any::<[u8; 32]>(), which in 0usize..3, bit in 0usize..256) {
            let key = key_from_seed(seed);
            let (shares, c) = split(&key, SplitParams::new(2, 3).unwrap(), OsRng);
            let mut v = *shares[which].expose_value();
            v[bit / 8] ^= 1 << (bit % 8);
            match Share::new(shares[which].id(), &v) {
                // flipped out of range or to zero: refused on parse
                Err(_) => {}
                Ok(bad) => prop_assert_eq!(c.verify(&bad), Err(ShamirError::CommitmentMismatch)),
            }
        }

        #[test]
        fn a_wrong_id_is_caught(seed in any::<[u8; 32]>(), new_id in 1u16..=255) {
            let key = key_from_seed(seed);
            let (shares, c) = split(&key, SplitParams::new(3, 4).unwrap(), OsRng);
            prop_assume!(new_id != 1);
            let moved = Share::new(ShareId::new(new_id).unwrap(), shares[0].expose_value()).unwrap();
            prop_assert_eq!(c.verify(&moved), Err(ShamirError::CommitmentMismatch));
        }
    }
}
