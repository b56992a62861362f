//! SPIKE Nexus recovery shards, exactly as SPIKE writes and reads them.
//!
//! File `spike.recovery.<id>.txt`, content `spike:<id>:<64 lowercase hex>`
//! with no trailing newline, mode 0600. SPIKE splits with cloudflare/circl
//! over the P-256 scalar field; its shards are deterministic in the root key:
//! the coefficients c1..c(t-1) are successive 32-byte blocks of the stream
//! B0 = SHA-256(rk), B(j+1) = SHA-256(Bj), read big-endian, skipping any block
//! that is not below n; shard i = rk + Σ c_k·i^k mod n.

use std::path::{Path, PathBuf};

use p256::elliptic_curve::PrimeField;
use p256::Scalar;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::atomic_file::OutputBatch;
use crate::error::{Error, Result};
use crate::secret::RootKey;
use crate::shamir::{self, Share, ShareId, SplitParams};

/// Largest SPIKE shard file we read; a real one is 71-73 bytes.
pub const MAX_FILE_LEN: u64 = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpikeError {
    #[error("empty file; a SPIKE shard reads 'spike:<id>:<64 hex characters>'")]
    Empty,
    #[error("does not start with 'spike:'; this is not a SPIKE recovery shard")]
    BadPrefix,
    #[error("expected 'spike:<id>:<64 hex characters>' (three fields separated by ':')")]
    BadShape,
    #[error("shard id '{}' is not a number from 1 to 255", crate::terminal::Shown(.0))]
    BadId(String),
    #[error("shard value has {0} characters; SPIKE writes exactly 64 lowercase hex characters")]
    BadLength(usize),
    #[error("shard value is not lowercase hexadecimal")]
    NotHex,
    #[error("shard value is not a valid P-256 scalar: {0}")]
    BadValue(String),
    #[error("file is larger than any SPIKE shard ({0} bytes)")]
    TooLarge(u64),
    #[error("file has trailing whitespace or more than one line")]
    TrailingData,
}

/// Why a set of SPIKE shards gives no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpikeSetError {
    #[error("--spike-threshold: {0}")]
    Threshold(crate::shamir::ShamirError),
    #[error("SPIKE threshold is {threshold} but only {given} shard file(s) were given")]
    TooFew { threshold: u16, given: usize },
    #[error("{} and {} both hold SPIKE shard id {id}", .first.display(), .second.display())]
    DuplicateId {
        first: PathBuf,
        second: PathBuf,
        id: u8,
    },
    #[error("these SPIKE shards do not belong with the others (altered, or from another root key): {}", .0.iter().map(|(p, id)| format!("{} (id {id})", p.display())).collect::<Vec<_>>().join(", "))]
    DoNotBelong(Vec<(PathBuf, u8)>),
    #[error("the SPIKE shards are inconsistent: they do not assemble to a root key that SPIKE would have split this way \
             with threshold {threshold}. Check the threshold, and that all files come from the same SPIKE Nexus; \
             with only {used} shard(s) the bad one cannot be named, so add another shard if you have one")]
    Inconsistent { threshold: u16, used: usize },
}

/// One SPIKE recovery shard.
#[derive(Clone, PartialEq)]
pub struct SpikeShard {
    share: Share,
}

impl std::fmt::Debug for SpikeShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SpikeShard {{ id: {}, value: redacted }}",
            self.share.id()
        )
    }
}

impl SpikeShard {
    pub fn from_share(share: Share) -> Self {
        SpikeShard { share }
    }

    pub fn share(&self) -> &Share {
        &self.share
    }

    pub fn id(&self) -> ShareId {
        self.share.id()
    }

    /// Parses one shard line. SPIKE writes no newline; one trailing newline
    /// (a hand-copied file) is tolerated, nothing else.
    pub fn parse(text: &str) -> Result<Self, SpikeError> {
        if text.is_empty() {
            return Err(SpikeError::Empty);
        }
        let line = text.strip_suffix('\n').unwrap_or(text);
        if line.contains(['\n', '\r']) || line.ends_with([' ', '\t']) {
            return Err(SpikeError::TrailingData);
        }
        let rest = line.strip_prefix("spike:").ok_or(SpikeError::BadPrefix)?;
        let (id_text, value_text) = rest.split_once(':').ok_or(SpikeError::BadShape)?;
        if value_text.contains(':') {
            return Err(SpikeError::BadShape);
        }
        let id_ok = !id_text.is_empty()
            && id_text.len() <= 3
            && id_text.bytes().all(|b| b.is_ascii_digit())
            && !(id_text.len() > 1 && id_text.starts_with('0'));
        let id = id_ok
            .then(|| id_text.parse::<u16>().ok())
            .flatten()
            .and_then(|n| ShareId::new(n).ok())
            .ok_or_else(|| SpikeError::BadId(id_text.chars().take(12).collect()))?;
        if !value_text
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(SpikeError::NotHex);
        }
        if value_text.len() != 64 {
            return Err(SpikeError::BadLength(value_text.len()));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(value_text, &mut bytes[..]).map_err(|_| SpikeError::NotHex)?;
        let share = Share::new(id, &bytes[..]).map_err(|e| SpikeError::BadValue(e.to_string()))?;
        Ok(SpikeShard { share })
    }

    /// `spike:<id>:<hex>`, no newline. Secret: kept in zeroizing storage.
    pub fn to_line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "spike:{}:{}",
            self.share.id(),
            self.share.value_hex().as_str()
        ))
    }

    /// `spike.recovery.<id>.txt`
    pub fn file_name(&self) -> String {
        file_name(self.share.id())
    }
}

pub fn file_name(id: ShareId) -> String {
    format!("spike.recovery.{id}.txt")
}

/// Reads and parses a SPIKE shard file, naming the file in any error.
pub fn read_file(path: &Path) -> Result<SpikeShard> {
    let bytes = crate::input_file::read(path, MAX_FILE_LEN, "SPIKE recovery shard")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::input(path, "not text; a SPIKE shard is one ASCII line"))?;
    SpikeShard::parse(text).map_err(|source| Error::SpikeShard {
        path: path.to_path_buf(),
        source,
    })
}

/// The coefficient stream SPIKE derives from the root key.
fn coefficients(key: &RootKey, threshold: u8) -> Vec<Scalar> {
    let mut out = Vec::with_capacity(threshold as usize);
    out.push(*key.scalar());
    let mut block = Zeroizing::new(Sha256::digest(key.expose_bytes()));
    while out.len() < threshold as usize {
        let c: Option<Scalar> = Scalar::from_repr(*block).into();
        if let Some(c) = c {
            out.push(c);
        }
        let next = Sha256::digest(block.as_slice());
        *block = next;
    }
    out
}

/// The shards SPIKE would produce for this key, ids 1..=shares.
pub fn split(key: &RootKey, params: SplitParams) -> Vec<SpikeShard> {
    let coeffs = Zeroizing::new(coefficients(key, params.threshold()));
    (1..=params.shares() as u16)
        .map(|i| {
            let x = Scalar::from(i as u64);
            // Horner's rule: (((c_{t-1})x + c_{t-2})x + ...)x + c_0
            let mut acc = Scalar::ZERO;
            for c in coeffs.iter().rev() {
                acc = acc * x + c;
            }
            let bytes = Zeroizing::new(acc.to_repr());
            let id = ShareId::new(i).expect("1..=255");
            let share = Share::new(id, bytes.as_slice())
                .expect("a zero shard value has negligible probability");
            SpikeShard { share }
        })
        .collect()
}

/// Reconstructs the root key from SPIKE shards with SPIKE's threshold, and
/// checks every given shard against SPIKE's deterministic construction for
/// that key. SPIKE itself would accept a wrong shard silently; this does not.
/// With more shards than the threshold, a bad shard is named.
pub fn assemble(shards: &[(PathBuf, SpikeShard)], threshold: u16) -> Result<RootKey> {
    let max_id = shards.iter().map(|(_, s)| s.id().get()).max().unwrap_or(0);
    let params = SplitParams::new(threshold, threshold.max(max_id as u16))
        .map_err(SpikeSetError::Threshold)?;
    if shards.len() < threshold as usize {
        return Err(SpikeSetError::TooFew {
            threshold,
            given: shards.len(),
        }
        .into());
    }
    for (i, (pa, a)) in shards.iter().enumerate() {
        for (pb, b) in &shards[..i] {
            if a.id() == b.id() {
                return Err(SpikeSetError::DuplicateId {
                    first: pb.clone(),
                    second: pa.clone(),
                    id: a.id().get(),
                }
                .into());
            }
        }
    }
    // Try subsets of size t until one yields a key whose deterministic shards
    // match every file; otherwise report the files that disagree with the
    // best candidate. Bounded: SPIKE deployments have a handful of shards.
    const MAX_TRIES: usize = 5000;
    let t = threshold as usize;
    let mut best: Option<(usize, Vec<usize>)> = None;
    let mut tries = 0;
    for subset in Combinations::new(shards.len(), t) {
        tries += 1;
        if tries > MAX_TRIES {
            break;
        }
        let picked: Vec<Share> = subset
            .iter()
            .map(|&i| shards[i].1.share().clone())
            .collect();
        let Ok(key) = shamir::combine(&picked) else {
            continue;
        };
        let expected = split(&key, params);
        let bad: Vec<usize> = shards
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| expected[s.id().get() as usize - 1] != *s)
            .map(|(i, _)| i)
            .collect();
        if bad.is_empty() {
            return Ok(key);
        }
        let good = shards.len() - bad.len();
        if good >= t && best.as_ref().is_none_or(|(g, _)| good > *g) {
            best = Some((good, bad));
        }
    }
    match best {
        Some((_, bad)) => Err(SpikeSetError::DoNotBelong(
            bad.iter()
                .map(|&i| (shards[i].0.clone(), shards[i].1.id().get()))
                .collect(),
        )
        .into()),
        None => Err(SpikeSetError::Inconsistent { threshold, used: t }.into()),
    }
}

/// Writes SPIKE shard files for the key into `dir` (created if missing),
/// atomically and 0600, all or nothing.
pub fn write_dir(
    key: &RootKey,
    params: SplitParams,
    dir: &Path,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let mut batch = OutputBatch::in_dir(dir, force)?;
    for shard in split(key, params) {
        let line = shard.to_line();
        batch.add(&dir.join(shard.file_name()), line.as_bytes())?;
    }
    batch.commit()
}

/// Lexicographic k-subsets of 0..n.
struct Combinations {
    idx: Vec<usize>,
    n: usize,
    first: bool,
    done: bool,
}

impl Combinations {
    fn new(n: usize, k: usize) -> Self {
        Combinations {
            idx: (0..k).collect(),
            n,
            first: true,
            done: k > n || k == 0,
        }
    }
}

impl Iterator for Combinations {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        let k = self.idx.len();
        if self.done {
            return None;
        }
        if self.first {
            self.first = false;
            return Some(self.idx.clone());
        }
        let mut i = k;
        while i > 0 {
            i -= 1;
            if self.idx[i] != i + self.n - k {
                self.idx[i] += 1;
                for j in i + 1..k {
                    self.idx[j] = self.idx[j - 1] + 1;
                }
                return Some(self.idx.clone());
            }
        }
        self.done = true;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RK: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

    #[test]
    fn parse_refuses_each_malformation() {
        let good = "spike:1:af236f32fa2a813f8bcb40fbaf87b2f4ded823a83c257443fea67d20d4c431e9";
        assert!(SpikeShard::parse(good).is_ok());
        assert!(SpikeShard::parse(&format!("{good}\n")).is_ok());
        assert_eq!(SpikeShard::parse("").unwrap_err(), SpikeError::Empty);
        assert_eq!(
            SpikeShard::parse(&good.replace("spike:", "spyke:")).unwrap_err(),
            SpikeError::BadPrefix
        );
        assert_eq!(
            SpikeShard::parse(&good[..good.len() - 2]).unwrap_err(),
            SpikeError::BadLength(62)
        );
        assert_eq!(
            SpikeShard::parse(&good.to_uppercase().replace("SPIKE", "spike")).unwrap_err(),
            SpikeError::NotHex
        );
        assert!(matches!(
            SpikeShard::parse(&good.replace("spike:1:", "spike:0:")).unwrap_err(),
            SpikeError::BadId(_)
        ));
        assert!(matches!(
            SpikeShard::parse(&good.replace("spike:1:", "spike:01:")).unwrap_err(),
            SpikeError::BadId(_)
        ));
        assert_eq!(
            SpikeShard::parse(&format!("{good}\n\n")).unwrap_err(),
            SpikeError::TrailingData
        );
        assert_eq!(
            SpikeShard::parse(&format!("{good} ")).unwrap_err(),
            SpikeError::TrailingData
        );
        assert_eq!(
            SpikeShard::parse("spike:1").unwrap_err(),
            SpikeError::BadShape
        );
        let zero = format!("spike:1:{}", "0".repeat(64));
        assert!(matches!(
            SpikeShard::parse(&zero).unwrap_err(),
            SpikeError::BadValue(_)
        ));
    }

    #[test]
    fn combinations_enumerate_all() {
        let all: Vec<Vec<usize>> = Combinations::new(4, 2).collect();
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], vec![0, 1]);
        assert_eq!(all[5], vec![2, 3]);
        assert_eq!(Combinations::new(2, 3).count(), 0);
    }

    #[test]
    fn assemble_names_the_bad_shard_when_it_can() {
        let key = RootKey::from_hex(RK).unwrap();
        let shards = split(&key, SplitParams::new(2, 3).unwrap());
        let mut given: Vec<(PathBuf, SpikeShard)> = shards
            .into_iter()
            .map(|s| (PathBuf::from(s.file_name()), s))
            .collect();
        assert!(assemble(&given, 2).unwrap() == key);
        // replace shard 2 by shard 2 of another key
        let other = RootKey::generate();
        let foreign = split(&other, SplitParams::new(2, 3).unwrap()).remove(1);
        given[1].1 = foreign;
        let err = assemble(&given, 2).unwrap_err().to_string();
        assert!(err.contains("spike.recovery.2.txt"), "{err}");
        // with exactly the threshold, the inconsistency is caught but cannot be pinned
        let err = assemble(&given[..2], 2).unwrap_err().to_string();
        assert!(err.contains("inconsistent"), "{err}");
    }
}
