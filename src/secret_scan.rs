//! Looks for secret values (the root key, share values) in any text or file
//! content: the check that a transcript, a report, a log or an output
//! folder carries no secret. Made for tests, which know the secrets.
//!
//! A secret is found when the text holds any 8 consecutive bytes of it as
//! hex (either case), or as base64 (standard or URL-safe, at any of the
//! three byte alignments, 12 bytes at least). Findings name the secret and
//! the encoding, never the value.

use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD, BASE64_URL_SAFE_NO_PAD};

/// Bytes of a secret that count as a leak when found together.
pub const WINDOW_BYTES: usize = 8;

/// One secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The name the caller gave the secret ("root key", "share 3").
    pub secret: String,
    pub encoding: &'static str,
    /// Byte offset in the text.
    pub at: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} as {} at byte {}",
            self.secret, self.encoding, self.at
        )
    }
}

fn find_sub(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every secret of `secrets` (name, bytes) that occurs in `text`.
pub fn find(text: &[u8], secrets: &[(&str, &[u8])]) -> Vec<Finding> {
    let lower: Vec<u8> = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for (name, secret) in secrets {
        if secret.len() < WINDOW_BYTES {
            continue;
        }
        let hex = hex::encode(secret);
        let hit = (0..=secret.len() - WINDOW_BYTES)
            .find_map(|i| find_sub(&lower, &hex.as_bytes()[2 * i..2 * (i + WINDOW_BYTES)]));
        if let Some(at) = hit {
            out.push(Finding {
                secret: name.to_string(),
                encoding: "hex",
                at,
            });
            continue;
        }
        'b64: for (engine, encoding) in [
            (&BASE64_STANDARD_NO_PAD, "base64"),
            (&BASE64_URL_SAFE_NO_PAD, "base64url"),
        ] {
            for shift in 0..3 {
                let tail = &secret[shift..];
                let whole = tail.len() / 3 * 3;
                let enc = engine.encode(&tail[..whole]);
                // 16 characters = 12 bytes, on a 4-character group boundary
                let mut g = 0;
                while g + 16 <= enc.len() {
                    if let Some(at) = find_sub(text, &enc.as_bytes()[g..g + 16]) {
                        out.push(Finding {
                            secret: name.to_string(),
                            encoding,
                            at,
                        });
                        break 'b64;
                    }
                    g += 4;
                }
            }
        }
    }
    out
}

/// Panics, naming what was found where (never the value), if `text` holds a secret.
pub fn assert_clean(what: &str, text: &[u8], secrets: &[(&str, &[u8])]) {
    let found = find(text, secrets);
    assert!(
        found.is_empty(),
        "{what} holds a secret: {}",
        found
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [
        0x3a, 0x91, 0x07, 0xee, 0x42, 0x10, 0xbc, 0x5d, 0x66, 0x01, 0xf2, 0x9e, 0x13, 0x7c, 0xa8,
        0x04, 0xd9, 0x5b, 0x21, 0xc0, 0x8f, 0x33, 0x6a, 0xe7, 0x19, 0x42, 0xb5, 0x0d, 0x7e, 0xca,
        0x58, 0x2f,
    ];

    #[test]
    fn finds_hex_in_either_case_and_partial() {
        let hex = hex::encode(KEY);
        for text in [
            format!("value={hex}"),
            format!("{{\"v\":\"{}\"}}", hex.to_uppercase()),
            format!("leak {} end", &hex[20..40]),
        ] {
            let f = find(text.as_bytes(), &[("root key", &KEY)]);
            assert_eq!(f.len(), 1, "{text}");
            assert_eq!(f[0].encoding, "hex");
            assert!(!f[0].to_string().contains(&hex[..16]));
        }
    }

    #[test]
    fn finds_base64_at_any_alignment() {
        for prefix in [&b""[..], b"x", b"xy"] {
            let mut blob = prefix.to_vec();
            blob.extend_from_slice(&KEY);
            for engine in [&BASE64_STANDARD_NO_PAD, &BASE64_URL_SAFE_NO_PAD] {
                let text = format!("data: {}", engine.encode(&blob));
                let f = find(text.as_bytes(), &[("share 1", &KEY)]);
                assert_eq!(f.len(), 1, "prefix {prefix:?}: {text}");
            }
        }
    }

    #[test]
    fn clean_text_passes() {
        let text = b"{\"fingerprint\":\"3a91-07ee\",\"other\":\"3a9107ee4210bc\"}";
        assert!(find(text, &[("root key", &KEY)]).is_empty());
        assert_clean("text", text, &[("root key", &KEY)]);
    }

    #[test]
    #[should_panic(expected = "transcript holds a secret: root key as hex")]
    fn assert_clean_names_the_secret() {
        let text = hex::encode(KEY);
        assert_clean("transcript", text.as_bytes(), &[("root key", &KEY)]);
    }
}
