//! A SHA-256 value as people compare it in a ceremony room: 64 lowercase
//! hex characters on paper and screen, and the same 32 bytes read aloud as
//! PGP words (see [`crate::pgp_words`]).

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 digest (of a plan file, a transcript line, a binary...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// All zeros: the `prev` of a transcript's first line when it chains to nothing.
    pub const ZERO: Sha256Digest = Sha256Digest([0u8; 32]);

    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Parses exactly 64 lowercase hex characters.
    pub fn parse_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Sha256Digest(out))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 32 words to read aloud, alternating the even and odd lists.
    pub fn to_words(&self) -> String {
        crate::pgp_words::to_phrase(&self.0)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_strict() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Digest::parse_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256Digest::parse_hex(&d.to_hex().to_uppercase()), None);
        assert_eq!(Sha256Digest::parse_hex(&d.to_hex()[..63]), None);
        assert!(d.to_words().starts_with("shadow "));
        assert_eq!(d.to_words().split(' ').count(), 32);
    }
}
