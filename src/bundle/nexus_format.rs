//! The Nexus backup format:
//! `salt(16) || nonce(12) || AES-256-GCM(tar.gz) || tag(16)`,
//! key = Argon2id(passphrase, salt, t=1, m=64 MiB, p=4, 32 bytes).
//!
//! The format has no magic number and no parameters in the header: the KDF
//! settings are fixed, so nothing read from a file sizes an allocation.
//!
//! Reading makes two passes over the ciphertext. The first only computes
//! the GCM tag (GHASH needs no decryption) and refuses the file if it does
//! not match, before a single plaintext byte exists. The second decrypts and
//! unpacks, and checks the tag again at the end (the file could have changed
//! in between) before the caller releases anything.

use std::fs;
use std::io::{self, BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use super::content::{self, fault, Sink, StreamFault, Unpacked, CHUNK};
use super::gcm::{GcmStream, NONCE_LEN, TAG_LEN};
use super::gzip::GzipWriter;
use super::pipeline;
use super::{BundleMeta, Include, Inspection, KdfInfo, Kind, Manifest, Passphrase};
use crate::atomic_file::StagedFile;
use crate::error::{Error, Result};
use crate::progress::{Progress, Step};
use crate::secret::RootKey;

pub const SALT_LEN: usize = 16;
pub const NEXUS_HEADER_LEN: usize = SALT_LEN + NONCE_LEN;
/// Smallest possible file: header and tag around an empty ciphertext.
pub const NEXUS_MIN_LEN: u64 = (NEXUS_HEADER_LEN + TAG_LEN) as u64;
pub const NEXUS_EXTENSION: &str = ".tar.gz.enc";
/// Argon2id parameters, fixed by the format.
pub const ARGON2_T: u32 = 1;
pub const ARGON2_M_KIB: u32 = 64 * 1024;
pub const ARGON2_P: u32 = 4;
/// Deflate level for compressible data (zlib-rs); chunks that look random
/// are stored instead (see `gzip.rs`). Measurements in docs/bundles.md.
pub const GZIP_LEVEL: u32 = 2;

/// Argon2 memory blocks for the fixed parameters.
fn params_block_count() -> usize {
    argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
        .expect("fixed parameters are valid")
        .block_count()
}

fn derive_key(
    pass: &Passphrase,
    salt: &[u8; SALT_LEN],
    progress: &Progress,
) -> Zeroizing<[u8; 32]> {
    let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
        .expect("fixed parameters are valid");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let spinner = progress.spinner(Step::DerivingKey);
    let mut key = Zeroizing::new([0u8; 32]);
    // Argon2's 64 MiB of working memory, wiped when done (its own
    // allocation in hash_password_into is freed as it is).
    let mut blocks = Zeroizing::new(vec![argon2::Block::default(); params_block_count()]);
    argon
        .hash_password_into_with_memory(pass.expose(), salt, &mut key[..], &mut blocks[..])
        .expect("fixed parameters and a bounded passphrase are valid");
    spinner.finish_and_clear();
    key
}

/// Encrypts everything written to it; the tag goes out in `finish`.
struct GcmWriter<W: Write> {
    inner: W,
    gcm: GcmStream,
    buf: Vec<u8>,
}

impl<W: Write> Write for GcmWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK);
        self.buf.clear();
        self.buf.extend_from_slice(&data[..n]);
        self.gcm
            .encrypt(&mut self.buf)
            .map_err(|e| fault(StreamFault::TooLong(e)))?;
        self.inner.write_all(&self.buf)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> GcmWriter<W> {
    fn finish(self) -> io::Result<W> {
        let GcmWriter { mut inner, gcm, .. } = self;
        inner.write_all(&gcm.finish())?;
        inner.flush()?;
        Ok(inner)
    }
}

pub fn create(
    key: &RootKey,
    meta: &BundleMeta,
    includes: &[Include],
    pass: &Passphrase,
    path: &Path,
    force: bool,
    progress: &Progress,
) -> Result<Manifest> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let aes_key = derive_key(pass, &salt, progress);

    let werr = |e: io::Error| Error::io(path, "cannot write", e);
    let mut staged = StagedFile::new(path)?;
    let manifest = {
        let mut out = BufWriter::with_capacity(CHUNK, staged.writer());
        out.write_all(&salt).map_err(werr)?;
        out.write_all(&nonce).map_err(werr)?;
        let sealed = GcmWriter {
            inner: out,
            gcm: GcmStream::new(&aes_key, &nonce),
            buf: Vec::with_capacity(CHUNK),
        };
        // The deflate output arrives in small pieces; batch them for the cipher.
        let batched = BufWriter::with_capacity(CHUNK, sealed);
        let gz = GzipWriter::new(batched, GZIP_LEVEL).map_err(werr)?;
        // Hashing here; deflate and encryption on the other core.
        let (manifest, gz) = pipeline::write_pipeline(
            gz,
            |w| content::write_content(w, key, meta, includes, path, progress).map(|(_, m)| m),
            |e| content::error_from_writer(path, e),
        )?;
        let batched = gz.finish().map_err(werr)?;
        let sealed = batched.into_inner().map_err(|e| werr(e.into_error()))?;
        sealed.finish().map_err(werr)?;
        manifest
    };
    staged.commit(force)?;
    Ok(manifest)
}

struct Layout {
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    tag: [u8; TAG_LEN],
    ciphertext_len: u64,
}

fn layout(path: &Path, file: &mut fs::File) -> Result<Layout> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?
        .len();
    if len < NEXUS_MIN_LEN {
        return Err(Error::input(
            path,
            format!(
                "is {len} bytes, too short for a Nexus backup (salt, nonce and tag alone are \
                 {NEXUS_MIN_LEN}); truncated or not a bundle"
            ),
        ));
    }
    let mut header = [0u8; NEXUS_HEADER_LEN];
    let mut tag = [0u8; TAG_LEN];
    let rerr = |e: io::Error| Error::io(path, "cannot read", e);
    file.seek(SeekFrom::Start(0)).map_err(rerr)?;
    file.read_exact(&mut header).map_err(rerr)?;
    file.seek(SeekFrom::Start(len - TAG_LEN as u64))
        .map_err(rerr)?;
    file.read_exact(&mut tag).map_err(rerr)?;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    salt.copy_from_slice(&header[..SALT_LEN]);
    nonce.copy_from_slice(&header[SALT_LEN..]);
    Ok(Layout {
        salt,
        nonce,
        tag,
        ciphertext_len: len - NEXUS_MIN_LEN,
    })
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let l = layout(path, &mut file)?;
    let mut notes = vec![
        "the Nexus backup format has no magic number: any file that is not age is read as one; \
         only the passphrase proves it"
            .to_string(),
    ];
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.ends_with(NEXUS_EXTENSION) {
        notes.push(format!("the file name does not end in {NEXUS_EXTENSION}"));
    }
    Ok(Inspection {
        kind: Kind::NexusBackup,
        size: l.ciphertext_len + NEXUS_MIN_LEN,
        stanzas: Vec::new(),
        kdf: Some(KdfInfo {
            algorithm: "argon2id",
            t: ARGON2_T,
            m_kib: ARGON2_M_KIB,
            p: ARGON2_P,
            salt: hex::encode(l.salt),
            nonce: hex::encode(l.nonce),
        }),
        payload_size: l.ciphertext_len + TAG_LEN as u64,
        notes,
    })
}

/// Decrypts exactly `remaining` ciphertext bytes, then checks the tag and
/// reports a mismatch as an error instead of the end of the stream.
/// A buffered reader whose buffer (decrypted plaintext) is wiped when it is
/// dropped; `std::io::BufReader` frees its buffer as it is.
struct WipedBufReader<R: Read> {
    inner: R,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    filled: usize,
}

impl<R: Read> WipedBufReader<R> {
    fn new(inner: R) -> Self {
        WipedBufReader {
            inner,
            buf: Zeroizing::new(vec![0u8; CHUNK]),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R: Read> Read for WipedBufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let mut available = self.fill_buf()?;
            available.read(out)?
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for WipedBufReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.filled = self.inner.read(&mut self.buf[..])?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

struct GcmReader<R: Read> {
    inner: R,
    gcm: Option<GcmStream>,
    remaining: u64,
    tag: [u8; TAG_LEN],
}

impl<R: Read> Read for GcmReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            if let Some(gcm) = self.gcm.take() {
                if !gcm.verify(&self.tag) {
                    return Err(fault(StreamFault::TagMismatch));
                }
            }
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.remaining) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(fault(StreamFault::Truncated));
        }
        self.remaining -= n as u64;
        let gcm = self.gcm.as_mut().expect("present until the end");
        gcm.decrypt(&mut buf[..n])
            .map_err(|e| fault(StreamFault::TooLong(e)))?;
        Ok(n)
    }
}

pub fn read(
    path: &Path,
    pass: &Passphrase,
    sink: &mut dyn Sink,
    progress: &Progress,
) -> Result<Unpacked> {
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let l = layout(path, &mut file)?;
    let aes_key = derive_key(pass, &l.salt, progress);
    let rerr = |e: io::Error| Error::io(path, "cannot read", e);

    // Pass 1: authenticate the ciphertext; no plaintext yet.
    file.seek(SeekFrom::Start(NEXUS_HEADER_LEN as u64))
        .map_err(rerr)?;
    let bar = progress.bytes(Step::Checking, l.ciphertext_len);
    let mut gcm = GcmStream::new(&aes_key, &l.nonce);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = l.ciphertext_len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want]).map_err(rerr)?;
        if n == 0 {
            return Err(Error::input(path, "the file shrank while being read"));
        }
        gcm.absorb(&buf[..n])
            .map_err(|e| Error::input(path, e.to_string()))?;
        left -= n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    if !gcm.verify(&l.tag) {
        return Err(Error::input(
            path,
            format!("{}; nothing was written", StreamFault::TagMismatch),
        ));
    }
    drop(buf);

    // Pass 2: decrypt, gunzip, unpack; the tag is checked again at the end.
    file.seek(SeekFrom::Start(NEXUS_HEADER_LEN as u64))
        .map_err(rerr)?;
    let bar = progress.bytes(Step::Opening, l.ciphertext_len);
    let plain = GcmReader {
        inner: bar.wrap_read(file),
        gcm: Some(GcmStream::new(&aes_key, &l.nonce)),
        remaining: l.ciphertext_len,
        tag: l.tag,
    };
    let unpacked = unpack(WipedBufReader::new(plain), path, sink)?;
    bar.finish_and_clear();
    Ok(unpacked)
}

/// Gunzips and unpacks the decrypted stream `plain` into `sink`.
pub fn unpack<R: io::BufRead + Send>(
    plain: R,
    path: &Path,
    sink: &mut dyn Sink,
) -> Result<Unpacked> {
    let gz = flate2::bufread::GzDecoder::new(plain);
    // Decryption and inflate on another core; unpacking and hashing here.
    // After the gzip stream nothing at all may follow; reading to the end
    // also runs the second tag check, whose failure arrives as a read error.
    pipeline::read_pipeline(
        gz,
        |gz| {
            let mut after = gz.into_inner();
            let mut probe = [0u8; 1];
            match after.read(&mut probe)? {
                0 => Ok(()),
                _ => Err(fault(StreamFault::TrailingData)),
            }
        },
        |plain| {
            content::read_content(plain, Kind::NexusBackup, path, sink, "gzip decompression")
                .map(|(u, _)| u)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the same bytes as the stream below, across buffer refills and
    /// through both `Read` and `BufRead`.
    #[test]
    fn wiped_buf_reader_reads_what_is_below() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 31 % 251) as u8).collect();
        let mut r = WipedBufReader::new(&data[..]);
        let mut got = Vec::new();
        let mut small = [0u8; 1000];
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            let more = r.fill_buf().unwrap().len().min(7);
            got.extend_from_slice(&r.fill_buf().unwrap()[..more]);
            r.consume(more);
        }
        assert_eq!(got, data);
    }
}
