//! Interop proof for sealed shares: a fixed sealed share in
//! `testdata/sealed/` is recomputed here, independently of keyceremony's
//! seal module, from the fixed token key and fixed ephemeral key (p256 ECDH,
//! HKDF-SHA256, ChaCha20-Poly1305, HMAC-SHA256 directly), byte for byte; and
//! recipient strings are checked against a fixed vector and against
//! age-plugin-yubikey recipients published by their owners.

mod common;

use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use sha2::{Digest, Sha256};

use common::testdata;

/// The fixed keys of the vector: SHA-256 of these labels, as P-256 scalars.
const TOKEN_KEY_LABEL: &str = "keyceremony sealed-share vector: token key";
const EPHEMERAL_KEY_LABEL: &str = "keyceremony sealed-share vector: ephemeral key";
const VECTOR_SERIAL: u32 = 20260001;

fn fixed_key(label: &str) -> SecretKey {
    SecretKey::from_slice(&Sha256::digest(label.as_bytes())).expect("a valid scalar")
}

fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// Regenerates the vector. Run by hand only:
/// `cargo test --test seal_vectors -- --ignored regenerate`
#[test]
#[ignore]
fn regenerate_sealed_vector() {
    use keyceremony::seal::{seal_bytes, FixedEphemeralRecipient, PivRecipient};
    use keyceremony::token::{soft, PinPolicy, Slot, TouchPolicy};
    let dir = testdata("sealed");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let token_key = fixed_key(TOKEN_KEY_LABEL);
    soft::write_fixed_token(
        &tokens,
        VECTOR_SERIAL,
        Slot::new(0x82).unwrap(),
        &token_key,
        PinPolicy::Once,
        TouchPolicy::Always,
    )
    .unwrap();
    let recipient = PivRecipient::from_public_key(token_key.public_key());
    let fixed = FixedEphemeralRecipient {
        recipient: recipient.clone(),
        ephemeral: fixed_key(EPHEMERAL_KEY_LABEL),
    };
    let plaintext = std::fs::read(testdata("known-key/shard-1.json")).unwrap();
    let sealed = seal_bytes(&fixed, &plaintext).unwrap();
    std::fs::write(dir.join("shard-1.age"), sealed).unwrap();
    std::fs::write(dir.join("recipient.txt"), format!("{recipient}\n")).unwrap();
}

struct Parsed {
    stanza_line: String,
    body: Vec<u8>,
    header_for_mac: Vec<u8>,
    mac: Vec<u8>,
    payload: Vec<u8>,
}

/// A minimal reading of the age v1 layout, written for this test.
fn parse_age(bytes: &[u8]) -> Parsed {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("a MAC line")
        + 1;
    let mac_line_end = end + bytes[end..].iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..end]).unwrap();
    let lines: Vec<&str> = header.lines().collect();
    assert_eq!(lines[0], "age-encryption.org/v1");
    let piv: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("-> piv-p256 "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(piv.len(), 1, "exactly one piv-p256 stanza");
    // Every other stanza is the age crate's ignorable grease.
    for l in lines.iter().filter(|l| l.starts_with("-> ")) {
        let kind = l.split(' ').nth(1).unwrap();
        assert!(kind == "piv-p256" || kind.ends_with("-grease"), "{l}");
    }
    let i = piv[0];
    let body = BASE64_STANDARD_NO_PAD.decode(lines[i + 1]).unwrap();
    let mac_text = std::str::from_utf8(&bytes[end + 4..mac_line_end]).unwrap();
    Parsed {
        stanza_line: lines[i].to_string(),
        body,
        header_for_mac: bytes[..end + 3].to_vec(),
        mac: BASE64_STANDARD_NO_PAD.decode(mac_text).unwrap(),
        payload: bytes[mac_line_end + 1..].to_vec(),
    }
}

#[test]
fn fixed_sealed_share_matches_an_independent_computation() {
    let sealed = std::fs::read(testdata("sealed/shard-1.age")).unwrap();
    let p = parse_age(&sealed);

    let token = fixed_key(TOKEN_KEY_LABEL);
    let eph = fixed_key(EPHEMERAL_KEY_LABEL);
    let pk = token.public_key().to_encoded_point(true);
    let epk = eph.public_key().to_encoded_point(true);
    assert_eq!(pk.as_bytes().len(), 33);

    // The stanza line: tag = SHA-256(compressed pk)[..4], then the compressed epk.
    let tag = &Sha256::digest(pk.as_bytes())[..4];
    let expect_line = format!(
        "-> piv-p256 {} {}",
        BASE64_STANDARD_NO_PAD.encode(tag),
        BASE64_STANDARD_NO_PAD.encode(epk.as_bytes())
    );
    assert_eq!(p.stanza_line, expect_line);

    // ECDH from both sides agrees (the card computes the token side).
    let x_sender =
        p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), token.public_key().as_affine());
    let x_card =
        p256::ecdh::diffie_hellman(token.to_nonzero_scalar(), eph.public_key().as_affine());
    assert_eq!(x_sender.raw_secret_bytes(), x_card.raw_secret_bytes());

    // Wrap key = HKDF-SHA256(ikm = shared x, salt = epk || pk, info = "piv-p256").
    let mut salt = epk.as_bytes().to_vec();
    salt.extend_from_slice(pk.as_bytes());
    let wrap = hkdf32(&salt, x_sender.raw_secret_bytes(), b"piv-p256");
    let aead = ChaCha20Poly1305::new(Key::from_slice(&wrap));
    let file_key = aead
        .decrypt(&Nonce::default(), p.body.as_slice())
        .expect("the body opens under the independently derived wrap key");
    assert_eq!(file_key.len(), 16);
    // Re-wrapping gives the body byte for byte (zero nonce, deterministic).
    assert_eq!(
        aead.encrypt(&Nonce::default(), file_key.as_slice())
            .unwrap(),
        p.body
    );

    // Header MAC: HMAC-SHA256(HKDF(salt "", file key, "header")) over the header through "---".
    let mac_key = hkdf32(&[], &file_key, b"header");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).unwrap();
    mac.update(&p.header_for_mac);
    mac.verify_slice(&p.mac).expect("header MAC matches");

    // Payload: 16-byte nonce, then STREAM ChaCha20-Poly1305 (one final chunk here).
    let (nonce, chunks) = p.payload.split_at(16);
    let payload_key = hkdf32(nonce, &file_key, b"payload");
    let mut chunk_nonce = [0u8; 12];
    chunk_nonce[11] = 1; // counter 0, last chunk
    let plaintext = ChaCha20Poly1305::new(Key::from_slice(&payload_key))
        .decrypt(Nonce::from_slice(&chunk_nonce), chunks)
        .expect("payload opens");
    let expected = std::fs::read(testdata("known-key/shard-1.json")).unwrap();
    assert_eq!(
        plaintext, expected,
        "the sealed content is the known-key shard 1"
    );
}

#[test]
fn fixed_token_state_holds_the_fixed_key() {
    let text = std::fs::read_to_string(testdata(&format!(
        "sealed/tokens/token-{VECTOR_SERIAL}.json"
    )))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let token = fixed_key(TOKEN_KEY_LABEL);
    assert_eq!(v["slots"][0]["private_key"], hex::encode(token.to_bytes()));
    assert_eq!(
        v["slots"][0]["public_key"],
        hex::encode(token.public_key().to_encoded_point(true).as_bytes())
    );
    assert!(v["warning"].as_str().unwrap().contains("TEST TOKEN"));
}

#[test]
fn recipient_string_vector() {
    use bech32::{Bech32, Hrp};
    let token = fixed_key(TOKEN_KEY_LABEL);
    let pk = token.public_key().to_encoded_point(true);
    // Independently: Bech32 (not Bech32m), HRP "age1yubikey", data = compressed point.
    let expect =
        bech32::encode::<Bech32>(Hrp::parse("age1yubikey").unwrap(), pk.as_bytes()).unwrap();
    let stored = std::fs::read_to_string(testdata("sealed/recipient.txt")).unwrap();
    assert_eq!(stored.trim_end(), expect);
    // Pinned text, so a change of encoding cannot slip through both sides.
    assert_eq!(
        expect,
        "age1yubikey1qw4jdmpph6zm0hvncgfan6yu4wp9jf6eh8haz3vkjysku99hag6jg5ejjyw"
    );
    let parsed = keyceremony::seal::PivRecipient::parse(&expect).unwrap();
    assert_eq!(parsed.to_compressed().as_slice(), pk.as_bytes());
    assert_eq!(parsed.to_string(), expect);
    assert_eq!(
        parsed.tag().0.as_slice(),
        &Sha256::digest(pk.as_bytes())[..4]
    );
}

/// Recipients printed by age-plugin-yubikey for real YubiKeys, as their
/// owners published them (public keys only): they must parse as valid
/// P-256 points and print back identically.
#[test]
fn real_age_plugin_yubikey_recipients_round_trip() {
    for r in [
        "age1yubikey1q023pgeugaxany07tdc8vptwyc3jlh9rzlwq33a7gzndhlfe848jv8mtrvg",
        "age1yubikey1qfmlnj83rsrxsv7mcwc2nhdspjgphg7yp9dqhkj75k8vvaj78va8sp3086t",
        "age1yubikey1qwla8v7cu3mx6mp79asgrh5ad2h52flwln7c66ydcyy50lg5uh0gxh4kmaz",
    ] {
        let parsed =
            keyceremony::seal::PivRecipient::parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        assert_eq!(parsed.to_string(), r);
    }
}

#[test]
fn recipient_with_bad_checksum_is_refused_by_split() {
    let stored = std::fs::read_to_string(testdata("sealed/recipient.txt")).unwrap();
    let mut chars: Vec<char> = stored.trim_end().chars().collect();
    let i = chars.len() - 1;
    chars[i] = if chars[i] == 'x' { 'y' } else { 'x' };
    let bad: String = chars.into_iter().collect();
    let out = tempfile::tempdir().unwrap();
    let r = common::run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        out.path().join("o").to_str().unwrap(),
        "--seal-to-recipient",
        &bad,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("checksum"), "{}", r.stderr);
    assert!(!out.path().join("o").exists(), "nothing written");
}
