//! The archive inside every bundle: written in one pass (root key, included
//! files, manifest last), and read back with every rule checked.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use super::manifest::{
    FileRecord, Manifest, MANIFEST_PATH, MAX_FILES, MAX_MANIFEST_LEN, ROOT_KEY_PATH,
};
use super::path_tree::{Clash, PathTree};
use super::tar::{Entry, TarError, TarReader, TarWriter};
use super::{BundleMeta, Contents, Include, Kind};
use crate::error::{Error, Result};
use crate::progress::{Progress, Step};
use crate::secret::RootKey;

/// SHA-256 of file contents. ring's assembly, since hashing is the slowest
/// step of a bundle on CPUs without SHA extensions.
struct Sha256(ring::digest::Context);

impl Sha256 {
    fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn hex(self) -> String {
        hex::encode(self.0.finish().as_ref())
    }

    fn hex_of(data: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(data);
        h.hex()
    }
}

/// Size of the buffers data moves through.
pub const CHUNK: usize = 256 * 1024;

/// Writes the whole archive into `w`. Errors on `w` name `out`.
pub fn write_content<W: Write>(
    w: W,
    key: &RootKey,
    meta: &BundleMeta,
    includes: &[Include],
    out: &Path,
    progress: &Progress,
) -> Result<(W, Manifest)> {
    let werr = |e: io::Error| error_from_writer(out, e);
    let mtime = time::OffsetDateTime::parse(
        &meta.created,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp().max(0) as u64)
    .unwrap_or(0);
    let mut tar = TarWriter::new(w, mtime);
    let mut files = Vec::new();

    // The key, straight from memory.
    // Sized for the newline too: growing it would free a copy unwiped.
    let mut key_line = Zeroizing::new(Vec::with_capacity(65));
    key_line.extend_from_slice(key.to_hex().as_bytes());
    key_line.push(b'\n');
    tar.begin_file(ROOT_KEY_PATH, key_line.len() as u64)
        .map_err(werr)?;
    tar.write_data(&key_line).map_err(werr)?;
    tar.end_file(key_line.len() as u64).map_err(werr)?;
    files.push(FileRecord {
        path: ROOT_KEY_PATH.into(),
        size: key_line.len() as u64,
        sha256: Sha256::hex_of(&key_line[..]),
    });
    drop(key_line);

    let total: u64 = includes
        .iter()
        .filter_map(|i| fs::metadata(&i.source).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress.bytes(Step::Sealing, total);
    let mut buf = vec![0u8; CHUNK];
    for inc in includes {
        let src = &inc.source;
        // checked when listed; checked again on the open descriptor, so a
        // file swapped for a FIFO meanwhile cannot block the run
        let file = crate::input_file::open_regular(src, "file to include")?;
        let size = file
            .metadata()
            .map_err(|e| Error::io(src, "cannot read", e))?
            .len();
        tar.begin_file(&inc.name, size).map_err(werr)?;
        let mut hasher = Sha256::new();
        let mut reader = file;
        let mut left = size;
        while left > 0 {
            let want = left.min(CHUNK as u64) as usize;
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::input(
                        src,
                        "the file shrank while it was being read; nothing was written",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(src, "cannot read", e)),
            };
            hasher.update(&buf[..n]);
            tar.write_data(&buf[..n]).map_err(werr)?;
            left -= n as u64;
            bar.inc(n as u64);
        }
        if reader
            .read(&mut buf[..1])
            .map_err(|e| Error::io(src, "cannot read", e))?
            != 0
        {
            return Err(Error::input(
                src,
                "the file grew while it was being read; nothing was written",
            ));
        }
        tar.end_file(size).map_err(werr)?;
        files.push(FileRecord {
            path: inc.name.clone(),
            size,
            sha256: hasher.hex(),
        });
    }
    bar.finish_and_clear();

    let manifest = Manifest {
        ceremony_id: meta.ceremony_id.clone(),
        label: meta.label.clone(),
        key_fingerprint: key.fingerprint(),
        created: meta.created.clone(),
        files,
    };
    let json = manifest.to_json();
    tar.begin_file(MANIFEST_PATH, json.len() as u64)
        .map_err(werr)?;
    tar.write_data(json.as_bytes()).map_err(werr)?;
    tar.end_file(json.len() as u64).map_err(werr)?;
    let w = tar.finish().map_err(werr)?;
    Ok((w, manifest))
}

/// Errors that travel through `io::Write`/`io::Read` chains as `io::Error`
/// and need their own words at the edge.
#[derive(Debug, thiserror::Error)]
pub enum StreamFault {
    #[error(
        "wrong passphrase, or the file was damaged or altered (the AES-GCM tag does not match)"
    )]
    TagMismatch,
    #[error("the file ends too early (truncated)")]
    Truncated,
    #[error("{0}")]
    TooLong(#[from] super::gcm::MessageTooLong),
    #[error("there is data after the compressed archive")]
    TrailingData,
}

pub fn fault(f: StreamFault) -> io::Error {
    io::Error::other(f)
}

fn as_fault(e: &io::Error) -> Option<&StreamFault> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<StreamFault>())
}

pub fn error_from_writer(out: &Path, e: io::Error) -> Error {
    if let Some(f) = as_fault(&e) {
        return Error::input(out, f.to_string());
    }
    Error::io(out, "cannot write", e)
}

/// Maps a failure while reading the sealed stream to words for the user.
pub fn error_from_reader(path: &Path, e: io::Error, decrypting: &str) -> Error {
    if let Some(f) = as_fault(&e) {
        return Error::input(path, format!("{f}; nothing was written"));
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::input(
            path,
            "the file ends too early (truncated); nothing was written",
        ),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            Error::input(
                path,
                format!(
                    "{decrypting} failed: the file is damaged or was altered ({e}); \
                     nothing was written"
                ),
            )
        }
        _ => Error::io(path, "cannot read", e),
    }
}

fn tar_error(path: &Path, e: TarError, decrypting: &str) -> Error {
    match e {
        TarError::Io(e) => error_from_reader(path, e, decrypting),
        other => Error::input(
            path,
            format!("the archive inside is refused: {other}; nothing was written"),
        ),
    }
}

/// Where the files of a bundle go while it is read.
pub trait Sink {
    fn dir(&mut self, path: &str) -> Result<()>;
    fn begin_file(&mut self, path: &str, size: u64) -> Result<()>;
    fn write(&mut self, data: &[u8]) -> Result<()>;
    fn end_file(&mut self) -> Result<()>;
}

/// Checks everything, keeps nothing.
pub struct NullSink;

impl Sink for NullSink {
    fn dir(&mut self, _: &str) -> Result<()> {
        Ok(())
    }
    fn begin_file(&mut self, _: &str, _: u64) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn end_file(&mut self) -> Result<()> {
        Ok(())
    }
}

pub struct Unpacked {
    pub contents: Contents,
    pub root_key: Option<RootKey>,
}

/// Reads the archive from `r` into `sink` and checks it. Returns the reader
/// positioned after the end-of-archive marker, with the rest verified to be
/// zero padding.
pub fn read_content<R: Read>(
    r: R,
    kind: Kind,
    path: &Path,
    sink: &mut dyn Sink,
    decrypting: &str,
) -> Result<(Unpacked, R)> {
    let terr = |e: TarError| tar_error(path, e, decrypting);
    let mut tar = TarReader::new(r);
    let mut files: Vec<FileRecord> = Vec::new();
    // Every name so far, for duplicates and files that are also folders,
    // in time linear in the names (not in their number times their depth).
    let mut names = PathTree::new(MAX_FILES);
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut key_bytes: Option<Zeroizing<Vec<u8>>> = None;
    let mut listed = 0usize;
    // Holds every file's plaintext in turn, the key's included.
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let refuse = |p: String| {
        Error::input(
            path,
            format!("the archive inside is refused: {p}; nothing was written"),
        )
    };
    let clash = |p: &str, c: Clash| {
        refuse(match c {
            Clash::Twice => format!("{p:?} appears twice"),
            Clash::FileAndFolder => format!("{p:?} is both a file and a folder"),
            Clash::InsideFile(anc) => format!("{p:?} is inside {anc:?}, which is a file"),
            Clash::TooManyFolders => format!("more than {MAX_FILES} folders"),
        })
    };

    while let Some(entry) = tar.next_entry().map_err(terr)? {
        match entry {
            Entry::Dir { path: p } => {
                if names.add(&p, false).map_err(|c| clash(&p, c))? {
                    sink.dir(&p)?;
                }
            }
            Entry::File { path: p, size } => {
                // The limit counts what a manifest lists: every file but itself.
                if p != MANIFEST_PATH {
                    listed += 1;
                    if listed > MAX_FILES {
                        return Err(refuse(format!("more than {MAX_FILES} files")));
                    }
                }
                names.add(&p, true).map_err(|c| clash(&p, c))?;
                let is_manifest = p == MANIFEST_PATH;
                let is_key = p == ROOT_KEY_PATH;
                if is_manifest && size > MAX_MANIFEST_LEN {
                    return Err(refuse(format!(
                        "{MANIFEST_PATH} is {size} bytes (at most 16 MiB)"
                    )));
                }
                if is_key && size != 65 {
                    return Err(refuse(format!(
                        "{ROOT_KEY_PATH} is {size} bytes; it must be 64 hex characters and a newline (65 bytes)"
                    )));
                }
                sink.begin_file(&p, size)?;
                let mut hasher = Sha256::new();
                // The key's copy is sized up front (65 bytes, checked above):
                // growing would free partial copies unwiped.
                let mut keep: Option<Zeroizing<Vec<u8>>> = (is_manifest || is_key)
                    .then(|| Zeroizing::new(Vec::with_capacity(if is_key { 65 } else { 0 })));
                // How much of the buffer this entry's data reached: only that
                // is wiped after it (wiping all 256 KiB for each of 100,000
                // tiny files cost more than reading them).
                let mut used = 0;
                loop {
                    let n = tar.read_data(&mut buf).map_err(terr)?;
                    if n == 0 {
                        break;
                    }
                    used = used.max(n);
                    hasher.update(&buf[..n]);
                    sink.write(&buf[..n])?;
                    if let Some(k) = keep.as_mut() {
                        k.extend_from_slice(&buf[..n]);
                    }
                }
                sink.end_file()?;
                if is_manifest {
                    manifest_bytes = keep.take().map(|mut m| std::mem::take(&mut *m));
                } else if is_key {
                    key_bytes = keep.take();
                }
                buf[..used].zeroize();
                files.push(FileRecord {
                    path: p,
                    size,
                    sha256: hasher.hex(),
                });
            }
        }
    }
    buf[..].zeroize();
    let mut rest = tar.into_inner();
    // After the end marker only zero padding may follow (tar writers pad to a record).
    loop {
        let n = match rest.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error_from_reader(path, e, decrypting)),
        };
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(refuse("there is data after the end of the archive".into()));
        }
    }

    let root_key = match key_bytes {
        None => None,
        Some(bytes) => {
            let lower_hex = bytes.len() == 65
                && bytes[64] == b'\n'
                && bytes[..64]
                    .iter()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !lower_hex {
                return Err(refuse(format!(
                    "{ROOT_KEY_PATH} is not 64 lowercase hex characters and a newline"
                )));
            }
            let text = std::str::from_utf8(&bytes).expect("checked ascii");
            Some(RootKey::from_hex(text).map_err(|e| refuse(format!("{ROOT_KEY_PATH}: {e}")))?)
        }
    };
    let key_fingerprint = root_key.as_ref().map(|k| k.fingerprint());

    let manifest = match manifest_bytes {
        None => {
            if kind == Kind::Age {
                return Err(refuse(format!(
                    "there is no {MANIFEST_PATH}, so this is not a keyceremony bundle"
                )));
            }
            // A plain Nexus backup is read for its key; without one (and
            // without a manifest saying what it holds) there is nothing to
            // verify or import.
            if root_key.is_none() {
                return Err(refuse(format!(
                    "there is neither {MANIFEST_PATH} nor {ROOT_KEY_PATH}, so this backup \
                     holds no root key"
                )));
            }
            None
        }
        Some(bytes) => {
            let m = Manifest::parse(&bytes)
                .map_err(|e| Error::input(path, format!("{e}; nothing was written")))?;
            check_against_manifest(&m, &files).map_err(|e| {
                Error::input(
                    path,
                    format!("does not match its manifest: {e}; nothing was written"),
                )
            })?;
            match key_fingerprint {
                None => {
                    return Err(refuse(format!(
                        "the manifest names key {} but there is no {ROOT_KEY_PATH}",
                        m.key_fingerprint
                    )))
                }
                Some(fp) if fp != m.key_fingerprint => {
                    return Err(Error::input(
                        path,
                        format!(
                            "{ROOT_KEY_PATH} has fingerprint {fp}, but the manifest says {}: \
                             the bundle does not hold the key it claims; nothing was written",
                            m.key_fingerprint
                        ),
                    ))
                }
                Some(_) => {}
            }
            Some(m)
        }
    };

    Ok((
        Unpacked {
            contents: Contents {
                kind,
                manifest,
                files,
                key_fingerprint,
                written: Vec::new(),
            },
            root_key,
        },
        rest,
    ))
}

fn check_against_manifest(m: &Manifest, found: &[FileRecord]) -> std::result::Result<(), String> {
    let listed: BTreeMap<&str, &FileRecord> =
        m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    if listed.len() != m.files.len() {
        return Err("it lists a file twice".into());
    }
    let found: BTreeMap<&str, &FileRecord> = found
        .iter()
        .filter(|f| f.path != MANIFEST_PATH)
        .map(|f| (f.path.as_str(), f))
        .collect();
    for (p, want) in &listed {
        match found.get(p) {
            None => return Err(format!("{p:?} is listed but missing")),
            Some(got) if got.size != want.size => {
                return Err(format!(
                    "{p:?} is {} bytes, the manifest says {}",
                    got.size, want.size
                ))
            }
            Some(got) if got.sha256 != want.sha256 => {
                return Err(format!(
                    "{p:?} does not have the SHA-256 the manifest gives"
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|p| !listed.contains_key(*p)) {
        return Err(format!(
            "{extra:?} is in the archive but not in the manifest"
        ));
    }
    Ok(())
}
