//! Start-up health tests on a sample of the operating system's random
//! source, in the manner of NIST SP 800-90B §4.4: the repetition count test
//! (§4.4.1) and the adaptive proportion test (§4.4.2), on 8-bit samples.
//!
//! These tests catch a source that is stuck or grossly broken (a constant,
//! a short cycle, a heavy bias); they do not prove the output is good, and
//! no test on output can. The OS source is conditioned output, so it is
//! assessed as full entropy, H = 8 bits per byte.
//!
//! Cut-offs, for a false-alarm probability α = 2^-40 per sample:
//! - repetition count: C = 1 + ⌈-log2(α) / H⌉ = 1 + ⌈40 / 8⌉ = **6**: six
//!   equal bytes in a row fail;
//! - adaptive proportion, window W = 512 (the standard's window for
//!   non-binary samples): C = 1 + CRITBINOM(W, 2^-H, 1 - α) = **19**: the
//!   first byte of a window seen 19 times or more within that window fails.
//!
//! The sample is [`SAMPLE_LEN`] = 1024 bytes, the standard's minimum for the
//! start-up test (two full adaptive-proportion windows).

/// Bytes drawn for the start-up test.
pub const SAMPLE_LEN: usize = 1024;
/// Assessed min-entropy per 8-bit sample, in bits.
pub const ASSESSED_ENTROPY_BITS: u32 = 8;
/// -log2 of the false-alarm probability per sample.
pub const ALPHA_LOG2: u32 = 40;
/// Repetition count test cut-off: this many equal samples in a row fail.
pub const RCT_CUTOFF: usize = 6;
/// Adaptive proportion test window.
pub const APT_WINDOW: usize = 512;
/// Adaptive proportion test cut-off: the window's first sample seen this often fails.
pub const APT_CUTOFF: usize = 19;

/// What the two tests saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthResult {
    pub samples: usize,
    /// Longest run of equal consecutive samples.
    pub longest_run: usize,
    /// Largest count of a window's first sample within its window.
    pub max_window_count: usize,
    pub rct_failed: bool,
    pub apt_failed: bool,
}

impl HealthResult {
    pub fn passed(&self) -> bool {
        !self.rct_failed && !self.apt_failed && self.samples >= SAMPLE_LEN
    }
}

/// Runs both tests over `sample`. Adaptive-proportion windows are
/// consecutive and non-overlapping; a partial last window is not tested.
pub fn test_sample(sample: &[u8]) -> HealthResult {
    let mut longest_run = 0;
    let mut run = 0;
    let mut last = None;
    for &b in sample {
        if Some(b) == last {
            run += 1;
        } else {
            run = 1;
            last = Some(b);
        }
        longest_run = longest_run.max(run);
    }
    let mut max_window_count = 0;
    for window in sample.chunks_exact(APT_WINDOW) {
        let first = window[0];
        let count = window.iter().filter(|&&b| b == first).count();
        max_window_count = max_window_count.max(count);
    }
    HealthResult {
        samples: sample.len(),
        longest_run,
        max_window_count,
        rct_failed: longest_run >= RCT_CUTOFF,
        apt_failed: max_window_count >= APT_CUTOFF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    /// A deterministic good source: a SHA-256 counter stream.
    fn good_stream(seed: u8, len: usize) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut out = Vec::with_capacity(len);
        let mut i = 0u64;
        while out.len() < len {
            let mut h = Sha256::new();
            h.update([seed]);
            h.update(i.to_be_bytes());
            out.extend_from_slice(&h.finalize());
            i += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn cutoffs_follow_from_the_formulas() {
        let h = ASSESSED_ENTROPY_BITS as f64;
        let alpha = 2f64.powi(-(ALPHA_LOG2 as i32));
        assert_eq!(RCT_CUTOFF, 1 + (ALPHA_LOG2 as f64 / h).ceil() as usize);
        // CRITBINOM(W, p, 1 - α): the smallest k with P(X > k) <= α, X ~ Bin(W, p)
        let (n, p) = (
            APT_WINDOW as f64,
            2f64.powi(-(ASSESSED_ENTROPY_BITS as i32)),
        );
        let mut pmf = vec![0f64; APT_WINDOW + 1];
        pmf[0] = (1.0 - p).powf(n);
        for k in 0..APT_WINDOW {
            pmf[k + 1] = pmf[k] * (n - k as f64) / (k as f64 + 1.0) * p / (1.0 - p);
        }
        let crit = (0..=APT_WINDOW)
            .find(|&k| pmf[k + 1..].iter().sum::<f64>() <= alpha)
            .unwrap();
        assert_eq!(APT_CUTOFF, 1 + crit);
    }

    #[test]
    fn a_good_source_passes() {
        for seed in 0..20 {
            let r = test_sample(&good_stream(seed, SAMPLE_LEN));
            assert!(r.passed(), "seed {seed}: {r:?}");
        }
        let mut os = vec![0u8; SAMPLE_LEN];
        rand_core::OsRng.fill_bytes(&mut os);
        assert!(test_sample(&os).passed());
    }

    #[test]
    fn a_stuck_source_fails_the_repetition_count() {
        let r = test_sample(&[0x5a; SAMPLE_LEN]);
        assert!(r.rct_failed && r.apt_failed && !r.passed());
        // one run of exactly the cut-off inside good data
        let mut s = good_stream(1, SAMPLE_LEN);
        s[100..100 + RCT_CUTOFF].fill(0xee);
        let r = test_sample(&s);
        assert!(r.rct_failed, "{r:?}");
        assert_eq!(r.longest_run, RCT_CUTOFF);
        // one below the cut-off passes
        let mut s = good_stream(1, SAMPLE_LEN);
        s[100..100 + RCT_CUTOFF - 1].fill(0xee);
        s[99] = 0x01;
        s[100 + RCT_CUTOFF - 1] = 0x02;
        assert!(!test_sample(&s).rct_failed);
    }

    #[test]
    fn a_biased_source_fails_the_adaptive_proportion() {
        // every byte 0x00 with probability 1/8, otherwise uniform: no long runs,
        // but far too many zeros
        let coin = good_stream(8, SAMPLE_LEN);
        let mut s = good_stream(7, SAMPLE_LEN);
        for (b, c) in s.iter_mut().zip(&coin) {
            if c % 8 == 0 {
                *b = 0;
            }
        }
        s[0] = 0;
        s[APT_WINDOW] = 0;
        let r = test_sample(&s);
        assert!(r.apt_failed, "{r:?}");
        assert!(!r.passed());
        // a source with only 16 distinct values: ~32 of each per window
        let s: Vec<u8> = good_stream(9, SAMPLE_LEN)
            .iter()
            .map(|b| b & 0x0f)
            .collect();
        let r = test_sample(&s);
        assert!(r.apt_failed, "{r:?}");
        // a short cycle
        let s: Vec<u8> = (0..SAMPLE_LEN).map(|i| (i % 7) as u8).collect();
        assert!(test_sample(&s).apt_failed);
    }

    #[test]
    fn a_short_sample_does_not_pass() {
        assert!(!test_sample(&good_stream(3, SAMPLE_LEN - 1)).passed());
    }
}
