//! AES-256-GCM over one long message, computed piece by piece.
//!
//! The Nexus backup format seals the whole `tar.gz` as a single GCM message
//! with a single tag at the end. The `aead` API wants the whole message in
//! memory; for payloads of tens of GiB we run GCM from its parts instead
//! (NIST SP 800-38D with a 96-bit nonce, no associated data):
//!
//! - `H = AES_K(0^128)`, `J0 = nonce || 0x00000001`;
//! - ciphertext = plaintext XOR AES-CTR keystream starting at `J0 + 1`,
//!   with a 32-bit big-endian counter;
//! - tag = `GHASH_H(C || pad || len(A)=0 || len(C) in bits) XOR AES_K(J0)`.
//!
//! The tag covers only the ciphertext, so a file can be authenticated
//! without decrypting anything ([`GcmStream::absorb`]). Tests check the
//! result against the one-shot `aes-gcm` crate.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes256;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use zeroize::Zeroizing;

/// Length of the nonce in the Nexus format.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Longest message GCM allows with a 96-bit nonce: 2^32 - 2 blocks (about 64 GiB).
pub const MAX_MESSAGE_LEN: u64 = ((1u64 << 32) - 2) * 16;

/// The message grew past what one GCM nonce may cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payload is longer than AES-GCM allows for one message (about 64 GiB)")]
pub struct MessageTooLong;

type Ctr = ctr::Ctr32BE<Aes256>;

/// The running state of one GCM message: keystream position and GHASH.
pub struct GcmStream {
    ctr: Ctr,
    ghash: GHash,
    /// Ciphertext bytes not yet a whole GHASH block.
    pending: [u8; 16],
    pending_len: usize,
    len: u64,
    tag_mask: Zeroizing<[u8; 16]>,
}

impl GcmStream {
    pub fn new(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> Self {
        let cipher = Aes256::new(key.into());
        let mut h = Zeroizing::new(aes::Block::default());
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h);

        let mut j0 = [0u8; 16];
        j0[..NONCE_LEN].copy_from_slice(nonce);
        j0[15] = 1;
        let mut mask = aes::Block::from(j0);
        cipher.encrypt_block(&mut mask);
        let tag_mask = Zeroizing::new(<[u8; 16]>::from(mask));

        let mut first_counter = j0;
        first_counter[15] = 2;
        let ctr = Ctr::new(key.into(), &first_counter.into());
        GcmStream {
            ctr,
            ghash,
            pending: [0u8; 16],
            pending_len: 0,
            len: 0,
            tag_mask,
        }
    }

    fn count(&mut self, n: usize) -> Result<(), MessageTooLong> {
        let len = self.len.checked_add(n as u64).ok_or(MessageTooLong)?;
        if len > MAX_MESSAGE_LEN {
            return Err(MessageTooLong);
        }
        self.len = len;
        Ok(())
    }

    fn hash_ciphertext(&mut self, mut data: &[u8]) {
        if self.pending_len > 0 {
            let take = (16 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 16 {
                return;
            }
            let block = self.pending;
            self.ghash.update_padded(&block);
            self.pending_len = 0;
        }
        let whole = data.len() - data.len() % 16;
        if whole > 0 {
            // Whole blocks only, so no padding happens here.
            self.ghash.update_padded(&data[..whole]);
        }
        let rest = &data[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Encrypts `buf` in place (plaintext in, ciphertext out).
    pub fn encrypt(&mut self, buf: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(buf.len())?;
        self.ctr.apply_keystream(buf);
        self.hash_ciphertext(buf);
        Ok(())
    }

    /// Decrypts `buf` in place (ciphertext in, plaintext out). The plaintext
    /// is not authentic until [`GcmStream::finish`] matches the tag.
    pub fn decrypt(&mut self, buf: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(buf.len())?;
        self.hash_ciphertext(buf);
        self.ctr.apply_keystream(buf);
        Ok(())
    }

    /// Takes ciphertext into the tag computation without decrypting it.
    pub fn absorb(&mut self, ciphertext: &[u8]) -> Result<(), MessageTooLong> {
        self.count(ciphertext.len())?;
        self.hash_ciphertext(ciphertext);
        Ok(())
    }

    /// The tag over everything seen so far.
    pub fn finish(mut self) -> [u8; TAG_LEN] {
        if self.pending_len > 0 {
            let tail = self.pending;
            self.ghash.update_padded(&tail[..self.pending_len]);
        }
        let mut lengths = [0u8; 16];
        // len(A) = 0 in the first half; len(C) in bits in the second.
        lengths[8..].copy_from_slice(&(self.len * 8).to_be_bytes());
        self.ghash.update_padded(&lengths);
        let s = self.ghash.finalize();
        let mut tag = [0u8; TAG_LEN];
        for (t, (a, b)) in tag.iter_mut().zip(s.iter().zip(self.tag_mask.iter())) {
            *t = a ^ b;
        }
        tag
    }

    /// Whether the tag over everything seen equals `expected`, in constant time.
    pub fn verify(self, expected: &[u8; TAG_LEN]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.finish().ct_eq(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;
    use aes_gcm::Aes256Gcm;

    fn one_shot(key: &[u8; 32], nonce: &[u8; 12], plain: &[u8]) -> Vec<u8> {
        Aes256Gcm::new(key.into())
            .encrypt(nonce.into(), plain)
            .unwrap()
    }

    /// A deterministic byte pattern, so failures reproduce.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2654435761).to_be_bytes()[0] ^ seed)
            .collect()
    }

    #[test]
    fn matches_one_shot_aes_gcm_for_every_length_and_split() {
        let key = [7u8; 32];
        let nonce = [9u8; 12];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 255, 256, 1000, 4099] {
            let plain = pattern(len, len as u8);
            let expected = one_shot(&key, &nonce, &plain);
            for split in [1usize, 3, 16, 17, 64, 4096] {
                let mut g = GcmStream::new(&key, &nonce);
                let mut out = plain.clone();
                for chunk in out.chunks_mut(split) {
                    g.encrypt(chunk).unwrap();
                }
                out.extend_from_slice(&g.finish());
                assert_eq!(out, expected, "len {len} split {split}");

                let (ct, tag) = expected.split_at(len);
                let mut back = ct.to_vec();
                let mut d = GcmStream::new(&key, &nonce);
                for chunk in back.chunks_mut(split) {
                    d.decrypt(chunk).unwrap();
                }
                assert!(d.verify(tag.try_into().unwrap()));
                assert_eq!(back, plain);

                let mut a = GcmStream::new(&key, &nonce);
                for chunk in ct.chunks(split) {
                    a.absorb(chunk).unwrap();
                }
                assert_eq!(&a.finish()[..], tag);
            }
        }
    }

    #[test]
    fn any_flipped_ciphertext_or_tag_bit_fails() {
        let key = [1u8; 32];
        let nonce = [2u8; 12];
        let sealed = one_shot(&key, &nonce, &pattern(70, 3));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            let (ct, tag) = bad.split_at(70);
            let mut a = GcmStream::new(&key, &nonce);
            a.absorb(ct).unwrap();
            assert!(!a.verify(tag.try_into().unwrap()), "flip at {i} not caught");
        }
    }

    #[test]
    fn refuses_messages_beyond_the_gcm_limit() {
        let mut g = GcmStream::new(&[0u8; 32], &[0u8; 12]);
        g.len = MAX_MESSAGE_LEN - 1;
        assert!(g.absorb(&[0u8; 1]).is_ok());
        assert_eq!(g.absorb(&[0u8; 1]), Err(MessageTooLong));
    }
}
