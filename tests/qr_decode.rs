//! Degraded images the decoder must read: one each of the benchmark's
//! hardest cases that the decoder before the clean-up passes missed (heavy
//! blur, a faded print, a dim glossy photo with glare, a shadowed page),
//! kept in testdata/qr/degraded/ with the text each holds (expected.txt).
//! They come from the generator in tests/support/degrade.rs (the benchmark's
//! corpus, QR_BENCH_N=4); the benchmark itself measures rates and speed.

use std::path::Path;

use keyceremony::qr::{self, payload};

#[test]
fn hard_degraded_images_read_back_exactly() {
    let dir = Path::new("testdata/qr/degraded");
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut count = 0;
    for line in expected.lines() {
        let (file, text) = line.split_once(' ').unwrap();
        let found = qr::decode_image_file(&dir.join(file)).unwrap();
        assert_eq!(found, vec![text.to_string()], "{file}");
        // and it is a share that checks out
        payload::decode(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        count += 1;
    }
    assert_eq!(count, 4);
}
