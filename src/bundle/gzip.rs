//! gzip (RFC 1952) around raw deflate, choosing per 256 KiB chunk between
//! fast compression (level 1) and stored blocks: data that looks random
//! (byte entropy near 8 bits, as in already-compressed or encrypted files)
//! is not worth deflate's time, and deflate at level 1 even makes it larger.
//!
//! Stored blocks are written here directly (RFC 1951 3.2.4). Before them the
//! compressor is sync-flushed (byte-aligned) and afterwards reset, so its
//! back-references never reach across the inserted data. Any gzip reader
//! reads the result.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Largest stored block.
const MAX_STORED: usize = 65535;

/// Chunks whose sampled byte entropy exceeds this many bits per byte are stored.
const STORE_ABOVE_BITS: f64 = 7.9;
const SAMPLE: usize = 16 * 1024;

pub struct GzipWriter<W: Write> {
    inner: W,
    deflate: Compress,
    crc: Crc,
    /// Compressed plaintext (the root key's line among it): wiped on drop.
    out: zeroize::Zeroizing<Vec<u8>>,
    /// The compressor has taken input since its last reset.
    dirty: bool,
}

/// Order-0 entropy of a sample of `data`, in bits per byte.
fn entropy_bits(data: &[u8]) -> f64 {
    let sample = &data[..data.len().min(SAMPLE)];
    if sample.len() < 1024 {
        return 0.0; // too little to judge: compress
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[b as usize] += 1;
    }
    let n = sample.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

impl<W: Write> GzipWriter<W> {
    pub fn new(mut inner: W, fast_level: u32) -> io::Result<Self> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown)
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(GzipWriter {
            inner,
            deflate: Compress::new(Compression::new(fast_level), false),
            crc: Crc::new(),
            out: zeroize::Zeroizing::new(vec![0u8; 512 * 1024]),
            dirty: false,
        })
    }

    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<Status> {
        loop {
            let before_in = self.deflate.total_in();
            let before_out = self.deflate.total_out();
            let status = self
                .deflate
                .compress(input, &mut self.out, flush)
                .map_err(io::Error::other)?;
            let used = (self.deflate.total_in() - before_in) as usize;
            let made = (self.deflate.total_out() - before_out) as usize;
            self.inner.write_all(&self.out[..made])?;
            input = &input[used..];
            let out_full = made == self.out.len();
            match flush {
                FlushCompress::None if input.is_empty() => return Ok(status),
                FlushCompress::Finish if status == Status::StreamEnd => return Ok(status),
                FlushCompress::Sync if input.is_empty() && !out_full => return Ok(status),
                _ => {}
            }
            if used == 0 && made == 0 && status == Status::BufError {
                return Err(io::Error::other("deflate made no progress"));
            }
        }
    }

    fn store(&mut self, data: &[u8]) -> io::Result<()> {
        if self.dirty {
            self.run(&[], FlushCompress::Sync)?;
            self.deflate.reset();
            self.dirty = false;
        }
        for piece in data.chunks(MAX_STORED) {
            let len = piece.len() as u16;
            let [l0, l1] = len.to_le_bytes();
            let [n0, n1] = (!len).to_le_bytes();
            // BFINAL=0, BTYPE=00, padded to the byte; LEN; NLEN; the bytes.
            self.inner.write_all(&[0, l0, l1, n0, n1])?;
            self.inner.write_all(piece)?;
        }
        Ok(())
    }

    /// Ends the deflate stream, writes the CRC-32 and length, returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.run(&[], FlushCompress::Finish)?;
        let crc = self.crc.sum().to_le_bytes();
        let len = self.crc.amount().to_le_bytes(); // length mod 2^32
        self.inner.write_all(&crc)?;
        self.inner.write_all(&len)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.crc.update(data);
        if entropy_bits(data) > STORE_ABOVE_BITS {
            self.store(data)?;
        } else {
            self.run(data, FlushCompress::None)?;
            self.dirty = true;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_text_noise_and_their_mixture() {
        let text: Vec<u8> = b"nexus key rotate backup 2026-11-26 id=42\n"
            .iter()
            .cycle()
            .take(700_000)
            .copied()
            .collect();
        let random = noise(900_000, 99);
        let mixed = [&text[..], &random[..], &text[..], b"tail"].concat();
        for (name, data) in [("text", &text), ("random", &random), ("mixed", &mixed)] {
            let mut gz = GzipWriter::new(Vec::new(), 1).unwrap();
            for chunk in data.chunks(256 * 1024) {
                gz.write_all(chunk).unwrap();
            }
            let packed = gz.finish().unwrap();
            assert_eq!(&gunzip(&packed), data, "{name}");
            if name == "text" {
                assert!(packed.len() < data.len() / 10, "{name} compresses");
            } else {
                // Stored blocks: at most a few bytes per 64 KiB over the input.
                assert!(packed.len() < data.len() + data.len() / 1000 + 64, "{name}");
            }
        }
    }

    #[test]
    fn entropy_tells_noise_from_text() {
        assert!(entropy_bits(&noise(SAMPLE, 5)) > STORE_ABOVE_BITS);
        assert!(entropy_bits(&b"hello world ".repeat(2000)) < 4.0);
        assert_eq!(entropy_bits(b"short"), 0.0);
    }
}
