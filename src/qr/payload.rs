//! The compact QR payload (format `KC1`): one shard in as few QR alphanumeric
//! characters as it can take while still verifying alone.
//!
//! Text: `KC1` followed by the body bytes in base-45 (RFC 9285, whose
//! alphabet is exactly QR's 45-character alphanumeric set). Body bytes:
//!
//! | bytes  | field                                                       |
//! |--------|-------------------------------------------------------------|
//! | 8      | ceremony id: the 12 Crockford base-32 digits, 5 bits each, big-endian (top 4 bits zero) |
//! | 1      | threshold t                                                 |
//! | 1      | number of shares n                                          |
//! | 1      | share id                                                    |
//! | 2      | created: the UTC day, days since 1970-01-01, big-endian    |
//! | 32     | share value, big-endian scalar                              |
//! | ⌈t/8⌉  | y parity of each commitment: bit j (LSB first) of byte j/8 set when point j is odd (SEC1 prefix 03); unused bits zero |
//! | 32 × t | Feldman commitments: x coordinates, big-endian              |
//! | 4      | check: first 4 bytes of SHA-256("KC1" ‖ all bytes above)    |
//!
//! Label and custodian are not carried (the printed sheet shows them); the
//! key fingerprint is recomputed from the first commitment. A decoded payload
//! is accepted only if the length, every range, the check and the Feldman
//! commitments all hold, so a damaged or misread code never becomes a share.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::record::{self, CeremonyId, CeremonyInfo};
use crate::shamir::{Commitments, Share, ShareId, SplitParams};
use crate::shard::ShardFile;

/// Text tag and format version, the first four characters of every payload.
pub const TAG: &str = "KC1";
/// Bytes before the commitments.
const FIXED_HEAD: usize = 8 + 1 + 1 + 1 + 2 + 32;
const CHECK_LEN: usize = 4;
/// A commitment's x coordinate (its y parity goes in the parity bytes).
const X_LEN: usize = 32;
/// QR's alphanumeric alphabet, in base-45 digit order (RFC 9285).
pub const BASE45_ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const ID_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Longest payload text accepted (t = 255), so a hostile code cannot make us allocate much.
pub const MAX_TEXT_LEN: usize = TAG.len() + (FIXED_HEAD + 32 + 255 * X_LEN + CHECK_LEN) * 3 / 2 + 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a keyceremony QR shard (it does not start with \"{TAG}\")")]
    NotOurs,
    #[error("QR shard text is {0} characters, longer than any shard payload")]
    TooLong(usize),
    #[error("QR shard text has a character outside the QR alphanumeric set")]
    BadCharacter,
    #[error("QR shard text is not valid base-45 (damaged or truncated)")]
    BadBase45,
    #[error("QR shard is {found} bytes where threshold {threshold} needs {expected}: truncated or damaged")]
    Length {
        found: usize,
        expected: usize,
        threshold: u8,
    },
    #[error("QR shard check value does not match: the code was damaged or misread")]
    Check,
    #[error("QR shard has an invalid ceremony id")]
    CeremonyId,
    #[error("QR shard has an invalid creation time")]
    Created,
    #[error("QR shard: {0}")]
    Invalid(String),
    #[error("QR shard value does not match its Feldman commitments: damaged, or altered")]
    CommitmentMismatch,
}

/// Encodes the shard as payload text (secret: it holds the share value).
pub fn encode(shard: &ShardFile) -> Zeroizing<String> {
    let body = encode_body(shard);
    let mut text = Zeroizing::new(String::with_capacity(TAG.len() + body.len() * 3 / 2 + 2));
    text.push_str(TAG);
    base45_encode_into(&body, &mut text);
    text
}

/// The body bytes with their check value (secret).
pub(crate) fn encode_body(shard: &ShardFile) -> Zeroizing<Vec<u8>> {
    let info = &shard.info;
    let t = info.params.threshold() as usize;
    let mut b = Zeroizing::new(Vec::with_capacity(body_len(t as u8)));
    b.extend_from_slice(&ceremony_id_to_u64(&info.ceremony_id).to_be_bytes());
    b.push(info.params.threshold());
    b.push(info.params.shares());
    b.push(shard.share.id().get());
    b.extend_from_slice(&created_to_days(&info.created).to_be_bytes());
    b.extend_from_slice(shard.share.expose_value());
    let points = info.commitments.to_compressed();
    let mut parity = vec![0u8; t.div_ceil(8)];
    for (j, p) in points.iter().enumerate() {
        if p[0] == 3 {
            parity[j / 8] |= 1 << (j % 8);
        }
    }
    b.extend_from_slice(&parity);
    for p in &points {
        b.extend_from_slice(&p[1..]);
    }
    let check = check_value(&b);
    b.extend_from_slice(&check);
    b
}

fn check_value(bytes: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = Sha256::new();
    h.update(TAG.as_bytes());
    h.update(bytes);
    let d = h.finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// Body length (check value included) for threshold `t`.
pub(crate) fn body_len(t: u8) -> usize {
    FIXED_HEAD + (t as usize).div_ceil(8) + t as usize * X_LEN + CHECK_LEN
}

/// Offset of the threshold byte in the body.
pub(crate) const THRESHOLD_OFFSET: usize = 8;

/// Parses payload text into a fully checked shard.
pub fn decode(text: &str) -> Result<ShardFile, PayloadError> {
    let rest = text.strip_prefix(TAG).ok_or(PayloadError::NotOurs)?;
    if text.len() > MAX_TEXT_LEN {
        return Err(PayloadError::TooLong(text.len()));
    }
    let body = base45_decode(rest)?;
    decode_body(&body)
}

/// Parses body bytes (check value included) into a fully checked shard.
pub(crate) fn decode_body(body: &[u8]) -> Result<ShardFile, PayloadError> {
    if body.len() <= THRESHOLD_OFFSET {
        return Err(PayloadError::Length {
            found: body.len(),
            expected: body_len(2),
            threshold: 0,
        });
    }
    let t = body[THRESHOLD_OFFSET];
    let expected = body_len(t);
    if body.len() != expected {
        return Err(PayloadError::Length {
            found: body.len(),
            expected,
            threshold: t,
        });
    }
    let (content, check) = body.split_at(expected - CHECK_LEN);
    if check_value(content) != check {
        return Err(PayloadError::Check);
    }
    let id_bits = u64::from_be_bytes(content[0..8].try_into().expect("8 bytes"));
    let ceremony_id = ceremony_id_from_u64(id_bits).ok_or(PayloadError::CeremonyId)?;
    let n = content[9];
    let share_id = content[10];
    let days = u16::from_be_bytes(content[11..13].try_into().expect("2 bytes"));
    let created = days_to_created(days).ok_or(PayloadError::Created)?;
    let value = &content[13..FIXED_HEAD];
    let params =
        SplitParams::new(t as u16, n as u16).map_err(|e| PayloadError::Invalid(e.to_string()))?;
    if share_id == 0 || share_id > n {
        return Err(PayloadError::Invalid(format!(
            "share id {share_id} is out of range 1 to {n}"
        )));
    }
    let id = ShareId::new(share_id as u16).map_err(|e| PayloadError::Invalid(e.to_string()))?;
    let share = Share::new(id, value).map_err(|e| PayloadError::Invalid(e.to_string()))?;
    let (parity, xs) = content[FIXED_HEAD..].split_at((t as usize).div_ceil(8));
    let used = t as usize % 8;
    if used != 0 && parity[parity.len() - 1] >> used != 0 {
        return Err(PayloadError::Invalid(
            "unused commitment parity bits are set".into(),
        ));
    }
    let points: Vec<Vec<u8>> = xs
        .chunks(X_LEN)
        .enumerate()
        .map(|(j, x)| {
            let mut p = Vec::with_capacity(X_LEN + 1);
            p.push(2 + ((parity[j / 8] >> (j % 8)) & 1));
            p.extend_from_slice(x);
            p
        })
        .collect();
    let commitments =
        Commitments::from_compressed(&points).map_err(|e| PayloadError::Invalid(e.to_string()))?;
    commitments
        .verify(&share)
        .map_err(|_| PayloadError::CommitmentMismatch)?;
    let info = CeremonyInfo {
        ceremony_id,
        label: String::new(),
        params,
        fingerprint: commitments.fingerprint(),
        commitments,
        created,
    };
    Ok(ShardFile {
        info,
        share,
        custodian: None,
    })
}

fn ceremony_id_to_u64(id: &CeremonyId) -> u64 {
    id.as_str()
        .bytes()
        .skip(2)
        .filter(|b| *b != b'-')
        .fold(0u64, |acc, c| {
            let digit = ID_ALPHABET
                .iter()
                .position(|a| *a == c)
                .expect("a parsed ceremony id uses the id alphabet");
            (acc << 5) | digit as u64
        })
}

fn ceremony_id_from_u64(v: u64) -> Option<CeremonyId> {
    if v >> 60 != 0 {
        return None;
    }
    let mut s = String::from("KC");
    for i in 0..12 {
        if i % 4 == 0 {
            s.push('-');
        }
        let digit = (v >> (5 * (11 - i))) & 31;
        s.push(ID_ALPHABET[digit as usize] as char);
    }
    CeremonyId::parse(&s)
}

/// The UTC day of the creation time, in days since the epoch. Day precision
/// keeps a 3-of-n code at version 12 (seconds would need version 13); days
/// outside 1970..2149 clamp (they cannot come from `split`, which stamps the
/// current time).
fn created_to_days(created: &str) -> u16 {
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .map(|t| {
            t.unix_timestamp()
                .div_euclid(86_400)
                .clamp(0, u16::MAX as i64) as u16
        })
        .unwrap_or(0)
}

fn days_to_created(days: u16) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(days as i64 * 86_400).ok()?;
    let s = t
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    record::is_rfc3339(&s).then_some(s)
}

fn base45_encode_into(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(2) {
        let (mut v, digits) = if chunk.len() == 2 {
            ((chunk[0] as u32) << 8 | chunk[1] as u32, 3)
        } else {
            (chunk[0] as u32, 2)
        };
        for _ in 0..digits {
            out.push(BASE45_ALPHABET[(v % 45) as usize] as char);
            v /= 45;
        }
    }
}

fn base45_digit(c: u8) -> Option<u32> {
    BASE45_ALPHABET
        .iter()
        .position(|a| *a == c)
        .map(|p| p as u32)
}

fn base45_decode(text: &str) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    let raw = text.as_bytes();
    if raw.iter().any(|c| base45_digit(*c).is_none()) {
        return Err(PayloadError::BadCharacter);
    }
    if raw.len() % 3 == 1 {
        return Err(PayloadError::BadBase45);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(raw.len() * 2 / 3 + 1));
    for chunk in raw.chunks(3) {
        let v = chunk
            .iter()
            .rev()
            .fold(0u32, |acc, c| acc * 45 + base45_digit(*c).expect("checked"));
        if chunk.len() == 3 {
            if v > 0xffff {
                return Err(PayloadError::BadBase45);
            }
            out.push((v >> 8) as u8);
            out.push(v as u8);
        } else {
            if v > 0xff {
                return Err(PayloadError::BadBase45);
            }
            out.push(v as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base45_matches_rfc_9285_examples() {
        let mut s = String::new();
        base45_encode_into(b"AB", &mut s);
        assert_eq!(s, "BB8");
        s.clear();
        base45_encode_into(b"Hello!!", &mut s);
        assert_eq!(s, "%69 VD92EX0");
        s.clear();
        base45_encode_into(b"base-45", &mut s);
        assert_eq!(s, "UJCLQE7W581");
        assert_eq!(&base45_decode("QED8WEX0").unwrap()[..], b"ietf!");
        assert_eq!(base45_decode("GGW"), Err(PayloadError::BadBase45));
        assert_eq!(base45_decode("ZZZZ"), Err(PayloadError::BadBase45));
        assert_eq!(base45_decode("a"), Err(PayloadError::BadCharacter));
    }

    #[test]
    fn ceremony_id_round_trips() {
        for _ in 0..50 {
            let id = CeremonyId::generate();
            assert_eq!(ceremony_id_from_u64(ceremony_id_to_u64(&id)), Some(id));
        }
        assert_eq!(ceremony_id_from_u64(1 << 60), None);
    }

    /// Re-seals altered body bytes with a correct check value, so the field
    /// checks behind the check value are reached.
    fn sealed(mut body: Vec<u8>) -> String {
        body.truncate(body.len() - CHECK_LEN);
        let check = check_value(&body);
        body.extend_from_slice(&check);
        let mut s = String::from(TAG);
        base45_encode_into(&body, &mut s);
        s
    }

    fn body_of(text: &str) -> Vec<u8> {
        base45_decode(&text[TAG.len()..]).unwrap().to_vec()
    }

    fn sample() -> String {
        // a fixed, valid payload: the vector from testdata/qr
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/qr/shard-2-of-3.payload.txt"
        ))
        .unwrap()
        .trim_end()
        .to_string()
    }

    #[test]
    fn sealed_sample_is_accepted() {
        assert!(decode(&sealed(body_of(&sample()))).is_ok());
    }

    #[test]
    fn invalid_values_behind_a_good_check() {
        let body = body_of(&sample());
        let value_at = 13;
        // value altered: the Feldman commitments catch it
        let mut b = body.clone();
        b[value_at + 31] ^= 1;
        assert!(matches!(
            decode(&sealed(b)),
            Err(PayloadError::CommitmentMismatch)
        ));
        // value >= n
        let mut b = body.clone();
        b[value_at..value_at + 32].fill(0xff);
        assert!(matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))));
        // value zero
        let mut b = body.clone();
        b[value_at..value_at + 32].fill(0);
        assert!(matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))));
        // share id 0 and id > n
        for id in [0u8, 4] {
            let mut b = body.clone();
            b[10] = id;
            assert!(
                matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))),
                "id {id}"
            );
        }
        // id changed within range: the commitments catch it
        let mut b = body.clone();
        b[10] = if b[10] == 1 { 2 } else { 1 };
        assert!(matches!(
            decode(&sealed(b)),
            Err(PayloadError::CommitmentMismatch)
        ));
        // n below t
        let mut b = body.clone();
        b[9] = 1;
        assert!(matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))));
        // threshold changed: the length no longer fits
        let mut b = body.clone();
        b[THRESHOLD_OFFSET] = 3;
        assert!(matches!(
            decode(&sealed(b)),
            Err(PayloadError::Length { .. })
        ));
        // a commitment that is not a point
        let mut b = body.clone();
        b[FIXED_HEAD + 1..FIXED_HEAD + 33].fill(0xff);
        assert!(matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))));
        // unused parity bits set (t = 2: bits 2..7)
        let mut b = body.clone();
        b[FIXED_HEAD] |= 0x80;
        assert!(matches!(decode(&sealed(b)), Err(PayloadError::Invalid(_))));
        // a parity bit flipped: another point, which the commitments check refuses
        let mut b = body.clone();
        b[FIXED_HEAD] ^= 0x01;
        assert!(decode(&sealed(b)).is_err());
        // ceremony id with the top bits set
        let mut b = body.clone();
        b[0] = 0xf0;
        assert_eq!(decode(&sealed(b)).unwrap_err(), PayloadError::CeremonyId);
    }

    #[test]
    fn created_keeps_the_day() {
        let s = "2026-11-26T10:24:57Z";
        assert_eq!(
            days_to_created(created_to_days(s)).as_deref(),
            Some("2026-11-26T00:00:00Z")
        );
        assert_eq!(
            days_to_created(created_to_days("2026-11-26T23:30:00-02:00")).as_deref(),
            Some("2026-11-27T00:00:00Z")
        );
    }
}
