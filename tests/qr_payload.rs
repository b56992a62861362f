//! The QR payload format: round trips, the QR versions reached, the fixed
//! vector in testdata/qr/, and an invalid-input suite.

mod support;

use keyceremony::qr::{self, payload, payload::PayloadError};
use keyceremony::shard::ShardFile;

fn shard(t: u16, n: u16, i: usize) -> ShardFile {
    support::shard_set(&format!("payload-{t}-{n}"), t, n).remove(i)
}

#[test]
fn round_trips_and_verifies_alone() {
    for (t, n) in [(2, 3), (3, 5), (5, 7), (2, 255)] {
        for s in support::shard_set(&format!("rt-{t}-{n}"), t, n)
            .iter()
            .take(3)
        {
            let text = payload::encode(s);
            assert!(text.starts_with(payload::TAG));
            assert!(text.bytes().all(|b| payload::BASE45_ALPHABET.contains(&b)));
            let back = payload::decode(&text).unwrap();
            assert!(qr::same_share(&back, s));
            back.info.commitments.verify(&back.share).unwrap();
            assert_eq!(back.info.created, "2026-11-26T00:00:00Z");
            assert_eq!(back.info.fingerprint, s.info.fingerprint);
        }
    }
}

#[test]
fn versions_reached_at_level_h() {
    let mut seen = Vec::new();
    for t in [2u16, 3, 5] {
        let s = shard(t, t + 2, 0);
        let code = qr::qr_code(&s).unwrap();
        assert_eq!(code.error_correction_level(), qrcode::EcLevel::H);
        let text = payload::encode(&s);
        println!(
            "t={t}: {} characters, QR version {}",
            text.len(),
            qr::version_of(&code)
        );
        seen.push((t, qr::version_of(&code)));
    }
    // alphanumeric mode: any byte-mode fallback would push these up
    assert_eq!(seen, vec![(2, 10), (3, 12), (5, 15)]);
}

#[test]
fn vector_decodes_to_the_json_shard() {
    let text = std::fs::read_to_string("testdata/qr/shard-2-of-3.payload.txt").unwrap();
    let json = std::fs::read("testdata/qr/shard-2-of-3.json").unwrap();
    let from_json = ShardFile::parse(&json).unwrap();
    let from_qr = payload::decode(text.trim_end()).unwrap();
    assert!(qr::same_share(&from_qr, &from_json));
    // and the encoder still writes exactly the vector
    assert_eq!(payload::encode(&from_json).as_str(), text.trim_end());
}

#[test]
fn vector_image_decodes() {
    let shards =
        qr::shards_from_image(std::path::Path::new("testdata/qr/shard-2-of-3.png")).unwrap();
    let json = std::fs::read("testdata/qr/shard-2-of-3.json").unwrap();
    assert_eq!(shards.len(), 1);
    assert!(qr::same_share(
        &shards[0],
        &ShardFile::parse(&json).unwrap()
    ));
}

fn good() -> String {
    payload::encode(&shard(3, 5, 1)).to_string()
}

/// Replaces the character at `pos` by another alphanumeric one.
fn flip(text: &str, pos: usize) -> String {
    let mut b = text.as_bytes().to_vec();
    b[pos] = if b[pos] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

#[test]
fn invalid_wrong_tag() {
    let g = good();
    assert_eq!(
        payload::decode(&g.replacen("KC1", "KC2", 1)).unwrap_err(),
        PayloadError::NotOurs
    );
    assert_eq!(
        payload::decode("HELLO WORLD").unwrap_err(),
        PayloadError::NotOurs
    );
    assert_eq!(payload::decode("").unwrap_err(), PayloadError::NotOurs);
}

#[test]
fn invalid_truncated() {
    let g = good();
    for cut in [4, 5, 20, g.len() - 3, g.len() - 1] {
        let e = payload::decode(&g[..cut]).unwrap_err();
        assert!(
            matches!(e, PayloadError::Length { .. } | PayloadError::BadBase45),
            "cut at {cut}: {e:?}"
        );
    }
    // extra characters are refused too
    assert!(payload::decode(&format!("{g}000")).is_err());
}

#[test]
fn invalid_any_single_character_change() {
    // every position, changed: never a share, whatever the field
    let g = good();
    for pos in 4..g.len() {
        let bad = flip(&g, pos);
        assert!(payload::decode(&bad).is_err(), "position {pos} accepted");
    }
}

#[test]
fn invalid_check() {
    let g = good();
    let e = payload::decode(&flip(&g, g.len() - 2)).unwrap_err();
    assert!(
        matches!(e, PayloadError::Check | PayloadError::BadBase45),
        "{e:?}"
    );
    let e = payload::decode(&flip(&g, 40)).unwrap_err();
    assert!(
        matches!(e, PayloadError::Check | PayloadError::BadBase45),
        "{e:?}"
    );
}

#[test]
fn invalid_characters() {
    let g = good();
    assert_eq!(
        payload::decode(&g.to_lowercase().replacen("kc1", "KC1", 1)).unwrap_err(),
        PayloadError::BadCharacter
    );
    assert!(payload::decode(&format!("{g}\n")).is_err());
    assert_eq!(
        payload::decode(&format!("KC1{}", "9".repeat(payload::MAX_TEXT_LEN))).unwrap_err(),
        PayloadError::TooLong(payload::MAX_TEXT_LEN + 3)
    );
}

/// Writes the vector files again (run with --ignored only when the format changes on purpose).
#[test]
#[ignore]
fn regenerate_vectors() {
    let s = support::shard_set("vector", 2, 3).remove(1);
    std::fs::write("testdata/qr/shard-2-of-3.json", s.to_json().as_bytes()).unwrap();
    std::fs::write(
        "testdata/qr/shard-2-of-3.payload.txt",
        format!("{}\n", payload::encode(&s).as_str()),
    )
    .unwrap();
    let code = qr::qr_code(&s).unwrap();
    std::fs::write("testdata/qr/shard-2-of-3.png", qr::render_png(&code)).unwrap();
    std::fs::write("testdata/qr/shard-2-of-3.svg", qr::render_svg(&code)).unwrap();
    std::fs::write(
        "testdata/qr/shard-2-of-3.fallback.txt",
        qr::typed::fallback_lines(&s).join("\n") + "\n",
    )
    .unwrap();
}
