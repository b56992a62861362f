//! Property: however a shard file is damaged, it is either refused or reads
//! back as exactly the same share of exactly the same ceremony. A damaged
//! file never turns into a different, plausible share.

use keyceremony::shard::ShardFile;
use proptest::prelude::*;

fn original() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/known-key/shard-2.json"
    ))
    .unwrap()
}

fn same_share(a: &ShardFile, b: &ShardFile) -> bool {
    a.share == b.share
        && a.info.ceremony_id == b.info.ceremony_id
        && a.info.commitments == b.info.commitments
        && a.info.params == b.info.params
        && a.info.label == b.info.label
        && a.custodian == b.custodian
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(700))]

    #[test]
    fn one_changed_byte_is_refused_or_harmless(pos in 0usize..10_000, byte in any::<u8>()) {
        let good = original();
        let reference = ShardFile::parse(&good).unwrap();
        let mut bad = good.clone();
        let pos = pos % bad.len();
        prop_assume!(bad[pos] != byte);
        bad[pos] = byte;
        if let Ok(parsed) = ShardFile::parse(&bad) {
            prop_assert!(same_share(&parsed, &reference), "byte {pos} -> {byte:#04x} gave a different shard");
        }
    }

    #[test]
    fn truncation_is_always_refused(len in 0usize..10_000) {
        let good = original();
        let cut = len % (good.len() - 2);
        prop_assert!(ShardFile::parse(&good[..cut]).is_err());
    }

    #[test]
    fn a_flipped_bit_is_refused_or_harmless(bit in 0usize..80_000) {
        let good = original();
        let reference = ShardFile::parse(&good).unwrap();
        let mut bad = good.clone();
        let bit = bit % (bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        if let Ok(parsed) = ShardFile::parse(&bad) {
            prop_assert!(same_share(&parsed, &reference));
        }
    }
}
